import EventLog
import Foundation
import LeadModel
import Projections

/// The validation state kept in the log's own file, in tables written in the same transaction as
/// the events: the open episode of each lead, the stored rejections, the reason codes and the
/// published definitions, the proposed definitions with their reviews (in `validation.meta`, keyed
/// `proposal:` and the id), and the position they are folded through.
///
/// Reads go to the tables of the group's transaction, so they see every committed append, this
/// process's or another's, and earlier batches of the same group. A stored value that does not
/// decode is damage: the read fails, and the append with it.
///
/// Entries holding a lead id are never deleted nor resized: a closed episode keeps its entry,
/// marked closed, and a correction goes to its own table. LMDB leaves the bytes of a deleted or
/// moved entry in the page, where no check can tell a damaged copy from a stale one.
struct ValidationTables: LedgerState {
    static let episodes = "validation.episodes"
    static let rejections = "validation.rejections"
    static let corrections = "validation.corrections"
    static let reasons = "validation.reasons"
    static let definitions = "validation.definitions"
    static let meta = "validation.meta"
    static let names = [episodes, rejections, corrections, reasons, definitions, meta]
    private static let throughKey = Array("through".utf8)
    private static let serviceLevelKey = Array("sla.latest".utf8)
    private static let proposalPrefix = Array("proposal:".utf8)

    let tables: PolicyTables
    /// The roles whose approval a publish needs: the ledger's setting, read when it was opened.
    let requiredApprovals: [String]
    /// The first failure of a read: the state's reads cannot throw, so validation asks afterwards.
    private let failure = FailureBox()

    init(_ tables: PolicyTables, requiredApprovals: [String] = []) {
        self.tables = tables
        self.requiredApprovals = requiredApprovals
    }

    private final class FailureBox {
        var error: (any Error)?
    }

    /// Throws the first error a read met since the last call.
    func checkReads() throws {
        if let error = failure.error {
            failure.error = nil
            throw error
        }
    }

    private func read<T>(_ body: () throws -> T?) -> T? {
        do { return try body() } catch {
            if failure.error == nil { failure.error = error }
            return nil
        }
    }

    // MARK: LedgerState

    func reason(_ code: String) -> ReasonCode? {
        read { try tables.value(forKey: Array(code.utf8), in: Self.reasons).map { try Self.decodeReason(code, $0) } }
    }

    func definition(version: Int) -> PublishedDefinition? {
        read { try tables.value(forKey: Self.versionKey(version), in: Self.definitions).map { try Self.decodeDefinition(version, $0) } }
    }

    var latestDefinitionVersion: Int? {
        read { try tables.last(in: Self.definitions).map { try Self.version(fromKey: $0.key) } }
    }

    var latestServiceLevelVersion: Int? {
        read { try tables.value(forKey: Self.serviceLevelKey, in: Self.meta).map { try Self.decodeServiceLevelVersion($0) } }
    }

    func openEpisode(lead: String) -> OpenEpisode? {
        read { try tables.value(forKey: Array(lead.utf8), in: Self.episodes).flatMap { try Self.decodeEpisode($0) } }
    }

    func storedRejection(id: UUID) -> StoredRejection? {
        read {
            guard var rejection = try tables.value(forKey: Self.idKey(id), in: Self.rejections).map({ try Self.decodeRejection($0) }) else {
                return nil
            }
            if let corrected = try tables.value(forKey: Self.idKey(id), in: Self.corrections) {
                rejection.reason = try Self.decodeCorrection(corrected)
            }
            return rejection
        }
    }

    func proposal(_ id: String) -> ProposalRecord? {
        read { try tables.value(forKey: Self.proposalKey(id), in: Self.meta).map { try Self.decodeProposal($0) } }
    }

    // MARK: Writing

    /// The log position the tables hold the effects of every event through; 0 when never written.
    func through() throws -> UInt64 {
        guard let bytes = try tables.value(forKey: Self.throughKey, in: Self.meta) else { return 0 }
        var reader = FieldReader(bytes, table: Self.meta)
        return UInt64(bitPattern: try reader.int64())
    }

    func setThrough(_ position: UInt64) throws {
        var writer = FieldWriter()
        writer.int64(Int64(bitPattern: position))
        try tables.put(writer.bytes, forKey: Self.throughKey, in: Self.meta)
    }

