import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

#if canImport(Glibc)
private let RLIMIT_AS_VALUE = __rlimit_resource_t(RLIMIT_AS.rawValue)
#else
private let RLIMIT_AS_VALUE = RLIMIT_AS
#endif

/// `open(2)` for reading, out of reach of `Environment.open`'s name.
private func openForReading(_ path: String) -> Int32 { open(path, O_RDONLY | O_CLOEXEC) }

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
        /// The permissions of files created: owner only by default, since a ledger holds business data.
        public var fileMode: UInt32
        /// Check the data file's meta pages before LMDB maps it (see ``MetaPages``), so a truncated or
        /// damaged file is refused instead of being trusted, written over or faulting the process.
        public var checksFile: Bool

        /// Creates options; the defaults suit a ledger: the default map size, 126 readers, files 0600.
        public init(
            mapSize: Int = Environment.defaultMapSize,
            maxDatabases: UInt32 = 16,
            maxReaders: UInt32 = 126,
            flags: EnvironmentFlags = [],
            fileMode: UInt32 = 0o600,
            checksFile: Bool = true
        ) {
            self.mapSize = mapSize
            self.maxDatabases = maxDatabases
            self.maxReaders = maxReaders
            self.flags = flags
            self.fileMode = fileMode
            self.checksFile = checksFile
        }
    }

    /// 32 GiB, or less when the process may not use that much address space (`ulimit -v`):
    /// then half of what it may use, so the rest of the process still has room.
    public static var defaultMapSize: Int {
        let preferred = 32 << 30
        var limit = rlimit()
        guard getrlimit(RLIMIT_AS_VALUE, &limit) == 0, limit.rlim_cur != rlim_t.max else { return preferred }
        let usable = Int(clamping: limit.rlim_cur) / 2
        let page = 1 << 16
        return max(page, min(preferred, usable / page * page))
    }

    @usableFromInline let handle: OpaquePointer
    /// Where the environment lives.
    public let path: String
    /// The flags it was opened with, `MDB_NOTLS` included.
    public let flags: EnvironmentFlags
    /// Stale reader slots (left by dead processes) cleared when the environment was opened.
    public let staleReadersCleared: Int
    /// Whether the data file existed (and was checked) before this open, rather than being created by it.
    public let existedBefore: Bool
    /// Serialises this process's writes and excludes other processes' (see `WriteGuard`);
    /// `nil` for a read-only environment.
    let writeGuard: WriteGuard?

    /// Opens (and creates, unless read-only) the environment at `path`, a directory unless
    /// `noSubdirectory` is given. Clears reader slots left by dead processes.
    ///
    /// An existing data file is checked first (``MetaPages/check(path:)``) unless the options say
    /// otherwise: a damaged or truncated file throws ``FileDamage`` and LMDB never sees it.
    ///
    /// Read-only, the environment writes nothing to the data file. When the lock file cannot be
    /// opened for writing (a directory the user may not write, files owned by another user), the
    /// open falls back to `MDB_NOLOCK`: sound only while no process writes to the ledger, which is
    /// the case for read-only media and copies, the situations that fallback exists for. It is
    /// refused while another process has the environment open (its `fcntl` lock on the lock file shows).
    public init(path: String, options: Options = Options()) throws {
        let noSubdirectory = options.flags.contains(.noSubdirectory)
        let dataPath = noSubdirectory ? path : path + "/data.mdb"
        let lockPath = noSubdirectory ? path + "-lock" : path + "/lock.mdb"
        var info = stat()
        let existed = stat(dataPath, &info) == 0
        if existed, options.checksFile { try MetaPages.check(path: dataPath) }
        var flags = options.flags.union(.noThreadLocalStorage)
        let readOnly = flags.contains(.readOnly)
        var opened = Result { () throws(LMDBError) -> OpaquePointer in try Self.open(path, options: options, flags: flags) }
        if case .failure(let error) = opened, readOnly, error.code == .permissionDenied || error.code.rawValue == EROFS {
            // Without the lock file this reader is invisible to writers, which may then reuse the
            // pages it reads: safe only when no process has the environment open.
            if Self.isOpenElsewhere(lockPath: lockPath) {
                throw LMDBError(
                    .permissionDenied,
                    operation: "the lock file \(lockPath) is not writable by this user and another process has the ledger open; "
                        + "read a copy (leadledger backup) or get write access to the lock file")
            }
            flags.insert(.noLock)
            let retryFlags = flags
            opened = Result { () throws(LMDBError) -> OpaquePointer in try Self.open(path, options: options, flags: retryFlags) }
        }
        let env = try opened.get()
        var dead: Int32 = 0
        if !flags.contains(.noLock) { mdb_reader_check(env, &dead) }
        self.handle = env
        self.path = path
        self.flags = flags
        self.staleReadersCleared = Int(dead)
        self.existedBefore = existed
        if readOnly {
            writeGuard = nil
        } else {
            do {
                writeGuard = try WriteGuard(dataPath: dataPath, lockPath: lockPath)
            } catch {
                mdb_env_close(env)
                throw error
            }
        }
    }

    /// Whether a process has the environment open: LMDB holds a shared `fcntl` lock on the lock
    /// file's first byte for as long as it does. When that cannot be told, the answer is yes.
    static func isOpenElsewhere(lockPath: String) -> Bool {
        let fd = openForReading(lockPath)
        if fd < 0 { return errno != ENOENT }
        defer { close(fd) }
        var query = flock()
        query.l_type = Int16(F_WRLCK)
        query.l_whence = Int16(SEEK_SET)
        query.l_start = 0
        query.l_len = 1
        guard fcntl(fd, F_GETLK, &query) == 0 else { return true }
        return query.l_type != Int16(F_UNLCK)
    }

    private static func open(_ path: String, options: Options, flags: EnvironmentFlags) throws(LMDBError) -> OpaquePointer {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(.invalid, operation: "mdb_env_create") }
        do {
            try check(mdb_env_set_maxdbs(env, MDB_dbi(options.maxDatabases)), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, options.maxReaders), "mdb_env_set_maxreaders")
            try check(mdb_env_set_mapsize(env, options.mapSize), "mdb_env_set_mapsize")
            try check(mdb_env_open(env, path, flags.rawValue, mode_t(options.fileMode)), "mdb_env_open(\(path))")
        } catch {
            mdb_env_close(env)
            throw error
        }
        return env
    }

    deinit { mdb_env_close(handle) }

    /// Whether the environment was opened read-only: it then never writes to its files.
    public var isReadOnly: Bool { flags.contains(.readOnly) }

    /// Why this process may no longer write, or `nil` while it may (see `WriteGuard`).
    /// Checks the lock file now, so a deletion is noticed before the next write.
    public var writeProblem: String? { writeGuard?.check() }

    /// Opens (or, with `.create`, creates) a named database. Call once at start-up and keep the handle.
    public func openDatabase(_ name: String?, flags: DatabaseFlags = []) throws -> Database {
        try write { txn in try txn.openDatabase(name, flags: flags) }
    }

    /// Opens an existing named database without writing anything (in a read transaction whose
    /// handles LMDB keeps when it ends). Throws `notFound` when the database does not exist.
    public func openExistingDatabase(_ name: String, flags: DatabaseFlags = []) throws -> Database {
        let txn = try Transaction.begin(self, readOnly: true)
        do {
            let db = try txn.openDatabase(name, flags: flags.subtracting(.create))
            try check(mdb_txn_commit(txn.handle), "mdb_txn_commit(read)")
            return db
        } catch {
            mdb_txn_abort(txn.handle)
            throw error
        }
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
    ///
    /// Every write transaction runs under the `WriteGuard`: an advisory lock on the data file that
    /// excludes any other process's writes, even one that opened the environment through another lock
    /// file, and a check that this process's lock file is still the one it opened. A read-only
    /// environment throws `permissionDenied` without beginning anything.
    public func write<R>(_ body: (borrowing Transaction) throws -> R) throws -> R {
        guard let writeGuard else { throw LMDBError(.permissionDenied, operation: "write on a read-only environment (\(path))") }
        return try writeGuard.holding {
            let txn = try Transaction.begin(self, readOnly: false)
            // LMDB starts a write from the last commit its lock file records, but the data file's
            // newest meta page records the last commit of any process. Under the data file's flock
            // they differ only when another process committed through a different lock file (one
            // created after ours was deleted, or ours created by this process while an older writer
            // went on): writing now would start from a stale tree and overwrite that commit.
            var info = MDB_envinfo()
            mdb_env_info(handle, &info)
            guard mdb_txn_id(txn.handle) == info.me_last_txnid + 1 else {
                mdb_txn_abort(txn.handle)
                let reason =
                    "another process committed to \(path) through a different lock file; this process stopped writing (restart it)"
                writeGuard.stop(reason)
                throw LMDBError(.lockFileLost, operation: reason)
            }
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

    /// Where the data file is mapped in this process, from `/proc/self/maps` (LMDB reports an address
    /// only for fixed maps): a key's or value's offset in the file is its address minus this. For
    /// tests and tools that locate stored bytes; `nil` where the maps cannot be read.
    public var mapBaseAddress: UInt? {
        let dataPath = flags.contains(.noSubdirectory) ? path : path + "/data.mdb"
        var info = stat()
        guard stat(dataPath, &info) == 0, let file = fopen("/proc/self/maps", "r") else { return nil }
        defer { fclose(file) }
        // An address inside this environment's map (the main tree's first key), to pick the right
        // mapping when the file is mapped more than once.
        let probe: UInt? = try? read { txn in
            var cursor: OpaquePointer?
            guard mdb_cursor_open(txn.handle, 1, &cursor) == MDB_SUCCESS else { return nil }
            defer { mdb_cursor_close(cursor) }
            var key = MDB_val(), value = MDB_val()
            guard mdb_cursor_get(cursor, &key, &value, MDB_FIRST) == MDB_SUCCESS, let address = key.mv_data else { return nil }
            return UInt(bitPattern: address)
        }
        var first: UInt?
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), file) != nil {
            // "start-end perms offset dev inode path"
            let length = line.firstIndex(of: 0) ?? line.count
            let fields = String(decoding: line[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self).split(
                separator: " ", omittingEmptySubsequences: true)
            let range = fields.first?.split(separator: "-") ?? []
            guard fields.count >= 6, fields[2] == "00000000", UInt64(fields[4]) == UInt64(info.st_ino), range.count == 2,
                let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16)
            else { continue }
            guard let probe else { return start }
            if probe >= start && probe < end { return start }
            if first == nil { first = start }
        }
        return probe == nil ? first : nil
    }

    /// Bytes the file system holding the environment still has for this user (`statvfs`), or `nil`.
    public var availableBytes: UInt64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize)
    }

    /// The version of the LMDB library linked in, e.g. `"LMDB 0.9.24: (July 24, 2019)"`.
    public static var libraryVersion: String { String(cString: mdb_version(nil, nil, nil)) }
}
