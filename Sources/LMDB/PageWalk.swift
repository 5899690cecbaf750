import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a walk of every B-tree of the data file found: per named database, its entries.
public struct StructureReport: Sendable, Hashable {
    /// Pages reached from the current meta page, each exactly once.
    public let pages: UInt64
    /// Entries per named database, counted from the leaves.
    public let entries: [String: UInt64]
}

/// Walks every B-tree of an LMDB data file (the free-page tree, the main tree and each named
/// database, with their duplicate sub-pages and sub-trees and overflow pages) reading pages with
/// `pread` into arrays, checking each page number against the file, each page header, each node's
/// offsets and sizes, the depth and every count against the tree records.
///
/// LMDB follows page numbers and node offsets into its map unchecked: a damaged branch node sends
/// it past the end of the file (`SIGBUS`) or into garbage (`SIGSEGV`). Walking the same structures
/// first, with every read bounds-checked, turns such damage into a report, and only a file that
/// passes is handed to LMDB's own cursors. The walk is independent of LMDB's code, so it reads the
/// on-disk layout of LMDB 0.9 on 64-bit little-endian machines, the only one LeadLedger writes.
struct PageWalk: ~Copyable {
    static let branch: UInt16 = 0x01, leaf: UInt16 = 0x02, overflow: UInt16 = 0x04, leaf2: UInt16 = 0x20, subPage: UInt16 = 0x40
    static let bigData: UInt16 = 0x01, subData: UInt16 = 0x02, dupData: UInt16 = 0x04
    static let duplicateSort: UInt16 = 0x04

    let file: DataFile
    let pageSize: Int
    let pageCount: UInt64
    var seen: [UInt64]
    var pagesVisited: UInt64 = 0

    init(file: consuming DataFile, pageSize: Int, lastPage: UInt64) {
        self.pageSize = pageSize
        pageCount = lastPage + 1
        seen = [UInt64](repeating: 0, count: Int(pageCount / 64) + 1)
        self.file = file
    }

    func damage(_ page: UInt64, _ offset: Int, _ message: String) -> FileDamage {
        FileDamage(path: file.path, offset: page * UInt64(pageSize) + UInt64(offset), message: message)
    }

    /// Reads page `number` once; a second visit means two trees (or two parents) share it.
    mutating func page(_ number: UInt64, from parent: String) throws(FileDamage) -> [UInt8] {
        guard number >= 2, number < pageCount else {
            throw FileDamage(
                path: file.path, offset: nil, message: "\(parent) points to page \(number), outside the file's pages 2…\(pageCount - 1)")
        }
        try mark(number, from: parent)
        let bytes = try file.read(pageSize, at: number * UInt64(pageSize))
        guard bytes.u64(0) == number else { throw damage(number, 0, "page \(number) names itself page \(bytes.u64(0)) (\(parent))") }
        return bytes
    }

    mutating func mark(_ number: UInt64, from parent: String) throws(FileDamage) {
        let (word, bit) = (Int(number / 64), number % 64)
        guard seen[word] & (1 << bit) == 0 else {
            throw FileDamage(path: file.path, offset: number * UInt64(pageSize), message: "page \(number) is reached twice (\(parent))")
        }
        seen[word] |= 1 << bit
        pagesVisited += 1
    }

    struct Counts {
        var branch: UInt64 = 0, leaf: UInt64 = 0, overflow: UInt64 = 0, entries: UInt64 = 0
    }

    /// Walks the tree described by `tree`; compares what it finds with the record. Returns the
    /// named databases' records when `isMain`.
    @discardableResult
    mutating func walk(_ tree: MetaPages.Tree, name: String, isMain: Bool = false) throws(FileDamage) -> [(String, MetaPages.Tree)] {
        if let problem = MetaPages.sanity(tree, lastPage: pageCount - 1) {
            throw FileDamage(path: file.path, offset: nil, message: "the \(name) tree's record is damaged: \(problem)")
        }
        if tree.root == MetaPages.invalidPage { return [] }
        var counts = Counts()
        var subDatabases: [(String, MetaPages.Tree)] = []
        try visit(tree.root, level: 1, tree: tree, name: name, isMain: isMain, counts: &counts, subDatabases: &subDatabases)
        guard counts.branch == tree.branchPages, counts.leaf == tree.leafPages, counts.overflow == tree.overflowPages,
            counts.entries == tree.entries
        else {
            throw FileDamage(
                path: file.path, offset: tree.root * UInt64(pageSize),
                message:
                    "the \(name) tree holds \(counts.branch)/\(counts.leaf)/\(counts.overflow) branch/leaf/overflow pages and \(counts.entries) entries; its record says \(tree.branchPages)/\(tree.leafPages)/\(tree.overflowPages) and \(tree.entries)"
            )
        }
        return subDatabases
    }

