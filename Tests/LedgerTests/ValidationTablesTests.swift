import EventLog
import Foundation
import LeadModel
import LedgerDemo
import Testing

@testable import Ledger

private func temporaryLedger() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-tables-\(UUID().uuidString)").path
}

private func event(_ lead: String, _ time: String, _ payload: EventPayload) -> LeadEvent {
    LeadEvent(id: UUID(), occurredAt: Timestamp(rfc3339: time)!, source: "salesforce", actor: "rep:jo", lead: lead, payload: payload)
}

/// The position the ledger's validation tables hold the effects through.
private func tablesThrough(_ log: EventLog) throws -> UInt64 {
    try log.withPolicyTables(ValidationTables.names) { try ValidationTables($0).through() }
}

@Suite("Validation state in the log's transaction")
struct ValidationTablesTests {
    @Test("each append writes the validation state in its own transaction; a fresh ledger object reads it, not a fold")
    func writtenWithTheEvents() async throws {
        let path = temporaryLedger()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ledger = try Ledger(path: path)
        _ = try await ledger.append(StarterTaxonomy.events(source: "setup", occurredAt: Timestamp(microseconds: 0)))
        _ = try await ledger.append([event("00QA", "2026-03-02T09:00:00Z", .handedOff(.init(owner: "rep:a")))])
        #expect(try tablesThrough(ledger.log) == ledger.head().position)
        let open = try ledger.log.withPolicyTables(ValidationTables.names) { ValidationTables($0).openEpisode(lead: "00QA") }
        #expect(open?.handedOffAt == Timestamp(rfc3339: "2026-03-02T09:00:00Z"))
        ledger.close()

        // A new process (here: a new ledger object, whose policy holds nothing) sees the open episode
        // through the tables alone.
        let again = try Ledger(path: path)
        defer { again.close() }
        await #expect(throws: LedgerError.self) {
            try await again.append([event("00QA", "2026-03-03T09:00:00Z", .handedOff(.init(owner: "rep:b")))])
        }
        _ = try await again.append([event("00QA", "2026-03-03T09:00:00Z", .rejected(.init(reason: "FIT_COMPANY.TOO_SMALL")))])
        #expect(try tablesThrough(again.log) == again.head().position)
        #expect(try again.log.withPolicyTables(ValidationTables.names) { ValidationTables($0).openEpisode(lead: "00QA") } == nil)
        #expect(try again.verify().isIntact)
    }

    @Test("a refused batch leaves the file byte-identical, tables included")
    func refusalWritesNothing() async throws {
        let path = temporaryLedger()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ledger = try Ledger(path: path)
        defer { ledger.close() }
        _ = try await ledger.append([event("00QA", "2026-03-02T09:00:00Z", .handedOff(.init(owner: "rep:a")))])
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        await #expect(throws: LedgerError.self) {
            try await ledger.append([
                event("00QB", "2026-03-02T09:00:00Z", .handedOff(.init(owner: "rep:a"))),
                event("00QA", "2026-03-02T10:00:00Z", .handedOff(.init(owner: "rep:b"))),
            ])
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")) == before)
    }

    @Test("a ledger written before the tables existed is folded into them once, by its next append, and verifies")
    func migration() async throws {
        let path = temporaryLedger()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let history =
            DemoHistory.generate(seed: 8, leads: 200).events + [
                event("00QOLD", "2026-12-01T09:00:00Z", .leadCaptured(.init(channel: "web"))),
                event("00QOLD", "2026-12-02T09:00:00Z", .handedOff(.init(owner: "rep:a"))),
            ]
        // Written as an earlier version did: records only, no validation tables.
        let old = try EventLog(path: path)
        _ = try await old.append(
            AppendBatch(records: history.map { NewRecord(id: $0.id, stream: CatalogStream.stream(of: $0), payload: $0.binary) }))
        old.close()

        let ledger = try Ledger(path: path)
        defer { ledger.close() }
        #expect(try tablesThrough(ledger.log) == 0)
        #expect(try ledger.verify().isIntact, "a ledger without the tables verifies")
        var expected = InMemoryLedgerState()
        for stored in history { expected.apply(stored) }
        let lead = "00QOLD"
        #expect(expected.openEpisodesByLead[lead] != nil)
        await #expect(throws: LedgerError.self, "the migrated state knows the open episode") {
            try await ledger.append([event(lead, "2026-12-30T09:00:00Z", .handedOff(.init(owner: "rep:z")))])
        }
        _ = try await ledger.append([event(lead, "2026-12-30T09:00:00Z", .accepted(.init()))])
        #expect(try tablesThrough(ledger.log) == ledger.head().position)
        #expect(try ledger.verify().isIntact)
    }

    @Test("appends made without the policy are folded in by the next validated append; until then the tables lag and verify")
    func appendsWithoutThePolicy() async throws {
        let path = temporaryLedger()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ledger = try Ledger(path: path)
        _ = try await ledger.append([event("00QA", "2026-03-02T09:00:00Z", .leadCaptured(.init(channel: "web")))])
        ledger.close()
        let raw = try EventLog(path: path)
        let handOff = event("00QA", "2026-03-02T10:00:00Z", .handedOff(.init(owner: "rep:a")))
        _ = try await raw.append(AppendBatch(records: [NewRecord(id: handOff.id, stream: "00QA", payload: handOff.binary)]))
        raw.close()

        let again = try Ledger(path: path)
        defer { again.close() }
        #expect(try tablesThrough(again.log) == 1)
        #expect(try again.verify().isIntact)
        await #expect(throws: LedgerError.self) {
            try await again.append([event("00QA", "2026-03-02T11:00:00Z", .handedOff(.init(owner: "rep:b")))])
        }
        _ = try await again.append([event("00QA", "2026-03-02T11:00:00Z", .accepted(.init()))])
        #expect(try tablesThrough(again.log) == 3)
        #expect(try again.verify().isIntact)
    }
}
