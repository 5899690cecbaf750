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
            // The stored tree is checked as it is rebuilt: every stored node it completes, then its frontier.
            let storedFrontier: MerkleTree.Frontier?
            do { storedFrontier = try MerkleTree.loadFrontier(txn, meta: dbs.meta) } catch let damage as StoredDamage {
                return tableProblem(damage.message)
            }
            var tree = MerkleTree.Frontier()
            var treeProblem: String?
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
                    if let storedFrontier, position <= storedFrontier.size {
                        try tree.append(leaf: MerkleTree.leafHash(previous)) { level, index, hash in
                            let stored = try MerkleTree.nodeKey(level: level, index: index).withUnsafeBytes { key in
                                try txn.value(forKey: key, in: dbs.meta)
                            }
                            if stored != hash, treeProblem == nil {
                                treeProblem = "the Merkle tree's node \(level)/\(index) does not match the records it covers"
                            }
                        }
                        if let treeProblem { return fail(treeProblem) }
                    }
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
            if let storedFrontier {
                if storedFrontier.size > checked {
                    return countProblem("the Merkle tree covers \(storedFrontier.size) events, the log holds \(checked)")
                }
                if tree != storedFrontier { return countProblem("the Merkle tree's frontier does not match the records it covers") }
            }
            return VerifyReport(records: checked, head: head, problem: nil)
        }
    }

    /// Checks a signed receipt against the log, then only what was appended after it:
    ///
    /// 1. the receipt's signature, under `trustedKey` (hex; the ledger's own public key, so a receipt
    ///    signed by any other key is refused);
    /// 2. that the receipt's head is still in the chain: the record at its position has its hash,
    ///    and the Merkle tree over the records through it has its root;
    /// 3. every record after it, as a full ``verify(recordCheck:progress:)`` checks each record:
    ///    positions gapless, a sound header, the hash chain recomputed from the receipt's head hash,
    ///    the id index, the stream it names numbered and the stream index holding it under that
    ///    stream, and `recordCheck`.
    ///
    /// The work is proportional to what was appended since (and log₂ of the receipt's position);
    /// damage before the receipt's position that left the hash at it alone, and the counts over the
    /// whole log, are for a full ``verify(recordCheck:progress:)``.
    /// `records` in the report counts the records walked after the receipt.
    public func verify(since receipt: SignedReceipt, trustedKey: String, recordCheck: RecordCheck? = nil) throws -> VerifyReport {
        let empty = LogHead(position: 0, hash: LogRecordLayout.genesisHash.hexString)
        if let problem = receipt.problem(trustedKey: trustedKey) {
            return VerifyReport(records: 0, head: empty, problem: .init(position: 0, message: problem))
        }
        return try env.read { txn in
            let start = receipt.position
            let head = try Self.readHead(txn, dbs)
            func refuse(_ message: String) -> VerifyReport {
                VerifyReport(records: 0, head: head, problem: .init(position: start, message: message))
            }
            guard start <= head.position else {
                return refuse("the receipt signs position \(start), but the ledger ends at \(head.position): events were removed")
            }
            var previous = LogRecordLayout.genesisHash
            if start > 0 {
                let stored: [UInt8]? = try txn.withValue(forKey: start, in: dbs.events) { bytes in
                    try bytes.map { Array(try RecordView(checking: $0, at: start).hashBytes) }
                }
                guard let stored else { return refuse("the record the receipt signs is missing") }
                previous = stored
            }
            guard previous.hexString == receipt.headHash.lowercased() else {
                return refuse("the receipt's head is no longer in the chain: the record at its position has hash \(previous.hexString)")
            }
            let root = try withUnsafeTransaction(txn) { pointer in
                // Bound to a local first (see `withSnapshot`): the release optimizer and temporary non-copyable values.
                let reader = MerkleReader(txn: pointer, dbs: dbs)
                return try reader.root(size: start)
            }
            guard root.hexString == receipt.treeRoot.lowercased() else {
                return refuse("the Merkle tree through the receipt's position no longer has the receipt's root")
            }
            var expected = start + 1
            var problem: VerifyReport.Problem?
            try txn.withCursor(on: dbs.events) { cursor in
                var from = expected
                try withUnsafeBytes(of: &from) { key in
                    try cursor.forEach(from: .setRange, key: key) { entry in
                        guard entry.key.count == 8 else {
                            problem = .init(position: expected, message: "the events table has a key of \(entry.key.count) bytes")
                            return false
                        }
                        let position = entry.key.loadUnaligned(as: UInt64.self)
                        guard position == expected else {
                            problem = .init(position: expected, message: "missing: the next stored position is \(position)")
                            return false
                        }
                        guard let view = try? RecordView(checking: entry.value, at: position) else {
                            problem = .init(position: position, message: "record header is damaged")
                            return false
                        }
                        let digest = previous.withUnsafeBytes { LogRecordLayout.chainHash(previous: $0, position: position, record: view.bytes) }
                        guard digest.withUnsafeBytes({ $0.elementsEqual(view.hashBytes) }) else {
                            problem = .init(position: position, message: "hash mismatch: the record or an earlier one was altered")
                            return false
                        }
                        let indexed = try txn.withValue(forKey: view.idBytes, in: dbs.ids) { value in
                            value.flatMap { $0.count == 8 ? $0.loadUnaligned(as: UInt64.self) : nil }
                        }
                        guard indexed == position else {
                            problem = .init(position: position, message: "the id index maps event \(view.id) to \(indexed.map(String.init) ?? "nothing")")
                            return false
                        }
                        var streamName: String?
                        let stream = view.streamNumber
                        if stream != 0 {
                            let named = try txn.withValue(forKey: stream, in: dbs.streamNumbers) { value in
                                value.map { String(decoding: $0, as: UTF8.self) }
                            }
                            guard let named else {
                                problem = .init(position: position, message: "the record names stream \(stream), which the log does not number")
                                return false
                            }
                            var p = position
                            let found = try withUnsafeBytes(of: &p) { value in
                                var s = stream
                                return try withUnsafeBytes(of: &s) { key in
                                    try txn.withCursor(on: dbs.streamIndex) { try $0.move(.getBoth, key: key, value: value) != nil }
                                }
                            }
                            guard found else {
                                problem = .init(position: position, message: "the stream index lacks this record (stream \(stream))")
                                return false
                            }
                            streamName = named
                        }
                        if let recordCheck, let message = recordCheck(view, streamName) {
                            problem = .init(position: position, message: message)
                            return false
                        }
                        previous = Array(view.hashBytes)
                        expected += 1
                        return true
                    }
                }
            }
            return VerifyReport(records: expected - 1 - start, head: LogHead(position: expected - 1, hash: previous.hexString), problem: problem)
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
