import ClusterStore
import EventLog
import Foundation
import PostgresHarness
import Synchronization
import Testing

/// A node's local copy in a temporary directory: an LMDB log whose log of record is `node`'s tenant.
func openCopy(_ node: ClusterNode, at path: String) throws -> EventLog {
    var options = EventLog.Options(mapSize: 64 << 20)
    options.upstream = node
    return try EventLog(path: path, options: options)
}

func temporaryDirectory(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-node-\(name)-\(UUID().uuidString)").path
}

@Suite("LeadLedger nodes: LMDB copies of a PostgreSQL log of record", .enabled(if: PostgresTestCluster.isAvailable, "PostgreSQL 15 is not installed"))
struct ClusterNodeTests {
    @Test("a node's append reaches the tenant before its copy; a stale node loses the fence, catches up and retries onto one chain")
    func staleNodeRetries() async throws {
        try await PostgresTestCluster.withShared { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            let tenant = "node-fence-\(UInt32.random(in: 0...UInt32.max))"
            let nodeA = try await ClusterNode.open(address, tenant: tenant)
            let nodeB = try await ClusterNode.open(address, tenant: tenant)
            let (pathA, pathB) = (temporaryDirectory("a"), temporaryDirectory("b"))
            defer { for path in [pathA, pathB] { try? FileManager.default.removeItem(atPath: path) } }
            let a = try openCopy(nodeA, at: pathA)
            let b = try openCopy(nodeB, at: pathB)
            try await nodeA.attach(a)
            try await nodeB.attach(b)

            let first = try await a.append(AppendBatch(records: [record(1), record(2, "lead-2")]))
            #expect(first.appended == 2)
            #expect(try await nodeA.store.head() == first.head, "acknowledged once the tenant holds it")
            #expect(try b.head().position == 0, "node B has not caught up yet")

            // Node B's copy is stale: its group loses the fence, it catches up and appends after A's records.
            let second = try await b.append(AppendBatch(records: [record(3), record(4, nil)], expectedVersions: ["lead-1": 1]))
            #expect(second.outcomes == [.appended(position: 3), .appended(position: 4)])
            // Node A is stale now; B's events re-sent through A are duplicates, not a fork.
            let again = try await a.append(AppendBatch(records: [record(3), record(4, nil), record(5, "lead-2")]))
            #expect(again.outcomes == [.duplicate(position: 3), .duplicate(position: 4), .appended(position: 5)])
            // An expected version judged on the stale copy would be 1; at the fenced head it is 2.
            _ = try await b.catchUp()
            do throws(AppendError) {
                _ = try await a.append(AppendBatch(records: [record(6)], expectedVersions: ["lead-1": 1]))
                Issue.record("a stale expected version was accepted")
            } catch {
                #expect(error.code == .expectedVersionMismatch)
            }

            _ = try await b.catchUp()
            let tenantHead = try await nodeA.store.head()
            #expect(try a.head() == tenantHead)
            #expect(try b.head() == tenantHead, "both copies end on the tenant's head hash")
            #expect(try await nodeA.store.verify().problem == nil)
            verifyChain(try b.records(from: 1, limit: 100), head: tenantHead)
            #expect(try b.verify().isIntact, "the copy verifies as an embedded ledger")
            a.close()
            b.close()
            await nodeA.store.shutdown()
            await nodeB.store.shutdown()
        }
    }

    @Test("a batch refused on a stale copy is judged again once caught up (here: an expected version another node reached)")
    func refusalOnStaleCopyIsRejudged() async throws {
        try await PostgresTestCluster.withShared { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            let tenant = "node-rejudge-\(UInt32.random(in: 0...UInt32.max))"
            let nodeA = try await ClusterNode.open(address, tenant: tenant)
            let nodeB = try await ClusterNode.open(address, tenant: tenant)
            let (pathA, pathB) = (temporaryDirectory("a"), temporaryDirectory("b"))
            defer { for path in [pathA, pathB] { try? FileManager.default.removeItem(atPath: path) } }
            let a = try openCopy(nodeA, at: pathA)
            let b = try openCopy(nodeB, at: pathB)
            try await nodeA.attach(a)
            try await nodeB.attach(b)
            _ = try await a.append(AppendBatch(records: [record(1)]))
            // On B's stale copy lead-1 has 0 events, so this expectation fails there; at the head it holds.
            let receipt = try await b.append(AppendBatch(records: [record(2)], expectedVersions: ["lead-1": 1]))
            #expect(receipt.outcomes == [.appended(position: 2)])
            a.close()
            b.close()
            await nodeA.store.shutdown()
            await nodeB.store.shutdown()
        }
    }

