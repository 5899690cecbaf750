import EventLog
import Foundation
import LeadModel

/// A replay state saved in the ledger (in the log's meta database), so catching up after new appends
/// costs in proportion to the new events rather than to the whole log.
///
/// The episode and lead arrays are fixed-size values and are stored as their bytes; a fingerprint of
/// their layout guards against a checkpoint written by another build. A checkpoint is trusted only if
/// the log still holds the same record, with the same chained hash, at the checkpoint's position.
///
/// Stored bytes are never trusted as they are: the checkpoint ends with a SHA-256 of everything
/// before it, and one that does not match is rebuilt, never used. Every number inside (interned
/// indexes, episode and lead links, enum and Boolean bytes, times) is checked on load, so even a
/// checkpoint crafted with a correct digest cannot make a reader index out of range or trap; and
/// `leadledger verify` compares it with a fresh replay of the records (``audit(_:)``), which is what
/// catches a crafted checkpoint whose numbers are merely wrong.
public enum ReplayCheckpoint {
    static let key = "projections.replay.v2"
    static let digestSize = 32

    struct Header: Codable {
        var layout: String
        var position: UInt64
        var headHash: String
        var channels: [String], owners: [String], campaigns: [String], sources: [String], reasons: [String]
        var reasonInfo: [Int32: ReasonCode]
        var definitionPositions: [UInt64]
        var corrections: [[UInt64]]
        var voidCount: Int
        var episodeCount: Int
        var leadCount: Int
    }

    /// The fields stored as bytes, in declaration order: a field moved or retyped moves an offset,
    /// which the layout fingerprint then shows, even when the stride stays the same.
    static var episodeFields: [PartialKeyPath<Episode>] {
        [
            \.lead, \.outcome, \.isVoid, \.corrected, \.handedOffAt, \.decidedAt, \.handOffPosition, \.namedDefinition, \.owner,
            \.channel, \.campaign, \.source, \.reason, \.originalReason, \.previous, \.rejectionID, \.scoreAtHandOff,
        ]
    }
    static var leadFields: [PartialKeyPath<LeadState>] {
        [
            \.lastOccurredAt, \.channel, \.campaign, \.openEpisode, \.lastEpisode, \.score, \.won, \.converted, \.seen, \.outOfOrder,
        ]
    }

    static var layout: String {
        func offsets<T>(_ fields: [PartialKeyPath<T>]) -> String {
            fields.map { MemoryLayout<T>.offset(of: $0).map(String.init) ?? "-" }.joined(separator: ",")
        }
        return
            "episode:\(MemoryLayout<Episode>.stride)@\(offsets(episodeFields))/lead:\(MemoryLayout<LeadState>.stride)@\(offsets(leadFields))/format:2"
    }

    /// The current state of everything stored: the saved checkpoint caught up with what was appended
    /// since, in one snapshot. Saves a new checkpoint when the log moved on by `saveAfter` events.
    ///
    /// A read-only log is never written: its state is computed and nothing is saved. A save that
    /// fails (a full disk, a process that stopped writing) costs only the next caller a longer catch-up.
    public static func currentState(_ log: EventLog, saveAfter: UInt64 = 10_000) throws -> ReplayState {
        // Without a usable checkpoint, the full replay can use both cores; catching up then folds
        // what arrived meanwhile.
        let loaded = try? load(log)
        var state = try loaded ?? ReplayEngine.replay(log)
        var none = NoObserver()
        try log.withSnapshot { try ReplayEngine.catchUp(&state, snapshot: $0, observer: &none) }
        guard !log.isReadOnly else { return state }
        if let loaded {
            if state.position >= loaded.position + saveAfter { try? save(state, to: log) }
        } else if state.position > 0 {
            try? save(state, to: log)
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
            definitionPositions: (state.definitions.values.map(\.position) + state.serviceLevels.values.map(\.position)).sorted(),
            corrections: state.corrections.map { [$0.key.high, $0.key.low, UInt64(bitPattern: Int64($0.value))] },
            voidCount: state.voidCount, episodeCount: state.episodes.count, leadCount: state.leads.count)
        let headerBytes = try JSONEncoder().encode(header)
        var bytes = [UInt8]()
        var length = UInt32(headerBytes.count).littleEndian
        withUnsafeBytes(of: &length) { bytes += $0 }
        bytes += headerBytes
        state.episodes.withUnsafeBytes { bytes += $0 }
        state.leads.withUnsafeBytes { bytes += $0 }
        bytes += bytes.withUnsafeBytes { LogDigest.sha256($0) }
        try log.setMetaValue(bytes, for: key)
    }

