import EventLog
import Foundation
import LeadModel
import Synchronization

/// One event of a lead, as the audit shows it.
public struct AuditEvent: Sendable, Hashable, Codable {
    /// Position in the log.
    public var position: UInt64
    /// Event id.
    public var id: String
    /// Event type.
    public var type: String
    /// Business time, as sent.
    public var occurredAt: String
    /// Knowledge time: when the ledger appended it.
    public var recordedAt: String
    /// Sending system.
    public var source: String
    /// Who did it, when said.
    public var actor: String?
    /// The event's data.
    public var data: JSONBox
    /// Appended after an event of this lead that happened later in business time (a back-fill).
    public var late: Bool
}

/// One rule's verdict on the lead's state at hand-off.
public struct AuditVerdict: Sendable, Hashable, Codable {
    /// JSON Pointer of the rule in the definition.
    public var pointer: String
    /// The rule, readable.
    public var rule: String
    /// Whether it held.
    public var passed: Bool
    /// The value it saw, or `"missing"`.
    public var seen: String
}

/// The reason of a rejection.
public struct AuditReason: Sendable, Hashable, Codable {
    /// Code.
    public var code: String
    /// Label, when defined.
    public var label: String?
    /// Category, when defined.
    public var category: String?
    /// Whether the code is retired (now).
    public var retired: Bool
    /// Its replacement, when retired.
    public var replacedBy: String?
}

/// A correction of a rejection's reason.
public struct AuditCorrection: Sendable, Hashable, Codable {
    /// Position of the correction.
    public var position: UInt64
    /// When it happened.
    public var occurredAt: String
    /// The new reason.
    public var reason: AuditReason
    /// Its note.
    public var note: String?
    /// Who corrected.
    public var actor: String?
}

/// One episode, as the audit explains it.
public struct AuditEpisode: Sendable, Hashable, Codable {
    /// 1 for the lead's first hand-off.
    public var number: Int
    /// Hand-off business time.
    public var handedOffAt: String
    /// Hand-off position.
    public var handOffPosition: UInt64
    /// Owner it was handed to.
    public var owner: String
    /// Definition version of the episode.
    public var definition: Int?
    /// Its name.
    public var definitionName: String?
    /// `"named by the hand-off"` or `"in force at hand-off"`.
    public var definitionBasis: String?
    /// Whether the lead's state at hand-off satisfied that definition.
    public var qualified: Bool?
    /// Every rule's verdict on the lead's state at hand-off (business time).
    public var verdicts: [AuditVerdict]
    /// The lead's state at hand-off: score, channel, campaign and attributes.
    public var stateAtHandOff: JSONBox
    /// Events that shaped that state but were recorded only after the hand-off: unknown to sales then.
    public var learnedAfterHandOff: [UInt64]
    /// `accepted`, `rejected`, `recycled` or `pending`.
    public var outcome: String
    /// Decision business time.
    public var decidedAt: String?
    /// Decision position.
    public var decisionPosition: UInt64?
    /// Who decided.
    public var decidedBy: String?
    /// The reason as given (rejections).
    public var reason: AuditReason?
    /// The note given.
    public var note: String?
    /// Later corrections of the reason, in order.
    public var corrections: [AuditCorrection]
}

/// Why a lead was handed off, accepted or rejected, by whom, under which definition, and what was known.
public struct LeadAudit: Sendable, Hashable, Codable {
    /// The lead id.
    public var lead: String
    /// The log's head when the audit was taken.
    public var head: LogHead
    /// Every event, in business-time order.
    public var events: [AuditEvent]
    /// Every episode.
    public var episodes: [AuditEpisode]

    /// Audits a lead from its own stream and the catalog stream: no replay of the log.
    /// Returns `nil` when the ledger has no event for the lead.
    public static func build(_ log: EventLog, lead: String) throws -> LeadAudit? {
        try log.withSnapshot { snapshot in
            guard let stream = try snapshot.streamNumber(lead) else { return nil }
            // Decoded straight from the mapped records: no copy of the record, no hash text.
            var records: [AuditRecord] = []
            var personal = PersonalValues(log: log)
            try snapshot.scan(stream: stream) { view in
                var record = AuditRecord(position: view.position, recordedAt: view.recordedAt, event: try LeadEvent(binary: view.payload))
                if let event = EventRecordView(validating: view.payload) {
                    for (name, sealed) in event.sealedAttributes {
                        record.personal.append(
                            (String(decoding: name, as: UTF8.self), personal.open(sealed, name: name, event: event, lead: stream)))
                    }
                }
                records.append(record)
            }
            if let failure = personal.failure { throw failure }
            guard !records.isEmpty else { return nil }
            let catalog = try CatalogCache.shared.catalog(of: log, snapshot: snapshot)
            return build(lead: lead, records: records, catalog: catalog, head: try snapshot.head())
        }
    }

