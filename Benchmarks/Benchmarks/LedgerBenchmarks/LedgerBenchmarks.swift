import Benchmark
import EventLog
import Foundation
import GRDB
import LMDB

// Every benchmark of a workload runs its reference implementations in the same process and run,
// so their ratios are meaningful even on a noisy machine. Throughput is in events per second
// (scaling factor: each iteration appends or reads `scalingFactor` events).

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .peakMemoryResident],
        warmupIterations: 0,
        scalingFactor: .one,
        maxDuration: .seconds(40),
        maxIterations: 3
    )
    let bulk = Benchmark.Configuration(
        metrics: [.wallClock, .throughput], warmupIterations: 0, scalingFactor: .mega, maxDuration: .seconds(60), maxIterations: 2)

    // MARK: Bulk append, 1M events in batches of 10,000, full sync

    Benchmark("append 1M: EventLog (hash chain, id + lead indexes)", configuration: bulk) { benchmark in
        let batches = Workload.shared.records.chunked(10_000)
        let path = scratchDirectory("log")
        defer { cleanUp(path) }
        let log = try EventLog(path: path)
        benchmark.startMeasurement()
        for batch in batches { _ = try log.appendAndWait(AppendBatch(records: batch)) }
        benchmark.stopMeasurement()
        log.close()
    }

    Benchmark("append 1M: raw LMDB loop (id + lead indexes)", configuration: bulk) { benchmark in
        let workload = Workload.shared
        let path = scratchDirectory("raw")
        defer { cleanUp(path) }
        let raw = try RawLMDB(path: path)
        benchmark.startMeasurement()
        try raw.append(workload, batchSize: 10_000)
    }

    Benchmark("append 1M: SQLite table (WAL, synchronous=FULL, id + lead indexes)", configuration: bulk) { benchmark in
        let rows = SQLiteRows.shared
        let path = scratchDirectory("sqlite")
        defer { cleanUp(path) }
        let db = try SQLiteEvents(path: path)
        benchmark.startMeasurement()
        try db.append(rows, batchSize: 10_000)
    }

    // MARK: 64 concurrent appenders of one event each, full sync

    let concurrent = Benchmark.Configuration(
        metrics: [.wallClock, .throughput], warmupIterations: 0, scalingFactor: .kilo, maxDuration: .seconds(30), maxIterations: 3)

    Benchmark("64 concurrent appenders x 1 event: EventLog group commit", configuration: concurrent) { benchmark async throws in
        let records = Array(Workload.shared.records.prefix(64 * 16 * 1000 / 1024))
        let perTask = records.count / 64
        let path = scratchDirectory("group")
        defer { cleanUp(path) }
        let log = try EventLog(path: path)
        benchmark.startMeasurement()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<64 {
                group.addTask {
                    for i in 0..<perTask { _ = try await log.append(AppendBatch(records: [records[task * perTask + i]])) }
                }
            }
            try await group.waitForAll()
        }
        benchmark.stopMeasurement()
        log.close()
    }

    Benchmark("64 concurrent appenders x 1 event: raw LMDB loop committing batches of 64", configuration: concurrent) { benchmark in
        let workload = Workload(count: 1000, leads: 100)
        let path = scratchDirectory("raw64")
        defer { cleanUp(path) }
        let raw = try RawLMDB(path: path)
        benchmark.startMeasurement()
        try raw.append(workload, batchSize: 64)
    }

    // MARK: Full scan

    let scan = Benchmark.Configuration(
        metrics: [.wallClock, .throughput], warmupIterations: 1, scalingFactor: .mega, maxDuration: .seconds(30), maxIterations: 5)

    Benchmark("scan 1M: EventLog.scan (record view: stream, recordedAt, payload)", configuration: scan) { benchmark in
        let fixture = ScanFixture.shared
        benchmark.startMeasurement()
        var sum = 0
        try fixture.log.scan { view in
            sum &+= Int(view.streamNumber) &+ Int(truncatingIfNeeded: view.recordedAt) &+ view.payload.count
            return true
        }
        blackHole(sum)
    }

    Benchmark("scan 1M: raw LMDB cursor", configuration: scan) { benchmark in
        let fixture = ScanFixture.shared
        benchmark.startMeasurement()
        blackHole(try fixture.raw.scan())
    }

    modelBenchmarks()
    replayBenchmarks()
    firstAppendBenchmarks()
    proofBenchmarks()
    personalAppendBenchmarks()
    clusterBenchmarks()
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