    /// Reads the saved state; `nil` when there is none, it does not match this log or build, or its
    /// bytes fail the digest or the checks: then it is rebuilt, never trusted.
    public static func load(_ log: EventLog) throws -> ReplayState? {
        guard let stored = try log.metaValue(key) else { return nil }
        do { return try decode(stored, log: log) } catch is CheckpointDamage { return nil } catch is FromAnotherBuild { return nil }
    }

    /// Why the stored checkpoint cannot be used, or `nil` when it decodes and passes every check
    /// (or there is none). For `verify`.
    static func problem(_ log: EventLog) throws -> String? {
        guard let stored = try log.metaValue(key) else { return nil }
        do {
            return try decode(stored, log: log) == nil ? "it does not match this ledger" : nil
        } catch is FromAnotherBuild {
            // Not damage: a build that lays out episodes differently saved it; the next writable
            // replay replaces it, and until then it is not used.
            return nil
        } catch let failure as CheckpointDamage {
            return failure.message
        } catch {
            return "\(error)"
        }
    }

    /// Decodes the stored checkpoint, throwing on damage rather than returning `nil`.
    static func decodeForTesting(_ log: EventLog) throws {
        guard let stored = try log.metaValue(key) else { return }
        _ = try decode(stored, log: log)
    }

    struct CheckpointDamage: Error {
        let message: String
    }

    /// A sound checkpoint whose layout fingerprint is another build's.
    struct FromAnotherBuild: Error {}

    private static func decode(_ stored: [UInt8], log: EventLog) throws -> ReplayState? {
        func damaged(_ message: String) -> CheckpointDamage { CheckpointDamage(message: message) }
        guard stored.count >= 4 + digestSize else { throw damaged("it is \(stored.count) bytes, too short") }
        let body = stored.count - digestSize
        let digest = stored.withUnsafeBytes { LogDigest.sha256(UnsafeRawBufferPointer(rebasing: $0[..<body])) }
        guard digest.elementsEqual(stored[body...]) else { throw damaged("its digest does not match its bytes") }
        return try stored.withUnsafeBytes { all -> ReplayState? in
            let raw = UnsafeRawBufferPointer(rebasing: all[..<body])
            let length = Int(UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self)))
            guard length <= raw.count - 4 else { throw damaged("its header length \(length) overruns it") }
            let header: Header
            do { header = try JSONDecoder().decode(Header.self, from: Data(raw[4..<(4 + length)])) } catch {
                throw damaged("its header does not decode")
            }
            guard header.layout == layout else { throw FromAnotherBuild() }
            guard header.episodeCount >= 0, header.leadCount >= 0, header.episodeCount < Int(Int32.max),
                header.leadCount <= Int(UInt32.max),
                case let (episodeBytes, o1) = header.episodeCount.multipliedReportingOverflow(by: MemoryLayout<Episode>.stride), !o1,
                case let (leadBytes, o2) = header.leadCount.multipliedReportingOverflow(by: MemoryLayout<LeadState>.stride), !o2,
                4 + length + episodeBytes + leadBytes == raw.count
            else { throw damaged("its counts (\(header.episodeCount) episodes, \(header.leadCount) leads) do not fit its size") }
            guard let stored = try log.record(at: header.position), stored.hash == header.headHash else { return nil }
            let start = 4 + length
            let episodeRaw = UnsafeRawBufferPointer(rebasing: raw[start..<(start + episodeBytes)])
            let leadRaw = UnsafeRawBufferPointer(rebasing: raw[(start + episodeBytes)...])
            // Enum and Boolean fields are checked as bytes, before any value of the type exists.
            if let problem = checkBytes(episodes: episodeRaw, count: header.episodeCount, leads: leadRaw, leadCount: header.leadCount) {
                throw damaged(problem)
            }