    private mutating func visit(
        _ number: UInt64, level: Int, tree: MetaPages.Tree, name: String, isMain: Bool, counts: inout Counts,
        subDatabases: inout [(String, MetaPages.Tree)]
    ) throws(FileDamage) {
        let where_ = "the \(name) tree"
        let p = try page(number, from: where_)
        let flags = p.u16(10), lower = Int(p.u16(12)), upper = Int(p.u16(14))
        let isLeaf2 = flags == Self.leaf | Self.leaf2
        guard flags == Self.branch || flags == Self.leaf || isLeaf2 else {
            throw damage(number, 10, "page \(number) of \(where_) has flags \(flags), not a branch or leaf page's")
        }
        guard lower >= 16, (lower - 16) % 2 == 0, lower <= upper, upper <= pageSize else {
            throw damage(number, 12, "page \(number) of \(where_) has free space \(lower)…\(upper), impossible")
        }
        let count = (lower - 16) / 2
        guard count >= 1 || (level == 1 && flags != Self.branch) else { throw damage(number, 12, "page \(number) of \(where_) is empty") }
        let isLeafLevel = flags != Self.branch
        guard isLeafLevel == (level == Int(tree.depth)) else {
            throw damage(
                number, 10,
                "page \(number) of \(where_) is a \(isLeafLevel ? "leaf" : "branch") at level \(level) of a tree of depth \(tree.depth)")
        }
        if isLeaf2 {
            let keySize = Int(tree.pad)
            guard keySize >= 1, keySize <= 511, 16 + count * keySize <= pageSize else {
                throw damage(number, 12, "page \(number) of \(where_) holds \(count) fixed-size keys of \(keySize) bytes, more than fit")
            }
            counts.leaf += 1
            counts.entries += UInt64(count)
            return
        }
        var children: [UInt64] = []
        for i in 0..<count {
            let offset = Int(p.u16(16 + 2 * i))
            guard offset >= upper, offset % 2 == 0, offset + 8 <= pageSize else {
                throw damage(
                    number, 16 + 2 * i, "node \(i) of page \(number) (\(where_)) lies at offset \(offset), outside the page's node area")
            }
            let lo = UInt64(p.u16(offset)), hi = UInt64(p.u16(offset + 2)), nodeFlags = p.u16(offset + 4), keySize = Int(p.u16(offset + 6))
            guard offset + 8 + keySize <= pageSize else {
                throw damage(number, offset + 6, "node \(i) of page \(number) has a \(keySize)-byte key that overruns the page")
            }
            if !isLeafLevel {
                guard i == 0 || keySize >= 1 else { throw damage(number, offset + 6, "branch node \(i) of page \(number) has no key") }
                children.append(lo | hi << 16 | UInt64(nodeFlags) << 32)
                continue
            }
            guard keySize >= 1 else { throw damage(number, offset + 6, "leaf node \(i) of page \(number) has no key") }
            guard nodeFlags & ~(Self.bigData | Self.subData | Self.dupData) == 0 else {
                throw damage(number, offset + 4, "leaf node \(i) of page \(number) has flags \(nodeFlags)")
            }
            let dataSize = Int(lo | hi << 16)
            let dataStart = offset + 8 + keySize
            if nodeFlags & Self.bigData != 0 {
                guard nodeFlags == Self.bigData, dataStart + 8 <= pageSize else {
                    throw damage(number, offset + 4, "leaf node \(i) of page \(number) is a damaged overflow reference")
                }
                try overflowPages(p.u64(dataStart), dataSize: dataSize, from: "node \(i) of page \(number) (\(where_))", counts: &counts)
                counts.entries += 1
                continue
            }
            guard dataStart + dataSize <= pageSize else {
                throw damage(number, offset, "leaf node \(i) of page \(number) has \(dataSize) bytes of data that overrun the page")
            }
            if nodeFlags & Self.subData != 0 {
                guard dataSize == 48 else {
                    throw damage(number, offset, "leaf node \(i) of page \(number) holds a \(dataSize)-byte tree record, not 48")
                }
                let sub = MetaPages.Tree(p, at: dataStart)
                if isMain {
                    guard nodeFlags == Self.subData else {
                        throw damage(number, offset + 4, "named database node \(i) of page \(number) has flags \(nodeFlags)")
                    }
                    subDatabases.append((String(decoding: p[(offset + 8)..<dataStart], as: UTF8.self), sub))
                    counts.entries += 1
                } else {
                    // The duplicates of one key, in a tree of their own.
                    guard nodeFlags == Self.subData | Self.dupData, tree.flags & Self.duplicateSort != 0 else {
                        throw damage(
                            number, offset + 4, "leaf node \(i) of page \(number) holds a sub-tree in a database without duplicates")
                    }
                    var subCounts = Counts()
                    if let problem = MetaPages.sanity(sub, lastPage: pageCount - 1) {
                        throw damage(number, dataStart, "the duplicates of node \(i) of page \(number): \(problem)")
                    }
                    var none: [(String, MetaPages.Tree)] = []
                    if sub.root != MetaPages.invalidPage {
                        try visit(
                            sub.root, level: 1, tree: sub, name: "\(name) duplicates", isMain: false, counts: &subCounts,
                            subDatabases: &none)
                    }
                    guard subCounts.entries == sub.entries, subCounts.branch == sub.branchPages, subCounts.leaf == sub.leafPages,
                        subCounts.overflow == 0
                    else {
                        throw damage(
                            number, dataStart,
                            "the duplicates of node \(i) of page \(number) count \(subCounts.entries), their record says \(sub.entries)")
                    }
                    // LMDB counts a duplicates tree's pages in its own record only; its values count in both.
                    counts.entries += subCounts.entries
                }
                continue
            }
            if nodeFlags & Self.dupData != 0 {
                guard tree.flags & Self.duplicateSort != 0 else {
                    throw damage(number, offset + 4, "leaf node \(i) of page \(number) holds duplicates in a database without them")
                }
                counts.entries += try subPage(Array(p[dataStart..<(dataStart + dataSize)]), page: number, at: dataStart)
                continue
            }
            counts.entries += 1
        }
        if !isLeafLevel {
            counts.branch += 1
            for child in children {
                try visit(child, level: level + 1, tree: tree, name: name, isMain: isMain, counts: &counts, subDatabases: &subDatabases)
            }
        } else {
            counts.leaf += 1
        }
    }

