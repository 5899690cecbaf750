import Foundation
import LMDB
import Synchronization

/// An append-only, hash-chained log of records in one LMDB environment.
///
/// Records take gapless positions 1, 2, 3… in commit order. Appends from any number of callers go to
/// one writer thread, which gathers what is waiting into one durable transaction (group commit).
/// Reads run in short snapshot transactions on the caller's thread.
///
/// The log knows nothing of leads: a record has an id (the idempotency key), an optional stream
/// (with a dense number the log assigns the first time it sees the stream) and an opaque payload.
public final class EventLog: Sendable {
    /// How a log is opened.
    public struct Options: Sendable {
        /// The map size: the largest the file may grow to. Reopen with a larger one to grow it.
        public var mapSize: Int
        /// Reader slots, across processes.
        public var maxReaders: UInt32
        /// Durability of commits.
        public var durability: Durability
        /// Create the ledger when it does not exist.
        public var createIfMissing: Bool
        /// Largest payload accepted, in bytes.
        public var maxPayloadSize: Int
        /// Most records gathered into one transaction.
        public var maxRecordsPerCommit: Int
        /// Where `recordedAt` comes from.
        public var clock: any LogClock

        /// Creates options: 32 GiB map, full sync, created when missing.
        public init(
            mapSize: Int = 32 << 30, maxReaders: UInt32 = 126, durability: Durability = .full,
            createIfMissing: Bool = true, maxPayloadSize: Int = 32 << 10, maxRecordsPerCommit: Int = 100_000,
            clock: any LogClock = SystemLogClock()
        ) {
            self.mapSize = mapSize
            self.maxReaders = maxReaders
            self.durability = durability
            self.createIfMissing = createIfMissing
            self.maxPayloadSize = maxPayloadSize
            self.maxRecordsPerCommit = maxRecordsPerCommit
            self.clock = clock
        }
    }

    /// How hard a commit works to be durable.
    public enum Durability: String, Sendable, CaseIterable {
        /// Data and meta page flushed at every commit (the default).
        case full
        /// Data flushed at every commit, the meta page with the next one (`MDB_NOMETASYNC`): a crash
        /// may lose the last committed batch, never corrupt the log.
        case noMetaSync
    }

    /// The databases of the environment.
    struct Databases: Sendable {
        let events: Database  // position (UInt64) → record
        let ids: Database  // event id (16 bytes) → position
        let streamIndex: Database  // stream number (UInt32) → positions (dup, UInt64)
        let streamNames: Database  // stream name → stream number
        let streamNumbers: Database  // stream number → stream name
        let meta: Database  // format version, creation time, checkpoints
    }

    /// The format this version of the code writes and reads.
    public static let formatVersion: UInt32 = 1

    /// The directory holding the environment.
    public let path: String
    /// The options it was opened with.
    public let options: Options
    let env: Environment
    let dbs: Databases
    let writer: Writer

