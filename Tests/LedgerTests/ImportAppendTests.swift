import EventLog
import Foundation
import LeadModel
import Testing

@testable import Ledger

@Suite("Appending an import: atomic or resumable, and saying which")
struct ImportAppendTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func ledger() throws -> (Ledger, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-import-\(UUID().uuidString)").path
        return (try Ledger(path: path, options: .init(mapSize: 1 << 30)), path)
    }

    static func salesforce() throws -> ImportResult {
        try SalesforceLeadHistoryImporter.importFile(fixtures.appendingPathComponent("salesforce_lead_history.csv"), mapping: .default)
    }

    @Test("an import that fits one batch is atomic: the taxonomy and every event in one transaction")
    func atomicImport() async throws {
        let (ledger, path) = try Self.ledger()
        defer { ledger.close(); try? FileManager.default.removeItem(atPath: path) }
        let result = try Self.salesforce()
        let outcome = try await ledger.importEvents([result], starterTaxonomyWhenMissing: true)
        #expect(outcome.delivery == .atomic)
        #expect(outcome.batches == 1)
        #expect(outcome.starterTaxonomyCodes == StarterTaxonomy.events(source: "x", occurredAt: Timestamp(microseconds: 0)).count)
        #expect(outcome.appended == result.events.count + outcome.starterTaxonomyCodes)
        #expect(try ledger.head().position == UInt64(outcome.appended))

        let again = try await ledger.importEvents([result], starterTaxonomyWhenMissing: true)
        #expect(again.appended == 0)
        #expect(again.starterTaxonomyCodes == 0)
        #expect(again.duplicates == result.events.count + outcome.starterTaxonomyCodes, "the taxonomy is sent again, as duplicates")
    }

    @Test("an atomic import with one event the ledger refuses appends nothing")
    func atomicRefusal() async throws {
        let (ledger, path) = try Self.ledger()
        defer { ledger.close(); try? FileManager.default.removeItem(atPath: path) }
        var result = try Self.salesforce()
        let lead = try #require(result.events.last?.lead)
        result.events.append(
            LeadEvent(
                id: UUID(), occurredAt: Timestamp(microseconds: 1), source: "salesforce", lead: lead,
                payload: .leadScored(.init(score: 1e20))))
        await #expect(throws: LedgerError.self) { try await ledger.importEvents([result], starterTaxonomyWhenMissing: true) }
        #expect(try ledger.head().position == 0)
    }

    @Test("a larger import is resumable: interrupted after some batches, running it again appends the rest once")
    func resumableImport() async throws {
        let (ledger, path) = try Self.ledger()
        defer { ledger.close(); try? FileManager.default.removeItem(atPath: path) }
        let result = try Self.salesforce()
        let taxonomy = StarterTaxonomy.events(source: "leadledger", occurredAt: Timestamp(microseconds: 0), idSeed: "starter")
        let all = taxonomy + result.events
        // An earlier run stopped part-way: the taxonomy and two events were stored.
        try #require(all.count > 40)
        _ = try await ledger.append(Array(all.prefix(taxonomy.count + 2)))

        var seen: [(Int, Int)] = []
        let outcome = try await ledger.importEvents([result], starterTaxonomyWhenMissing: true, batchLimit: 10) { seen.append(($0, $1)) }
        #expect(outcome.delivery == .resumable)
        #expect(outcome.duplicates == taxonomy.count + 2)
        #expect(outcome.appended == all.count - taxonomy.count - 2)
        #expect(outcome.batches == (all.count + 9) / 10)
        #expect(seen.last.map { $0.0 == $0.1 } == true)
        #expect(try ledger.head().position == UInt64(all.count))
        #expect(try ledger.verify().isIntact)
    }
}
