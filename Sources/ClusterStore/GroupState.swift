import EventLog
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// What one group commit reads from the log of record inside its transaction (the head, the ids
/// and streams its batches name), and what it writes: the batches are planned one after the other
/// against this view, so a later batch of the group sees the records of an earlier one.
struct GroupState {
    /// The head the group fences on.
    let fencePosition: UInt64
    /// The head after the records planned so far.
    private(set) var position: UInt64
    private var lastHash: [UInt8]
    /// The hash of the last record read or planned.
    var headHash: [UInt8] { lastHash }
    private let fenceStreams: UInt64
    private var streamCount: UInt64
    /// Stored (or planned) records by id: position, stream and payload, to tell duplicate from conflict.
    private var byID: [UUID: (position: UInt64, stream: String?, payload: [UInt8])]
    /// Each known stream's number and version.
    private var streams: [String: (number: UInt64, version: Int)]
    private var changedStreams: Set<String> = []

    struct Row {
        var position: Int64
        var id: UUID
        var stream: String?
        var streamSeq: Int64?
        var recordedAt: Int64
        var record: ByteBuffer
        var hash: ByteBuffer
    }
    private(set) var rows: [Row] = []

    /// Reads the tenant's head, and what is stored of the ids and streams the batches name.
    static func read(_ batches: [AppendBatch], tenant: String, on connection: PostgresConnection, logger: Logger) async throws
        -> GroupState
    {
        var head: (Int64, ByteBuffer, Int64)?
        for try await row in try await connection.query(
            "SELECT position, hash, streams FROM ll_heads WHERE tenant = \(tenant)", logger: logger
        ).decode((Int64, ByteBuffer, Int64).self) { head = row }
        guard let (position, hash, streamCount) = head, let position = UInt64(exactly: position),
            let streamCount = UInt64(exactly: streamCount), hash.readableBytes == 32
        else {
            throw ClusterError("tenant \"\(tenant)\" has no head (or a damaged one) in ll_heads")
        }
        var state = GroupState(
            fencePosition: position, position: position, lastHash: Array(hash.readableBytesView), fenceStreams: streamCount,
            streamCount: streamCount, byID: [:], streams: [:])
        let ids = Array(Set(batches.flatMap { $0.records.map(\.id) }))
        if !ids.isEmpty {
            for try await (id, position, stream, record) in try await connection.query(
                "SELECT event_id, position, stream, record FROM ll_events WHERE tenant = \(tenant) AND event_id = ANY(\(ids))",
                logger: logger
            ).decode((UUID, Int64, String?, ByteBuffer).self) {
                guard let position = UInt64(exactly: position), record.readableBytes >= LogRecordLayout.headerSize else {
                    throw ClusterError("tenant \"\(tenant)\": the stored record of event \(id) is damaged")
                }
                state.byID[id] = (position, stream, Array(record.readableBytesView.dropFirst(LogRecordLayout.headerSize)))
            }
        }
        var names = Set(batches.flatMap { $0.records.compactMap(\.stream) })
        for batch in batches { names.formUnion(batch.expectedVersions.keys) }
        try await state.readStreams(Array(names), tenant: tenant, on: connection, logger: logger)
        return state
    }

    /// Reads the number and version of each stream named.
    mutating func readStreams(_ names: [String], tenant: String, on connection: PostgresConnection, logger: Logger) async throws {
        guard !names.isEmpty else { return }
        for try await (name, number, version) in try await connection.query(
            "SELECT name, number, version FROM ll_streams WHERE tenant = \(tenant) AND name = ANY(\(names))", logger: logger
        ).decode((String, Int64, Int64).self) {
            guard let number = UInt64(exactly: number), let version = Int(exactly: version), version >= 0 else {
                throw ClusterError("tenant \"\(tenant)\": stream \"\(name)\" has a damaged number or version")
            }
            streams[name] = (number, version)
        }
    }