    /// The duplicates of one key kept inside its node: a small page of their own. Returns how many.
    private func subPage(_ s: [UInt8], page number: UInt64, at start: Int) throws(FileDamage) -> UInt64 {
        guard s.count >= 16 else { throw damage(number, start, "a duplicates sub-page of page \(number) is \(s.count) bytes") }
        // LMDB leaves the dirty bit (0x10) set on sub-pages.
        let flags = s.u16(10) & ~0x10, lower = Int(s.u16(12)), upper = Int(s.u16(14))
        guard flags == Self.leaf | Self.subPage || flags == Self.leaf | Self.subPage | Self.leaf2 else {
            throw damage(number, start + 10, "a duplicates sub-page of page \(number) has flags \(flags)")
        }
        guard lower >= 16, (lower - 16) % 2 == 0, lower <= upper, upper <= s.count else {
            throw damage(number, start + 12, "a duplicates sub-page of page \(number) has free space \(lower)…\(upper) in \(s.count) bytes")
        }
        let count = (lower - 16) / 2
        guard count >= 1 else { throw damage(number, start + 12, "a duplicates sub-page of page \(number) is empty") }
        if flags & Self.leaf2 != 0 {
            let keySize = Int(s.u16(8))
            guard keySize >= 1, 16 + count * keySize <= s.count else {
                throw damage(
                    number, start + 8, "a duplicates sub-page of page \(number) holds \(count) values of \(keySize) bytes, more than fit")
            }
            return UInt64(count)
        }
        for i in 0..<count {
            let offset = Int(s.u16(16 + 2 * i))
            guard offset >= upper, offset + 8 <= s.count, offset + 8 + Int(s.u16(offset + 6)) <= s.count else {
                throw damage(number, start + 16 + 2 * i, "value \(i) of a duplicates sub-page of page \(number) overruns it")
            }
        }
        return UInt64(count)
    }

    private mutating func overflowPages(_ first: UInt64, dataSize: Int, from parent: String, counts: inout Counts) throws(FileDamage) {
        let needed = UInt64((16 - 1 + dataSize) / pageSize + 1)
        let p = try page(first, from: parent)
        guard p.u16(10) == Self.overflow else {
            throw damage(first, 10, "page \(first), the overflow data of \(parent), has flags \(p.u16(10))")
        }
        guard UInt64(p.u32(12)) == needed else {
            throw damage(first, 12, "overflow page \(first) spans \(p.u32(12)) pages; its \(dataSize) bytes need \(needed)")
        }
        guard first + needed <= pageCount else { throw damage(first, 12, "overflow page \(first) runs past the file's last page") }
        for extra in 1..<max(needed, 1) { try mark(first + extra, from: parent) }
        counts.overflow += needed
    }
}

extension Environment {
    /// Walks every B-tree of the data file as of the current snapshot, with bounds-checked reads
    /// only (see `PageWalk`); throws ``FileDamage`` naming the first bad structure.
    ///
    /// A read transaction is held meanwhile, so a writer in another process cannot reuse the pages
    /// being walked; the walk follows the meta page that transaction sees.
    public func checkStructure() throws -> StructureReport {
        let dataPath = flags.contains(.noSubdirectory) ? path : path + "/data.mdb"
        return try read { txn in
            let snapshot = UInt64(mdb_txn_id(txn.handle))
            let checked = try MetaPages.read(path: dataPath)
            guard let meta = checked.metas.first(where: { $0.transaction == snapshot }) else {
                throw FileDamage(path: dataPath, offset: nil, message: "neither meta page holds the transaction being read (\(snapshot))")
            }
            var walk = PageWalk(file: try DataFile(path: dataPath), pageSize: checked.pageSize, lastPage: meta.lastPage)
            try walk.walk(meta.free, name: "free-page")
            var entries: [String: UInt64] = [:]
            // Named databases are walked after the main tree, whose nodes hold their records.
            for (name, tree) in try walk.walk(meta.main, name: "main", isMain: true) {
                try walk.walk(tree, name: "\"\(name)\"")
                entries[name] = tree.entries
            }
            return StructureReport(pages: walk.pagesVisited, entries: entries)
        }
    }
}