    /// Applies one change, as ``InMemoryLedgerState/apply(_:)-(StateChange)`` does in memory.
    func apply(_ change: StateChange) throws {
        switch change {
        case .reasonDefined(let data):
            let existing = reason(data.code)
            try checkReads()
            try putReason(EpisodeMachine.reason(afterDefining: data, existing: existing))
        case .reasonRetired(let data):
            let existing = reason(data.code)
            try checkReads()
            if let retired = EpisodeMachine.reason(afterRetiring: data, existing: existing) { try putReason(retired) }
        case .definitionPublished(let definition):
            var writer = FieldWriter()
            writer.int64(definition.effectiveAt.microseconds)
            writer.int64(Int64(definition.effectiveAt.utcOffsetSeconds))
            writer.string(definition.name)
            try tables.put(writer.bytes, forKey: Self.versionKey(definition.version), in: Self.definitions)
        case .episodeOpened(let lead, let episode):
            try tables.put(Self.encodeEpisode(episode), forKey: Array(lead.utf8), in: Self.episodes)
        case .episodeClosed(let lead):
            if try tables.value(forKey: Array(lead.utf8), in: Self.episodes) != nil {
                try tables.put(Self.encodeEpisode(nil), forKey: Array(lead.utf8), in: Self.episodes)
            }
        case .rejectionStored(let id, let rejection):
            var writer = FieldWriter()
            writer.string(rejection.lead)
            writer.string(rejection.reason)
            try tables.put(writer.bytes, forKey: Self.idKey(id), in: Self.rejections)
            try tables.delete(forKey: Self.idKey(id), in: Self.corrections)
        case .rejectionCorrected(let id, let reason):
            let stored = try tables.value(forKey: Self.idKey(id), in: Self.rejections)
            if stored != nil {
                var writer = FieldWriter()
                writer.string(reason)
                try tables.put(writer.bytes, forKey: Self.idKey(id), in: Self.corrections)
            }
        case .serviceLevelPublished(let version):
            let latest = latestServiceLevelVersion
            try checkReads()
            var writer = FieldWriter()
            writer.int64(Int64(max(latest ?? version, version)))
            try tables.put(writer.bytes, forKey: Self.serviceLevelKey, in: Self.meta)
        case .proposalMade(let id, let rulesJSON):
            try tables.put(Self.encodeProposal(ProposalRecord(rulesJSON: rulesJSON)), forKey: Self.proposalKey(id), in: Self.meta)
        case .proposalReviewed(let id, let role, let verdict):
            let existing = proposal(id)
            try checkReads()
            if var record = existing {
                record.reviews[role] = verdict
                try tables.put(Self.encodeProposal(record), forKey: Self.proposalKey(id), in: Self.meta)
            }
        case .proposalPublished(let id, let version):
            let existing = proposal(id)
            try checkReads()
            if var record = existing {
                record.publishedVersion = version
                try tables.put(Self.encodeProposal(record), forKey: Self.proposalKey(id), in: Self.meta)
            }
        }
    }

    static func proposalKey(_ id: String) -> [UInt8] { proposalPrefix + Array(id.utf8) }

