import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An LMDB environment: one memory-mapped file holding named databases.
///
/// Open one environment per file per process and share it: LMDB forbids opening the same file twice
/// in one process. The environment is always opened with `MDB_NOTLS`, because Swift tasks hop between
/// threads and a reader slot must belong to its transaction, not to a thread.
///
/// Transactions exist only inside the closures of ``read(_:)`` and ``write(_:)``; see `Transaction`.
public final class Environment: @unchecked Sendable {
    // Safe to share: LMDB's environment handle is thread-safe, and every mutable use goes through
    // transactions whose lifetime is bounded by a closure.

    /// How an environment is opened.
    public struct Options: Sendable {
        /// The map size in bytes: the largest the file can grow to. Grow it later with ``setMapSize(_:)``.
        public var mapSize: Int
        /// How many named databases the environment may hold.
        public var maxDatabases: UInt32
        /// How many read transactions may be open at once, across processes.
        public var maxReaders: UInt32
        /// Extra flags; `MDB_NOTLS` is always added.
        public var flags: EnvironmentFlags
        /// The permissions of files created.
        public var fileMode: UInt32

        /// Creates options; the defaults suit a ledger: 32 GiB map, 126 readers.
        public init(
            mapSize: Int = 32 << 30,
            maxDatabases: UInt32 = 16,
            maxReaders: UInt32 = 126,
            flags: EnvironmentFlags = [],
            fileMode: UInt32 = 0o644
        ) {
            self.mapSize = mapSize
            self.maxDatabases = maxDatabases
            self.maxReaders = maxReaders
            self.flags = flags
            self.fileMode = fileMode
        }
    }

    @usableFromInline let handle: OpaquePointer
    /// Where the environment lives.
    public let path: String
    /// The flags it was opened with, `MDB_NOTLS` included.
    public let flags: EnvironmentFlags
    /// Stale reader slots (left by dead processes) cleared when the environment was opened.
    public let staleReadersCleared: Int

    /// Opens (and creates, unless read-only) the environment at `path`, a directory unless
    /// `noSubdirectory` is given. Clears reader slots left by dead processes.
    public init(path: String, options: Options = Options()) throws(LMDBError) {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(.invalid, operation: "mdb_env_create") }
        let flags = options.flags.union(.noThreadLocalStorage)
        do {
            try check(mdb_env_set_maxdbs(env, MDB_dbi(options.maxDatabases)), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, options.maxReaders), "mdb_env_set_maxreaders")
            try check(mdb_env_set_mapsize(env, options.mapSize), "mdb_env_set_mapsize")
            try check(mdb_env_open(env, path, flags.rawValue, mode_t(options.fileMode)), "mdb_env_open(\(path))")
        } catch {
            mdb_env_close(env)
            throw error
        }
        var dead: Int32 = 0
        mdb_reader_check(env, &dead)
        self.handle = env
        self.path = path
        self.flags = flags
        self.staleReadersCleared = Int(dead)
    }

    deinit { mdb_env_close(handle) }

    /// Opens (or, with `.create`, creates) a named database. Call once at start-up and keep the handle.
    public func openDatabase(_ name: String?, flags: DatabaseFlags = []) throws -> Database {
        try write { txn in try txn.openDatabase(name, flags: flags) }
    }

    /// Runs `body` in a read-only snapshot transaction, then ends it.
    ///
    /// Keep it short and never suspend inside: an open reader pins old pages and the file grows.
    @inlinable
    public func read<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        let txn = try Transaction.begin(self, readOnly: true)
        defer { mdb_txn_abort(txn.handle) }
        return try body(txn)
    }

    /// Runs `body` in the single write transaction and commits it when `body` returns; aborts it when
    /// `body` throws. The commit is durable (flushed) unless the environment was opened otherwise.
    ///
    /// Only one write transaction exists at a time per environment; this call waits for it. It must
    /// end on the thread that began it, which the closure guarantees: never suspend inside.
    public func write<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        let txn = try Transaction.begin(self, readOnly: false)
        let result: R
        do {
            result = try body(txn)
        } catch {
            mdb_txn_abort(txn.handle)
            throw error
        }
        try check(mdb_txn_commit(txn.handle), "mdb_txn_commit")
        return result
    }

    /// Changes the map size. Only valid while this process has no transaction open.
    public func setMapSize(_ bytes: Int) throws(LMDBError) {
        try check(mdb_env_set_mapsize(handle, bytes), "mdb_env_set_mapsize")
    }

    /// Flushes the data to disk; with `force`, even when the environment was opened with a no-sync flag.
    public func sync(force: Bool = true) throws(LMDBError) {
        try check(mdb_env_sync(handle, force ? 1 : 0), "mdb_env_sync")
    }

    /// Copies the environment to an existing empty directory, optionally compacting free pages away.
    /// The copy is a consistent snapshot, taken in a read transaction while writers go on.
    public func copy(to directory: String, compact: Bool = true) throws(LMDBError) {
        try check(mdb_env_copy2(handle, directory, compact ? UInt32(MDB_CP_COMPACT) : 0), "mdb_env_copy2(\(directory))")
    }

    /// Clears reader slots whose process died; returns how many.
    @discardableResult
    public func checkReaders() throws(LMDBError) -> Int {
        var dead: Int32 = 0
        try check(mdb_reader_check(handle, &dead), "mdb_reader_check")
        return Int(dead)
    }

    /// Size and usage of the map.
    public var info: Info {
        var raw = MDB_envinfo()
        mdb_env_info(handle, &raw)
        var stat = MDB_stat()
        mdb_env_stat(handle, &stat)
        return Info(
            mapSize: raw.me_mapsize,
            pageSize: Int(stat.ms_psize),
            lastPage: raw.me_last_pgno,
            lastTransaction: raw.me_last_txnid,
            maxReaders: Int(raw.me_maxreaders),
            readers: Int(raw.me_numreaders)
        )
    }

    /// The environment's map size and usage.
    public struct Info: Sendable, Hashable {
        /// The map size in bytes.
        public let mapSize: Int
        /// The page size in bytes.
        public let pageSize: Int
        /// The highest page number in use.
        public let lastPage: Int
        /// The id of the last committed transaction.
        public let lastTransaction: Int
        /// Reader slots available.
        public let maxReaders: Int
        /// Reader slots in use.
        public let readers: Int
        /// Bytes of the map in use.
        public var usedBytes: Int { (lastPage + 1) * pageSize }
    }

    /// The version of the LMDB library linked in, e.g. `"LMDB 0.9.24: (July 24, 2019)"`.
    public static var libraryVersion: String { String(cString: mdb_version(nil, nil, nil)) }
}
