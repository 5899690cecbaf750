import EventLog
import Projections
import Synchronization

/// The feedback loop's replay of everything, with its episode facts, kept caught up with the log for a
/// long-lived process (the server), as ``CurrentReplay`` keeps trends': the first reader replays the
/// whole log once, later readers fold only what was appended since. Reports under a cut replay from
/// the beginning, as ``Ledger/feedbackLoop(_:cut:)`` does.
public final class CurrentFeedbackLoop: Sendable {
    /// The ledger it follows.
    public let ledger: Ledger
    private struct Cache: Sendable {
        var state: ReplayState
        var facts: EpisodeFacts
    }
    // Catching up happens under the lock, so concurrent readers wait for one fold instead of repeating it.
    private let cache = Mutex<Cache?>(nil)

    /// A replay that follows `ledger`.
    public init(ledger: Ledger) { self.ledger = ledger }

    /// The reports `request` asks for, under `cut`: from the shared replay for everything.
    public func reports(_ request: FeedbackLoopRequest, cut: ReplayCut = .everything) throws -> FeedbackLoopReports {
        guard cut == .everything else { return try ledger.feedbackLoop(request, cut: cut) }
        let (state, facts) = try current()
        let log = ledger.log
        return FeedbackLoop.compute(state, facts, request, leadName: { try? log.streamName($0) })
    }

    /// The replay of everything stored now, with its facts (attributes at hand-off included, for the profile).
    public func current() throws -> (ReplayState, EpisodeFacts) {
        try cache.withLock { cache throws -> (ReplayState, EpisodeFacts) in
            // Taken out while it is folded, so that the fold mutates the only copy.
            guard var current = cache.take() else {
                let (state, facts) = try FeedbackLoop.replay(ledger.log, collectsAttributes: true)
                cache = Cache(state: state, facts: facts)
                return (state, facts)
            }
            if try ledger.head().position != current.state.position {
                try ledger.log.withSnapshot { try ReplayEngine.catchUp(&current.state, snapshot: $0, observer: &current.facts) }
            }
            cache = current
            return (current.state, current.facts)
        }
    }
}