    /// Opens the log in directory `path`, creating it when allowed.
    public init(path: String, options: Options = Options()) throws {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if !exists {
            guard options.createIfMissing else { throw LogOpenError.notFound(path) }
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } else if !isDirectory.boolValue {
            throw LogOpenError.notALedger(path, "it is a file, not a directory")
        } else if !options.createIfMissing, !FileManager.default.fileExists(atPath: path + "/data.mdb") {
            throw LogOpenError.notFound(path)
        }
        var flags: EnvironmentFlags = []
        if options.durability == .noMetaSync { flags.insert(.noMetaSync) }
        let env = try Environment(
            path: path,
            options: .init(mapSize: options.mapSize, maxDatabases: 8, maxReaders: options.maxReaders, flags: flags))
        let dbs = try env.write { txn in
            Databases(
                events: try txn.openDatabase("events", flags: [.create, .integerKey]),
                ids: try txn.openDatabase("ids", flags: [.create]),
                streamIndex: try txn.openDatabase(
                    "streams", flags: [.create, .integerKey, .duplicateSort, .duplicateFixed, .integerDuplicate]),
                streamNames: try txn.openDatabase("stream-names", flags: [.create]),
                streamNumbers: try txn.openDatabase("stream-numbers", flags: [.create, .integerKey]),
                meta: try txn.openDatabase("meta", flags: [.create]))
        }
        try env.write { txn in
            let stored = try Array("format".utf8).withUnsafeBytes { key in
                try txn.withValue(forKey: key, in: dbs.meta) { $0.map { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) } }
            }
            if let stored {
                if stored != Self.formatVersion { throw LogOpenError.unsupportedFormat(path, stored) }
            } else {
                var v = Self.formatVersion.littleEndian
                try withUnsafeBytes(of: &v) { vb in
                    try Array("format".utf8).withUnsafeBytes { try txn.put(vb, forKey: $0, in: dbs.meta) }
                }
            }
        }
        self.path = path
        self.options = options
        self.env = env
        self.dbs = dbs
        self.writer = Writer(env: env, dbs: dbs, options: options)
        writer.start(log: self)
    }

    deinit { writer.stop() }

    /// Stops the writer after it commits what is pending. Appends after this fail with `closed`.
    public func close() { writer.stop() }

    /// Sets the policy that judges every batch before it is written. Set it once, before appending.
    public func setPolicy(_ policy: (any AppendPolicy)?) { writer.setPolicy(policy) }

    // MARK: Appending

    /// Appends a batch atomically and durably; returns once it is on disk.
    ///
    /// Concurrent calls share transactions. Each caller gets its own receipt or error; a refused
    /// batch appends nothing.
    public func append(_ batch: AppendBatch) async throws(AppendError) -> AppendReceipt {
        if batch.records.isEmpty { return AppendReceipt(outcomes: [], head: try headOrStorageError()) }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<AppendReceipt, AppendError>, Never>) in
            writer.submit(batch) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Appends a batch and blocks the calling thread until it is durable. For command-line tools.
    public func appendAndWait(_ batch: AppendBatch) throws(AppendError) -> AppendReceipt {
        if batch.records.isEmpty { return AppendReceipt(outcomes: [], head: try headOrStorageError()) }
        let done = DispatchSemaphore(value: 0)
        let box = Mutex<Result<AppendReceipt, AppendError>?>(nil)
        writer.submit(batch) { result in
            box.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return try box.withLock { $0! }.get()
    }

    private func headOrStorageError() throws(AppendError) -> LogHead {
        do { return try head() } catch { throw AppendError(.storage, "reading the head failed: \(error)") }
    }

    // MARK: Reading

    /// The head: last position and its hash.
    public func head() throws -> LogHead {
        try env.read { txn in try Self.readHead(txn, dbs) }
    }

    static func readHead(_ txn: borrowing Transaction, _ dbs: Databases) throws -> LogHead {
        try readHead(txn, events: dbs.events)
    }

    static func readHead(_ txn: borrowing Transaction, events: Database) throws -> LogHead {
        let (position, hash) = try lastRecord(txn, events: events)
        return LogHead(position: position, hash: hash.hexString)
    }

    /// The last position and its hash bytes; 0 and the genesis hash for an empty log.
    static func lastRecord(_ txn: borrowing Transaction, events: Database) throws -> (UInt64, [UInt8]) {
        var position: UInt64 = 0
        var hash = LogRecordLayout.genesisHash
        try txn.withCursor(on: events) { cursor in
            if let last = try cursor.move(.last) {
                position = last.key.loadUnaligned(as: UInt64.self)
                hash = Array(RecordView(position: position, bytes: last.value).hashBytes)
            }
        }
        return (position, hash)
    }

    /// Calls `body` on each record from `position` on, without copying, in one snapshot, until it
    /// returns false or the log (as of the snapshot) ends. Keep `body` quick: the snapshot pins pages.
    public func scan(from position: UInt64 = 1, through last: UInt64 = .max, _ body: (RecordView) throws -> Bool) throws {
        try env.read { txn in try Self.scan(txn, events: dbs.events, from: position, through: last, body) }
    }

    static func scan(
        _ txn: borrowing Transaction, events: Database, from position: UInt64, through last: UInt64,
        _ body: (RecordView) throws -> Bool
    ) throws {
        var start = position
        try txn.withCursor(on: events) { cursor in
            try withUnsafeBytes(of: &start) { key in
                try cursor.forEach(from: .setRange, key: key) { entry in
                    let pos = entry.key.loadUnaligned(as: UInt64.self)
                    if pos > last { return false }
                    return try body(RecordView(position: pos, bytes: entry.value))
                }
            }
        }
    }

    /// Runs `body` with one read snapshot of the log, for several reads that must agree.
    public func withSnapshot<R>(_ body: (LogSnapshot) throws -> R) throws -> R {
        try env.read { txn in try withUnsafeTransaction(txn) { try body(LogSnapshot(txn: $0, dbs: dbs)) } }
    }

    /// Up to `limit` records from `position` on, copied.
    public func records(from position: UInt64 = 1, limit: Int = .max) throws -> [StoredRecord] {
        try withSnapshot { try $0.records(from: position, limit: limit) }
    }

    /// The record at `position`, copied.
    public func record(at position: UInt64) throws -> StoredRecord? {
        try withSnapshot { try $0.record(at: position) }
    }

    /// The record with event id `id`, copied.
    public func record(id: UUID) throws -> StoredRecord? {
        try withSnapshot { snapshot in try snapshot.position(of: id).flatMap { try snapshot.record(at: $0) } }
    }

    /// Every record of a stream, in position order, copied.
    public func records(inStream stream: String) throws -> [StoredRecord] {
        try withSnapshot { try $0.records(inStream: stream) }
    }

    /// How many records a stream holds (its version).
    public func version(ofStream stream: String) throws -> Int {
        try withSnapshot { try $0.version(ofStream: stream) }
    }

    /// The name of a stream number.
    public func streamName(_ number: UInt32) throws -> String? {
        try withSnapshot { try $0.streamName(number) }
    }

    /// The number of a stream name.
    public func streamNumber(_ name: String) throws -> UInt32? {
        try withSnapshot { try $0.streamNumber(name) }
    }

    /// Counts and sizes, for operators.
    public func statistics() throws -> LogStatistics {
        let info = env.info
        return try env.read { txn in
            let head = try Self.readHead(txn, dbs)
            let fileSize = (try? FileManager.default.attributesOfItem(atPath: path + "/data.mdb")[.size] as? Int) ?? 0
            return LogStatistics(
                records: try txn.statistics(of: dbs.events).entries,
                streams: try txn.statistics(of: dbs.streamNumbers).entries,
                ids: try txn.statistics(of: dbs.ids).entries,
                head: head,
                mapSize: info.mapSize,
                usedBytes: info.usedBytes,
                fileSize: fileSize,
                readers: info.readers,
                maxReaders: info.maxReaders)
        }
    }

    // MARK: Meta entries (projection checkpoints and the like)

    /// The value stored under a meta key.
    public func metaValue(_ key: String) throws -> [UInt8]? {
        try env.read { txn in try Array(("x:" + key).utf8).withUnsafeBytes { try txn.value(forKey: $0, in: dbs.meta) } }
    }

    /// Stores a meta value (a projection checkpoint, say) in its own durable transaction.
    public func setMetaValue(_ value: [UInt8], for key: String) throws {
        try env.write { txn in
            try value.withUnsafeBytes { vb in try Array(("x:" + key).utf8).withUnsafeBytes { try txn.put(vb, forKey: $0, in: dbs.meta) } }
        }
    }
}