    /// Plans one batch: the same checks, in the same order, as the LMDB log (``BatchPlan``); a
    /// refused batch leaves this state as it was.
    mutating func plan(_ batch: AppendBatch, maxPayloadSize: Int, recordedAt: Int64) -> Result<AppendReceipt, AppendError> {
        let planned = BatchPlan.make(
            batch.records, maxPayloadSize: maxPayloadSize, storedPosition: { byID[$0]?.position },
            isSame: { record, _ in
                guard let stored = byID[record.id] else { return false }
                return stored.payload == record.payload && stored.stream == record.stream
            })
        var plan: BatchPlan
        switch planned {
        case .success(let checked): plan = checked
        case .failure(let refusal): return .failure(refusal)
        }
        if let mismatch = BatchPlan.versionMismatch(batch.expectedVersions, version: { streams[$0]?.version ?? 0 }) {
            return .failure(mismatch)
        }
        for (i, record) in batch.records.enumerated() where plan.writes(i) {
            var number: UInt64 = 0
            var seq: Int?
            if let stream = record.stream {
                var entry = streams[stream] ?? (streamCount + 1, 0)
                if streams[stream] == nil { streamCount += 1 }
                entry.version += 1
                streams[stream] = entry
                changedStreams.insert(stream)
                number = entry.number
                seq = entry.version
            }
            guard let streamNumber = UInt32(exactly: number) else {
                return .failure(AppendError(.storage, "the tenant holds more streams than a record can number"))
            }
            let position = self.position + 1
            var bytes = [UInt8](repeating: 0, count: LogRecordLayout.headerSize + record.payload.count)
            bytes.withUnsafeMutableBytes { buffer in
                LogRecordLayout.writeHeader(into: buffer, stream: streamNumber, recordedAt: recordedAt, id: record.id)
                record.payload.withUnsafeBytes {
                    UnsafeMutableRawBufferPointer(rebasing: buffer[LogRecordLayout.headerSize...]).copyMemory(from: $0)
                }
                let hash = lastHash.withUnsafeBytes {
                    LogRecordLayout.chainHash(previous: $0, position: position, record: UnsafeRawBufferPointer(buffer))
                }
                hash.withUnsafeBytes {
                    UnsafeMutableRawBufferPointer(rebasing: buffer[LogRecordLayout.hashOffset..<LogRecordLayout.headerSize]).copyMemory(from: $0)
                }
            }
            let hash = Array(bytes[LogRecordLayout.hashOffset..<LogRecordLayout.headerSize])
            lastHash = hash
            self.position = position
            byID[record.id] = (position, record.stream, record.payload)
            rows.append(
                Row(
                    position: Int64(position), id: record.id, stream: record.stream, streamSeq: seq.map(Int64.init),
                    recordedAt: recordedAt, record: ByteBuffer(bytes: bytes), hash: ByteBuffer(bytes: hash)))
            plan.outcomes[i] = .appended(position: position)
        }
        return .success(AppendReceipt(outcomes: plan.finished(), head: LogHead(position: position, hash: lastHash.hexadecimal)))
    }

