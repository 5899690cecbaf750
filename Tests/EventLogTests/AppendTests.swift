import EventLog
import Foundation
import Testing

@Suite("Appending")
struct AppendTests {
    @Test("a batch takes gapless positions from 1 and reads back as appended")
    func positions() async throws {
        let clock = ManualClock(1_700_000_000_000_000)
        let log = try EventLog(path: temporaryLedgerPath(), options: .init(clock: clock))
        let first = try await log.append(AppendBatch(records: [record("a"), record("b", stream: "lead-2"), record("c", stream: nil)]))
        clock.set(1_700_000_000_500_000)
        let second = try await log.append(AppendBatch(records: [record("d")]))
        #expect(first.outcomes == [.appended(position: 1), .appended(position: 2), .appended(position: 3)])
        #expect(second.outcomes == [.appended(position: 4)])
        #expect(second.head.position == 4)
        let all = try log.records()
        #expect(all.map(\.position) == [1, 2, 3, 4])
        #expect(all.map { String(decoding: $0.payload, as: UTF8.self) } == ["a", "b", "c", "d"])
        #expect(all.map(\.stream) == ["lead-1", "lead-2", nil, "lead-1"])
        #expect(all.map(\.recordedAt) == [1_700_000_000_000_000, 1_700_000_000_000_000, 1_700_000_000_000_000, 1_700_000_000_500_000])
        #expect(try log.head() == second.head)
        #expect(all.last?.hash == second.head.hash)
    }

    @Test("an identical re-send is reported as a duplicate and appends nothing")
    func duplicate() async throws {
        let log = try EventLog(path: temporaryLedgerPath())
        let batch = AppendBatch(records: [record("a"), record("b")])
        let first = try await log.append(batch)
        let again = try await log.append(batch)
        #expect(again.outcomes == [.duplicate(position: 1), .duplicate(position: 2)])
        #expect(again.duplicates == 2 && again.appended == 0)
        #expect(again.head == first.head)
        #expect(try log.statistics().records == 2)
    }

