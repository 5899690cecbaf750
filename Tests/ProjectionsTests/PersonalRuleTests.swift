import EventLog
import Foundation
import LeadModel
import Projections
import Testing

/// Puts and deletes lead keys in the key table inside the transaction of the batch that needs them,
/// as the ledger does; the test stages the changes before each append.
private final class KeyTableWriter: AppendPolicy, @unchecked Sendable {
    private let lock = NSLock()
    private var staged: [(lead: String, key: [UInt8]?)] = []
    var tableNames: [String] { [PersonalValues.keyTable] }

    func stage(_ changes: [(lead: String, key: [UInt8]?)]) { lock.withLock { staged = changes } }
    func beginGroup(head: UInt64, log: EventLog, tables: PolicyTables) throws {}
    func admit(_ batch: AppendBatch, context: Never?, isNew: [Bool], tables: PolicyTables) throws {
        for change in lock.withLock({ staged }) {
            let name = Array(change.lead.utf8)
            if let key = change.key {
                try tables.put(key, forKey: name, in: PersonalValues.keyTable)
            } else {
                try tables.delete(forKey: name, in: PersonalValues.keyTable)
            }
        }
    }
    func commitGroup(head: UInt64) { lock.withLock { staged = [] } }
    func abortGroup() { lock.withLock { staged = [] } }
}

/// A log whose `email` and `name` values are sealed under per-lead keys, with the plain events kept
/// aside: the plain implementation reads what a holder of the live keys can read.
private final class SealedPeople {
    static let personal: Set<String> = ["email", "name"]
    let ledger: TestLedger
    private let keys = KeyTableWriter()
    /// The live key of each lead.
    private(set) var live: [String: [UInt8]] = [:]
    /// The key each event's personal values were sealed under.
    private var sealedWith: [UUID: [UInt8]] = [:]
    private var plain: [UUID: LeadEvent] = [:]

    init() throws {
        ledger = try TestLedger(name: "personal-rules")
        ledger.log.setPolicy(keys)
    }

    func append(_ events: [LeadEvent], recordedAt: Int64) async throws {
        var staged: [(lead: String, key: [UInt8]?)] = []
        var records: [NewRecord] = []
        for event in events {
            plain[event.id] = event
            var payload = event.binary
            if case .forgotten = event.payload, let lead = event.lead {
                live[lead] = nil
                staged.append((lead, nil))
            } else if let lead = event.lead, Self.holdsPersonalValue(event) {
                let key: [UInt8]
                if let existing = live[lead] {
                    key = existing
                } else {
                    key = ValueSeal.newKey()
                    live[lead] = key
                    staged.append((lead, key))
                }
                sealedWith[event.id] = key
                payload = try event.binary { name, value in
                    Self.personal.contains(name) ? try ValueSeal.seal(value, key: key, context: Self.context(event.id, name)) : nil
                }
            }
            records.append(NewRecord(id: event.id, stream: CatalogStream.stream(of: event), payload: payload))
        }
        keys.stage(staged)
        ledger.clock.set(recordedAt)
        _ = try await ledger.log.append(AppendBatch(records: records))
    }

    static func holdsPersonalValue(_ event: LeadEvent) -> Bool {
        let attributes: [String: AttributeValue]?
        switch event.payload {
        case .leadCaptured(let c): attributes = c.attributes
        case .attributesObserved(let a): attributes = a.attributes
        default: attributes = nil
        }
        return attributes?.contains { personal.contains($0.key) && $0.value != .null } ?? false
    }

    static func context(_ id: UUID, _ name: String) -> [UInt8] {
        withUnsafeBytes(of: id.uuid) { id in Array(name.utf8).withUnsafeBytes { PersonalValues.context(event: id, attribute: $0) } }
    }

    /// The stored events as whoever holds the live keys reads them: values sealed under a key that
    /// exists are in clear, those sealed under a destroyed key are absent.
    func readable() throws -> [StoredEvent] {
        try ledger.storedEvents().map { stored in
            guard let key = sealedWith[stored.event.id], let lead = stored.event.lead, live[lead] == key, let event = plain[stored.event.id]
            else { return stored }
            return StoredEvent(position: stored.position, recordedAt: stored.recordedAt, streamNumber: stored.streamNumber, event: event)
        }
    }
}

/// A small deterministic generator (SplitMix64).
private struct Dice {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}

@Suite("Rules that read personal attributes", .serialized)
struct PersonalRuleTests {
    static let byExampleDomain = CandidateDefinition(name: "example.com", rules: field("email", .contains("@example.com")))
    // Scored, so that the empty state every lead starts from does not qualify.
    static let noEmail = CandidateDefinition(
        name: "scored, no e-mail", rules: .all([field("score", .gte(.number(0))), field("email", .exists(false))]))
    static let namedAndScored = CandidateDefinition(
        name: "named, score ≥ 50", rules: .all([field("name", .prefix("N")), field("score", .gte(.number(50)))]))
    static let american = CandidateDefinition(name: "US", rules: field("country", .eq(.string("US"))))
    static let candidates = [byExampleDomain, noEmail, namedAndScored, american]
    static let change = at("2026-03-15T00:00:00Z")