    @Test("a directory holding another chain than the tenant is refused, naming the position where they differ")
    func anotherChainIsRefused() async throws {
        try await PostgresTestCluster.withShared { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            let tenant = "node-other-\(UInt32.random(in: 0...UInt32.max))"
            let writer = try await PostgresEventStore.open(address, tenant: tenant)
            _ = try await writer.append(AppendBatch(records: [record(1), record(2)]))
            let path = temporaryDirectory("other")
            defer { try? FileManager.default.removeItem(atPath: path) }
            // An embedded ledger of its own, with other events at the same positions.
            let embedded = try EventLog(path: path, options: EventLog.Options(mapSize: 64 << 20))
            _ = try await embedded.append(AppendBatch(records: [record(7), record(8)]))
            embedded.close()
            let node = try await ClusterNode.open(address, tenant: tenant)
            let copy = try openCopy(node, at: path)
            await #expect {
                try await node.attach(copy)
            } throws: { error in
                "\(error)".contains("another chain") && "\(error)".contains("position 2")
            }
            #expect(try copy.head().position == 2, "nothing was applied to the refused copy")
            copy.close()
            // A copy longer than the tenant is refused too.
            let longer = temporaryDirectory("longer")
            defer { try? FileManager.default.removeItem(atPath: longer) }
            let three = try EventLog(path: longer, options: EventLog.Options(mapSize: 64 << 20))
            _ = try await three.append(AppendBatch(records: [record(7), record(8), record(9)]))
            three.close()
            let longCopy = try openCopy(node, at: longer)
            await #expect {
                try await node.attach(longCopy)
            } throws: { error in
                "\(error)".contains("ends at position 3") && "\(error)".contains("not a copy of this tenant")
            }
            longCopy.close()
            await node.store.shutdown()
            await writer.shutdown()
        }
    }

    @Test("a node restarted on its copy fetches only what it lacks; a follower is rung by the commit's NOTIFY")
    func restartResumesFromLocalHead() async throws {
        try await PostgresTestCluster.withShared { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            let tenant = "node-restart-\(UInt32.random(in: 0...UInt32.max))"
            let writer = try await PostgresEventStore.open(address, tenant: tenant)
            for n in 0..<5 { _ = try await writer.append(AppendBatch(records: (0..<10).map { record(100 * n + $0, "lead-\($0)") })) }
            let path = temporaryDirectory("restart")
            defer { try? FileManager.default.removeItem(atPath: path) }

            let first = try await ClusterNode.open(address, tenant: tenant)
            var copy = try openCopy(first, at: path)
            try await first.attach(copy)
            #expect(first.recordsFetched == 50, "a fresh copy reads the whole tenant")
            copy.close()
            await first.store.shutdown()

            for n in 5..<7 { _ = try await writer.append(AppendBatch(records: (0..<5).map { record(100 * n + $0, "lead-\($0)") })) }
            let second = try await ClusterNode.open(address, tenant: tenant)
            copy = try openCopy(second, at: path)
            try await second.attach(copy)
            #expect(second.recordsFetched == 10, "the restarted node reads only the 10 records past its own head")
            #expect(try copy.head() == (try await writer.head()))

            let following = second.follow(copy, pollEvery: .seconds(30))
            let listening = ContinuousClock.now + .seconds(20)
            while !second.store.isListening, ContinuousClock.now < listening { try await Task.sleep(for: .milliseconds(20)) }
            #expect(second.store.isListening)
            let receipt = try await writer.append(AppendBatch(records: [record(900)]))
            let deadline = ContinuousClock.now + .seconds(10)
            while try copy.head().position < receipt.head.position, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(try copy.head() == receipt.head, "the NOTIFY rang well before the 30 s poll")
            let status = second.status(of: copy)
            #expect(status.positionsBehind == 0 && status.recordsFetched == 11 && status.tenant == tenant)
            following.cancel()
            copy.close()
            await second.store.shutdown()
            await writer.shutdown()
        }
    }
}
