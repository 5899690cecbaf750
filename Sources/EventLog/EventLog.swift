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
        /// Open for reading only (`MDB_RDONLY`): nothing is ever written to the ledger's files, no
        /// writer thread starts, appends and meta writes fail. Works on read-only copies and media.
        public var readOnly: Bool
        /// Walk every B-tree of the file with bounds-checked reads before LMDB follows any of it
        /// (`LMDB.Environment.checkStructure()`): costs a read of the whole file, so only `verify`
        /// asks for it. Damage found is ``LogOpenError/damaged(_:_:)``.
        public var checksStructure: Bool
        /// Maintain the Merkle tree over record hashes as records are appended (``MerkleTree``). Off
        /// only to measure what it costs: a log appended to without it rebuilds the tree, once, at
        /// its next append with it.
        public var maintainsMerkleTree: Bool
        /// The log of record this log is a copy of, when it is one (a LeadLedger node): each group
        /// is committed there, fenced on the local head, before it is committed here. Nil (the
        /// default) for an embedded ledger, whose appends never leave the machine.
        public var upstream: (any LogUpstream)? = nil

        /// Creates options: the default map size (32 GiB, less under `ulimit -v`), full sync, created when missing.
        public init(
            mapSize: Int = Environment.defaultMapSize, maxReaders: UInt32 = 126, durability: Durability = .full,
            createIfMissing: Bool = true, maxPayloadSize: Int = 32 << 10, maxRecordsPerCommit: Int = 100_000,
            clock: any LogClock = SystemLogClock(), readOnly: Bool = false, checksStructure: Bool = false,
            maintainsMerkleTree: Bool = true
        ) {
            self.maintainsMerkleTree = maintainsMerkleTree
            self.readOnly = readOnly
            self.checksStructure = checksStructure
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
    /// Held while a transaction opens tables: LMDB forbids two openings at once in one process.
    let tableOpening = NSLock()

    /// Opens the log in directory `path`, creating it when allowed.
    ///
    /// An existing ledger is opened without writing anything: its data file is checked before LMDB
    /// maps it, its tables are opened without `MDB_CREATE`, and a missing table or format entry is
    /// damage (``LogOpenError/damaged(_:_:)``), never a reason to create one. Only a brand-new ledger
    /// is written to at open. A new directory and its files are created for the owner only (0700, 0600).
    public init(path: String, options: Options = Options()) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = fm.fileExists(atPath: path, isDirectory: &isDirectory)
        let create = options.createIfMissing && !options.readOnly
        if !exists {
            guard create else { throw LogOpenError.notFound(path) }
            try fm.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } else if !isDirectory.boolValue {
            throw LogOpenError.notALedger(path, "it is a file, not a directory")
        } else if !create, !fm.fileExists(atPath: path + "/data.mdb") {
            throw LogOpenError.notFound(path)
        }
        var flags: EnvironmentFlags = []
        if options.durability == .noMetaSync { flags.insert(.noMetaSync) }
        if options.readOnly { flags.insert(.readOnly) }
        let env: Environment
        do {
            env = try Environment(
                path: path,
                options: .init(mapSize: options.mapSize, maxDatabases: 16, maxReaders: options.maxReaders, flags: flags))
        } catch let damage as FileDamage {
            throw LogOpenError.damaged(path, damage.description)
        } catch let error as LMDBError where error.code.isDamage {
            throw LogOpenError.damaged(path, error.description)
        }
        if env.existedBefore, options.checksStructure {
            do { _ = try env.checkStructure() } catch let damage as FileDamage {
                throw LogOpenError.damaged(path, "its structure is damaged: \(damage)")
            }
        }
        let dbs: Databases
        // A file in which nothing was ever committed is what a creation cut short leaves: created again.
        if env.existedBefore, !(create && env.info.lastTransaction == 0) {
            dbs = try Self.openExisting(env, path: path)
        } else {
            dbs = try Self.create(env)
        }
        self.path = path
        self.options = options
        self.env = env
        self.dbs = dbs
        self.writer = Writer(env: env, dbs: dbs, options: options)
        if !options.readOnly { writer.start(log: self) }
        if !options.readOnly, options.upstream == nil, let tenant = try metaValue(Self.logOfRecordKey) {
            // Appended here alone, the copy would hold records its log of record lacks: a fork no
            // node could follow again.
            writer.refuseAppends(
                "the ledger at \(path) is a node's copy of tenant \"\(String(decoding: tenant, as: UTF8.self))\" of a cluster: "
                    + "append through its log of record (a node: leadledger serve --ledger \(path) --cluster URL), not to the copy; nothing was written")
        }
    }

    /// The meta entry naming the tenant whose copy this log is, written when a node attaches it;
    /// such a log refuses appends unless it is opened with its ``Options/upstream``.
    public static let logOfRecordKey = "log-of-record-tenant"

    private static let tables: [(name: String, flags: DatabaseFlags)] = [
        ("events", [.integerKey]), ("ids", []), ("streams", [.integerKey, .duplicateSort, .duplicateFixed, .integerDuplicate]),
        ("stream-names", []), ("stream-numbers", [.integerKey]), ("meta", []),
    ]

    private static func openExisting(_ env: Environment, path: String) throws -> Databases {
        var opened: [Database] = []
        for table in tables {
            do {
                opened.append(try env.openExistingDatabase(table.name, flags: table.flags))
            } catch let error as LMDBError {
                let why =
                    error.code == .notFound ? "its \(table.name) table is missing" : "its \(table.name) table cannot be opened (\(error))"
                throw LogOpenError.damaged(path, why)
            }
        }
        let dbs = Databases(
            events: opened[0], ids: opened[1], streamIndex: opened[2], streamNames: opened[3], streamNumbers: opened[4], meta: opened[5])
        let stored: [UInt8]?
        do {
            stored = try env.read { txn in try Array("format".utf8).withUnsafeBytes { try txn.value(forKey: $0, in: dbs.meta) } }
        } catch {
            throw LogOpenError.damaged(path, "its format entry cannot be read (\(error))")
        }
        guard let stored, stored.count == 4 else { throw LogOpenError.damaged(path, "its format entry is missing or damaged") }
        let version = UInt32(stored[0]) | UInt32(stored[1]) << 8 | UInt32(stored[2]) << 16 | UInt32(stored[3]) << 24
        if version != formatVersion { throw LogOpenError.unsupportedFormat(path, version) }
        return dbs
    }

    private static func create(_ env: Environment) throws -> Databases {
        try env.write { txn in
            var opened: [Database] = []
            for table in tables { opened.append(try txn.openDatabase(table.name, flags: table.flags.union(.create))) }
            let dbs = Databases(
                events: opened[0], ids: opened[1], streamIndex: opened[2], streamNames: opened[3], streamNumbers: opened[4], meta: opened[5]
            )
            var v = formatVersion.littleEndian
            try withUnsafeBytes(of: &v) { vb in
                try Array("format".utf8).withUnsafeBytes { try txn.put(vb, forKey: $0, in: dbs.meta) }
            }
            return dbs
        }
    }

    /// Whether the log was opened read-only.
    public var isReadOnly: Bool { options.readOnly }

    /// Whether this process can go on writing the log, for a server's health check. Looks at the lock
    /// file now: a process whose lock file was deleted or replaced stops writing and says so here.
    public var health: LogHealth {
        if isReadOnly { return LogHealth(problem: nil, writable: false) }
        if let problem = env.writeProblem { return LogHealth(problem: problem, writable: false) }
        if writer.isStopped { return LogHealth(problem: "the ledger is closed", writable: false) }
        return LogHealth(problem: nil, writable: true)
    }

    deinit { writer.stop() }

    /// Stops the writer after it commits what is pending. Appends after this fail with `closed`.
    public func close() { writer.stop() }

    /// Sets the policy that judges every batch before it is written. Set it once, before appending.
    public func setPolicy(_ policy: (any AppendPolicy)?) { writer.setPolicy(policy) }

    /// Whether the calling thread is this log's writer thread, where every ``AppendPolicy`` callback
    /// runs: a policy preconditions it before touching its unsynchronised state.
    public var isOnWriterThread: Bool { writer.isWriterThread }

    /// Brings the local copy up to the log of record's head (``Options/upstream``), on the writer's
    /// thread between two groups; returns how many records were applied. Without an upstream, 0.
    public func catchUp() async throws -> Int {
        guard options.upstream != nil, !isReadOnly else { return 0 }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Int, any Error>, Never>) in
            writer.requestCatchUp { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    // MARK: Appending

    /// Appends a batch atomically and durably; returns once it is on disk.
    ///
    /// Concurrent calls share transactions. Each caller gets its own receipt or error; a refused
    /// batch appends nothing.
    public func append(_ batch: AppendBatch) async throws(AppendError) -> AppendReceipt {
        if isReadOnly { throw AppendError(.closed, "the ledger at \(path) was opened read-only") }
        if batch.records.isEmpty { return AppendReceipt(outcomes: [], head: try headOrStorageError()) }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<AppendReceipt, AppendError>, Never>) in
            writer.submit(batch) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Appends a batch and blocks the calling thread until it is durable. For synchronous tools and
    /// tests: from async code use ``append(_:)``, which suspends instead of blocking a thread of the
    /// cooperative pool.
    @available(*, noasync, message: "blocks the thread; use append(_:) from async code")
    public func appendAndWait(_ batch: AppendBatch) throws(AppendError) -> AppendReceipt {
        if isReadOnly { throw AppendError(.closed, "the ledger at \(path) was opened read-only") }
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
                position = try StoredBytes.position(last.key, table: "events")
                hash = Array(try RecordView(checking: last.value, at: position).hashBytes)
            }
        }
        return (position, hash)
    }

    /// Calls `body` on each record from `position` on, without copying, in one snapshot, until it
    /// returns false or the log (as of the snapshot) ends. Keep `body` quick: the snapshot pins pages.
    public func scan(from position: UInt64 = 1, through last: UInt64 = .max, _ body: (RecordView) throws -> Bool) throws {
        try env.read { txn in try Self.scan(txn, events: dbs.events, streamNumbers: dbs.streamNumbers, from: position, through: last, body)
        }
    }

    static func scan(
        _ txn: borrowing Transaction, events: Database, streamNumbers: Database, from position: UInt64, through last: UInt64,
        _ body: (RecordView) throws -> Bool
    ) throws {
        var start = position
        let streams = try txn.statistics(of: streamNumbers).entries
        try txn.withCursor(on: events) { cursor in
            try withUnsafeBytes(of: &start) { key in
                try cursor.forEach(from: .setRange, key: key) { entry in
                    let pos = try StoredBytes.position(entry.key, table: "events")
                    if pos > last { return false }
                    let view = try RecordView(checking: entry.value, at: pos)
                    // Readers index arrays by stream number: a number beyond the streams stored is damage.
                    guard view.streamNumber <= streams else {
                        throw StoredDamage(
                            table: "events", message: "the record at position \(pos) names stream \(view.streamNumber) of \(streams)")
                    }
                    return try body(view)
                }
            }
        }
    }

    /// Runs `body` with one read snapshot of the log, for several reads that must agree.
    public func withSnapshot<R>(_ body: (borrowing LogSnapshot) throws -> R) throws -> R {
        try env.read { txn in
            try withUnsafeTransaction(txn) { pointer in
                // Bound to a local first: Swift 6.3's optimizer crashes specializing a temporary
                // non-copyable value passed straight as a borrowed argument (as in `withCursor`).
                let snapshot = LogSnapshot(txn: pointer, dbs: dbs)
                return try body(snapshot)
            }
        }
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
    /// Throws on a read-only log.
    public func setMetaValue(_ value: [UInt8], for key: String) throws {
        try env.write { txn in
            try value.withUnsafeBytes { vb in try Array(("x:" + key).utf8).withUnsafeBytes { try txn.put(vb, forKey: $0, in: dbs.meta) } }
        }
    }

    /// Removes a meta value in its own durable transaction; `false` when there was none.
    @discardableResult
    public func removeMetaValue(_ key: String) throws -> Bool {
        try env.write { txn in try Array(("x:" + key).utf8).withUnsafeBytes { try txn.delete(key: $0, in: dbs.meta) } }
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
    /// The files are damaged or truncated; nothing was written to them.
    case damaged(String, String)

    /// A message naming the path.
    public var description: String {
        switch self {
        case .notFound(let p): "no ledger at \(p) (create one with `leadledger init --ledger \(p)`)"
        case .notALedger(let p, let why): "\(p) is not a ledger: \(why)"
        case .unsupportedFormat(let p, let v): "the ledger at \(p) has format \(v); this LeadLedger reads format \(EventLog.formatVersion)"
        case .damaged(let p, let why):
            "the ledger at \(p) is damaged and was not opened (nothing was written to it): \(why). Restore it from a backup"
        }
    }
}

/// Whether a log can go on serving, for a health check.
public struct LogHealth: Sendable, Hashable, Codable {
    /// What is wrong, or `nil` when healthy.
    public let problem: String?
    /// Whether appends can succeed (false for a read-only log, which is still healthy).
    public let writable: Bool
    /// Healthy when nothing is wrong.
    public var isHealthy: Bool { problem == nil }
}

/// A stored key or value whose size or contents no sound log holds: reads stop with this error
/// instead of reading past what LMDB handed out.
public struct StoredDamage: Error, Sendable, Hashable, CustomStringConvertible {
    /// The table.
    public let table: String
    /// What is wrong, naming the entry.
    public let message: String
    /// Creates the error.
    public init(table: String, message: String) {
        self.table = table
        self.message = message
    }
    /// "the events table is damaged: …".
    public var description: String { "the ledger's \(table) table is damaged: \(message); run `leadledger verify`" }
}

/// Size-checked reads of stored keys and values.
enum StoredBytes {
    @inline(__always)
    static func position(_ bytes: UnsafeRawBufferPointer, table: String) throws(StoredDamage) -> UInt64 {
        guard bytes.count == 8 else { throw StoredDamage(table: table, message: "a position of \(bytes.count) bytes") }
        return bytes.loadUnaligned(as: UInt64.self)
    }

    @inline(__always)
    static func streamNumber(_ bytes: UnsafeRawBufferPointer, table: String) throws(StoredDamage) -> UInt32 {
        guard bytes.count == 4 else { throw StoredDamage(table: table, message: "a stream number of \(bytes.count) bytes") }
        return bytes.loadUnaligned(as: UInt32.self)
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