/// Why a log did not open.
public enum LogOpenError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Nothing at the path, and creating was not allowed.
    case notFound(String)
    /// Something at the path that is not a ledger.
    case notALedger(String, String)
    /// Written in a format this version does not read.
    case unsupportedFormat(String, UInt32)

    /// A message naming the path.
    public var description: String {
        switch self {
        case .notFound(let p): "no ledger at \(p) (create one with `leadledger init --ledger \(p)`)"
        case .notALedger(let p, let why): "\(p) is not a ledger: \(why)"
        case .unsupportedFormat(let p, let v): "the ledger at \(p) has format \(v); this LeadLedger reads format \(EventLog.formatVersion)"
        }
    }
}

/// Counts and sizes of a log.
public struct LogStatistics: Sendable, Hashable, Codable {
    /// Records stored.
    public let records: Int
    /// Streams (leads) seen.
    public let streams: Int
    /// Entries of the id index (equals `records` in a sound log).
    public let ids: Int
    /// The head.
    public let head: LogHead
    /// The map size, the most the file may grow to.
    public let mapSize: Int
    /// Bytes of the map in use.
    public let usedBytes: Int
    /// The data file's size on disk.
    public let fileSize: Int
    /// Reader slots in use.
    public let readers: Int
    /// Reader slots available.
    public let maxReaders: Int
}

/// Lets `LogSnapshot` hold a borrowed transaction for exactly the duration of a closure.
func withUnsafeTransaction<R>(_ txn: borrowing Transaction, _ body: (UnsafePointer<Transaction>) throws -> R) rethrows -> R {
    try withUnsafePointer(to: txn) { try body($0) }
}
