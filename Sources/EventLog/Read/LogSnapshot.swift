import Foundation
import LMDB

/// One consistent read snapshot of the log, alive only inside `EventLog.withSnapshot`: it cannot be
/// copied, so it cannot outlive the read transaction it reads through.
public struct LogSnapshot: ~Copyable {
    let txn: UnsafePointer<Transaction>
    let dbs: EventLog.Databases

    /// The head as of the snapshot.
    public func head() throws -> LogHead { try EventLog.readHead(txn.pointee, dbs) }

    /// Calls `body` on each record from `position` on, without copying, until it returns false.
    public func scan(from position: UInt64 = 1, through last: UInt64 = .max, _ body: (RecordView) throws -> Bool) throws {
        try EventLog.scan(txn.pointee, events: dbs.events, streamNumbers: dbs.streamNumbers, from: position, through: last, body)
    }

    /// Up to `limit` records from `position` on, copied.
    public func records(from position: UInt64, limit: Int) throws -> [StoredRecord] {
        var out: [StoredRecord] = []
        if limit <= 0 { return out }
        try scan(from: position) { view in
            out.append(StoredRecord(view, stream: try streamName(view.streamNumber)))
            return out.count < limit
        }
        return out
    }

    /// The record at `position`, copied.
    public func record(at position: UInt64) throws -> StoredRecord? {
        let view: StoredRecord?? = try txn.pointee.withValue(forKey: position, in: dbs.events) { bytes in
            try bytes.map { StoredRecord(try RecordView(checking: $0, at: position), stream: nil) }
        }
        guard let found = view, let record = found else { return nil }
        let stream = try streamName(record.streamNumber)
        return StoredRecord(copying: record, stream: stream)
    }

    /// Calls `body` with the record at `position` without copying; returns `nil` when there is none.
    public func withRecord<R>(at position: UInt64, _ body: (RecordView) throws -> R) throws -> R? {
        try txn.pointee.withValue(forKey: position, in: dbs.events) { bytes in
            try bytes.map { try body(try RecordView(checking: $0, at: position)) }
        }
    }

    /// The position of the record with event id `id`.
    public func position(of id: UUID) throws -> UInt64? {
        try withUnsafeBytes(of: id.uuid) { key in
            try txn.pointee.withValue(forKey: key, in: dbs.ids) { try $0.map { try StoredBytes.position($0, table: "ids") } }
        }
    }

    /// The positions of a stream's records, in order.
    public func positions(inStream stream: String) throws -> [UInt64] {
        guard let number = try streamNumber(stream) else { return [] }
        return try positions(inStreamNumber: number)
    }

    /// The positions of a stream's records by stream number, in order.
    public func positions(inStreamNumber number: UInt32) throws -> [UInt64] {
        var out: [UInt64] = []
        try txn.pointee.withCursor(on: dbs.streamIndex) { cursor in
            guard var entry = try cursor.move(.setKey, integerKey: number) else { return }
            while true {
                out.append(try StoredBytes.position(entry.value, table: "streams"))
                guard let next = try cursor.move(.nextDuplicate) else { break }
                entry = next
            }
        }
        return out
    }

    /// Every record of a stream, in position order, copied.
    public func records(inStream stream: String) throws -> [StoredRecord] {
        try positions(inStream: stream).compactMap { try record(at: $0) }
    }

    /// Calls `body` on each record of a stream, without copying.
    public func scan(stream number: UInt32, _ body: (RecordView) throws -> Void) throws {
        for position in try positions(inStreamNumber: number) {
            try txn.pointee.withValue(forKey: position, in: dbs.events) { bytes in
                if let bytes { try body(try RecordView(checking: bytes, at: position)) }
            }
        }
    }

    /// How many records a stream holds.
    public func version(ofStream stream: String) throws -> Int {
        guard let number = try streamNumber(stream) else { return 0 }
        return try txn.pointee.withCursor(on: dbs.streamIndex) { cursor in
            try cursor.move(.setKey, integerKey: number) == nil ? 0 : try cursor.duplicateCount()
        }
    }

    /// The name of a stream number; `nil` for 0 or an unknown number.
    public func streamName(_ number: UInt32) throws -> String? {
        if number == 0 { return nil }
        return try txn.pointee.withValue(forKey: number, in: dbs.streamNumbers) { $0.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// The number the log gave a stream name.
    public func streamNumber(_ name: String) throws -> UInt32? {
        try Array(name.utf8).withUnsafeBytes { key in
            try txn.pointee.withValue(forKey: key, in: dbs.streamNames) {
                try $0.map { try StoredBytes.streamNumber($0, table: "stream-names") }
            }
        }
    }

    /// How many streams the log has numbered.
    public func streamCount() throws -> Int { try txn.pointee.statistics(of: dbs.streamNumbers).entries }
}

extension StoredRecord {
    init(copying other: StoredRecord, stream: String?) {
        self.init(
            position: other.position, id: other.id, stream: stream, streamNumber: other.streamNumber,
            recordedAt: other.recordedAt, hash: other.hash, payload: other.payload)
    }

    init(position: UInt64, id: UUID, stream: String?, streamNumber: UInt32, recordedAt: Int64, hash: String, payload: [UInt8]) {
        self.position = position
        self.id = id
        self.stream = stream
        self.streamNumber = streamNumber
        self.recordedAt = recordedAt
        self.hash = hash
        self.payload = payload
    }
}
