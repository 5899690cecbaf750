import ClusterStore
import EventLog
import Foundation
import PostgresHarness
import Synchronization
import Testing

func uuid(_ n: Int) -> UUID { UUID(uuidString: String(format: "00000000-0000-4000-8000-%012x", n))! }

func record(_ n: Int, _ stream: String? = "lead-1") -> NewRecord {
    NewRecord(id: uuid(n), stream: stream, payload: Array("payload \(n)".utf8))
}

/// Recomputes every hash of a store's records from the records alone and checks positions are 1, 2, 3…
func verifyChain(_ records: [StoredRecord], head: LogHead) {
    var previous = [UInt8](repeating: 0, count: 32)
    for (i, stored) in records.enumerated() {
        #expect(stored.position == UInt64(i + 1), "positions are gapless")
        var header = [UInt8](repeating: 0, count: 32)
        header[0] = 1
        header[1] = stored.streamNumber == 0 ? 0 : 1
        withUnsafeBytes(of: stored.streamNumber.littleEndian) { for (i, b) in $0.enumerated() { header[4 + i] = b } }
        withUnsafeBytes(of: stored.recordedAt.littleEndian) { for (i, b) in $0.enumerated() { header[8 + i] = b } }
        withUnsafeBytes(of: stored.id.uuid) { for (i, b) in $0.enumerated() { header[16 + i] = b } }
        let sealed = previous + withUnsafeBytes(of: stored.position.littleEndian, Array.init) + header + stored.payload
        previous = sealed.withUnsafeBytes { LogDigest.sha256($0) }
        #expect(stored.hash == previous.map { String(format: "%02x", $0) }.joined(), "position \(stored.position) chains")
    }
    #expect(head.hash == previous.map { String(format: "%02x", $0) }.joined())
    #expect(head.position == UInt64(records.count))
}

