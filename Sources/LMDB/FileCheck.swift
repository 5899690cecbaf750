import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A data file LMDB must not be handed: damaged or truncated. Names the file and, when known, the byte.
public struct FileDamage: Error, Sendable, Hashable, CustomStringConvertible {
    /// The data file.
    public let path: String
    /// The file offset of the bad structure, when known.
    public let offset: UInt64?
    /// What is wrong.
    public let message: String

    /// Creates a damage report.
    public init(path: String, offset: UInt64?, message: String) {
        self.path = path
        self.offset = offset
        self.message = message
    }

    /// "data.mdb, byte 8192: …".
    public var description: String {
        "\(path)\(offset.map { ", byte \($0)" } ?? ""): \(message)"
    }
}

/// Reads a data file with bounds-checked `pread`s only: nothing it reads is ever followed as a pointer.
struct DataFile: ~Copyable {
    let descriptor: Int32
    let path: String
    let size: UInt64

    init(path: String) throws(FileDamage) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileDamage(path: path, offset: nil, message: "cannot be read: \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw FileDamage(path: path, offset: nil, message: "cannot be read: \(String(cString: strerror(errno)))")
        }
        descriptor = fd
        self.path = path
        size = UInt64(max(0, info.st_size))
    }

    deinit { close(descriptor) }

    /// `count` bytes at `offset`; throws when the file ends before.
    func read(_ count: Int, at offset: UInt64) throws(FileDamage) -> [UInt8] {
        guard offset <= size, UInt64(count) <= size - offset else {
            throw FileDamage(path: path, offset: offset, message: "the file ends at byte \(size), before the \(count) bytes needed here")
        }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw FileDamage(
                    path: path, offset: offset, message: "cannot be read here: \(n < 0 ? String(cString: strerror(errno)) : "end of file")")
            }
            done += n
        }
        return bytes
    }
}

extension Array where Element == UInt8 {
    @inline(__always) func u16(_ at: Int) -> UInt16 { UInt16(self[at]) | UInt16(self[at + 1]) << 8 }
    @inline(__always) func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
    @inline(__always) func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
}

/// The two meta pages at the start of an LMDB data file (LMDB 0.9, 64-bit, little-endian), and the
/// main tree they point to, checked before LMDB maps the file.
///
/// LMDB trusts its meta pages: a damaged one can make it map the file at a wrong size, follow a root
/// beyond the end of a truncated file (a `SIGBUS`), or, on a writable open, commit on top of the last
/// good meta and destroy the evidence. LMDB leaves everything in a meta page it does not use zero,
/// and commits alternate between the two pages (transaction *n* goes to page *n* mod 2), so a single
/// altered byte anywhere in them shows.
public enum MetaPages {
    static let magic: UInt32 = 0xBEEF_C0DE
    static let dataVersion: UInt32 = 1
    static let headerSize = 16
    static let metaEnd = 152
    static let invalidPage = UInt64.max

    /// One B-tree's record (`MDB_db`).
    struct Tree: Equatable {
        var pad: UInt32, flags: UInt16, depth: UInt16
        var branchPages: UInt64, leafPages: UInt64, overflowPages: UInt64, entries: UInt64, root: UInt64

        init(_ b: [UInt8], at o: Int) {
            pad = b.u32(o)
            flags = b.u16(o + 4)
            depth = b.u16(o + 6)
            branchPages = b.u64(o + 8)
            leafPages = b.u64(o + 16)
            overflowPages = b.u64(o + 24)
            entries = b.u64(o + 32)
            root = b.u64(o + 40)
        }
    }

    /// One meta page's fields.
    struct Meta {
        var pageSize: Int
        var mapSize: UInt64
        var free: Tree, main: Tree
        var lastPage: UInt64
        var transaction: UInt64
    }

    /// The current meta (the higher transaction) and the page size, after both pages passed.
    struct Checked {
        var pageSize: Int
        var metas: [Meta]
        var fileSize: UInt64
        var current: Meta { metas[0].transaction >= metas[1].transaction ? metas[0] : metas[1] }
    }

    /// Throws ``FileDamage`` naming the byte when the data file at `path` is shorter than its meta
    /// pages says or a meta page is damaged.
    ///
    /// A process committing while this reads may make the two pages disagree for a moment, so a
    /// disagreement is re-read a few times before it counts.
    public static func check(path: String) throws(FileDamage) {
        _ = try read(path: path)
    }

    static func read(path: String) throws(FileDamage) -> Checked {
        var attempt = 0
        while true {
            do {
                let file = try DataFile(path: path)
                return try read(file)
            } catch {
                attempt += 1
                if attempt >= 4 { throw error }
                usleep(5_000)
            }
        }
    }

