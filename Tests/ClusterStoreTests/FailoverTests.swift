import ClusterStore
import EventLog
import Foundation
import PostgresHarness
import Synchronization
import Testing

@Suite(
    "PostgreSQL failover under load", .enabled(if: PostgresTestCluster.isAvailable, "PostgreSQL 15 is not installed"),
    .serialized)
struct FailoverTests {
    /// One trial: two writers (stores of their own, as two nodes would hold) take appends from 32
    /// concurrent clients; the primary is killed with SIGKILL at `killAfter` and its synchronous
    /// standby promoted; clients retry every failed append with the same ids until it is acknowledged.
    static func trial(killAfter: Duration, seed: UInt64) async throws {
        try await PostgresTestCluster.with(standbys: 1) { cluster in
            let address = try ClusterAddress(parsing: cluster.url)
            try await PostgresEventStore.createSchema(at: address)
            let nodes = [
                // A short deadline: a commit cut off by the kill is reported (unknown outcome) and
                // retried sooner; on a busy test machine a slow commit is retried too, which is safe.
                try await PostgresEventStore.open(address, tenant: "load", commitTimeout: .seconds(5)),
                try await PostgresEventStore.open(address, tenant: "load", commitTimeout: .seconds(5)),
            ]
            let killer = Task {
                try await Task.sleep(for: killAfter)
                try cluster.kill(cluster.primary)
                try await cluster.promote(cluster.servers[1])
            }
            let (acked, unknownOutcomes) = try await appendThroughFailover(clients: 32, batches: 12, seed: seed) { client, batch in
                do throws(AppendError) { return .success(try await nodes[client % 2].append(batch)) } catch { return .failure(error) }
            }
            try await killer.value
            let stored = try await nodes[0].records(from: 1, limit: .max)
            #expect(acked.count == 32 * 12 * 2, "every client's every record was acknowledged in the end")
            let byID = Dictionary(grouping: stored, by: \.id)
            #expect(byID.values.allSatisfy { $0.count == 1 }, "every event exactly once")
            for (id, position) in acked { #expect(byID[id]?.first?.position == position, "acknowledged \(id) at \(position) is there") }
            #expect(stored.count == acked.count)
            verifyChain(stored, head: try await nodes[1].head())
            let verification = try await nodes[1].verify()
            #expect(verification.problem == nil)
            for node in nodes { await node.shutdown() }
            print("failover trial (seed \(seed)): killed after \(killAfter), \(stored.count) events, \(unknownOutcomes) unknown outcomes retried")
        }
    }

    @Test(
        "the primary killed with SIGKILL at 10 random moments of a 32-client load: every acknowledged event once, gapless, one chain",
        .timeLimit(.minutes(6)))
    func failover() async throws {
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<10 {
            let seed = UInt64(trial) << 32 | UInt64.random(in: 0...0xffff_ffff, using: &generator)
            try await Self.trial(killAfter: .milliseconds(Int.random(in: 20...700, using: &generator)), seed: seed)
        }
    }
}

/// A value the clients of a trial share.
final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func withLock<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
}

/// The load of a failover trial: `clients` concurrent clients, each appending `batches` batches of
/// 1–3 records to its own stream through `append`, and retrying every failed append with the same
/// ids until it is acknowledged (a failover may answer only with an unknown outcome or a storage
/// error, nothing stored). Returns each acknowledged record's position by id, and how many unknown
/// outcomes were retried.
func appendThroughFailover(
    clients: Int, batches: Int, seed: UInt64,
    append: @escaping @Sendable (_ client: Int, _ batch: AppendBatch) async -> Result<AppendReceipt, AppendError>
) async throws -> (acknowledged: [UUID: UInt64], unknownOutcomes: Int) {
    let acknowledged = Shared<[UUID: UInt64]>([:])
    let unknownOutcomes = Shared(0)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for client in 0..<clients {
            group.addTask {
                for n in 0..<batches {
                    let records = (0..<(1 + (client + n) % 3)).map { k in
                        NewRecord(
                            id: UUID(uuidString: String(format: "%08x-0000-4000-8000-%012x", seed & 0xffff_ffff, client * 1000 + n * 10 + k))!,
                            stream: "lead-\(client)", payload: Array("client \(client) batch \(n) record \(k)".utf8))
                    }
                    var receipt: AppendReceipt?
                    var attempts = 0
                    while receipt == nil {
                        attempts += 1
                        guard attempts < 400 else { throw ClusterError("client \(client) gave up after \(attempts) attempts") }
                        switch await append(client, AppendBatch(records: records)) {
                        case .success(let stored): receipt = stored
                        case .failure(let error):
                            if error.code == .unknownOutcome { unknownOutcomes.withLock { $0 += 1 } }
                            #expect([.unknownOutcome, .storage].contains(error.code), "\(error)")
                            try? await Task.sleep(for: .milliseconds(50))
                        }
                    }
                    acknowledged.withLock { for (record, outcome) in zip(records, receipt!.outcomes) { $0[record.id] = outcome.position } }
                }
            }
        }
        try await group.waitForAll()
    }
    return (acknowledged.withLock { $0 }, unknownOutcomes.withLock { $0 })
}