    /// Takes a record sealed elsewhere as it is, after checking that it is the next position, that
    /// its stream number is the one this tenant gives (or gave) the stream, and that its hash chains.
    mutating func seal(_ record: StoredRecord) throws(ClusterError) {
        guard record.position == position + 1 else {
            throw ClusterError("record at position \(record.position) does not follow the head \(position)")
        }
        var seq: Int?
        if let stream = record.stream {
            var entry = streams[stream] ?? (streamCount + 1, 0)
            guard UInt64(record.streamNumber) == entry.number else {
                throw ClusterError(
                    "record at position \(record.position): stream \"\(stream)\" is number \(record.streamNumber) in the source, \(entry.number) here")
            }
            if streams[stream] == nil { streamCount += 1 }
            entry.version += 1
            streams[stream] = entry
            changedStreams.insert(stream)
            seq = entry.version
        } else if record.streamNumber != 0 {
            throw ClusterError("record at position \(record.position) has a stream number but no stream")
        }
        var bytes = [UInt8](repeating: 0, count: LogRecordLayout.headerSize + record.payload.count)
        let hash = bytes.withUnsafeMutableBytes { buffer in
            LogRecordLayout.writeHeader(into: buffer, stream: record.streamNumber, recordedAt: record.recordedAt, id: record.id)
            record.payload.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: buffer[LogRecordLayout.headerSize...]).copyMemory(from: $0)
            }
            let hash = lastHash.withUnsafeBytes {
                Array(LogRecordLayout.chainHash(previous: $0, position: record.position, record: UnsafeRawBufferPointer(buffer)))
            }
            hash.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: buffer[LogRecordLayout.hashOffset..<LogRecordLayout.headerSize]).copyMemory(from: $0)
            }
            return hash
        }
        guard hash.hexadecimal == record.hash else {
            throw ClusterError("record at position \(record.position): its hash does not chain onto the record before it")
        }
        lastHash = hash
        position = record.position
        guard let positionValue = Int64(exactly: record.position) else { throw ClusterError("position \(record.position) is too large") }
        rows.append(
            Row(
                position: positionValue, id: record.id, stream: record.stream, streamSeq: seq.map(Int64.init),
                recordedAt: record.recordedAt, record: ByteBuffer(bytes: bytes), hash: ByteBuffer(bytes: hash)))
    }

    /// Inserts the rows and the streams, then moves the fence; false when the fence was lost (another
    /// writer moved the head since it was read), and the caller rolls back.
    func write(tenant: String, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        if !rows.isEmpty {
            let positions = rows.map(\.position)
            let ids = rows.map(\.id)
            let streamNames = rows.map { $0.stream ?? "" }
            let hasStream = rows.map { $0.stream != nil }
            let seqs = rows.map { $0.streamSeq ?? 0 }
            let recorded = rows.map(\.recordedAt)
            let records = rows.map(\.record)
            let hashes = rows.map(\.hash)
            try await connection.query(
                """
                INSERT INTO ll_events (tenant, position, event_id, stream, stream_seq, recorded_at, record, hash)
                SELECT \(tenant), p, i, CASE WHEN h THEN s END, CASE WHEN h THEN q END, r, b, x
                FROM unnest(\(positions)::bigint[], \(ids)::uuid[], \(streamNames)::text[], \(hasStream)::bool[],
                            \(seqs)::bigint[], \(recorded)::bigint[], \(records)::bytea[], \(hashes)::bytea[])
                     AS t(p, i, s, h, q, r, b, x)
                """, logger: logger)
        }
        if !changedStreams.isEmpty {
            let names = Array(changedStreams)
            let numbers = names.map { Int64(streams[$0]!.number) }
            let versions = names.map { Int64(streams[$0]!.version) }
            try await connection.query(
                """
                INSERT INTO ll_streams (tenant, name, number, version)
                SELECT \(tenant), n, k, v FROM unnest(\(names)::text[], \(numbers)::bigint[], \(versions)::bigint[]) AS t(n, k, v)
                ON CONFLICT (tenant, name) DO UPDATE SET version = EXCLUDED.version
                """, logger: logger)
        }
        guard let newPosition = Int64(exactly: position), let expected = Int64(exactly: fencePosition),
            let newStreams = Int64(exactly: streamCount), let expectedStreams = Int64(exactly: fenceStreams)
        else { throw ClusterError("tenant \"\(tenant)\": the head is beyond what PostgreSQL's bigint holds") }
        var moved = false
        for try await _ in try await connection.query(
            """
            UPDATE ll_heads SET position = \(newPosition), hash = \(ByteBuffer(bytes: lastHash)), streams = \(newStreams)
            WHERE tenant = \(tenant) AND position = \(expected) AND streams = \(expectedStreams) RETURNING position
            """, logger: logger)
        {
            moved = true
        }
        return moved
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hexadecimal.
    var hexadecimal: String { map { String(format: "%02x", $0) }.joined() }
}