    static func encodeProposal(_ record: ProposalRecord) -> [UInt8] {
        var writer = FieldWriter()
        writer.string(String(decoding: record.rulesJSON, as: UTF8.self))
        writer.bool(record.publishedVersion != nil)
        writer.int64(Int64(record.publishedVersion ?? 0))
        writer.int64(Int64(record.reviews.count))
        for (role, verdict) in record.reviews.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            writer.string(role)
            writer.bool(verdict == .approved)
        }
        return writer.bytes
    }

    static func decodeProposal(_ bytes: [UInt8]) throws -> ProposalRecord {
        var reader = FieldReader(bytes, table: meta)
        let rules = Array(try reader.string().utf8)
        let published = try reader.bool()
        let version = try reader.int64()
        let count = try reader.int64()
        // Each review takes at least five bytes: a bound that a damaged count cannot pass.
        guard count >= 0, count <= Int64(bytes.count / 5) else {
            throw ValidationTableDamage(table: meta, message: "a proposal with \(count) reviews")
        }
        var reviews: [String: ReviewVerdict] = [:]
        for _ in 0..<count {
            let role = try reader.string()
            reviews[role] = try reader.bool() ? .approved : .declined
        }
        try reader.end()
        guard let publishedVersion = Int(exactly: version) else {
            throw ValidationTableDamage(table: meta, message: "a proposal published as version \(version)")
        }
        return ProposalRecord(rulesJSON: rules, reviews: reviews, publishedVersion: published ? publishedVersion : nil)
    }

    static func decodeServiceLevelVersion(_ bytes: [UInt8]) throws -> Int {
        var reader = FieldReader(bytes, table: meta)
        let version = try reader.int64()
        try reader.end()
        return Int(version)
    }

    /// Applies one stored record's effects: lead events through the record view, catalog events decoded.
    func fold(_ payload: UnsafeRawBufferPointer) throws {
        try StateChange.forEachEffect(ofRecord: payload) { try apply($0) }
    }

    private func putReason(_ reason: ReasonCode) throws {
        var writer = FieldWriter()
        writer.string(reason.label)
        writer.string(reason.category)
        writer.bool(reason.requiresNote)
        writer.bool(reason.retired)
        writer.optionalString(reason.replacedBy)
        try tables.put(writer.bytes, forKey: Array(reason.code.utf8), in: Self.reasons)
    }

    // MARK: Checking

    /// What is wrong with the tables against a fold of the records they claim to hold, nil when
    /// they agree entry for entry (`verify`).
    static func audit(_ log: EventLog) throws -> String? {
        try log.withPolicyTables(names) { tables in
            let state = ValidationTables(tables)
            let through = try state.through()
            let head = try log.head().position
            guard through <= head else { return "they hold events through position \(through), the log ends at \(head)" }
            var expected = InMemoryLedgerState()
            var handedOff: Set<String> = []
            var failure: (any Error)?
            if through > 0 {
                try log.scan(through: through) { record in
                    do {
                        try StateChange.forEachEffect(ofRecord: record.payload) { change in
                            if case .episodeOpened(let lead, _) = change { handedOff.insert(lead) }
                            expected.apply(change)
                        }
                    } catch {
                        failure = ReplayError(position: record.position, message: "\(error)")
                        return false
                    }
                    return true
                }
            }
            if let failure { throw failure }
            return try difference(tables, expected, handedOff: handedOff)
        }
    }

    private static func difference(_ tables: PolicyTables, _ expected: InMemoryLedgerState, handedOff: Set<String>) throws -> String? {
        // Closed episodes keep their entries; corrections live apart from their rejections.
        var closedEpisodes: Set<String> = []
        var correctionProblem: String?
        try tables.forEach(in: corrections) { key, value in
            do {
                let id = try idKey(key)
                _ = try decodeCorrection(value)
                guard expected.rejectionsByID[id] != nil else {
                    correctionProblem = "the \(corrections) table corrects \(id), which the records never rejected"
                    return false
                }
            } catch {
                correctionProblem = "the \(corrections) table: \(error)"
                return false
            }
            return true
        }
        if let correctionProblem { return correctionProblem }
        // Each entry is read twice: walked in key order, and looked up by its key, which goes
        // through the branch pages' keys a walk never compares.
        func compare<Key: Hashable, Value: Equatable>(
            _ table: String, _ want: [Key: Value], key: ([UInt8]) throws -> Key, value: (Key, [UInt8]) throws -> Value?,
            encode: (Key) -> [UInt8]
        ) throws -> String? {
            var seen = 0
            var problem: String?
            try tables.forEach(in: table) { rawKey, rawValue in
                let found: (Key, Value)
                do {
                    let k = try key(rawKey)
                    guard let v = try value(k, rawValue) else {
                        if let lead = k as? String { closedEpisodes.insert(lead) }
                        return true
                    }
                    found = (k, v)
                } catch {
                    problem = "the \(table) table: \(error)"
                    return false
                }
                guard want[found.0] == found.1 else {
                    problem = "the \(table) table's entry for \(found.0) does not match the records"
                    return false
                }
                seen += 1
                return true
            }
            if problem == nil, seen != want.count { problem = "the \(table) table holds \(seen) entries, the records give \(want.count)" }
            if let problem { return problem }
            for (k, v) in want {
                let stored = try tables.value(forKey: encode(k), in: table)
                guard let stored, (try? value(k, stored)) == .some(v) else {
                    return "the \(table) table's entry for \(k) cannot be found by its key"
                }
            }
            return nil
        }
        func text(_ bytes: [UInt8]) throws -> String {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ValidationTableDamage(table: "validation", message: "a key that is not UTF-8")
            }
            return text
        }
        func idKey(_ bytes: [UInt8]) throws -> UUID {
            guard bytes.count == 16 else {
                throw ValidationTableDamage(table: rejections, message: "a key of \(bytes.count) bytes, not 16")
            }
            return bytes.withUnsafeBytes { UUID(bytes: $0) }
        }
        let storedRejection: (UUID, [UInt8]) throws -> StoredRejection? = { id, bytes in
            var rejection = try decodeRejection(bytes)
            if let corrected = try tables.value(forKey: Self.idKey(id), in: corrections) {
                rejection.reason = try decodeCorrection(corrected)
            }
            return rejection
        }
        let utf8: (String) -> [UInt8] = { Array($0.utf8) }
        if let problem = try compare(episodes, expected.openEpisodesByLead, key: text, value: { try decodeEpisode($1) }, encode: utf8) {
            return problem
        }
        // Every lead ever handed off has an entry, closed ones included, and no other lead has one.
        guard closedEpisodes.union(expected.openEpisodesByLead.keys) == handedOff else {
            return "the \(episodes) table's leads are not the leads the records hand off"
        }
        let closed = encodeEpisode(nil)
        for lead in closedEpisodes where try tables.value(forKey: utf8(lead), in: episodes) != closed {
            return "the \(episodes) table's closed entry for \(lead) cannot be found by its key"
        }
        let storedServiceLevel = try tables.value(forKey: serviceLevelKey, in: meta).map { try decodeServiceLevelVersion($0) }
        guard storedServiceLevel == expected.latestServiceLevelVersion else {
            return "the \(meta) table's latest service-level version does not match the records"
        }
        var storedProposals = 0
        var proposalProblem: String?
        try tables.forEach(in: meta) { key, value in
            guard key.starts(with: proposalPrefix) else { return true }
            let id = String(decoding: key.dropFirst(proposalPrefix.count), as: UTF8.self)
            do {
                guard try decodeProposal(value) == expected.proposalsByID[id] else {
                    proposalProblem = "the \(meta) table's entry for proposal \(id) does not match the records"
                    return false
                }
            } catch {
                proposalProblem = "the \(meta) table: \(error)"
                return false
            }
            storedProposals += 1
            return true
        }
        if let proposalProblem { return proposalProblem }
        guard storedProposals == expected.proposalsByID.count else {
            return "the \(meta) table holds \(storedProposals) proposals, the records give \(expected.proposalsByID.count)"
        }
        return try compare(rejections, expected.rejectionsByID, key: idKey, value: storedRejection, encode: Self.idKey(_:))
            ?? compare(reasons, expected.reasonsByCode, key: text, value: { try decodeReason($0, $1) }, encode: utf8)
            ?? compare(
                definitions, expected.definitionsByVersion, key: { try version(fromKey: $0) }, value: { try decodeDefinition($0, $1) },
                encode: Self.versionKey(_:))
    }

    // MARK: Encoding

    static func idKey(_ id: UUID) -> [UInt8] { withUnsafeBytes(of: id.uuid, Array.init) }

    /// Big-endian with the sign bit flipped, so that byte order is numeric order and the last key
    /// is the greatest version.
    static func versionKey(_ version: Int) -> [UInt8] {
        withUnsafeBytes(of: (UInt64(bitPattern: Int64(version)) ^ (1 << 63)).bigEndian, Array.init)
    }

    static func version(fromKey key: [UInt8]) throws -> Int {
        guard key.count == 8 else { throw ValidationTableDamage(table: definitions, message: "a key of \(key.count) bytes, not 8") }
        let raw = key.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Int(Int64(bitPattern: raw ^ (1 << 63)))
    }

    static func decodeReason(_ code: String, _ bytes: [UInt8]) throws -> ReasonCode {
        var reader = FieldReader(bytes, table: reasons)
        let reason = ReasonCode(
            code: code, label: try reader.string(), category: try reader.string(), requiresNote: try reader.bool(),
            retired: try reader.bool(),
            replacedBy: try reader.optionalString())
        try reader.end()
        return reason
    }

    static func decodeDefinition(_ version: Int, _ bytes: [UInt8]) throws -> PublishedDefinition {
        var reader = FieldReader(bytes, table: definitions)
        let effectiveAt = try reader.timestamp()
        let definition = PublishedDefinition(version: version, name: try reader.string(), effectiveAt: effectiveAt)
        try reader.end()
        return definition
    }

    /// One size whether open or closed, so closing overwrites the entry in place.
    static func encodeEpisode(_ episode: OpenEpisode?) -> [UInt8] {
        var writer = FieldWriter()
        writer.bool(episode != nil)
        writer.int64(episode?.handedOffAt.microseconds ?? 0)
        writer.int64(Int64(episode?.handedOffAt.utcOffsetSeconds ?? 0))
        writer.raw(episode.map { idKey($0.handOffEventId) } ?? [UInt8](repeating: 0, count: 16))
        return writer.bytes
    }

    /// The open episode, nil for an entry marked closed.
    static func decodeEpisode(_ bytes: [UInt8]) throws -> OpenEpisode? {
        var reader = FieldReader(bytes, table: episodes)
        let open = try reader.bool()
        let handedOffAt = try reader.timestamp()
        let id = try reader.raw(16)
        try reader.end()
        return open ? OpenEpisode(handedOffAt: handedOffAt, handOffEventId: id.withUnsafeBytes { UUID(bytes: $0) }) : nil
    }

    static func decodeCorrection(_ bytes: [UInt8]) throws -> String {
        var reader = FieldReader(bytes, table: corrections)
        let reason = try reader.string()
        try reader.end()
        return reason
    }

    static func decodeRejection(_ bytes: [UInt8]) throws -> StoredRejection {
        var reader = FieldReader(bytes, table: rejections)
        let rejection = StoredRejection(lead: try reader.string(), reason: try reader.string())
        try reader.end()
        return rejection
    }
}