    private static func read(_ file: borrowing DataFile) throws(FileDamage) -> Checked {
        let path = file.path
        func damage(_ offset: Int, _ message: String) -> FileDamage { FileDamage(path: path, offset: UInt64(offset), message: message) }
        guard file.size >= UInt64(metaEnd) else {
            throw FileDamage(
                path: path, offset: nil, message: "the file is \(file.size) bytes, shorter than its meta pages: truncated or not a ledger")
        }
        let first = try file.read(metaEnd, at: 0)
        let pageSize = Int(first.u32(headerSize + 24))
        guard pageSize >= 512, pageSize <= 65_536, pageSize & (pageSize - 1) == 0 else {
            throw damage(headerSize + 24, "meta page 0 names page size \(pageSize): not an LMDB ledger, or its first page is damaged")
        }
        guard file.size >= UInt64(2 * pageSize) else {
            throw FileDamage(
                path: path, offset: nil,
                message: "the file is \(file.size) bytes, shorter than its two \(pageSize)-byte meta pages: truncated")
        }
        let bytes = try file.read(2 * pageSize, at: 0)
        var metas: [Meta] = []
        for index in 0..<2 {
            let base = index * pageSize
            let page = Array(bytes[base..<(base + pageSize)])
            func bad(_ offset: Int, _ message: String) -> FileDamage { damage(base + offset, "meta page \(index) is damaged: \(message)") }
            guard page.u64(0) == UInt64(index) else { throw bad(0, "it names itself page \(page.u64(0))") }
            guard page.u16(8) == 0, page.u16(10) == 0x08, page.u32(12) == 0 else { throw bad(8, "its page header is not a meta page's") }
            guard page.u32(headerSize) == magic else { throw bad(headerSize, "wrong magic number (not an LMDB file?)") }
            guard page.u32(headerSize + 4) == dataVersion else {
                throw bad(headerSize + 4, "data format \(page.u32(headerSize + 4)), LMDB 0.9 writes 1")
            }
            guard page.u64(headerSize + 8) == 0 else { throw bad(headerSize + 8, "a fixed map address is set") }
            if let nonZero = page[metaEnd...].firstIndex(where: { $0 != 0 }) {
                throw bad(nonZero, "a byte LMDB never writes is not zero")
            }
            let meta = Meta(
                pageSize: Int(page.u32(headerSize + 24)), mapSize: page.u64(headerSize + 16),
                free: Tree(page, at: headerSize + 24), main: Tree(page, at: headerSize + 72),
                lastPage: page.u64(headerSize + 120), transaction: page.u64(headerSize + 128))
            guard meta.pageSize == pageSize else {
                throw bad(headerSize + 24, "page size \(meta.pageSize), the other meta page says \(pageSize)")
            }
            guard meta.mapSize > 0, meta.mapSize % UInt64(pageSize) == 0, meta.mapSize <= 1 << 46 else {
                throw bad(headerSize + 16, "implausible map size \(meta.mapSize)")
            }
            guard meta.lastPage >= 1, meta.lastPage < UInt64.max / UInt64(pageSize) else {
                throw bad(headerSize + 120, "last page \(meta.lastPage)")
            }
            guard meta.transaction == 0 || meta.transaction % 2 == UInt64(index) else {
                throw bad(headerSize + 128, "transaction \(meta.transaction) cannot be stored in this page")
            }
            guard meta.free.flags & ~0x4009 == 0x0000, meta.free.flags & 0x08 != 0 else {
                throw bad(headerSize + 28, "free-page tree flags \(meta.free.flags)")
            }
            guard meta.main.pad == 0, meta.main.flags & ~0x7e == 0 else { throw bad(headerSize + 72, "main tree flags \(meta.main.flags)") }
            for (tree, offset, name) in [(meta.free, headerSize + 24, "free-page"), (meta.main, headerSize + 72, "main")] {
                if let problem = sanity(tree, lastPage: meta.lastPage) { throw bad(offset, "\(name) tree: \(problem)") }
            }
            metas.append(meta)
        }
        let (a, b) = (metas[0].transaction, metas[1].transaction)
        guard (a == 0 && b <= 1) || (a > b ? a - b : b - a) == 1 else {
            throw damage(headerSize + 128, "the meta pages' transactions \(a) and \(b) are not consecutive: one of them is damaged")
        }
        let (older, newer) = a > b ? (metas[1], metas[0]) : (metas[0], metas[1])
        guard older.lastPage <= newer.lastPage else {
            throw damage(
                headerSize + 120, "the older meta page uses more pages (\(older.lastPage + 1)) than the newer (\(newer.lastPage + 1))")
        }
        guard older.mapSize <= newer.mapSize else { throw damage(headerSize + 16, "the older meta page has the larger map size") }
        let needed = (newer.lastPage + 1) * UInt64(pageSize)
        guard file.size >= needed else {
            throw FileDamage(
                path: path, offset: file.size,
                message: "the file is \(file.size) bytes but its meta page uses \(newer.lastPage + 1) pages (\(needed) bytes): truncated")
        }
        // The main tree is a page or two (one node per named database): walking it is cheap, and
        // checks the counts in the meta page that no field test can, and every named database's record.
        var walk = PageWalk(file: try DataFile(path: path), pageSize: pageSize, lastPage: newer.lastPage)
        for (name, tree) in try walk.walk(newer.main, name: "main", isMain: true) {
            if let problem = sanity(tree, lastPage: newer.lastPage) {
                throw FileDamage(path: path, offset: nil, message: "the record of table \"\(name)\" is damaged: \(problem)")
            }
        }
        return Checked(pageSize: pageSize, metas: metas, fileSize: file.size)
    }

    /// What is implausible about a tree record, or `nil`.
    static func sanity(_ tree: Tree, lastPage: UInt64) -> String? {
        if tree.root == invalidPage {
            guard tree.depth == 0, tree.entries == 0, tree.branchPages == 0, tree.leafPages == 0, tree.overflowPages == 0 else {
                return "empty, yet it counts pages or entries"
            }
            return nil
        }
        guard tree.root >= 2, tree.root <= lastPage else { return "root page \(tree.root) is outside the file's pages 2…\(lastPage)" }
        guard tree.depth >= 1, tree.depth <= 32 else { return "depth \(tree.depth)" }
        let (pages, overflow) = tree.branchPages.addingReportingOverflow(tree.leafPages)
        let (all, overflow2) = pages.addingReportingOverflow(tree.overflowPages)
        guard !overflow, !overflow2, all <= lastPage, tree.leafPages >= 1 else { return "page counts do not fit the file" }
        return nil
    }
}
