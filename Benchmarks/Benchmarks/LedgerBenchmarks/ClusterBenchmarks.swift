import Benchmark
import ClusterStore
import EventLog
import Foundation

/// Durable appends through the PostgreSQL log of record (DESIGN §8.5) beside embedded LMDB, in the
/// same run: 64 concurrent appenders, each batch acknowledged only once the synchronous standby
/// holds it, writing one tenant (one node's store, its group commit) or spread across 64 tenants
/// (a store each, as 64 ledgers of a cluster). Batches of 1 and of 100 events. They run only when
/// `LEADLEDGER_BENCH_CLUSTER` names a cluster: `scripts/cluster-bench.sh` starts a primary and a
/// synchronous standby on loopback, sets it, and samples the replication lag meanwhile.
func clusterBenchmarks() {
    guard let url = ProcessInfo.processInfo.environment["LEADLEDGER_BENCH_CLUSTER"], !url.isEmpty,
        let address = try? ClusterAddress(parsing: url)
    else { return }
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput], warmupIterations: 0, scalingFactor: .kilo, maxDuration: .seconds(60), maxIterations: 3)
    // 64 appenders x 16 batches: 1,024 batches per iteration whatever the batch size.
    let appenders = 64
    let batchesPerAppender = 16

    for batchSize in [1, 100] {
        let records = Array(Workload(count: appenders * batchesPerAppender * batchSize, leads: 1_000).records)
        let batch: @Sendable (Int, Int) -> AppendBatch = { appender, n in
            let start = (appender * batchesPerAppender + n) * batchSize
            return AppendBatch(records: Array(records[start..<start + batchSize]))
        }

        Benchmark("cluster 64 appenders x \(batchSize)-event batches: embedded LMDB (full sync)", configuration: configuration) {
            benchmark async throws in
            let path = scratchDirectory("cluster-lmdb-\(batchSize)")
            defer { cleanUp(path) }
            let log = try EventLog(path: path)
            benchmark.startMeasurement()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for appender in 0..<appenders {
                    group.addTask { for n in 0..<batchesPerAppender { _ = try await log.append(batch(appender, n)) } }
                }
                try await group.waitForAll()
            }
            benchmark.stopMeasurement()
            log.close()
        }

        Benchmark("cluster 64 appenders x \(batchSize)-event batches: PostgreSQL, one tenant", configuration: configuration) {
            benchmark async throws in
            try await PostgresEventStore.createSchema(at: address)
            let store = try await PostgresEventStore.open(address, tenant: "bench_one_\(UUID().uuidString.prefix(8))")
            benchmark.startMeasurement()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for appender in 0..<appenders {
                    group.addTask { for n in 0..<batchesPerAppender { _ = try await store.append(batch(appender, n)) } }
                }
                try await group.waitForAll()
            }
            benchmark.stopMeasurement()
            await store.shutdown()
        }

        Benchmark("cluster 64 appenders x \(batchSize)-event batches: PostgreSQL, 64 tenants", configuration: configuration) {
            benchmark async throws in
            try await PostgresEventStore.createSchema(at: address)
            let run = UUID().uuidString.prefix(8)
            var stores: [PostgresEventStore] = []
            for tenant in 0..<appenders { stores.append(try await PostgresEventStore.open(address, tenant: "bench_\(run)_\(tenant)")) }
            let opened = stores
            benchmark.startMeasurement()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for appender in 0..<appenders {
                    group.addTask { for n in 0..<batchesPerAppender { _ = try await opened[appender].append(batch(appender, n)) } }
                }
                try await group.waitForAll()
            }
            benchmark.stopMeasurement()
            for store in opened { await store.shutdown() }
        }
    }
}
