import CLMDB

/// An LMDB transaction, alive only inside the closure of `Environment.read` or `Environment.write`.
///
/// It is non-copyable and handed to the closure borrowed, so it cannot be stored or escape.
/// The buffers it hands out point into the memory map and are valid only inside the closure that
/// received them: copy what must outlive it.
public struct Transaction: ~Copyable {
    @usableFromInline let handle: OpaquePointer
    /// Whether this is a read-only snapshot.
    public let isReadOnly: Bool

    @usableFromInline init(handle: OpaquePointer, isReadOnly: Bool) {
        self.handle = handle
        self.isReadOnly = isReadOnly
    }

    @usableFromInline
    static func begin(_ env: Environment, readOnly: Bool) throws(LMDBError) -> Transaction {
        var txn: OpaquePointer?
        let flags: UInt32 = readOnly ? UInt32(MDB_RDONLY) : 0
        var rc = mdb_txn_begin(env.handle, nil, flags, &txn)
        if rc == MDB_MAP_RESIZED {
            // Another process grew the map: adopt its size, then try once more.
            mdb_env_set_mapsize(env.handle, 0)
            rc = mdb_txn_begin(env.handle, nil, flags, &txn)
        }
        try check(rc, readOnly ? "mdb_txn_begin(read)" : "mdb_txn_begin(write)")
        return Transaction(handle: txn!, isReadOnly: readOnly)
    }

    /// Opens a database by name inside this transaction.
    public func openDatabase(_ name: String?, flags: DatabaseFlags = []) throws(LMDBError) -> Database {
        var dbi: MDB_dbi = 0
        let rc: Int32
        if let name { rc = mdb_dbi_open(handle, name, flags.rawValue, &dbi) } else { rc = mdb_dbi_open(handle, nil, flags.rawValue, &dbi) }
        try check(rc, "mdb_dbi_open(\(name ?? "main"))")
        return Database(dbi: dbi, name: name, flags: flags.subtracting(.create))
    }

    /// The value stored under `key`, handed to `body` without copying; `nil` when the key is absent.
    @inlinable
    public func withValue<R>(
        forKey key: UnsafeRawBufferPointer, in db: Database, _ body: (UnsafeRawBufferPointer?) throws -> R
    ) throws -> R {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(handle, db.dbi, &k, &v)
        if rc == MDB_NOTFOUND { return try body(nil) }
        try check(rc, "mdb_get(\(db.name ?? "main"))")
        return try body(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// The value stored under `key`, copied out.
    @inlinable
    public func value(forKey key: UnsafeRawBufferPointer, in db: Database) throws -> [UInt8]? {
        try withValue(forKey: key, in: db) { $0.map { Array($0) } }
    }

    /// Stores `value` under `key`. Throws `keyExists` when `flags` forbid the overwrite.
    @inlinable
    public func put(
        _ value: UnsafeRawBufferPointer, forKey key: UnsafeRawBufferPointer, in db: Database, flags: PutFlags = []
    ) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_put(handle, db.dbi, &k, &v, flags.rawValue), "mdb_put(\(db.name ?? "main"))")
    }

    /// Reserves `count` bytes under `key` and lets `body` fill them in place, saving a copy.
    @inlinable
    public func put(
        reserving count: Int, forKey key: UnsafeRawBufferPointer, in db: Database, flags: PutFlags = [],
        _ body: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: count, mv_data: nil)
        try check(
            mdb_put(handle, db.dbi, &k, &v, flags.rawValue | UInt32(MDB_RESERVE)), "mdb_put(\(db.name ?? "main"))")
        try body(UnsafeMutableRawBufferPointer(start: v.mv_data, count: count))
    }

    /// Deletes `key` (every value of it in a `duplicateSort` database); returns whether it existed.
    @discardableResult
    public func delete(key: UnsafeRawBufferPointer, in db: Database) throws(LMDBError) -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(handle, db.dbi, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del(\(db.name ?? "main"))")
        return true
    }

    /// Removes every entry of the database, keeping the database itself.
    public func empty(_ db: Database) throws(LMDBError) {
        try check(mdb_drop(handle, db.dbi, 0), "mdb_drop(\(db.name ?? "main"))")
    }

    /// Counts and shape of the database as this transaction sees it.
    public func statistics(of db: Database) throws(LMDBError) -> DatabaseStatistics {
        var s = MDB_stat()
        try check(mdb_stat(handle, db.dbi, &s), "mdb_stat(\(db.name ?? "main"))")
        return DatabaseStatistics(
            entries: s.ms_entries, depth: Int(s.ms_depth),
            pages: s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages, pageSize: Int(s.ms_psize))
    }

    /// Opens a cursor on `db` for the duration of `body`.
    @inlinable
    public func withCursor<R>(on db: Database, _ body: (borrowing Cursor) throws -> R) throws -> R {
        var cursor: OpaquePointer?
        try check(mdb_cursor_open(handle, db.dbi, &cursor), "mdb_cursor_open(\(db.name ?? "main"))")
        defer { mdb_cursor_close(cursor) }
        // Bound to a local first: Swift 6.3's optimizer crashes specializing a temporary
        // non-copyable value passed straight as a borrowed argument.
        let bound = Cursor(handle: cursor!, database: db)
        return try body(bound)
    }
}

extension Transaction {
    /// The value under an integer key (`integerKey` databases), without copying.
    @inlinable
    public func withValue<K: FixedWidthInteger, R>(
        forKey key: K, in db: Database, _ body: (UnsafeRawBufferPointer?) throws -> R
    ) throws -> R {
        var k = key
        return try withUnsafeBytes(of: &k) { try withValue(forKey: $0, in: db, body) }
    }

    /// Stores `value` under an integer key.
    @inlinable
    public func put<K: FixedWidthInteger>(
        _ value: UnsafeRawBufferPointer, forKey key: K, in db: Database, flags: PutFlags = []
    ) throws(LMDBError) {
        var k = key
        try withUnsafeBytes(of: &k) { (kb) throws(LMDBError) in try put(value, forKey: kb, in: db, flags: flags) }
    }
}

extension Transaction {
    /// Pages on LMDB's free list, as the free database records them: pages no longer in the tree,
    /// which still hold what they held until a later write transaction reuses them. LMDB allows
    /// this in a read-only transaction only.
    public func freePageCount() throws(LMDBError) -> Int {
        var cursor: OpaquePointer?
        // Database 0 is LMDB's own free database (FREE_DBI); reading it is what `mdb_stat -f` does.
        try check(mdb_cursor_open(handle, 0, &cursor), "mdb_cursor_open(free pages)")
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val()
        var v = MDB_val()
        var total = 0
        var rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
        let word = MemoryLayout<Int>.size
        while rc == MDB_SUCCESS {
            // Each value is a list of page numbers led by its length; a length the value cannot hold is not counted.
            if let data = v.mv_data, v.mv_size >= word {
                let count = Int(bitPattern: UInt(data.loadUnaligned(as: UInt.self)))
                if count >= 0, count <= v.mv_size / word - 1 { total += count }
            }
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { try check(rc, "mdb_cursor_get(free pages)") }
        return total
    }
}
