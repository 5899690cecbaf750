import CLMDB

/// A position in a database, alive only inside `Transaction.withCursor`.
///
/// Every key and value it hands out points into the map and is valid only until the cursor moves
/// or the closure ends.
public struct Cursor: ~Copyable {
    @usableFromInline let handle: OpaquePointer
    /// The database it walks.
    public let database: Database

    @usableFromInline init(handle: OpaquePointer, database: Database) {
        self.handle = handle
        self.database = database
    }

    /// One key/value pair under the cursor, pointing into the map.
    public typealias Entry = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    /// A cursor movement (`MDB_cursor_op`).
    public struct Operation: Hashable, Sendable {
        @usableFromInline let raw: MDB_cursor_op
        @usableFromInline init(_ raw: MDB_cursor_op) { self.raw = raw }
        /// The first entry.
        public static var first: Self { Self(MDB_FIRST) }
        /// The last entry.
        public static var last: Self { Self(MDB_LAST) }
        /// The next entry (next value of the key, then the next key).
        public static var next: Self { Self(MDB_NEXT) }
        /// The previous entry.
        public static var previous: Self { Self(MDB_PREV) }
        /// The next value of the current key only.
        public static var nextDuplicate: Self { Self(MDB_NEXT_DUP) }
        /// The first value of the next key.
        public static var nextKey: Self { Self(MDB_NEXT_NODUP) }
        /// The last value of the current key.
        public static var lastDuplicate: Self { Self(MDB_LAST_DUP) }
        /// The entry under the cursor.
        public static var current: Self { Self(MDB_GET_CURRENT) }
        /// Exactly the given key.
        public static var setKey: Self { Self(MDB_SET_KEY) }
        /// The first key greater than or equal to the given one.
        public static var setRange: Self { Self(MDB_SET_RANGE) }
        /// Exactly the given key and value (`duplicateSort`).
        public static var getBoth: Self { Self(MDB_GET_BOTH) }
        /// The given key, first value greater than or equal to the given one (`duplicateSort`).
        public static var getBothRange: Self { Self(MDB_GET_BOTH_RANGE) }
    }

    /// Moves the cursor; returns the entry it lands on, or `nil` at the end or when not found.
    @inlinable
    public func move(
        _ op: Operation, key: UnsafeRawBufferPointer? = nil, value: UnsafeRawBufferPointer? = nil
    ) throws(LMDBError) -> Entry? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val(mv_size: value?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: value?.baseAddress))
        let rc = mdb_cursor_get(handle, &k, &v, op.raw)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_cursor_get(\(database.name ?? "main"))")
        return (UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size), UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size))
    }

    /// Moves to an integer key exactly (`setKey`) or to the first key at or after it (`setRange`).
    @inlinable
    public func move<K: FixedWidthInteger>(_ op: Operation, integerKey: K) throws(LMDBError) -> Entry? {
        var key = integerKey
        return try withUnsafeBytes(of: &key) { (kb) throws(LMDBError) in try move(op, key: kb) }
    }

    /// How many values the current key has (`duplicateSort`).
    public func duplicateCount() throws(LMDBError) -> Int {
        var n: Int = 0
        try check(mdb_cursor_count(handle, &n), "mdb_cursor_count(\(database.name ?? "main"))")
        return n
    }

    /// Stores a pair through the cursor, leaving it on the new entry.
    @inlinable
    public func put(
        _ value: UnsafeRawBufferPointer, forKey key: UnsafeRawBufferPointer, flags: PutFlags = []
    ) throws(LMDBError) {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        try check(mdb_cursor_put(handle, &k, &v, flags.rawValue), "mdb_cursor_put(\(database.name ?? "main"))")
    }

    /// Calls `body` on each entry from `start` (the first entry when `nil`) onwards, until it returns false.
    ///
    /// A forward walk reads a leaf page's nodes downwards in memory: LMDB places each node it adds
    /// below the previous ones, so the entries that follow one appended in key order lie just under
    /// it. The walk asks the processor to load those bytes while `body` runs; on a large log this
    /// hides most of the memory latency of a scan (see BENCHMARKS.md).
    @inlinable
    public func forEach(
        from start: Operation = .first, key: UnsafeRawBufferPointer? = nil, _ body: (Entry) throws -> Bool
    ) throws {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val()
        var rc = mdb_cursor_get(handle, &k, &v, start.raw)
        while rc == MDB_SUCCESS {
            if let data = v.mv_data {
                // Harmless when wrong: a prefetch never faults.
                leadledger_prefetch(data - 256)
                leadledger_prefetch(data - 512)
            }
            let go = try body(
                (UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size), UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)))
            if !go { return }
            rc = mdb_cursor_get(handle, &k, &v, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { try check(rc, "mdb_cursor_get(\(database.name ?? "main"))") }
    }
}
