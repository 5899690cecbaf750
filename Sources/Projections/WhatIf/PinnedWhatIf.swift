import EventLog
import Foundation
import LeadModel

/// A what-if over the records up to one log position, whatever was appended since: the form of a
/// proposal's evidence, which anyone can re-run later and compare byte for byte.
extension WhatIf {
    /// Replays the records at positions `1...position` only, with every candidate, and reports as
    /// ``run(_:_:)`` does; the report's `asOf` is that position and the hash of its record.
    ///
    /// A candidate that reads a personal attribute reads it with the keys as they are now: after the
    /// lead was forgotten, the value is missing even in a replay pinned before the erasure.
    ///
    /// Throws ``PinnedReplayError`` when the log does not reach `position`.
    public static func run(_ log: EventLog, _ query: WhatIfQuery, through position: UInt64) throws -> WhatIfReport {
        try query.validate()
        let head = try log.head().position
        guard position >= 1, position <= head else { throw PinnedReplayError(position: position, head: head) }
        var state = ReplayState(cut: query.cut)
        var observer = WhatIfObserver(query: query, log: log)
        try log.withSnapshot {
            try ReplayEngine.catchUp(
                &state, snapshot: $0, observer: &observer, through: position, partition: nil, progress: ReplayProgress.current)
        }
        guard state.position == position else { throw PinnedReplayError(position: position, head: state.position) }
        if let failure = observer.read.failure { throw failure }
        return report(state, observer, query)
    }
}

/// A replay pinned to a position the log does not reach.
public struct PinnedReplayError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The position asked for.
    public let position: UInt64
    /// The last position the log holds.
    public let head: UInt64
    /// What went wrong, with the positions.
    public var description: String { "position \(position) is not in the ledger, which holds positions 1 to \(head)" }
}