    /// `leads` leads captured from 2026-03-01 on, most with an e-mail at one of three domains, some
    /// with a name, a later e-mail or the e-mail removed; most handed off and decided. Definition 1
    /// (score ≥ 50) gives way on 03-15 to definition 2, which reads the e-mail.
    fileprivate static func people(leads: Int, seed: UInt64) async throws -> (SealedPeople, [String]) {
        let people = try SealedPeople()
        var f = EventFactory(seed: seed)
        var dice = Dice(state: seed)
        let domains = ["example.com", "other.org", "mail.net"]
        var events = [
            f.reasonDefined(at("2026-02-01T00:00:00Z"), "FIT.SMALL", label: "Too small", category: "FIT"),
            f.published(at("2026-02-01T00:00:00Z"), version: 1, effectiveAt: at("2026-03-01T00:00:00Z"), rules: field("score", .gte(.number(50)))),
            f.published(at("2026-02-01T00:00:00Z"), version: 2, effectiveAt: change, rules: byExampleDomain.rules),
        ]
        var names: [String] = []
        let start = at("2026-03-01T00:00:00Z"), span = 28 * microsPerDay
        for i in 0..<leads {
            let lead = "P\(i)"
            names.append(lead)
            let t = start + Int64(i) * (span / Int64(leads))
            var attributes: [String: AttributeValue] = ["country": .string(dice.next(2) == 0 ? "US" : "FR")]
            if dice.next(8) != 0 { attributes["email"] = .string("p\(i).\(dice.next(1000))@\(domains[dice.next(3)])") }
            if dice.next(3) == 0 { attributes["name"] = .string(dice.next(2) == 0 ? "N\(i)" : "M\(i)") }
            events.append(f.captured(lead, t, channel: i % 2 == 0 ? "email" : "paid", attributes: attributes))
            switch dice.next(5) {
            case 0: events.append(f.observed(lead, t + 5 * microsPerMinute, ["email": .string("q\(i)@\(domains[dice.next(3)])")]))
            case 1: events.append(f.observed(lead, t + 5 * microsPerMinute, ["email": .null]))
            default: break
            }
            events.append(f.scored(lead, t + 10 * microsPerMinute, Double(dice.next(100))))
            guard dice.next(10) < 7 else { continue }
            events.append(f.handedOff(lead, t + microsPerHour))
            switch dice.next(3) {
            case 0: events.append(f.accepted(lead, t + 3 * microsPerHour))
            case 1: events.append(f.rejected(lead, t + 3 * microsPerHour, reason: "FIT.SMALL"))
            default: break
            }
        }
        var recordedAt = at("2026-04-01T00:00:00Z")
        var next = 0
        while next < events.count {
            let end = min(next + 500, events.count)
            try await people.append(Array(events[next..<end]), recordedAt: recordedAt)
            recordedAt += microsPerSecond
            next = end
        }
        return (people, names)
    }

    /// The what-if of every candidate and the time-adjusted impact, compared with the plain
    /// implementation reading what the live keys open.
    fileprivate static func mismatches(_ people: SealedPeople) throws -> Mismatches {
        let log = people.ledger.log
        let naive = NaiveLedger(try people.readable())
        var m = Mismatches()
        let report = try WhatIf.run(log, WhatIfQuery(candidates: candidates))
        for (result, candidate) in zip(report.candidates, candidates) {
            m.compare(result, naive.whatIf(candidate.rules, from: nil, until: nil))
        }
        let state = try ReplayEngine.replay(log)
        let stayers = try Stayers.judge(log, cut: .everything, definitions: state.definitions, windowDays: 28)
        m.compare(
            DefinitionImpact.compute(state, windowDays: 28, stayers: stayers, minimumStayers: 5),
            naive.adjustedImpact(windowDays: 28, minimumStayers: 5))
        return m
    }