/// The straightforward design, for reference: position → record, id → position, lead → positions.
final class RawLMDB: @unchecked Sendable {
    let env: Environment
    let events: LMDB.Database, ids: LMDB.Database, leads: LMDB.Database

    init(path: String) throws {
        env = try Environment(path: path, options: .init(mapSize: 8 << 30))
        (events, ids, leads) = try env.write { txn in
            (
                try txn.openDatabase("events", flags: [.create, .integerKey]),
                try txn.openDatabase("ids", flags: [.create]),
                try txn.openDatabase("leads", flags: [.create, .integerKey, .duplicateSort, .duplicateFixed, .integerDuplicate])
            )
        }
    }

    func append(_ workload: Workload, batchSize: Int) throws {
        var position: UInt64 = 0
        let records = workload.records
        for start in stride(from: 0, to: records.count, by: batchSize) {
            try env.write { txn in
                for i in start..<min(start + batchSize, records.count) {
                    position += 1
                    var p = position
                    try withUnsafeBytes(of: &p) { pos in
                        try records[i].payload.withUnsafeBytes { try txn.put($0, forKey: position, in: events, flags: .append) }
                        try withUnsafeBytes(of: records[i].id.uuid) { try txn.put(pos, forKey: $0, in: ids) }
                        try txn.put(pos, forKey: workload.leadNumbers[i], in: leads)
                    }
                }
            }
        }
    }

    func scan() throws -> Int {
        try env.read { txn in
            try txn.withCursor(on: events) { cursor in
                var sum = 0
                try cursor.forEach { entry in
                    sum &+= entry.value.count &+ Int(entry.key.loadUnaligned(as: UInt64.self))
                    return true
                }
                return sum
            }
        }
    }
}

/// The same rows, converted for SQLite once per process.
struct SQLiteRows: @unchecked Sendable {
    let ids: [Data], payloads: [Data], leads: [Int64]
    static let shared: SQLiteRows = {
        let w = Workload.shared
        return SQLiteRows(
            ids: w.records.map { withUnsafeBytes(of: $0.id.uuid) { Data($0) } },
            payloads: w.records.map { Data($0.payload) },
            leads: w.leadNumbers.map { Int64($0) })
    }()
}

/// An SQLite event table with the same two indexes, in WAL mode with synchronous=FULL.
final class SQLiteEvents: @unchecked Sendable {
    let pool: DatabasePool

    init(path: String) throws {
        var config = Configuration()
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        pool = try DatabasePool(path: path + "/events.sqlite", configuration: config)
        try pool.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE events(position INTEGER PRIMARY KEY, id BLOB NOT NULL, lead INTEGER NOT NULL, payload BLOB NOT NULL);
                    CREATE UNIQUE INDEX events_id ON events(id);
                    CREATE INDEX events_lead ON events(lead, position);
                    """)
        }
    }

    func append(_ rows: SQLiteRows, batchSize: Int) throws {
        for start in stride(from: 0, to: rows.ids.count, by: batchSize) {
            try pool.write { db in
                let insert = try db.cachedStatement(sql: "INSERT INTO events(position, id, lead, payload) VALUES (?, ?, ?, ?)")
                for i in start..<min(start + batchSize, rows.ids.count) {
                    try insert.execute(arguments: [Int64(i + 1), rows.ids[i], rows.leads[i], rows.payloads[i]])
                }
            }
        }
    }
}

/// One ledger and one raw LMDB file holding the same million records, built once per process.
final class ScanFixture: @unchecked Sendable {
    let log: EventLog
    let raw: RawLMDB
    static let shared: ScanFixture = try! ScanFixture()

    private init() throws {
        let workload = Workload.shared
        log = try EventLog(path: scratchDirectory("scan-log"), options: .init(durability: .noMetaSync))
        for batch in workload.records.chunked(50_000) { _ = try log.appendAndWait(AppendBatch(records: batch)) }
        raw = try RawLMDB(path: scratchDirectory("scan-raw"))
        try raw.append(workload, batchSize: 50_000)
    }
}
