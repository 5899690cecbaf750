import ClusterStore
import EventLog
import Foundation
import PostgresHarness
import Synchronization
import Testing

@Suite(
    "Nodes through a PostgreSQL failover under load", .enabled(if: PostgresTestCluster.isAvailable, "PostgreSQL 15 is not installed"),
    .serialized)
struct NodeFailoverTests {
    /// One trial: two nodes (LMDB copies with their writers fenced on the tenant) take appends from 32
    /// concurrent clients; the primary is killed with SIGKILL at `killAfter` and its synchronous
    /// standby promoted; clients retry every failed append with the same ids until it is acknowledged.
    static func trial(killAfter: Duration, seed: UInt64) async throws {
        try await PostgresTestCluster.with(standbys: 1) { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            let paths = [temporaryDirectory("failover-a"), temporaryDirectory("failover-b")]
            defer { for path in paths { try? FileManager.default.removeItem(atPath: path) } }
            var nodes: [ClusterNode] = []
            var copies: [EventLog] = []
            for path in paths {
                let node = try await ClusterNode.open(address, tenant: "load", commitTimeout: .seconds(5))
                let copy = try openCopy(node, at: path)
                try await node.attach(copy)
                nodes.append(node)
                copies.append(copy)
            }
            let logs = copies
            let killer = Task {
                try await Task.sleep(for: killAfter)
                try cluster.kill(cluster.primary)
                try await cluster.promote(cluster.servers[1])
            }
            let (acked, unknownOutcomes) = try await appendThroughFailover(clients: 32, batches: 8, seed: seed) { client, batch in
                do throws(AppendError) { return .success(try await logs[client % 2].append(batch)) } catch { return .failure(error) }
            }
            try await killer.value
            let tenantHead = try await nodes[0].store.head()
            let stored = try await nodes[0].store.records(from: 1, limit: .max)
            let expected = (0..<32).reduce(0) { sum, client in sum + (0..<8).reduce(0) { $0 + 1 + (client + $1) % 3 } }
            #expect(acked.count == expected, "every client's every record was acknowledged in the end")
            let byID = Dictionary(grouping: stored, by: \.id)
            #expect(byID.values.allSatisfy { $0.count == 1 }, "every event exactly once")
            for (id, position) in acked { #expect(byID[id]?.first?.position == position, "acknowledged \(id) at \(position) is there") }
            #expect(stored.count == acked.count)
            verifyChain(stored, head: tenantHead)
            #expect(try await nodes[1].store.verify().problem == nil)
            for copy in copies {
                _ = try await copy.catchUp()
                #expect(try copy.head() == tenantHead, "the node's LMDB copy ends on the tenant's head hash")
                #expect(try copy.verify().isIntact)
                copy.close()
            }
            for node in nodes { await node.store.shutdown() }
            print(
                "node failover trial (seed \(seed)): killed after \(killAfter), \(stored.count) events, \(unknownOutcomes) unknown outcomes retried"
            )
        }
    }

    @Test(
        "two nodes, 32 clients, the primary killed with SIGKILL at 10 random moments: every acknowledged event once, both copies on the tenant's head",
        .timeLimit(.minutes(6)))
    func failover() async throws {
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<10 {
            let seed = UInt64(trial) << 32 | UInt64.random(in: 0...0xffff_ffff, using: &generator)
            try await Self.trial(killAfter: .milliseconds(Int.random(in: 20...700, using: &generator)), seed: seed)
        }
    }
}
