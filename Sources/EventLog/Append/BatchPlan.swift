import Foundation

/// The checks every store makes on a batch before writing it, and what each record becomes: one
/// meaning of duplicate, conflict and expected version for the LMDB log and any other store.
public struct BatchPlan: Sendable {
    /// Whether each record is new: not stored, and not a repeat of an earlier record of the batch.
    public var isNew: [Bool]
    /// The outcome of each record known so far (duplicates of stored records); the rest are set as written.
    public var outcomes: [AppendOutcome?]
    /// For a record repeating an earlier one of the batch, that record's index.
    public var inBatchOriginal: [Int?]

    /// Checks each record (stream name length, payload size, repeats within the batch, ids already
    /// stored); a refusal names the record at fault.
    public static func make(
        _ records: [NewRecord], maxPayloadSize: Int, storedPosition: (UUID) throws -> UInt64?,
        isSame: (NewRecord, UInt64) throws -> Bool
    ) rethrows -> Result<BatchPlan, AppendError> {
        var plan = BatchPlan(
            isNew: [Bool](repeating: true, count: records.count), outcomes: [AppendOutcome?](repeating: nil, count: records.count),
            inBatchOriginal: [Int?](repeating: nil, count: records.count))
        var firstIndex: [UUID: Int] = [:]
        if records.count > 1 { firstIndex.reserveCapacity(records.count) }

        for (i, record) in records.enumerated() {
            if let stream = record.stream {
                let length = stream.utf8.count
                guard (1...511).contains(length) else {
                    return .failure(
                        AppendError(
                            .invalidRecord, "record \(i + 1) (event \(record.id)): stream must be 1–511 bytes, found \(length)", index: i,
                            id: record.id))
                }
            }
            guard record.payload.count <= maxPayloadSize else {
                return .failure(
                    AppendError(
                        .recordTooLarge,
                        "record \(i + 1) (event \(record.id)) is \(record.payload.count) bytes; the ledger accepts at most \(maxPayloadSize)",
                        index: i, id: record.id))
            }
            if records.count > 1 {
                if let j = firstIndex[record.id] {
                    guard records[j] == record else {
                        return .failure(
                            AppendError(
                                .conflict,
                                "event \(record.id) appears twice in the batch (records \(j + 1) and \(i + 1)) with different content",
                                index: i, id: record.id))
                    }
                    plan.isNew[i] = false
                    plan.inBatchOriginal[i] = j
                    continue
                }
                firstIndex[record.id] = i
            }
            if let stored = try storedPosition(record.id) {
                guard try isSame(record, stored) else {
                    return .failure(
                        AppendError(
                            .conflict, "event \(record.id) is already stored at position \(stored) with different content", index: i,
                            id: record.id))
                }
                plan.isNew[i] = false
                plan.outcomes[i] = .duplicate(position: stored)
            }
        }
        return .success(plan)
    }

    /// The first stream, in name order, that does not hold the number of records the batch expects.
    public static func versionMismatch(_ expected: [String: Int], version: (String) throws -> Int) rethrows -> AppendError? {
        for (stream, expected) in expected.sorted(by: { $0.key < $1.key }) {
            let actual = try version(stream)
            if actual != expected {
                return AppendError(.expectedVersionMismatch, "stream \"\(stream)\" holds \(actual) events; the batch expected \(expected)")
            }
        }
        return nil
    }

    /// Whether record `i` takes a new position.
    public func writes(_ i: Int) -> Bool { isNew[i] && inBatchOriginal[i] == nil }

    /// Every outcome, once the new records are written: a repeat within the batch has its original's position.
    public func finished() -> [AppendOutcome] {
        var outcomes = self.outcomes
        for (i, original) in inBatchOriginal.enumerated() {
            if let original { outcomes[i] = .duplicate(position: outcomes[original]!.position) }
        }
        return outcomes.map { $0! }
    }
}
