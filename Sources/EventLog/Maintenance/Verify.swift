import Foundation
import LMDB

/// The result of walking the whole log.
public struct VerifyReport: Sendable, Hashable, Codable {
    /// Records checked.
    public let records: UInt64
    /// The head hash recomputed from the records: the receipt an auditor keeps.
    public let head: LogHead
    /// The first problem found, if any; the walk stops there.
    public let problem: Problem?

    /// Whether the log is intact.
    public var isIntact: Bool { problem == nil }

    /// A problem at a position.
    public struct Problem: Sendable, Hashable, Codable, CustomStringConvertible {
        /// The first bad position.
        public let position: UInt64
        /// What is wrong there.
        public let message: String
        /// "position 42: …".
        public var description: String { "position \(position): \(message)" }
    }
}

extension EventLog {
    /// Walks every record in one snapshot: positions gapless from 1, known format, the hash chain
    /// recomputed, and the id and stream indexes pointing back at each record. Names the first bad position.
    public func verify(progress: ((UInt64) -> Void)? = nil) throws -> VerifyReport {
        try env.read { txn in
            var expected: UInt64 = 1
            var previous = LogRecordLayout.genesisHash
            var problem: VerifyReport.Problem?
            try EventLog.scan(txn, events: dbs.events, from: 1, through: .max) { view in
                func fail(_ message: String) -> Bool {
                    problem = .init(position: view.position, message: message)
                    return false
                }
                if view.position != expected {
                    problem = .init(position: expected, message: "missing: the next stored position is \(view.position)")
                    return false
                }
                guard view.bytes.count >= LogRecordLayout.headerSize, view.formatVersion == LogRecordLayout.formatVersion else {
                    return fail("record header is damaged (format \(view.bytes.first ?? 0), \(view.bytes.count) bytes)")
                }
                let digest = previous.withUnsafeBytes {
                    LogRecordLayout.chainHash(previous: $0, position: view.position, record: view.bytes)
                }
                guard digest.withUnsafeBytes({ $0.elementsEqual(view.hashBytes) }) else {
                    return fail("hash mismatch: the record or an earlier one was altered")
                }
                let indexed = try txn.withValue(forKey: view.idBytes, in: dbs.ids) { $0.map { $0.loadUnaligned(as: UInt64.self) } }
                guard indexed == view.position else {
                    return fail("the id index maps event \(view.id) to \(indexed.map(String.init) ?? "nothing")")
                }
                if view.streamNumber != 0 {
                    var p = view.position
                    let found = try withUnsafeBytes(of: &p) { value in
                        var s = view.streamNumber
                        return try withUnsafeBytes(of: &s) { key in
                            try txn.withCursor(on: dbs.streamIndex) { try $0.move(.getBoth, key: key, value: value) != nil }
                        }
                    }
                    guard found else { return fail("the stream index lacks this record (stream \(view.streamNumber))") }
                }
                previous = Array(view.hashBytes)
                expected += 1
                if let progress, view.position % 65_536 == 0 { progress(view.position) }
                return true
            }
            let checked = expected - 1
            if problem == nil {
                let ids = try txn.statistics(of: dbs.ids).entries
                if UInt64(ids) != checked {
                    problem = .init(position: checked, message: "the id index holds \(ids) entries for \(checked) records")
                }
            }
            return VerifyReport(records: checked, head: LogHead(position: checked, hash: previous.hexString), problem: problem)
        }
    }

    /// Writes a compacted, consistent copy of the log into `directory` (created; must be empty)
    /// while appends go on, and returns the copy's head.
    @discardableResult
    public func backup(to directory: String) throws -> LogHead {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory) {
            let contents = try fm.contentsOfDirectory(atPath: directory)
            guard contents.isEmpty else { throw BackupError.destinationNotEmpty(directory) }
        } else {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try env.copy(to: directory, compact: true)
        let copy = try Environment(path: directory, options: .init(mapSize: options.mapSize, maxDatabases: 8, flags: .readOnly))
        return try copy.read { txn in
            let events = try txn.openDatabase("events", flags: .integerKey)
            return try EventLog.readHead(txn, events: events)
        }
    }
}

/// Why a backup was not taken.
public enum BackupError: Error, Sendable, CustomStringConvertible {
    /// The destination holds files already.
    case destinationNotEmpty(String)
    /// A message naming the destination.
    public var description: String {
        switch self {
        case .destinationNotEmpty(let d): "backup destination \(d) is not empty; choose a new or empty directory"
        }
    }
}
