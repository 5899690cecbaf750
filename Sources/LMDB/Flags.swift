import CLMDB

/// Flags for opening an environment (`mdb_env_open`).
public struct EnvironmentFlags: OptionSet, Hashable, Sendable {
    /// The raw `MDB_*` bits.
    public let rawValue: UInt32
    /// Wraps raw `MDB_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `MDB_NOSUBDIR`: the path is the data file itself, not a directory.
    public static let noSubdirectory = Self(rawValue: 0x4000)
    /// `MDB_RDONLY`: open read-only.
    public static let readOnly = Self(rawValue: 0x20000)
    /// `MDB_NOMETASYNC`: flush data on commit but the meta page only with the next commit.
    /// A crash may lose the last transaction, never corrupt the file.
    public static let noMetaSync = Self(rawValue: 0x40000)
    /// `MDB_NOSYNC`: no flush at commit. Not offered for the event log; here for completeness and tests.
    public static let noSync = Self(rawValue: 0x10000)
    /// `MDB_WRITEMAP`: writes go through a writable map. Never used for the event log.
    public static let writeMap = Self(rawValue: 0x80000)
    /// `MDB_NOTLS`: reader slots belong to transactions, not threads; required with Swift concurrency.
    public static let noThreadLocalStorage = Self(rawValue: 0x200000)
    /// `MDB_NORDAHEAD`: no read-ahead, for data sets larger than memory.
    public static let noReadAhead = Self(rawValue: 0x800000)
    /// `MDB_NOLOCK`: no locking at all; the caller serialises every access.
    public static let noLock = Self(rawValue: 0x400000)
}

/// Flags for opening a database inside an environment (`mdb_dbi_open`).
public struct DatabaseFlags: OptionSet, Hashable, Sendable {
    /// The raw `MDB_*` bits.
    public let rawValue: UInt32
    /// Wraps raw `MDB_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `MDB_REVERSEKEY`: keys compare from their last byte.
    public static let reverseKey = Self(rawValue: 0x02)
    /// `MDB_DUPSORT`: several sorted values per key.
    public static let duplicateSort = Self(rawValue: 0x04)
    /// `MDB_INTEGERKEY`: keys are native unsigned integers (`UInt32` or `UInt64`), all of one size.
    public static let integerKey = Self(rawValue: 0x08)
    /// `MDB_DUPFIXED`: with `duplicateSort`, every value has the same size.
    public static let duplicateFixed = Self(rawValue: 0x10)
    /// `MDB_INTEGERDUP`: with `duplicateSort`, values are native unsigned integers.
    public static let integerDuplicate = Self(rawValue: 0x20)
    /// `MDB_REVERSEDUP`: values compare from their last byte.
    public static let reverseDuplicate = Self(rawValue: 0x40)
    /// `MDB_CREATE`: create the database when it does not exist.
    public static let create = Self(rawValue: 0x40000)
}

/// Flags for `mdb_put` and `mdb_cursor_put`.
public struct PutFlags: OptionSet, Hashable, Sendable {
    /// The raw `MDB_*` bits.
    public let rawValue: UInt32
    /// Wraps raw `MDB_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `MDB_NOOVERWRITE`: fail with `keyExists` rather than replace a value.
    public static let noOverwrite = Self(rawValue: 0x10)
    /// `MDB_NODUPDATA`: in a `duplicateSort` database, fail when the pair exists.
    public static let noDuplicateData = Self(rawValue: 0x20)
    /// `MDB_CURRENT`: replace the value under the cursor.
    public static let current = Self(rawValue: 0x40)
    /// `MDB_APPEND`: the key is greater than every key; a fast path for sequences.
    public static let append = Self(rawValue: 0x20000)
    /// `MDB_APPENDDUP`: the value is greater than every value of its key.
    public static let appendDuplicate = Self(rawValue: 0x40000)
}