    /// One of the lead's records, decoded.
    struct AuditRecord {
        var position: UInt64
        var recordedAt: Int64
        var event: LeadEvent
        /// The personal values the record holds sealed, opened; nil where the key is destroyed.
        var personal: [(name: String, value: AttributeValue?)] = []
    }

    static func build(lead: String, records: [AuditRecord], catalog: Catalog, head: LogHead) -> LeadAudit {
        var decoded = records
        // Late: appended after an event that happened later in business time.
        var latestOccurred = Int64.min
        var late = Set<UInt64>()
        for record in decoded {
            if record.event.occurredAt.microseconds < latestOccurred { late.insert(record.position) }
            latestOccurred = max(latestOccurred, record.event.occurredAt.microseconds)
        }
        decoded.sort { ($0.event.occurredAt.microseconds, $0.position) < ($1.event.occurredAt.microseconds, $1.position) }

        var state: [String: AttributeValue] = [:]
        // Personal values are for the rules only: a verdict reads those its definition names, and
        // the state at hand-off, shown beside it, leaves them out.
        var personalState: [String: AttributeValue] = [:]
        func apply(_ attributes: [String: AttributeValue], _ record: AuditRecord) {
            for (k, v) in attributes {
                state[k] = v == .null ? nil : v
                personalState[k] = nil
            }
            for (k, v) in record.personal {
                state[k] = nil
                personalState[k] = v
            }
        }
        var stateSources: [UInt64: Int64] = [:]  // position → recordedAt of events that shaped the state
        var episodes: [AuditEpisode] = []
        var open: Int?
        var rejectionEpisode: [UUID: Int] = [:]
        var corrections: [(rejection: UUID, correction: AuditCorrection)] = []
        /// Closes the open episode with a decision; returns its index, nil when none was open.
        @discardableResult
        func decide(_ outcome: String, by: String?, _ record: AuditRecord) -> Int? {
            guard let i = open else { return nil }
            episodes[i].outcome = outcome
            episodes[i].decidedAt = record.event.occurredAt.rfc3339
            episodes[i].decisionPosition = record.position
            episodes[i].decidedBy = by ?? record.event.actor
            open = nil
            return i
        }
        for record in decoded {
            let event = record.event
            switch (EpisodeMachine.transition(of: event, from: EpisodePhase(isOpen: open != nil)), event.payload) {
            case (.none, .leadCaptured(let c)):
                state["channel"] = .string(c.channel)
                if let campaign = c.campaign { state["campaign"] = .string(campaign) }
                apply(c.attributes ?? [:], record)
                stateSources[record.position] = record.recordedAt
            case (.none, .attributesObserved(let a)):
                apply(a.attributes, record)
                stateSources[record.position] = record.recordedAt
            case (.none, .leadScored(let s)):
                state["score"] = .number(s.score)
                stateSources[record.position] = record.recordedAt
            case (.open, .handedOff(let h)):
                let version = h.definition ?? catalog.state.definitionInForce(at: event.occurredAt.microseconds)
                let definition = version.flatMap { catalog.state.definitions[$0] }
                var verdicts: [AuditVerdict] = []
                var qualified: Bool?
                if let rules = version.flatMap({ catalog.compiled[$0] }) {
                    var facts = LeadFacts(table: rules.table)
                    for (k, v) in state {
                        // Fields no rule names cannot change a verdict.
                        if let slot = rules.table.existingSlot(for: k) { facts.set(slot, v) }
                    }
                    for (k, v) in personalState {
                        if let slot = rules.table.existingSlot(for: k) { facts.set(slot, v) }
                    }
                    qualified = rules.definition.evaluate(facts)
                    verdicts = rules.definition.explain(facts).map {
                        AuditVerdict(pointer: $0.pointer, rule: $0.text, passed: $0.passed, seen: $0.seenText)
                    }
                }
                episodes.append(
                    AuditEpisode(
                        number: episodes.count + 1, handedOffAt: event.occurredAt.rfc3339, handOffPosition: record.position, owner: h.owner,
                        definition: version, definitionName: definition?.name,
                        definitionBasis: version == nil ? nil : (h.definition != nil ? "named by the hand-off" : "in force at hand-off"),
                        qualified: qualified, verdicts: verdicts,
                        stateAtHandOff: JSONBox(.object(state.sorted { $0.key < $1.key }.map { JSONMember($0.key, $0.value.json) })),
                        learnedAfterHandOff: stateSources.filter { $0.value > record.recordedAt }.map(\.key).sorted(),
                        outcome: "pending", decidedAt: nil, decisionPosition: nil, decidedBy: nil, reason: nil, note: nil, corrections: []))
                open = episodes.count - 1
            case (.close, .accepted(let a)):
                decide("accepted", by: a.by, record)
            case (.close, .rejected(let r)):
                guard let i = decide("rejected", by: r.by, record) else { break }
                episodes[i].reason = catalog.reason(r.reason)
                episodes[i].note = r.note
                rejectionEpisode[event.id] = i
            case (.close, .recycled(let r)):
                guard let i = decide("recycled", by: nil, record) else { break }
                episodes[i].note = r.note
            case (.correctRejection, .rejectionCorrected(let c)):
                // Attached after the walk: a correction may be dated before its rejection (clock skew
                // between systems) and still applies, as it does in the trends.
                corrections.append(
                    (
                        c.event,
                        AuditCorrection(
                            position: record.position, occurredAt: event.occurredAt.rfc3339, reason: catalog.reason(c.reason), note: c.note,
                            actor: event.actor)
                    ))
            default:
                // A decision with no open episode, found only in a log written without validation, decides nothing.
                break
            }
        }
        for (rejection, correction) in corrections {
            if let i = rejectionEpisode[rejection] { episodes[i].corrections.append(correction) }
        }
        let events = decoded.map { record in
            let event = record.event
            return AuditEvent(
                position: record.position, id: event.id.lowercasedText, type: event.type.rawValue,
                occurredAt: event.occurredAt.rfc3339, recordedAt: Timestamp(microseconds: record.recordedAt).rfc3339,
                source: event.source, actor: event.actor, data: JSONBox(event.payload.jsonObject), late: late.contains(record.position))
        }
        return LeadAudit(lead: lead, head: head, events: events, episodes: episodes)
    }
}

