import EventLog
import Foundation
import LeadModel

/// A replay state saved in the ledger (in the log's meta database), so catching up after new appends
/// costs in proportion to the new events rather than to the whole log.
///
/// The episode and lead arrays are fixed-size values and are stored as their bytes; a fingerprint of
/// their layout guards against a checkpoint written by another build. A checkpoint is trusted only if
/// the log still holds the same record, with the same chained hash, at the checkpoint's position.
public enum ReplayCheckpoint {
    static let key = "projections.replay.v1"

    struct Header: Codable {
        var layout: String
        var position: UInt64
        var headHash: String
        var channels: [String], owners: [String], campaigns: [String], sources: [String], reasons: [String]
        var reasonInfo: [Int32: ReasonInfo]
        var definitionPositions: [UInt64]
        var corrections: [[UInt64]]
        var voidCount: Int
        var episodeCount: Int
        var leadCount: Int
    }

    static var layout: String {
        "episode:\(MemoryLayout<Episode>.stride)/lead:\(MemoryLayout<LeadState>.stride)/format:1"
    }

    /// The current state of everything stored: the saved checkpoint caught up with what was appended
    /// since, in one snapshot. Saves a new checkpoint when the log moved on by `saveAfter` events.
    public static func currentState(_ log: EventLog, saveAfter: UInt64 = 10_000) throws -> ReplayState {
        // Without a usable checkpoint, the full replay can use both cores; catching up then folds
        // what arrived meanwhile.
        let loaded = try? load(log)
        var state = try loaded ?? ReplayEngine.replay(log)
        var none = NoObserver()
        try log.withSnapshot { try ReplayEngine.catchUp(&state, snapshot: $0, observer: &none) }
        if let loaded {
            if state.position >= loaded.position + saveAfter { try save(state, to: log) }
        } else if state.position > 0 {
            try save(state, to: log)
        }
        return state
    }

    /// Writes `state` (a replay of everything) to the ledger.
    public static func save(_ state: ReplayState, to log: EventLog) throws {
        precondition(state.cut == .everything, "only a replay of everything is checkpointed")
        precondition(_isPOD(Episode.self) && _isPOD(LeadState.self), "checkpointed arrays must hold plain values")
        let header = Header(
            layout: layout, position: state.position, headHash: state.headHash,
            channels: state.channels.names, owners: state.owners.names, campaigns: state.campaigns.names, sources: state.sources.names,
            reasons: state.reasons.names, reasonInfo: state.reasonInfo,
            definitionPositions: state.definitions.values.map(\.position).sorted(),
            corrections: state.corrections.map { [$0.key.high, $0.key.low, UInt64(bitPattern: Int64($0.value))] },
            voidCount: state.voidCount, episodeCount: state.episodes.count, leadCount: state.leads.count)
        let headerBytes = try JSONEncoder().encode(header)
        var bytes = [UInt8]()
        var length = UInt32(headerBytes.count).littleEndian
        withUnsafeBytes(of: &length) { bytes += $0 }
        bytes += headerBytes
        state.episodes.withUnsafeBytes { bytes += $0 }
        state.leads.withUnsafeBytes { bytes += $0 }
        try log.setMetaValue(bytes, for: key)
    }

    /// Reads the saved state; `nil` when there is none or it does not match this log or build.
    public static func load(_ log: EventLog) throws -> ReplayState? {
        guard let bytes = try log.metaValue(key), bytes.count >= 4 else { return nil }
        return try bytes.withUnsafeBytes { raw -> ReplayState? in
            let length = Int(UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)))
            guard 4 + length <= raw.count else { return nil }
            let header = try JSONDecoder().decode(Header.self, from: Data(raw[4..<(4 + length)]))
            let episodeBytes = header.episodeCount * MemoryLayout<Episode>.stride
            let leadBytes = header.leadCount * MemoryLayout<LeadState>.stride
            guard header.layout == layout, 4 + length + episodeBytes + leadBytes == raw.count else { return nil }
            guard let stored = try log.record(at: header.position), stored.hash == header.headHash else { return nil }

            var state = ReplayState(cut: .everything)
            state.position = header.position
            state.headHash = header.headHash
            for name in header.channels { _ = state.channels.intern(name) }
            for name in header.owners { _ = state.owners.intern(name) }
            for name in header.campaigns { _ = state.campaigns.intern(name) }
            for name in header.sources { _ = state.sources.intern(name) }
            for name in header.reasons { _ = state.reasons.intern(name) }
            state.reasonInfo = header.reasonInfo
            for position in header.definitionPositions {
                guard let record = try log.record(at: position) else { return nil }
                try record.payload.withUnsafeBytes { try ReplayEngine.applyCatalogEvent(&state, payload: $0, position: position) }
            }
            for c in header.corrections where c.count == 3 {
                state.corrections[UUIDKey((c[0], c[1]))] = Int32(truncatingIfNeeded: Int64(bitPattern: c[2]))
            }
            state.voidCount = header.voidCount
            let start = 4 + length
            state.episodes = Array(unsafeUninitializedCapacity: header.episodeCount) { buffer, count in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[start..<(start + episodeBytes)]))
                count = header.episodeCount
            }
            state.leads = Array(unsafeUninitializedCapacity: header.leadCount) { buffer, count in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(start + episodeBytes)...]))
                count = header.leadCount
            }
            return state
        }
    }
}