@Suite("PostgreSQL log of record", .enabled(if: PostgresTestCluster.isAvailable, "PostgreSQL 15 is not installed"))
struct PostgresEventStoreTests {
    @Test("two writers on one tenant: the head fence keeps positions gapless and one chain, whoever wins each race")
    func fence() async throws {
        try await PostgresTestCluster.withShared { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            let a = try await PostgresEventStore.open(address, tenant: "fenced")
            let b = try await PostgresEventStore.open(address, tenant: "fenced")
            // Each writer is a separate store (a node of its own): both read heads the other moves.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (w, store) in [a, b].enumerated() {
                    for client in 0..<4 {
                        group.addTask {
                            for n in 0..<25 {
                                let id = 10_000 * (w + 1) + 100 * client + n
                                let receipt = try await store.append(
                                    AppendBatch(records: [record(id, "lead-\(client)"), record(id + 50, nil)]))
                                #expect(receipt.appended == 2)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let records = try await a.records(from: 1, limit: .max)
            #expect(records.count == 400)
            #expect(Set(records.map(\.id)).count == 400, "every event exactly once")
            verifyChain(records, head: try await b.head())
            for client in 0..<4 { #expect(try await a.version(ofStream: "lead-\(client)") == 50) }
            await a.shutdown()
            await b.shutdown()
        }
    }

    @Test("an append is acknowledged only once a synchronous standby holds it")
    func waitsForTheStandby() async throws {
        try await PostgresTestCluster.with(standbys: 1) { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            let store = try await PostgresEventStore.open(address, tenant: "sync")
            _ = try await store.append(AppendBatch(records: [record(1)]))
            try await cluster.stop(cluster.servers[1])
            let acknowledged = Mutex(false)
            let pending = Task {
                let receipt = try await store.append(AppendBatch(records: [record(2)]))
                acknowledged.withLock { $0 = true }
                return receipt
            }
            try await Task.sleep(for: .seconds(2))
            #expect(!acknowledged.withLock { $0 }, "no standby holds it, so the append is not acknowledged")
            try await cluster.restart(cluster.servers[1])
            let receipt = try await pending.value
            #expect(receipt.outcomes == [.appended(position: 2)])
            let onStandby = try await cluster.psql(cluster.servers[1], "SELECT count(*) FROM ll_events WHERE tenant = 'sync'")
            #expect(onStandby.trimmingCharacters(in: .whitespacesAndNewlines) == "2")
            await store.shutdown()
        }
    }

    @Test("the primary dies during the commit: the append reports an unknown outcome, never success; a retry with the same ids after failover stores it once")
    func unknownOutcome() async throws {
        try await PostgresTestCluster.with(standbys: 1) { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            let store = try await PostgresEventStore.open(address, tenant: "failover")
            _ = try await store.append(AppendBatch(records: [record(1)]))
            let standby = cluster.servers[1]
            // With the standby down, the commit waits for it: the primary's death lands in the commit.
            try await cluster.stop(standby)
            let pending = Task { () async -> Result<AppendReceipt, AppendError> in
                do throws(AppendError) {
                    return .success(try await store.append(AppendBatch(records: [record(2), record(3)])))
                } catch {
                    return .failure(error)
                }
            }
            try await Task.sleep(for: .seconds(1))
            try cluster.kill(cluster.primary)
            switch await pending.value {
            case .success: Issue.record("an append whose commit was cut off was reported stored")
            case .failure(let error):
                #expect(error.code == .unknownOutcome)
                #expect(error.message.contains("retry with the same ids"))
            }
            try await cluster.restart(standby)
            try await cluster.promote(standby)
            // The client retries the same batch: whatever the old primary did, the new one stores it once.
            var receipt: AppendReceipt?
            for _ in 0..<40 where receipt == nil {
                do throws(AppendError) {
                    receipt = try await store.append(AppendBatch(records: [record(2), record(3)]))
                } catch {
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
            #expect(receipt?.outcomes.map(\.position) == [2, 3])
            let again = try await store.append(AppendBatch(records: [record(2), record(3)]))
            #expect(again.duplicates == 2, "a second retry appends nothing")
            let records = try await store.records(from: 1, limit: .max)
            #expect(records.map(\.id) == [uuid(1), uuid(2), uuid(3)])
            verifyChain(records, head: try await store.head())
            await store.shutdown()
        }
    }

    @Test("two tenants written concurrently never see each other's events, positions or streams")
    func tenants() async throws {
        try await PostgresTestCluster.withShared { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            let red = try await PostgresEventStore.open(address, tenant: "red")
            let blue = try await PostgresEventStore.open(address, tenant: "blue")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (t, store) in [red, blue].enumerated() {
                    group.addTask {
                        for n in 1...30 {
                            // The same ids in both tenants: idempotency keys are per tenant.
                            _ = try await store.append(AppendBatch(records: [NewRecord(id: uuid(n), stream: "lead-1", payload: [UInt8(t), UInt8(n)])]))
                        }
                    }
                }
                try await group.waitForAll()
            }
            for (t, store) in [red, blue].enumerated() {
                let records = try await store.records(from: 1, limit: .max)
                #expect(records.count == 30)
                #expect(records.allSatisfy { $0.payload.first == UInt8(t) }, "only its own events")
                verifyChain(records, head: try await store.head())
                #expect(try await store.version(ofStream: "lead-1") == 30)
            }
            #expect(try await red.head() != (try await blue.head()))
            await red.shutdown()
            await blue.shutdown()
        }
    }

    @Test("a tenant's name and a cluster address are checked, naming what is wrong")
    func badInput() throws {
        #expect(throws: ClusterError.self) { try TenantName.check("a b") }
        #expect(throws: ClusterError.self) { try TenantName.check("") }
        #expect(throws: ClusterError.self) { try TenantName.check("x'; DROP TABLE ll_events; --") }
        for (text, part) in [
            ("mysql://u@h/d", "postgresql://"), ("postgresql://h/d", "user"), ("postgresql://u@h", "database"),
            ("postgresql://u@h:99999/d", "port"), ("postgresql://u@h1,,h2/d", "host 2"),
        ] {
            do {
                _ = try ClusterAddress(parsing: text)
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.description.contains(part), "\(text): \(error)")
            }
        }
        let address = try ClusterAddress(parsing: "postgresql://ll:secret@10.0.0.1:5433,10.0.0.2/ledger")
        #expect(address.hosts == [.init(name: "10.0.0.1", port: 5433), .init(name: "10.0.0.2", port: 5432)])
        #expect(address.password == "secret" && !address.description.contains("secret"))
    }
}