    @Test("the same id with other content is a conflict that refuses the whole batch")
    func conflict() async throws {
        let log = try EventLog(path: temporaryLedgerPath())
        let id = UUID()
        let before = try await log.append(AppendBatch(records: [record("original", id: id)]))
        do {
            _ = try await log.append(AppendBatch(records: [record("new one"), record("changed", id: id)]))
            Issue.record("a conflict was accepted")
        } catch {
            #expect(error.code == .conflict)
            #expect(error.index == 1)
            #expect(error.message.contains("already stored at position 1"))
        }
        #expect(try log.head() == before.head)
        // The same id on another stream is a conflict too.
        await #expect(throws: AppendError.self) {
            try await log.append(AppendBatch(records: [record("original", id: id, stream: "lead-9")]))
        }
    }

    @Test("an id twice in one batch: identical is one record, different is a conflict")
    func inBatchDuplicates() async throws {
        let log = try EventLog(path: temporaryLedgerPath())
        let id = UUID()
        let receipt = try await log.append(AppendBatch(records: [record("x", id: id), record("y"), record("x", id: id)]))
        #expect(receipt.outcomes == [.appended(position: 1), .appended(position: 2), .duplicate(position: 1)])
        let other = UUID()
        await #expect(throws: AppendError.self) {
            try await log.append(AppendBatch(records: [record("x", id: other), record("z", id: other)]))
        }
        #expect(try log.statistics().records == 2)
    }

    @Test("an expected-version mismatch refuses the whole batch")
    func expectedVersion() async throws {
        let log = try EventLog(path: temporaryLedgerPath())
        _ = try await log.append(AppendBatch(records: [record("a"), record("b")]))
        let ok = try await log.append(AppendBatch(records: [record("c")], expectedVersions: ["lead-1": 2, "lead-new": 0]))
        #expect(ok.outcomes == [.appended(position: 3)])
        do {
            _ = try await log.append(AppendBatch(records: [record("d", stream: "lead-2"), record("e")], expectedVersions: ["lead-1": 2]))
            Issue.record("a stale expected version was accepted")
        } catch {
            #expect(error.code == .expectedVersionMismatch)
            #expect(error.message == "stream \"lead-1\" holds 3 events; the batch expected 2")
        }
        #expect(try log.version(ofStream: "lead-1") == 3)
        #expect(try log.version(ofStream: "lead-2") == 0)
        #expect(try log.statistics().records == 3)
    }

    @Test("a stream's records come back through the per-stream index, and by id")
    func streams() async throws {
        let log = try EventLog(path: temporaryLedgerPath())
        let target = UUID()
        _ = try await log.append(
            AppendBatch(records: [record("1", stream: "A"), record("2", stream: "B"), record("3", id: target, stream: "A")]))
        #expect(try log.records(inStream: "A").map(\.position) == [1, 3])
        #expect(try log.records(inStream: "missing").isEmpty)
        #expect(try log.record(id: target)?.position == 3)
        #expect(try log.record(id: UUID()) == nil)
        let numberA = try #require(try log.streamNumber("A"))
        #expect(try log.streamName(numberA) == "A")
        #expect(try log.records(from: 2, limit: 1).map(\.position) == [2])
        #expect(try log.statistics().streams == 2)
    }

    @Test("a stream name must be 1–511 bytes and a payload within the limit")
    func recordLimits() async throws {
        let log = try EventLog(path: temporaryLedgerPath(), options: .init(maxPayloadSize: 16))
        await #expect(throws: AppendError.self) { try await log.append(AppendBatch(records: [record("x", stream: "")])) }
        await #expect(throws: AppendError.self) { try await log.append(AppendBatch(records: [record(String(repeating: "y", count: 17))])) }
        #expect(try log.head().position == 0)
    }

    @Test("64 concurrent appenders: every acknowledged event is stored exactly once, positions gapless")
    func concurrentAppenders() async throws {
        let log = try EventLog(path: temporaryLedgerPath())
        let perTask = 40
        let acknowledged = try await withThrowingTaskGroup(of: [(UUID, UInt64)].self) { group in
            for task in 0..<64 {
                group.addTask {
                    var mine: [(UUID, UInt64)] = []
                    for i in 0..<perTask {
                        let id = UUID()
                        let receipt = try await log.append(AppendBatch(records: [record("\(task)-\(i)", id: id, stream: "lead-\(task)")]))
                        mine.append((id, receipt.outcomes[0].position))
                    }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(acknowledged.count == 64 * perTask)
        let stored = try log.records()
        #expect(stored.map(\.position) == Array(1...UInt64(64 * perTask)))
        let byID = Dictionary(uniqueKeysWithValues: stored.map { ($0.id, $0.position) })
        for (id, position) in acknowledged { #expect(byID[id] == position) }
        #expect(try log.verify().isIntact)
    }

    @Test("a full map refuses the batch with advice and leaves the log as it was")
    func mapFull() async throws {
        let log = try EventLog(path: temporaryLedgerPath(), options: .init(mapSize: 1 << 20))
        let kept = try await log.append(AppendBatch(records: [record("small")]))
        let big = (0..<2000).map { _ in NewRecord(id: UUID(), stream: "lead-1", payload: [UInt8](repeating: 1, count: 1000)) }
        do {
            _ = try await log.append(AppendBatch(records: big))
            Issue.record("an oversized batch was accepted")
        } catch {
            #expect(error.code == .mapFull)
            #expect(error.message.contains("nothing of this batch was written"))
            #expect(error.message.contains("larger map size"))
        }
        #expect(try log.head() == kept.head)
        let after = try await log.append(AppendBatch(records: [record("still fine")]))
        #expect(after.outcomes == [.appended(position: 2)])
        #expect(try log.verify().isIntact)
    }
}
