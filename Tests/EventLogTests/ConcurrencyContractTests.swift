import EventLog
import Foundation
import Synchronization
import Testing

/// Records, for every callback, whether it ran on the log's writer thread.
private final class ThreadCheckingPolicy: AppendPolicy {
    private weak let log: EventLog?
    let calls = Mutex<[(callback: String, onWriter: Bool)]>([])

    init(log: EventLog) { self.log = log }

    private func note(_ callback: String) {
        let onWriter = log?.isOnWriterThread ?? false
        calls.withLock { $0.append((callback, onWriter)) }
    }

    func beginGroup(head: UInt64, log: EventLog, tables: PolicyTables) throws { note("beginGroup") }
    func admit(_ batch: AppendBatch, context: String?, isNew: [Bool], tables: PolicyTables) throws {
        note("admit")
        if context == "refuse" { throw Refusal() }
    }
    func commitGroup(head: UInt64) { note("commitGroup") }
    func abortGroup() { note("abortGroup") }
    struct Refusal: Error {}
}

@Suite("Concurrency contracts")
struct ConcurrencyContractTests {
    @Test("every policy callback runs on the log's writer thread, never on an appender's")
    func policyOnWriterThread() async throws {
        let path = temporaryLedgerPath("writer-thread")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try EventLog(path: path)
        defer { log.close() }
        let policy = ThreadCheckingPolicy(log: log)
        log.setPolicy(policy)
        #expect(!log.isOnWriterThread, "a test's thread is not the writer")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for n in 0..<5 {
                        let batch = AppendBatch(
                            records: [NewRecord(id: UUID(), stream: "lead-\(task)", payload: [UInt8(n)])],
                            context: n == 4 && task % 2 == 0 ? "refuse" : nil)
                        _ = try? await log.append(batch)
                    }
                }
            }
            try await group.waitForAll()
        }
        let calls = policy.calls.withLock { $0 }
        #expect(calls.count(where: { $0.callback == "admit" }) == 40)
        #expect(calls.contains { $0.callback == "commitGroup" })
        let offWriter = calls.filter { !$0.onWriter }.map(\.callback)
        #expect(offWriter.isEmpty, "callbacks off the writer thread: \(offWriter)")
        #expect(try log.head().position == 36, "the four refused batches appended nothing")
    }

    @Test("a full map is reported in the log's terms, with a size to reopen it with, and no command-line flag")
    func mapFullInLogTerms() async throws {
        let path = temporaryLedgerPath("map-full-words")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try EventLog(path: path, options: .init(mapSize: 1 << 20))
        defer { log.close() }
        let big = (0..<2000).map { _ in NewRecord(id: UUID(), stream: "lead-1", payload: [UInt8](repeating: 1, count: 1000)) }
        do throws(AppendError) {
            _ = try await log.append(AppendBatch(records: big))
            Issue.record("an oversized batch was accepted")
        } catch {
            #expect(error.code == .mapFull)
            #expect(error.message.contains("Reopen the ledger with a larger map size (for example 1 GiB)"))
            #expect(!error.message.contains("--"), "the log names no command-line flag: \(error.message)")
            #expect(error.suggestedMapSize == 1 << 30)
        }
    }
}
