import EventLog
import Foundation
import Testing

/// What the log must do, in the simplest terms: a list of records and a map of ids.
struct LogModel {
    var records: [NewRecord] = []
    var positions: [UUID: Int] = [:]

    enum Refusal: Error, Equatable { case conflict, expectedVersion }

    mutating func append(_ batch: AppendBatch) -> Result<[AppendOutcome], Refusal> {
        var next = records
        var ids = positions
        var outcomes: [AppendOutcome] = []
        for r in batch.records {
            if let p = ids[r.id] {
                guard next[p - 1] == r else { return .failure(.conflict) }
                outcomes.append(.duplicate(position: UInt64(p)))
            } else {
                next.append(r)
                ids[r.id] = next.count
                outcomes.append(.appended(position: UInt64(next.count)))
            }
        }
        for (stream, expected) in batch.expectedVersions where records.count(where: { $0.stream == stream }) != expected {
            return .failure(.expectedVersion)
        }
        records = next
        positions = ids
        return .success(outcomes)
    }
}

/// Refuses batches whose context says so, and counts how its groups end.
final class CountingPolicy: AppendPolicy, @unchecked Sendable {
    private let lock = NSLock()
    private var staged = 0
    private(set) var committedRecords = 0
    func beginGroup(head: UInt64, log: EventLog, tables: PolicyTables) throws { lock.withLock { staged = 0 } }
    func admit(_ batch: AppendBatch, context: String?, isNew: [Bool], tables: PolicyTables) throws {
        if context == "refuse" { throw PolicyRefusal() }
        lock.withLock { staged += isNew.count { $0 } }
    }
    func commitGroup(head: UInt64) { lock.withLock { committedRecords += staged } }
    func abortGroup() { lock.withLock { staged = 0 } }
    struct PolicyRefusal: Error, CustomStringConvertible { var description: String { "refused by the test policy" } }
}

@Suite("Model")
struct ModelTests {
    @Test("random batches with duplicates, conflicts and expected versions agree with an in-memory model")
    func randomBatches() async throws {
        for seed in [1, 2, 3] as [UInt64] {
            var rng = SeededGenerator(seed: seed)
            let log = try EventLog(path: temporaryLedgerPath("model"))
            var model = LogModel()
            var known: [NewRecord] = []
            for _ in 0..<120 {
                var records: [NewRecord] = []
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    let roll = Int.random(in: 0..<10, using: &rng)
                    if roll < 2, let old = known.randomElement(using: &rng) {
                        records.append(old)  // duplicate
                    } else if roll == 2, let old = known.randomElement(using: &rng) {
                        records.append(NewRecord(id: old.id, stream: old.stream, payload: old.payload + [9]))  // conflict
                    } else {
                        records.append(
                            NewRecord(
                                id: UUID(), stream: ["a", "b", "c", nil].randomElement(using: &rng)!,
                                payload: [UInt8.random(in: 0...255, using: &rng)]))
                    }
                }
                var expected: [String: Int] = [:]
                if Int.random(in: 0..<4, using: &rng) == 0 {
                    let stream = ["a", "b", "c"].randomElement(using: &rng)!
                    let actual = model.records.count(where: { $0.stream == stream })
                    expected[stream] = Bool.random(using: &rng) ? actual : actual + 1
                }
                let batch = AppendBatch(records: records, expectedVersions: expected)
                let want = model.append(batch)
                do {
                    let got = try await log.append(batch)
                    #expect(want == .success(got.outcomes), "seed \(seed)")
                    known += records
                } catch {
                    switch want {
                    case .success: Issue.record("seed \(seed): the log refused what the model accepted: \(error)")
                    case .failure(.conflict): #expect(error.code == .conflict)
                    case .failure(.expectedVersion): #expect(error.code == .expectedVersionMismatch)
                    }
                }
            }
            let stored = try log.records()
            #expect(stored.map { NewRecord(id: $0.id, stream: $0.stream, payload: $0.payload) } == model.records)
            #expect(try log.verify().isIntact)
        }
    }

    @Test("a policy refusal appends nothing and spares the other batches of the group")
    func policyRefusal() async throws {
        let log = try EventLog(path: temporaryLedgerPath("policy"))
        let policy = CountingPolicy()
        log.setPolicy(policy)
        let results = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<32 {
                group.addTask {
                    let batch = AppendBatch(records: [record("\(i)")], context: i % 4 == 0 ? "refuse" : "ok")
                    do {
                        _ = try await log.append(batch)
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count(where: { $0 }) == 24)
        #expect(try log.statistics().records == 24)
        #expect(policy.committedRecords == 24)
        do {
            _ = try await log.append(AppendBatch(records: [record("x")], context: "refuse"))
        } catch {
            #expect(error.code == .refusedByPolicy)
            #expect(error.message == "refused by the test policy")
        }
    }
}
