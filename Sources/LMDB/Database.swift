import CLMDB

/// A handle to one database of an environment. Cheap to copy; valid for the environment's lifetime.
public struct Database: Sendable, Hashable {
    @usableFromInline let dbi: MDB_dbi
    /// The name it was opened with; `nil` is the environment's main database.
    public let name: String?
    /// The flags it was opened with.
    public let flags: DatabaseFlags

    @usableFromInline init(dbi: MDB_dbi, name: String?, flags: DatabaseFlags) {
        self.dbi = dbi
        self.name = name
        self.flags = flags
    }
}

/// Counts and shape of one database (`mdb_stat`).
public struct DatabaseStatistics: Sendable, Hashable {
    /// Key/value pairs (values, in a `duplicateSort` database).
    public let entries: Int
    /// Height of the B-tree.
    public let depth: Int
    /// Branch, leaf and overflow pages.
    public let pages: Int
    /// Page size in bytes.
    public let pageSize: Int
}