/// A value of a validation table that does not decode.
struct ValidationTableDamage: Error, CustomStringConvertible {
    let table: String
    let message: String
    var description: String { "the ledger's \(table) table is damaged: \(message); run `leadledger verify`" }
}

/// Fields in a stored value: 8-byte integers, flags, and strings with a 4-byte length, little-endian.
struct FieldWriter {
    var bytes: [UInt8] = []

    mutating func int64(_ value: Int64) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }
    mutating func raw(_ value: [UInt8]) { bytes += value }
    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: utf8.count).littleEndian) { bytes += $0 }
        bytes += utf8
    }
    mutating func optionalString(_ value: String?) {
        bool(value != nil)
        if let value { string(value) }
    }
}

/// Reads what ``FieldWriter`` wrote, checking every length against what is there.
struct FieldReader {
    let bytes: [UInt8]
    let table: String
    var offset = 0

    init(_ bytes: [UInt8], table: String) {
        self.bytes = bytes
        self.table = table
    }

    private func damage(_ message: String) -> ValidationTableDamage { ValidationTableDamage(table: table, message: message) }

    mutating func raw(_ count: Int) throws -> [UInt8] {
        guard count >= 0, bytes.count - offset >= count else {
            throw damage("a value of \(bytes.count) bytes ends before the field at byte \(offset)")
        }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func int64() throws -> Int64 {
        let field = try raw(8)
        return Int64(littleEndian: field.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
    }

    mutating func bool() throws -> Bool {
        let field = try raw(1)
        guard field[0] <= 1 else { throw damage("a flag byte \(field[0]) at byte \(offset - 1)") }
        return field[0] == 1
    }

    mutating func string() throws -> String {
        let length = try raw(4).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard let count = Int(exactly: length) else { throw damage("a string length \(length)") }
        return String(decoding: try raw(count), as: UTF8.self)
    }

    mutating func optionalString() throws -> String? { try bool() ? try string() : nil }

    mutating func timestamp() throws -> Timestamp {
        let microseconds = try int64()
        let offsetSeconds = try int64()
        guard let utcOffset = Int32(exactly: offsetSeconds) else { throw damage("a time offset of \(offsetSeconds) seconds") }
        return Timestamp(microseconds: microseconds, utcOffsetSeconds: utcOffset)
    }

    func end() throws {
        guard offset == bytes.count else { throw damage("\(bytes.count - offset) bytes after the last field") }
    }
}
