import Crypto
import Foundation
import Synchronization

/// An ``EventStore`` in memory: the same contract as the LMDB log (idempotency, expected versions,
/// the hash chain, subscriptions), nothing durable. For tests, and as the reference a new store is
/// compared with.
public final class InMemoryEventStore: EventStore {
    private struct State {
        /// Each record's whole stored value (header and payload), index `position - 1`.
        var records: [StoredRecord] = []
        var positionByID: [UUID: UInt64] = [:]
        var streamNumbers: [String: UInt32] = [:]
        var streamPositions: [UInt32: [UInt64]] = [:]
        var lastHash = LogRecordLayout.genesisHash
        var closed = false
    }

    private let state = Mutex(State())
    private let signal = HeadSignal(head: 0)
    private let maxPayloadSize: Int
    private let clock: any LogClock

    /// An empty store; `maxPayloadSize` and `clock` as in ``EventLog/Options``.
    public init(maxPayloadSize: Int = EventLog.Options().maxPayloadSize, clock: any LogClock = SystemLogClock()) {
        self.maxPayloadSize = maxPayloadSize
        self.clock = clock
    }

    /// Appends a batch atomically: every new record, or none.
    public func append(_ batch: AppendBatch) async throws(AppendError) -> AppendReceipt {
        let (result, head) = state.withLock { state in
            let result = Self.append(batch, to: &state, maxPayloadSize: maxPayloadSize, clock: clock)
            return (result, state.records.count)
        }
        signal.advance(to: UInt64(head))
        return try result.get()
    }

    private static func append(
        _ batch: AppendBatch, to state: inout State, maxPayloadSize: Int, clock: any LogClock
    ) -> Result<AppendReceipt, AppendError> {
        if batch.records.isEmpty { return .success(AppendReceipt(outcomes: [], head: head(of: state))) }
        if state.closed { return .failure(AppendError(.closed, "the store is closed")) }
        let records = batch.records
        let planned = BatchPlan.make(
            records, maxPayloadSize: maxPayloadSize, storedPosition: { state.positionByID[$0] },
            isSame: { record, position in
                let stored = state.records[Int(position - 1)]
                return stored.payload == record.payload && stored.stream == record.stream
            })
        var plan: BatchPlan
        switch planned {
        case .success(let checked): plan = checked
        case .failure(let refusal): return .failure(refusal)
        }
        if let mismatch = BatchPlan.versionMismatch(
            batch.expectedVersions,
            version: { stream in
                state.streamNumbers[stream].map { state.streamPositions[$0]?.count ?? 0 } ?? 0
            })
        {
            return .failure(mismatch)
        }
        // Nothing below can fail: the batch is written whole once the checks passed.
        let recordedAt = clock.now()
        for (i, record) in records.enumerated() where plan.writes(i) {
            let position = UInt64(state.records.count + 1)
            var streamNumber: UInt32 = 0
            if let stream = record.stream {
                if let known = state.streamNumbers[stream] {
                    streamNumber = known
                } else {
                    streamNumber = UInt32(state.streamNumbers.count + 1)
                    state.streamNumbers[stream] = streamNumber
                }
                state.streamPositions[streamNumber, default: []].append(position)
            }
            var bytes = [UInt8](repeating: 0, count: LogRecordLayout.headerSize + record.payload.count)
            let hash = bytes.withUnsafeMutableBytes { buffer in
                LogRecordLayout.writeHeader(into: buffer, stream: streamNumber, recordedAt: recordedAt, id: record.id)
                record.payload.withUnsafeBytes {
                    UnsafeMutableRawBufferPointer(rebasing: buffer[LogRecordLayout.headerSize...]).copyMemory(from: $0)
                }
                return state.lastHash.withUnsafeBytes {
                    Array(LogRecordLayout.chainHash(previous: $0, position: position, record: UnsafeRawBufferPointer(buffer)))
                }
            }
            state.lastHash = hash
            state.records.append(
                StoredRecord(
                    position: position, id: record.id, stream: record.stream, streamNumber: streamNumber, recordedAt: recordedAt,
                    hash: hash.hexString, payload: record.payload))
            state.positionByID[record.id] = position
            plan.outcomes[i] = .appended(position: position)
        }
        return .success(AppendReceipt(outcomes: plan.finished(), head: head(of: state)))
    }

    private static func head(of state: State) -> LogHead {
        LogHead(position: UInt64(state.records.count), hash: state.lastHash.hexString)
    }

    /// The last position and its hash.
    public func head() throws -> LogHead { state.withLock { Self.head(of: $0) } }

    /// Up to `limit` records from `position` on.
    public func records(from position: UInt64, limit: Int) throws -> [StoredRecord] {
        state.withLock { state in
            let start = Int(clamping: max(position, 1)) - 1
            guard limit > 0, start < state.records.count else { return [] }
            let end = limit >= state.records.count - start ? state.records.count : start + limit
            return Array(state.records[start..<end])
        }
    }

    /// The record at `position`.
    public func record(at position: UInt64) throws -> StoredRecord? {
        state.withLock { state in
            guard position >= 1, position <= UInt64(state.records.count) else { return nil }
            return state.records[Int(position - 1)]
        }
    }

    /// The record with this id.
    public func record(id: UUID) throws -> StoredRecord? {
        state.withLock { state in state.positionByID[id].map { state.records[Int($0 - 1)] } }
    }

    /// Every record of `stream`.
    public func records(inStream stream: String) throws -> [StoredRecord] {
        state.withLock { state in
            guard let number = state.streamNumbers[stream] else { return [] }
            return (state.streamPositions[number] ?? []).map { state.records[Int($0 - 1)] }
        }
    }

    /// How many records `stream` holds.
    public func version(ofStream stream: String) throws -> Int {
        state.withLock { state in state.streamNumbers[stream].map { state.streamPositions[$0]?.count ?? 0 } ?? 0 }
    }

    /// Every record from `position` on, then each new one.
    public func subscribe(from position: UInt64 = 1) -> LogSubscription {
        LogSubscription(
            from: position, read: { [self] in try records(from: $0, limit: $1) }, isClosed: { [self] in state.withLock { $0.closed } },
            waitAfter: { [signal] in await signal.waitForRecord(after: $0, timeout: .seconds(1)) })
    }

    /// Refuses later appends and ends subscriptions.
    public func close() {
        state.withLock { $0.closed = true }
        signal.closeAll()
    }
}