            var state = ReplayState(cut: .everything)
            state.position = header.position
            state.headHash = header.headHash
            for name in header.channels { _ = state.channels.intern(name) }
            for name in header.owners { _ = state.owners.intern(name) }
            for name in header.campaigns { _ = state.campaigns.intern(name) }
            for name in header.sources { _ = state.sources.intern(name) }
            for name in header.reasons { _ = state.reasons.intern(name) }
            guard header.reasonInfo.keys.allSatisfy({ $0 >= 0 && Int($0) < state.reasons.count }) else {
                throw damaged("its reason catalog names unknown reasons")
            }
            state.reasonInfo = header.reasonInfo
            for position in header.definitionPositions {
                guard position <= header.position, let record = try log.record(at: position) else {
                    throw damaged("it names a definition at position \(position)")
                }
                try record.payload.withUnsafeBytes { try ReplayEngine.applyCatalogEvent(&state, payload: $0, position: position) }
            }
            for c in header.corrections {
                guard c.count == 3 else { throw damaged("a correction has \(c.count) numbers") }
                let reason = Int32(truncatingIfNeeded: Int64(bitPattern: c[2]))
                guard reason >= -1, Int(reason) < state.reasons.count else { throw damaged("a correction names reason \(reason)") }
                state.corrections[UUIDKey((c[0], c[1]))] = reason
            }
            state.voidCount = header.voidCount
            state.episodes = Array(unsafeUninitializedCapacity: header.episodeCount) { buffer, count in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: episodeRaw)
                count = header.episodeCount
            }
            state.leads = Array(unsafeUninitializedCapacity: header.leadCount) { buffer, count in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: leadRaw)
                count = header.leadCount
            }
            if let problem = checkIndexes(state) { throw damaged(problem) }
            return state
        }
    }

    /// The earliest and latest business times an event can carry (years 1 to 9999), in µs.
    static let timeRange: ClosedRange<Int64> = -62_135_596_800_000_000...253_402_300_799_999_999

    /// Enum and Boolean bytes of the stored arrays: any other byte would be undefined behaviour.
    private static func checkBytes(episodes: UnsafeRawBufferPointer, count: Int, leads: UnsafeRawBufferPointer, leadCount: Int) -> String? {
        let e = MemoryLayout<Episode>.stride, l = MemoryLayout<LeadState>.stride
        let outcome = MemoryLayout<Episode>.offset(of: \Episode.outcome)!
        let episodeFlags = [\Episode.isVoid, \Episode.corrected].map { MemoryLayout<Episode>.offset(of: $0)! }
        let leadFlags = [\LeadState.won, \LeadState.converted, \LeadState.seen, \LeadState.outOfOrder].map {
            MemoryLayout<LeadState>.offset(of: $0)!
        }
        for i in 0..<count {
            guard episodes[i * e + outcome] <= EpisodeOutcome.recycled.rawValue else {
                return "episode \(i) has outcome byte \(episodes[i * e + outcome])"
            }
            for f in episodeFlags where episodes[i * e + f] > 1 { return "episode \(i) has a flag byte \(episodes[i * e + f])" }
        }
        for i in 0..<leadCount {
            for f in leadFlags where leads[i * l + f] > 1 { return "lead \(i) has a flag byte \(leads[i * l + f])" }
        }
        return nil
    }

    /// Every number that readers use to index something, checked against what it indexes.
    private static func checkIndexes(_ state: ReplayState) -> String? {
        func within(_ value: Int32, _ count: Int) -> Bool { value >= -1 && Int(value) < count }
        let episodes = state.episodes.count, leads = state.leads.count
        for (i, ep) in state.episodes.enumerated() {
            guard Int(ep.lead) < leads else { return "episode \(i) names lead \(ep.lead) of \(leads)" }
            guard within(ep.owner, state.owners.count), within(ep.channel, state.channels.count),
                within(ep.campaign, state.campaigns.count),
                within(ep.source, state.sources.count), within(ep.reason, state.reasons.count),
                within(ep.originalReason, state.reasons.count)
            else { return "episode \(i) names an unknown owner, channel, campaign, source or reason" }
            guard ep.previous >= -1, Int(ep.previous) < i else { return "episode \(i) links to episode \(ep.previous)" }
            guard ep.namedDefinition >= -1 else { return "episode \(i) names definition \(ep.namedDefinition)" }
            guard timeRange.contains(ep.handedOffAt), ep.decidedAt == 0 || timeRange.contains(ep.decidedAt) else {
                return "episode \(i) has an impossible time"
            }
            guard ep.handOffPosition >= 1, ep.handOffPosition <= state.position else {
                return "episode \(i) names position \(ep.handOffPosition)"
            }
        }
        for (i, lead) in state.leads.enumerated() {
            guard within(lead.channel, state.channels.count), within(lead.campaign, state.campaigns.count),
                within(lead.openEpisode, episodes), within(lead.lastEpisode, episodes)
            else { return "lead \(i) names an unknown channel, campaign or episode" }
        }
        guard state.voidCount >= 0, state.voidCount <= episodes else { return "it counts \(state.voidCount) void episodes of \(episodes)" }
        return nil
    }

    /// Why the stored checkpoint cannot be trusted, or `nil`: it must authenticate, pass every check,
    /// and, caught up to the head, agree with a fresh replay of the records on every live episode,
    /// lead outcome, correction and catalog entry. For `verify`; costs a full replay.
    public static func audit(_ log: EventLog) throws -> String? {
        if let problem = try problem(log) { return problem }
        guard var state = try load(log) else { return nil }
        var none = NoObserver()
        try log.withSnapshot { try ReplayEngine.catchUp(&state, snapshot: $0, observer: &none) }
        let fresh = try ReplayEngine.replay(log)
        return Summary(state) == Summary(fresh) ? nil : "at position \(state.position) it disagrees with a fresh replay of the records"
    }

    /// What the analyses read from a state, with interned numbers resolved to names and episodes in
    /// position order, so states folded in different orders (on one thread or two) compare equal.
    struct Summary: Equatable {
        struct Row: Equatable, Comparable {
            var position: UInt64, lead: UInt32, outcome: UInt8, corrected: Bool, handedOffAt: Int64, decidedAt: Int64,
                namedDefinition: Int32
            var owner: String?, channel: String?, campaign: String?, source: String?, reason: String?, originalReason: String?
            var score: UInt64
            static func < (a: Row, b: Row) -> Bool { (a.position, a.lead) < (b.position, b.lead) }
        }
        var rows: [Row]
        var leads: [UInt32: [Bool]]
        var reasons: [String: ReasonCode]
        var definitions: [Int: UInt64]
        var position: UInt64

        init(_ s: ReplayState) {
            rows = s.liveEpisodes.map { e in
                Row(
                    position: e.handOffPosition, lead: e.lead, outcome: e.outcome.rawValue, corrected: e.corrected,
                    handedOffAt: e.handedOffAt,
                    decidedAt: e.decidedAt, namedDefinition: e.namedDefinition, owner: s.owners.name(e.owner),
                    channel: s.channels.name(e.channel),
                    campaign: s.campaigns.name(e.campaign), source: s.sources.name(e.source), reason: s.reasons.name(e.reason),
                    originalReason: s.reasons.name(e.originalReason), score: e.scoreAtHandOff.bitPattern)
            }.sorted()
            var leads: [UInt32: [Bool]] = [:]
            for (i, lead) in s.leads.enumerated() where lead.seen { leads[UInt32(i)] = [lead.won, lead.converted] }
            self.leads = leads
            var reasons: [String: ReasonCode] = [:]
            for (number, info) in s.reasonInfo { reasons[s.reasons.name(number) ?? ""] = info }
            self.reasons = reasons
            definitions = s.definitions.mapValues(\.position)
            position = s.position
        }
    }
}
