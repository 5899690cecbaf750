import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An error returned by LMDB, with a code that callers can match on.
///
/// ```swift
/// do { try env.write { … } } catch LMDBError.mapFull { … }
/// ```
public struct LMDBError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The LMDB (or `errno`) code behind the error.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The raw value LMDB returned: one of the `MDB_*` codes or an `errno` value.
        public let rawValue: Int32

        /// Wraps a raw LMDB return code.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// `MDB_KEYEXIST`: the key (or key/data pair) is already there.
        public static var keyExists: Self { Self(rawValue: MDB_KEYEXIST) }
        /// `MDB_NOTFOUND`: no such key, or the cursor is past the end.
        public static var notFound: Self { Self(rawValue: MDB_NOTFOUND) }
        /// `MDB_CORRUPTED`: a page is not of the expected type.
        public static var corrupted: Self { Self(rawValue: MDB_CORRUPTED) }
        /// `MDB_PANIC`: a fatal error; the environment must be closed.
        public static var panic: Self { Self(rawValue: MDB_PANIC) }
        /// `MDB_VERSION_MISMATCH`: the file was written by an incompatible LMDB.
        public static var versionMismatch: Self { Self(rawValue: MDB_VERSION_MISMATCH) }
        /// `MDB_INVALID`: the file is not an LMDB file.
        public static var invalid: Self { Self(rawValue: MDB_INVALID) }
        /// `MDB_MAP_FULL`: the environment reached its map size.
        public static var mapFull: Self { Self(rawValue: MDB_MAP_FULL) }
        /// `MDB_DBS_FULL`: more named databases than `maxDatabases`.
        public static var databasesFull: Self { Self(rawValue: MDB_DBS_FULL) }
        /// `MDB_READERS_FULL`: every reader slot is taken.
        public static var readersFull: Self { Self(rawValue: MDB_READERS_FULL) }
        /// `MDB_TXN_FULL`: the transaction has too many dirty pages.
        public static var transactionFull: Self { Self(rawValue: MDB_TXN_FULL) }
        /// `MDB_MAP_RESIZED`: another process grew the map; the map must be adopted.
        public static var mapResized: Self { Self(rawValue: MDB_MAP_RESIZED) }
        /// `MDB_INCOMPATIBLE`: the database was opened with flags that do not match its contents.
        public static var incompatible: Self { Self(rawValue: MDB_INCOMPATIBLE) }
        /// `MDB_BAD_VALSIZE`: a key or value of an unsupported size.
        public static var badValueSize: Self { Self(rawValue: MDB_BAD_VALSIZE) }
        /// `MDB_BAD_TXN`: the transaction can no longer be used.
        public static var badTransaction: Self { Self(rawValue: MDB_BAD_TXN) }
        /// `EACCES`: a write on a read-only transaction or environment.
        public static var permissionDenied: Self { Self(rawValue: EACCES) }
        /// `ENOENT`: the directory or file does not exist.
        public static var noSuchFile: Self { Self(rawValue: ENOENT) }
        /// `ENOSPC`: the file system is full.
        public static var noSpace: Self { Self(rawValue: ENOSPC) }
        /// `EDQUOT`: the user's disk quota is used up.
        public static var quotaExceeded: Self { Self(rawValue: EDQUOT) }
        /// Not an LMDB code: this process's lock file was deleted or replaced under it, so it writes
        /// no more (another process may be writing through a new lock file).
        public static var lockFileLost: Self { Self(rawValue: -30_500) }

        /// `MDB_PAGE_NOTFOUND`: a page LMDB followed is not where it should be.
        public static var pageNotFound: Self { Self(rawValue: MDB_PAGE_NOTFOUND) }

        /// Whether the code means the file is damaged (rather than that an operation failed).
        public var isDamage: Bool { [.corrupted, .pageNotFound, .invalid, .versionMismatch, .panic].contains(self) }

        /// Whether the file system refused to store more: full disk or quota.
        public var isOutOfSpace: Bool { self == .noSpace || self == .quotaExceeded }

        /// Matches `catch LMDBError.mapFull` against any error.
        public static func ~= (pattern: Code, error: any Error) -> Bool {
            (error as? LMDBError)?.code == pattern
        }

        /// LMDB's own words for the code.
        public var description: String {
            switch self {
            case .lockFileLost: "lock file lost"
            case .noSpace: "no space left on device"
            case .quotaExceeded: "disk quota exceeded"
            default: String(cString: mdb_strerror(rawValue))
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// The LMDB call that failed, for the message.
    public let operation: String

    /// Creates an error for a failed LMDB call.
    public init(_ code: Code, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// `"mdb_put: MDB_MAP_FULL: Environment mapsize limit reached"`.
    public var description: String { code == .lockFileLost ? operation : "\(operation): \(code.description)" }

    /// An error value for a code, usable as a pattern: `catch LMDBError.mapFull`.
    public static var mapFull: Code { .mapFull }
    /// Pattern for `MDB_NOTFOUND`.
    public static var notFound: Code { .notFound }
    /// Pattern for `MDB_KEYEXIST`.
    public static var keyExists: Code { .keyExists }
    /// Pattern for `MDB_READERS_FULL`.
    public static var readersFull: Code { .readersFull }
}

@inline(__always)
@usableFromInline
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
    if rc != MDB_SUCCESS { throw LMDBError(.init(rawValue: rc), operation: operation()) }
}
