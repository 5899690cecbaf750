import ClusterStore
import EventLog
import Foundation
import PostgresHarness
import Testing

// Skipped, with a warning printed in the test output, only where PostgreSQL 15 is not installed
// (scripts/setup.sh installs it for `make test`).
@Suite("Event store conformance on PostgreSQL", .enabled(if: PostgresTestCluster.isAvailable, "PostgreSQL 15 is not installed"))
struct PostgresConformanceTests {
    @Test("a tenant of the PostgreSQL log of record passes the event store contract")
    func postgres() async throws {
        try await PostgresTestCluster.withShared { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            var n = 0
            try await EventStoreConformance.check {
                n += 1
                return try await PostgresEventStore.open(address, tenant: "conformance-\(n)")
            }
        }
    }

    @Test("PostgreSQL and the LMDB log, given the same clock and batches, end with the same records and head hash")
    func sameChainAsLMDB() async throws {
        struct FixedClock: LogClock { func now() -> Int64 { 1_700_000_000_000_000 } }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-conformance-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lmdb = try EventLog(path: path, options: EventLog.Options(mapSize: 64 << 20, clock: FixedClock()))
        defer { lmdb.close() }
        try await PostgresTestCluster.withShared { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            let postgres = try await PostgresEventStore.open(address, tenant: "same-chain", clock: FixedClock())
            for store in [lmdb as any AsyncEventStore, postgres] {
                _ = try await store.append(
                    AppendBatch(records: (1...20).map { EventStoreConformance.record($0, $0 % 3 == 0 ? nil : "lead-\($0 % 4)") }))
                _ = try await store.append(AppendBatch(records: [EventStoreConformance.record(5), EventStoreConformance.record(21)]))
            }
            #expect(try lmdb.head() == (try await postgres.head()))
            #expect(try lmdb.records(from: 1, limit: .max) == (try await postgres.records(from: 1, limit: .max)))
            await postgres.shutdown()
        }
    }
}
