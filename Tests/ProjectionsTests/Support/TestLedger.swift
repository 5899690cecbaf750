import EventLog
import Foundation
import LeadModel
import Projections

/// A clock that reads what the test sets, so every batch gets the `recordedAt` the test chose.
final class ManualClock: LogClock, @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(_ start: Int64) { value = start }
    func now() -> Int64 { lock.withLock { value } }
    func set(_ v: Int64) { lock.withLock { value = v } }
}

let microsPerSecond: Int64 = 1_000_000
let microsPerMinute: Int64 = 60 * microsPerSecond
let microsPerHour: Int64 = 60 * microsPerMinute
let microsPerDay: Int64 = 24 * microsPerHour

/// The instant of an RFC 3339 text, for readable fixtures.
func at(_ text: String) -> Int64 {
    guard let t = Timestamp(rfc3339: text) else { fatalError("bad fixture time \(text)") }
    return t.microseconds
}

/// A ledger in a fresh temporary directory whose `recordedAt` the test controls. Appends bypass
/// domain validation on purpose, so a test can store any sequence, late arrivals included.
final class TestLedger: Sendable {
    let log: EventLog
    let clock: ManualClock
    let path: String

    init(name: String = "projections") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-\(name)-\(UUID().uuidString)").path
        clock = ManualClock(at("2030-01-01T00:00:00Z"))
        log = try EventLog(path: path, options: .init(mapSize: 1 << 30, durability: .noMetaSync, clock: clock))
    }

    deinit {
        log.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Appends `events` as one batch recorded at `recordedAt`.
    func append(_ events: [LeadEvent], recordedAt: Int64) async throws {
        guard !events.isEmpty else { return }
        clock.set(recordedAt)
        _ = try await log.append(AppendBatch(records: events.map(Self.record)))
    }

    /// Appends `events` in order, one batch per `batchSize`, each recorded one second after the last.
    func append(_ events: [LeadEvent], batchSize: Int, firstRecordedAt: Int64) async throws {
        var recordedAt = firstRecordedAt
        var start = 0
        while start < events.count {
            let end = min(start + batchSize, events.count)
            try await append(Array(events[start..<end]), recordedAt: recordedAt)
            recordedAt += microsPerSecond
            start = end
        }
    }

    static func record(_ event: LeadEvent) -> NewRecord {
        NewRecord(id: event.id, stream: CatalogStream.stream(of: event), payload: event.binary)
    }

    /// Every stored event with its position and knowledge time, read back from the log.
    func storedEvents() throws -> [StoredEvent] {
        try log.records().map {
            StoredEvent(
                position: $0.position, recordedAt: $0.recordedAt, streamNumber: $0.streamNumber, event: try LeadEvent(binary: $0.payload))
        }
    }
}

/// An event as the log stored it.
struct StoredEvent: Sendable {
    let position: UInt64
    let recordedAt: Int64
    let streamNumber: UInt32
    let event: LeadEvent
    var occurredAt: Int64 { event.occurredAt.microseconds }
}

/// Builds events with ids that are deterministic, so a generated ledger is the same on every run.
struct EventFactory {
    private var counter: UInt64 = 0
    let seed: UInt64

    init(seed: UInt64 = 0) { self.seed = seed }

    mutating func nextID() -> UUID {
        counter += 1
        var bytes = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: seed.bigEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        withUnsafeBytes(of: counter.bigEndian) { bytes.replaceSubrange(8..<16, with: $0) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }

    mutating func lead(_ lead: String, _ t: Int64, _ payload: EventPayload, source: String = "hubspot", actor: String? = nil) -> LeadEvent {
        LeadEvent(id: nextID(), occurredAt: Timestamp(microseconds: t), source: source, actor: actor, lead: lead, payload: payload)
    }

    mutating func catalog(_ t: Int64, _ payload: EventPayload) -> LeadEvent {
        LeadEvent(id: nextID(), occurredAt: Timestamp(microseconds: t), source: "admin", actor: "ops:revops", payload: payload)
    }

    mutating func captured(
        _ lead: String, _ t: Int64, channel: String, campaign: String? = nil, attributes: [String: AttributeValue]? = nil
    ) -> LeadEvent {
        self.lead(lead, t, .leadCaptured(.init(channel: channel, campaign: campaign, attributes: attributes)))
    }

    mutating func observed(_ lead: String, _ t: Int64, _ attributes: [String: AttributeValue]) -> LeadEvent {
        self.lead(lead, t, .attributesObserved(.init(attributes: attributes)))
    }

    mutating func scored(_ lead: String, _ t: Int64, _ score: Double) -> LeadEvent {
        self.lead(lead, t, .leadScored(.init(score: score, model: "fit-v1")))
    }

    mutating func handedOff(
        _ lead: String, _ t: Int64, owner: String = "rep:ana", definition: Int? = nil, source: String = "hubspot"
    ) -> LeadEvent {
        self.lead(lead, t, .handedOff(.init(owner: owner, definition: definition)), source: source)
    }

    mutating func accepted(_ lead: String, _ t: Int64, by: String? = nil) -> LeadEvent {
        self.lead(lead, t, .accepted(.init(by: by)), source: "salesforce")
    }

    mutating func rejected(_ lead: String, _ t: Int64, reason: String, note: String? = nil, by: String? = nil) -> LeadEvent {
        self.lead(lead, t, .rejected(.init(reason: reason, note: note, by: by)), source: "salesforce", actor: by)
    }

    mutating func recycled(_ lead: String, _ t: Int64, note: String? = nil) -> LeadEvent {
        self.lead(lead, t, .recycled(.init(note: note)), source: "salesforce")
    }

    mutating func converted(_ lead: String, _ t: Int64) -> LeadEvent {
        self.lead(lead, t, .converted(.init(opportunity: "opp-\(lead)")), source: "salesforce")
    }

    mutating func closed(_ lead: String, _ t: Int64, won: Bool) -> LeadEvent {
        self.lead(lead, t, .closed(.init(won: won)), source: "salesforce")
    }

    mutating func corrected(
        _ lead: String, _ t: Int64, rejection: UUID, reason: String, note: String? = nil, actor: String? = nil
    ) -> LeadEvent {
        self.lead(lead, t, .rejectionCorrected(.init(event: rejection, reason: reason, note: note)), source: "salesforce", actor: actor)
    }

    mutating func reasonDefined(_ t: Int64, _ code: String, label: String, category: String) -> LeadEvent {
        catalog(t, .reasonDefined(.init(code: code, label: label, category: category)))
    }

    mutating func reasonRetired(_ t: Int64, _ code: String, replacedBy: String?) -> LeadEvent {
        catalog(t, .reasonRetired(.init(code: code, replacedBy: replacedBy)))
    }

    mutating func published(_ t: Int64, version: Int, effectiveAt: Int64, rules: MQLRule, name: String? = nil) -> LeadEvent {
        catalog(
            t,
            .definitionPublished(
                .init(
                    version: version, name: name ?? "v\(version)", rules: rules, effectiveAt: Timestamp(microseconds: effectiveAt),
                    rationale: "version \(version)")))
    }
}

/// Shorthand for rules in fixtures.
func field(_ name: String, _ test: RuleTest) -> MQLRule { .comparison(RuleComparison(field: name, test)) }

/// The rules of a JSON text, through the parser users go through.
func rules(_ json: String) throws -> MQLRule {
    try RuleParser().parse(try JSONValue.parse(json))
}
