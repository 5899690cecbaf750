import EventLog
import Foundation
import Testing

/// The contract of ``EventStore``, as tests any implementation must pass: call ``check(_:)`` with a
/// function that makes an empty store (LMDB, in memory, or PostgreSQL in `ClusterStoreTests`) (as swift-log's handler tests do for a log handler).
enum EventStoreConformance {
    /// Runs every check, each on a fresh empty store from `makeStore`.
    static func check(_ makeStore: () async throws -> any AsyncEventStore) async throws {
        try await appendsInOrder(try await makeStore())
        try await idempotency(try await makeStore())
        try await conflicts(try await makeStore())
        try await expectedVersions(try await makeStore())
        try await invalidRecords(try await makeStore())
        try await hashChain(try await makeStore())
        try await streams(try await makeStore())
        try await subscription(try await makeStore())
        try await closing(try await makeStore())
    }

    static func uuid(_ n: Int) -> UUID { UUID(uuidString: String(format: "00000000-0000-4000-8000-%012x", n))! }

    static func record(_ n: Int, _ stream: String? = "lead-1", _ payload: String? = nil) -> NewRecord {
        NewRecord(id: uuid(n), stream: stream, payload: Array((payload ?? "payload \(n)").utf8))
    }

    /// Every check closes the store it was given.
    private static func using(_ store: any AsyncEventStore, _ body: (any AsyncEventStore) async throws -> Void) async throws {
        defer { store.close() }
        try await body(store)
    }

    static func appendsInOrder(_ store: any AsyncEventStore) async throws {
        try await using(store) { store in
            #expect(try await store.head() == LogHead(position: 0, hash: String(repeating: "0", count: 64)))
            let empty = try await store.append(AppendBatch(records: []))
            #expect(empty.outcomes.isEmpty && empty.head.position == 0)
            let first = try await store.append(AppendBatch(records: [record(1), record(2, nil)]))
            #expect(first.outcomes == [.appended(position: 1), .appended(position: 2)])
            let second = try await store.append(AppendBatch(records: [record(3)]))
            #expect(second.outcomes == [.appended(position: 3)])
            #expect(second.head == (try await store.head()))
            let all = try await store.records(from: 1, limit: .max)
            #expect(all.map(\.position) == [1, 2, 3])
            #expect(all.map(\.id) == [uuid(1), uuid(2), uuid(3)])
            #expect(all.map(\.stream) == ["lead-1", nil, "lead-1"])
            #expect(all[1].streamNumber == 0)
            #expect(all.map { String(decoding: $0.payload, as: UTF8.self) } == ["payload 1", "payload 2", "payload 3"])
            #expect(try await store.records(from: 2, limit: 1).map(\.position) == [2])
            #expect(try await store.records(from: 4, limit: 10).isEmpty)
            #expect(try await store.records(from: 1, limit: 0).isEmpty)
            #expect(try await store.record(at: 2)?.id == uuid(2))
            #expect(try await store.record(at: 0) == nil)
            #expect(try await store.record(at: 4) == nil)
            #expect(try await store.record(id: uuid(3))?.position == 3)
            #expect(try await store.record(id: uuid(9)) == nil)
        }
    }

    static func idempotency(_ store: any AsyncEventStore) async throws {
        try await using(store) { store in
            _ = try await store.append(AppendBatch(records: [record(1), record(2)]))
            let again = try await store.append(AppendBatch(records: [record(2), record(3), record(1), record(3)]))
            #expect(again.outcomes == [.duplicate(position: 2), .appended(position: 3), .duplicate(position: 1), .duplicate(position: 3)])
            #expect(again.appended == 1 && again.duplicates == 3)
            #expect(try await store.head().position == 3)
        }
    }

    static func conflicts(_ store: any AsyncEventStore) async throws {
        try await using(store) { store in
            _ = try await store.append(AppendBatch(records: [record(1)]))
            let before = try await store.head()
            for batch in [
                [record(2), record(1, "lead-1", "other content")],
                [record(2), record(1, "lead-2")],
                [record(3), record(3, "lead-1", "changed")],
            ] {
                do throws(AppendError) {
                    _ = try await store.append(AppendBatch(records: batch))
                    Issue.record("a conflicting batch was appended")
                } catch {
                    #expect(error.code == .conflict)
                    #expect(error.index == 1)
                }
                #expect(try await store.head() == before, "a refused batch leaves the store as it was")
            }
        }
    }

    static func expectedVersions(_ store: any AsyncEventStore) async throws {
        try await using(store) { store in
            _ = try await store.append(AppendBatch(records: [record(1), record(2)], expectedVersions: ["lead-1": 0, "lead-9": 0]))
            #expect(try await store.version(ofStream: "lead-1") == 2)
            #expect(try await store.version(ofStream: "lead-9") == 0)
            do throws(AppendError) {
                _ = try await store.append(AppendBatch(records: [record(3)], expectedVersions: ["lead-1": 1]))
                Issue.record("a batch with a wrong expected version was appended")
            } catch {
                #expect(error.code == .expectedVersionMismatch)
                #expect(error.message.contains("holds 2 events; the batch expected 1"))
            }
            let ok = try await store.append(AppendBatch(records: [record(3)], expectedVersions: ["lead-1": 2]))
            #expect(ok.outcomes == [.appended(position: 3)])
        }
    }