    @Test("while the keys exist a rule reads the e-mail and the name; after forget they are missing; the plain implementation agrees at every step", arguments: [80, 16_000])
    func agreesWithNaive(leads: Int) async throws {
        let (people, names) = try await Self.people(leads: leads, seed: UInt64(leads))
        let log = people.ledger.log
        if leads > 1_000 {
            // Past the replay's threshold for folding on two threads, each opening its own leads' values.
            #expect(try log.head().position > 50_000)
        }
        let before = try WhatIf.run(log, WhatIfQuery(candidates: Self.candidates))
        // The e-mail is read: leads qualify by it (an analysis that saw nothing would qualify none).
        #expect(before.candidates[0].both.leads > 0)
        #expect(before.candidates[2].both.leads + before.candidates[2].added.leads > 0)
        var m = try Self.mismatches(people)
        #expect(m.items.isEmpty, "\(m.summary)")

        // A quarter of the leads forgotten: their keys destroyed with the event.
        var f = EventFactory(seed: UInt64(leads) + 1)
        let forgotten = names.enumerated().filter { $0.offset % 4 == 1 }.map(\.element)
        try await people.append(
            forgotten.map { f.lead($0, at("2026-05-01T00:00:00Z"), .forgotten(.init(reason: "erasure request"))) },
            recordedAt: at("2026-05-01T00:00:00Z"))
        #expect(forgotten.allSatisfy { people.live[$0] == nil })
        let after = try WhatIf.run(log, WhatIfQuery(candidates: Self.candidates))
        m = try Self.mismatches(people)
        #expect(m.items.isEmpty, "\(m.summary)")
        // Fewer leads qualify by their e-mail, more by having none; the rule that reads no personal
        // attribute gives the same answer.
        #expect(after.candidates[0].both.leads + after.candidates[0].added.leads < before.candidates[0].both.leads + before.candidates[0].added.leads)
        #expect(after.candidates[1].both.leads + after.candidates[1].added.leads > before.candidates[1].both.leads + before.candidates[1].added.leads)
        #expect(after.candidates[3] == before.candidates[3])

        // Some forgotten leads come back with a new e-mail under a new key: that one is read.
        try await people.append(
            forgotten.prefix(forgotten.count / 2).map {
                f.observed($0, at("2026-05-02T00:00:00Z"), ["email": .string("back.\($0)@example.com")])
            }, recordedAt: at("2026-05-02T00:00:00Z"))
        m = try Self.mismatches(people)
        #expect(m.items.isEmpty, "\(m.summary)")
    }

    @Test("a what-if pinned before an erasure reads the values while the key exists, and misses them after")
    func pinnedBeforeErasure() async throws {
        let people = try SealedPeople()
        var f = EventFactory(seed: 7)
        try await people.append(
            [
                f.captured("A", at("2026-03-01T00:00:00Z"), channel: "email", attributes: ["email": .string("a@example.com")]),
                f.handedOff("A", at("2026-03-02T00:00:00Z")),
                f.accepted("A", at("2026-03-02T01:00:00Z")),
                f.captured("B", at("2026-03-01T00:00:00Z"), channel: "email", attributes: ["email": .string("b@example.com")]),
                f.captured("C", at("2026-03-01T00:00:00Z"), channel: "email", attributes: ["email": .string("c@other.org")]),
                f.handedOff("C", at("2026-03-02T00:00:00Z")),
            ], recordedAt: at("2026-04-01T00:00:00Z"))
        let query = WhatIfQuery(candidates: [Self.byExampleDomain])
        let pinned = try WhatIf.run(people.ledger.log, query, through: 6)
        // A (handed off) and B (not) by their e-mail; C is dropped.
        #expect(pinned.candidates[0].both.leads == 1 && pinned.candidates[0].both.accepted == 1)
        #expect(pinned.candidates[0].added.leads == 1)
        #expect(pinned.candidates[0].dropped.leads == 1)

        try await people.append([f.lead("B", at("2026-05-01T00:00:00Z"), .forgotten(.init(reason: nil)))], recordedAt: at("2026-05-01T00:00:00Z"))
        let again = try WhatIf.run(people.ledger.log, query, through: 6)
        #expect(again.candidates[0].both.leads == 1)
        #expect(again.candidates[0].added.leads == 0)
        #expect(again.candidates[0].dropped.leads == 1)
    }

    @Test("a key of the wrong size is reported as damage, not read as an erasure")
    func damagedKey() async throws {
        let people = try SealedPeople()
        var f = EventFactory(seed: 8)
        try await people.append(
            [f.captured("A", at("2026-03-01T00:00:00Z"), channel: "email", attributes: ["email": .string("a@example.com")])],
            recordedAt: at("2026-04-01T00:00:00Z"))
        // Cut the key short, as a damaged file would hold it.
        let writer = ShortKeyWriter()
        people.ledger.log.setPolicy(writer)
        try await people.ledger.append([f.scored("A", at("2026-03-02T00:00:00Z"), 10)], recordedAt: at("2026-04-02T00:00:00Z"))
        let error = #expect(throws: StoredDamage.self) {
            try WhatIf.run(people.ledger.log, WhatIfQuery(candidates: [Self.byExampleDomain]))
        }
        #expect(error?.table == PersonalValues.keyTable)
        #expect(error?.message == "the key of lead A is 5 bytes")
        // A rule that reads no personal attribute does not look at keys.
        _ = try WhatIf.run(people.ledger.log, WhatIfQuery(candidates: [Self.american]))
    }
}

/// Replaces lead A's key with five bytes.
private final class ShortKeyWriter: AppendPolicy, @unchecked Sendable {
    var tableNames: [String] { [PersonalValues.keyTable] }
    func beginGroup(head: UInt64, log: EventLog, tables: PolicyTables) throws {}
    func admit(_ batch: AppendBatch, context: Never?, isNew: [Bool], tables: PolicyTables) throws {
        try tables.put([1, 2, 3, 4, 5], forKey: Array("A".utf8), in: PersonalValues.keyTable)
    }
    func commitGroup(head: UInt64) {}
    func abortGroup() {}
}
