import Benchmark
import EventLog
import Foundation
import LeadModel
import Ledger

/// What a process pays before its first acknowledgement: the first one-event append after opening
/// a ledger of ~1M events, against the tenth of the same process; and the resident memory the
/// opened ledger holds after each. `LEADLEDGER_BENCH_LEADS` sets the fixture's size (100,000 leads,
/// ~1M events, by default; 1,000,000 gives the 10M-event ledger of the replay benchmarks' shape).
func firstAppendBenchmarks() {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .peakMemoryResident], warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(300), maxIterations: 3)
    for (name, nth) in [("first", 1), ("tenth", 10)] {
        Benchmark("first append: the \(name) one-event append of a freshly opened ledger", configuration: configuration) { benchmark in
            let fixture = try FirstAppendFixture.shared()
            let before = residentBytes()
            let ledger = try Ledger(path: fixture.path, options: .init(createIfMissing: false))
            defer { ledger.close() }
            for n in 1...nth {
                let event = LeadEvent(
                    id: UUID(), occurredAt: Timestamp(microseconds: 1_767_225_600_000_000), source: "bench", lead: "B-\(UUID().uuidString)",
                    payload: .leadCaptured(.init(channel: "web")))
                if n == nth { benchmark.startMeasurement() }
                _ = try ledger.appendAndWait([event])
                if n == nth { benchmark.stopMeasurement() }
            }
            let grown = residentBytes() - before
            FileHandle.standardError.write(
                Data(
                    "\(name) append over \(fixture.events) events: resident memory grew \(grown >> 20) MiB since the ledger was opened\n"
                        .utf8))
        }
    }
}

/// The resident set of this process, in bytes, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

/// A ledger with the replay benchmarks' history, built once and kept in the temporary folder.
final class FirstAppendFixture: @unchecked Sendable {
    nonisolated(unsafe) private static var instance: FirstAppendFixture?
    let path: String
    let events: UInt64

    static func shared() throws -> FirstAppendFixture {
        if let instance { return instance }
        let made = try FirstAppendFixture(leads: Int(ProcessInfo.processInfo.environment["LEADLEDGER_BENCH_LEADS"] ?? "") ?? 100_000)
        instance = made
        return made
    }

    private init(leads: Int) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-bench-first-append-\(leads)").path
        let complete = path + "/complete"
        if !FileManager.default.fileExists(atPath: complete) {
            try? FileManager.default.removeItem(atPath: path)
            let log = try EventLog(path: path, options: .init(durability: .noMetaSync))
            try TenMillion.fill(log, leads: leads)
            log.close()
            // The fixture is written below the validation policy, so the ledger's first validated
            // append folds the log into the validation tables once (what a ledger written by an
            // earlier version pays once); do it here so that every sample measures a fresh process.
            let ledger = try Ledger(path: path, options: .init(createIfMissing: false))
            _ = try ledger.appendAndWait([
                LeadEvent(
                    id: UUID(), occurredAt: Timestamp(microseconds: 1_767_225_600_000_000), source: "bench", lead: "B-fixture",
                    payload: .leadCaptured(.init(channel: "web")))
            ])
            ledger.close()
            _ = FileManager.default.createFile(atPath: complete, contents: Data())
        }
        let log = try EventLog(path: path, options: .init(createIfMissing: false, readOnly: true))
        events = try log.head().position
        log.close()
    }
}