/// The catalog of each open log, reread only when the catalog stream grew: an audit then decodes
/// only the lead's own events.
final class CatalogCache: Sendable {
    static let shared = CatalogCache()
    private let entries = Mutex<[String: (last: [UInt8], catalog: Catalog)]>([:])

    func catalog(of log: EventLog, snapshot: borrowing LogSnapshot) throws -> Catalog {
        let positions = try snapshot.positions(inStream: CatalogStream.name)
        // The chained hash of the last catalog record identifies the whole catalog up to it.
        let last = try positions.last.flatMap { try snapshot.withRecord(at: $0) { Array($0.hashBytes) } } ?? []
        if let cached = entries.withLock({ $0[log.path] }), cached.last == last { return cached.catalog }
        var state = ReplayState(cut: .everything)
        for position in positions {
            try snapshot.withRecord(at: position) { try ReplayEngine.applyCatalogEvent(&state, payload: $0.payload, position: position) }
        }
        let catalog = Catalog(state)
        entries.withLock { $0[log.path] = (last, catalog) }
        return catalog
    }
}

/// Reason codes and definitions, folded from the catalog stream as a replay folds them.
struct Catalog: Sendable {
    /// A replay state holding catalog events only.
    let state: ReplayState
    /// Each definition compiled once, for every audit that reads this catalog.
    let compiled: [Int: CompiledRules]

    init(_ state: ReplayState) {
        self.state = state
        compiled = state.definitions.mapValues { CompiledRules($0.rules) }
    }

    func reason(_ code: String) -> AuditReason {
        let info = state.reasons.lookup(code).flatMap { state.reasonInfo[$0] }
        return AuditReason(
            code: code, label: info?.label, category: info?.category, retired: info?.retired ?? false, replacedBy: info?.replacedBy)
    }
}

/// A definition compiled over its own field table. Both are only read once built, so one instance
/// serves concurrent audits.
final class CompiledRules: @unchecked Sendable {
    let table: FieldTable
    let definition: CompiledDefinition

    init(_ rules: MQLRule) {
        table = FieldTable()
        definition = CompiledDefinition(rules, table: table)
    }
}
