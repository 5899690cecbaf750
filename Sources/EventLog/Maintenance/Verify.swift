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

    /// Creates a report.
    public init(records: UInt64, head: LogHead, problem: Problem?) {
        self.records = records
        self.head = head
        self.problem = problem
    }

    /// Whether the log is intact.
    public var isIntact: Bool { problem == nil }

    /// A problem at a position, or (position 0) in a table or the file's structure.
    public struct Problem: Sendable, Hashable, Codable, CustomStringConvertible {
        /// The first bad position; 0 when the problem is not one record's.
        public let position: UInt64
        /// What is wrong there, naming the table or byte when it is not a record.
        public let message: String

        /// Creates a problem.
        public init(position: UInt64, message: String) {
            self.position = position
            self.message = message
        }

        /// "position 42: …", or the message alone.
        public var description: String { position == 0 ? message : "position \(position): \(message)" }
    }
}

extension EventLog {
    /// A check of one record against what its payload says, supplied by the layer that understands
    /// payloads (the log itself is domain-free): given the record and the name of the stream the
    /// log files it under, returns what is wrong, or `nil`.
    public typealias RecordCheck = (RecordView, _ stream: String?) -> String?

    /// Checks everything a read relies on, in one snapshot, and names the first problem:
    ///
    /// 1. the file's structure: every B-tree walked with bounds-checked reads before LMDB follows
    ///    any of it (`LMDB.Environment.checkStructure()`);
    /// 2. the format entry;
    /// 3. the stream tables both ways: numbers dense from 1, each number's name mapping back to it,
    ///    as many names as numbers;
    /// 4. every record: positions gapless from 1, a sound header, the hash chain recomputed, the id
    ///    index mapping its id to it, the stream index holding it under its stream, and `recordCheck`;
    /// 5. the counts: as many ids as records, as many stream index entries as records with a
    ///    stream, and no stream without a record.
    public func verify(recordCheck: RecordCheck? = nil, progress: ((UInt64) -> Void)? = nil) throws -> VerifyReport {
        let empty = LogHead(position: 0, hash: LogRecordLayout.genesisHash.hexString)
        do {
            _ = try env.checkStructure()
        } catch let damage as FileDamage {
            return VerifyReport(records: 0, head: empty, problem: .init(position: 0, message: "the file's structure is damaged: \(damage)"))
        }
        return try env.read { txn in
            func tableProblem(_ message: String) -> VerifyReport {
                VerifyReport(records: 0, head: empty, problem: .init(position: 0, message: message))
            }
            let format = try Array("format".utf8).withUnsafeBytes { try txn.value(forKey: $0, in: dbs.meta) }
            guard let format, format.count == 4,
                format.withUnsafeBytes({ UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }) == Self.formatVersion
            else {
                return tableProblem("the meta table's format entry is damaged")
            }

            // Stream numbers ⟷ names, both ways.
            var names: [String] = [""]
            var numberProblem: String?
            try txn.withCursor(on: dbs.streamNumbers) { cursor in
                try cursor.forEach { entry in
                    let expected = UInt32(names.count)
                    guard entry.key.count == 4, entry.key.loadUnaligned(as: UInt32.self) == expected else {
                        numberProblem =
                            "the stream-numbers table's entry \(expected) has key \(Array(entry.key).hexString); numbers must run 1, 2, 3…"
                        return false
                    }
                    guard (1...511).contains(entry.value.count) else {
                        numberProblem = "the stream-numbers table names stream \(expected) with \(entry.value.count) bytes"
                        return false
                    }
                    let back = try txn.withValue(forKey: entry.value, in: dbs.streamNames) { value in
                        value.flatMap { $0.count == 4 ? $0.loadUnaligned(as: UInt32.self) : nil }
                    }
                    guard back == expected else {
                        numberProblem =
                            "stream \(expected) is named \"\(String(decoding: entry.value, as: UTF8.self))\" in the stream-numbers table, but the stream-names table maps that name to \(back.map(String.init) ?? "nothing")"
                        return false
                    }
                    names.append(String(decoding: entry.value, as: UTF8.self))
                    return true
                }
            }
            if let numberProblem { return tableProblem(numberProblem) }
            let streamCount = names.count - 1
            let nameCount = try txn.statistics(of: dbs.streamNames).entries
            guard nameCount == streamCount else {
                return tableProblem("the stream-names table holds \(nameCount) names for \(streamCount) stream numbers")
            }

            var expected: UInt64 = 1
            var previous = LogRecordLayout.genesisHash
            var problem: VerifyReport.Problem?
            var withStream = 0
            var used = [Bool](repeating: false, count: streamCount + 1)
            try txn.withCursor(on: dbs.events) { cursor in
                try cursor.forEach { entry in
                    guard entry.key.count == 8 else {
                        problem = .init(position: expected, message: "the events table has a key of \(entry.key.count) bytes")
                        return false
                    }
                    let position = entry.key.loadUnaligned(as: UInt64.self)
                    func fail(_ message: String) -> Bool {
                        problem = .init(position: position, message: message)
                        return false
                    }
                    if position != expected {
                        problem = .init(position: expected, message: "missing: the next stored position is \(position)")
                        return false
                    }
                    guard let view = try? RecordView(checking: entry.value, at: position) else {
                        return fail("record header is damaged (format \(entry.value.first ?? 0), \(entry.value.count) bytes)")
                    }
                    let digest = previous.withUnsafeBytes {
                        LogRecordLayout.chainHash(previous: $0, position: position, record: view.bytes)
                    }
                    guard digest.withUnsafeBytes({ $0.elementsEqual(view.hashBytes) }) else {
                        return fail("hash mismatch: the record or an earlier one was altered")
                    }
                    let indexed = try txn.withValue(forKey: view.idBytes, in: dbs.ids) { value in
                        value.flatMap { $0.count == 8 ? $0.loadUnaligned(as: UInt64.self) : nil }
                    }
                    guard indexed == position else {
                        return fail("the id index maps event \(view.id) to \(indexed.map(String.init) ?? "nothing")")
                    }
                    let stream = view.streamNumber
                    if stream != 0 {
                        guard Int(stream) <= streamCount else {
                            return fail("the record names stream \(stream); the log numbers \(streamCount)")
                        }
                        var p = position
                        let found = try withUnsafeBytes(of: &p) { value in
                            var s = stream
                            return try withUnsafeBytes(of: &s) { key in
                                try txn.withCursor(on: dbs.streamIndex) { try $0.move(.getBoth, key: key, value: value) != nil }
                            }
                        }
                        guard found else { return fail("the stream index lacks this record (stream \(stream))") }
                        withStream += 1
                        used[Int(stream)] = true
                    }
                    if let recordCheck, let message = recordCheck(view, stream == 0 ? nil : names[Int(stream)]) {
                        return fail(message)
                    }
                    previous = Array(view.hashBytes)
                    expected += 1
                    if let progress, position % 65_536 == 0 { progress(position) }
                    return true
                }
            }
            let checked = expected - 1
            let head = LogHead(position: checked, hash: previous.hexString)
            if let problem { return VerifyReport(records: checked, head: head, problem: problem) }
            func countProblem(_ message: String) -> VerifyReport {
                VerifyReport(records: checked, head: head, problem: .init(position: 0, message: message))
            }
            // Every count below is the tree's own record, which the structure walk matched to its leaves.
            let ids = try txn.statistics(of: dbs.ids).entries
            if UInt64(ids) != checked { return countProblem("the id index holds \(ids) entries for \(checked) records") }
            let indexed = try txn.statistics(of: dbs.streamIndex).entries
            if indexed != withStream {
                return countProblem("the stream index holds \(indexed) entries for \(withStream) records with a stream")
            }
            if let unused = used.indices.dropFirst().first(where: { !used[$0] }) {
                return countProblem("stream \(unused) (\"\(names[unused])\") is numbered but holds no record")
            }
            return VerifyReport(records: checked, head: head, problem: nil)
        }
    }

    /// Writes a compacted, consistent copy of the log into `directory` (created 0700; must be
    /// empty) while appends go on, and returns the copy's head. The copy's files are the owner's only.
    @discardableResult
    public func backup(to directory: String) throws -> LogHead {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory) {
            let contents = try fm.contentsOfDirectory(atPath: directory)
            guard contents.isEmpty else { throw BackupError.destinationNotEmpty(directory) }
        } else {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        try env.copy(to: directory, compact: true)
        // LMDB creates the copy with the umask's permissions.
        try fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: directory + "/data.mdb")
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