    static func invalidRecords(_ store: any AsyncEventStore) async throws {
        try await using(store) { store in
            for (batch, code) in [
                ([record(1, "")], AppendError.Code.invalidRecord),
                ([record(1, String(repeating: "x", count: 512))], .invalidRecord),
                ([NewRecord(id: uuid(1), stream: "s", payload: [UInt8](repeating: 1, count: 32 << 10 + 1))], .recordTooLarge),
            ] {
                do throws(AppendError) {
                    _ = try await store.append(AppendBatch(records: batch))
                    Issue.record("an invalid record was appended")
                } catch {
                    #expect(error.code == code)
                }
            }
            let head = try await store.head()
            #expect(head.position == 0, "a refused batch appends nothing")
        }
    }

    /// Recomputes every hash from the records alone, as the contract defines it.
    static func hashChain(_ store: any AsyncEventStore) async throws {
        try await using(store) { store in
            _ = try await store.append(AppendBatch(records: [record(1), record(2, nil)]))
            _ = try await store.append(AppendBatch(records: [record(3, "lead-2")]))
            var previous = [UInt8](repeating: 0, count: 32)
            for stored in try await store.records(from: 1, limit: .max) {
                var header = [UInt8](repeating: 0, count: 32)
                header[0] = 1
                header[1] = stored.streamNumber == 0 ? 0 : 1
                withUnsafeBytes(of: stored.streamNumber.littleEndian) { for (i, b) in $0.enumerated() { header[4 + i] = b } }
                withUnsafeBytes(of: stored.recordedAt.littleEndian) { for (i, b) in $0.enumerated() { header[8 + i] = b } }
                withUnsafeBytes(of: stored.id.uuid) { for (i, b) in $0.enumerated() { header[16 + i] = b } }
                let sealed = previous + withUnsafeBytes(of: stored.position.littleEndian, Array.init) + header + stored.payload
                previous = sealed.withUnsafeBytes { LogDigest.sha256($0) }
                #expect(stored.hash == previous.map { String(format: "%02x", $0) }.joined(), "position \(stored.position)")
            }
            #expect(try await store.head().hash == previous.map { String(format: "%02x", $0) }.joined())
        }
    }

    static func streams(_ store: any AsyncEventStore) async throws {
        try await using(store) { store in
            _ = try await store.append(AppendBatch(records: [record(1, "a"), record(2, "b"), record(3, "a"), record(4, nil)]))
            #expect(try await store.records(inStream: "a").map(\.position) == [1, 3])
            #expect(try await store.records(inStream: "b").map(\.position) == [2])
            #expect(try await store.records(inStream: "c").isEmpty)
            let numbers = try await store.records(from: 1, limit: .max).map(\.streamNumber)
            #expect(numbers[0] == numbers[2] && numbers[0] != numbers[1] && numbers[0] != 0 && numbers[3] == 0)
        }
    }

    static func subscription(_ store: any AsyncEventStore) async throws {
        try await using(store) { store in
            _ = try await store.append(AppendBatch(records: [record(1), record(2)]))
            let reader = Task {
                var seen: [UInt64] = []
                for try await record in store.subscribe(from: 2) {
                    seen.append(record.position)
                    if seen.count == 3 { break }
                }
                return seen
            }
            _ = try await store.append(AppendBatch(records: [record(3)]))
            _ = try await store.append(AppendBatch(records: [record(4)]))
            #expect(try await reader.value == [2, 3, 4])
        }
    }

    static func closing(_ store: any AsyncEventStore) async throws {
        _ = try await store.append(AppendBatch(records: [record(1)]))
        let reader = Task {
            var count = 0
            for try await _ in store.subscribe(from: 1) { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(50))
        store.close()
        #expect(try await reader.value == 1, "a subscription ends when the store closes")
        do throws(AppendError) {
            _ = try await store.append(AppendBatch(records: [record(2)]))
            Issue.record("a closed store appended")
        } catch {
            #expect(error.code == .closed)
        }
        #expect(try await store.head().position == 1)
    }
}

@Suite("Event store conformance")
struct EventStoreConformanceTests {
    @Test("the LMDB log passes the event store contract")
    func lmdb() async throws {
        var paths: [String] = []
        defer { for path in paths { try? FileManager.default.removeItem(atPath: path) } }
        try await EventStoreConformance.check {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-conformance-\(UUID().uuidString)").path
            paths.append(path)
            return try EventLog(path: path, options: EventLog.Options(mapSize: 64 << 20))
        }
    }

    @Test("the in-memory store passes the event store contract")
    func inMemory() async throws {
        try await EventStoreConformance.check { InMemoryEventStore() }
    }

    @Test("the in-memory store and the LMDB log, given the same clock and batches, end with the same head")
    func sameChain() async throws {
        struct FixedClock: LogClock { func now() -> Int64 { 1_700_000_000_000_000 } }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-conformance-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lmdb = try EventLog(path: path, options: EventLog.Options(mapSize: 64 << 20, clock: FixedClock()))
        defer { lmdb.close() }
        let memory = InMemoryEventStore(clock: FixedClock())
        for store in [lmdb as any EventStore, memory] {
            _ = try await store.append(
                AppendBatch(records: (1...20).map { EventStoreConformance.record($0, $0 % 3 == 0 ? nil : "lead-\($0 % 4)") }))
            _ = try await store.append(AppendBatch(records: [EventStoreConformance.record(5), EventStoreConformance.record(21)]))
        }
        #expect(try lmdb.head() == (try memory.head()))
        #expect(try lmdb.records(from: 1, limit: .max) == (try memory.records(from: 1, limit: .max)))
    }
}
