import Crypto
import Foundation
import LMDB

/// The Merkle tree over the log's record hashes, hashed as RFC 6962 (and RFC 9162) hash a log:
/// leaf `i` is `SHA-256(0x00 ‖ hash of the record at position i + 1)`, an inner node is
/// `SHA-256(0x01 ‖ left ‖ right)`, and a tree of `n` leaves splits at the largest power of two below `n`.
///
/// The tree lets one lead's records be proven part of a signed head without the rest of the ledger:
/// an inclusion proof holds about log₂ n hashes.
///
/// Storage, in the log's `meta` table, written in the transaction of the records it covers:
/// - the frontier (`merkle-frontier`): the roots of the complete subtrees along the right edge, at
///   most one per level, so appending a leaf costs O(log n) hashes at worst and O(1) on average;
/// - every complete subtree of 2⁶ leaves or more (`m` ‖ level ‖ index, big-endian), so a proof reads
///   stored nodes and recomputes at most 64 leaves per level below. Smaller subtrees are not stored:
///   they would cost more to write than to recompute from the records.
public enum MerkleTree {
    /// The lowest level whose complete subtrees are stored.
    public static let storedLevel = 6
    static let frontierKey = Array("merkle-frontier".utf8)

    /// The hash of a leaf whose record hash is `recordHash`.
    public static func leafHash(_ recordHash: some Sequence<UInt8>) -> [UInt8] {
        // Every append hashes a leaf and about one node: straight from the bytes, with no copy of them.
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(0)) { hasher.update(bufferPointer: $0) }
        if recordHash.withContiguousStorageIfAvailable({ hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }) == nil {
            hasher.update(data: Array(recordHash))
        }
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    /// The hash of an inner node.
    public static func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        withUnsafeBytes(of: UInt8(1)) { hasher.update(bufferPointer: $0) }
        left.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        right.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize().withUnsafeBytes { Array($0) }
    }

    /// The root of an empty tree: SHA-256 of nothing.
    public static let emptyRoot = Array(SHA256.hash(data: [UInt8]()))

    /// The largest power of two strictly below `n` (n ≥ 2).
    static func split(_ n: UInt64) -> UInt64 {
        var k: UInt64 = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// Checks an inclusion proof (RFC 9162 §2.1.3.2): that `leafHash` is leaf `index` of the tree of
    /// `treeSize` leaves whose root is `root`.
    public static func verifyInclusion(leafHash: [UInt8], index: UInt64, treeSize: UInt64, path: [[UInt8]], root: [UInt8]) -> Bool {
        guard index < treeSize, path.allSatisfy({ $0.count == 32 }) else { return false }
        var fn = index
        var sn = treeSize - 1
        var r = leafHash
        for p in path {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    // MARK: The frontier, as the writer keeps it

    /// The right edge of the tree: complete subtrees, largest first, at most one per level.
    struct Frontier: Equatable {
        /// Leaves covered.
        var size: UInt64 = 0
        var nodes: [(level: UInt8, hash: [UInt8])] = []

        static func == (a: Frontier, b: Frontier) -> Bool {
            a.size == b.size && a.nodes.count == b.nodes.count && zip(a.nodes, b.nodes).allSatisfy { $0.level == $1.level && $0.hash == $1.hash }
        }

        /// Appends a leaf; calls `store` with each complete subtree of a stored level it completes.
        mutating func append(leaf: [UInt8], store: (_ level: UInt8, _ index: UInt64, _ hash: [UInt8]) throws -> Void) rethrows {
            var level: UInt8 = 0
            var hash = leaf
            let leafIndex = size
            size += 1
            while let last = nodes.last, last.level == level {
                nodes.removeLast()
                hash = MerkleTree.nodeHash(last.hash, hash)
                level += 1
                if Int(level) >= MerkleTree.storedLevel { try store(level, leafIndex >> UInt64(level), hash) }
            }
            nodes.append((level, hash))
        }

        /// The root of the tree of `size` leaves.
        var root: [UInt8] {
            guard var hash = nodes.last?.hash else { return MerkleTree.emptyRoot }
            for node in nodes.dropLast().reversed() { hash = MerkleTree.nodeHash(node.hash, hash) }
            return hash
        }

        var encoded: [UInt8] {
            var out = withUnsafeBytes(of: size.littleEndian) { Array($0) }
            for node in nodes {
                out.append(node.level)
                out.append(contentsOf: node.hash)
            }
            return out
        }

        init() {}

        /// Decodes a stored frontier, checking that its levels are what a tree of its size has.
        init(decoding bytes: UnsafeRawBufferPointer) throws(StoredDamage) {
            guard bytes.count >= 8, (bytes.count - 8) % 33 == 0 else {
                throw StoredDamage(table: "meta", message: "the Merkle frontier is \(bytes.count) bytes")
            }
            size = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
            var offset = 8
            while offset < bytes.count {
                nodes.append((bytes[offset], Array(bytes[(offset + 1)..<(offset + 33)])))
                offset += 33
            }
            let expected = (0..<64).reversed().filter { size & (1 << UInt64($0)) != 0 }.map(UInt8.init)
            guard nodes.map(\.level) == expected else {
                throw StoredDamage(table: "meta", message: "the Merkle frontier's levels do not match its size \(size)")
            }
        }
    }

    static func nodeKey(level: UInt8, index: UInt64) -> [UInt8] {
        [UInt8(ascii: "m"), level] + withUnsafeBytes(of: index.bigEndian) { Array($0) }
    }

    static func loadFrontier(_ txn: borrowing Transaction, meta: Database) throws -> Frontier? {
        try frontierKey.withUnsafeBytes { key in
            try txn.withValue(forKey: key, in: meta) { value in try value.map { try Frontier(decoding: $0) } }
        }
    }

    static func storeFrontier(_ frontier: Frontier, _ txn: borrowing Transaction, meta: Database) throws {
        try frontier.encoded.withUnsafeBytes { value in try frontierKey.withUnsafeBytes { try txn.put(value, forKey: $0, in: meta) } }
    }

    static func storeNode(level: UInt8, index: UInt64, hash: [UInt8], _ txn: borrowing Transaction, meta: Database) throws {
        try hash.withUnsafeBytes { value in try nodeKey(level: level, index: index).withUnsafeBytes { try txn.put(value, forKey: $0, in: meta) } }
    }

    /// Builds the frontier over the first `size` records, storing every node of a stored level on
    /// the way: for a log written before the tree existed, once, in the transaction of its next append.
    static func rebuild(_ txn: borrowing Transaction, events: Database, meta: Database, size: UInt64) throws -> Frontier {
        var frontier = Frontier()
        var failure: (any Error)?
        try txn.withCursor(on: events) { cursor in
            try cursor.forEach { entry in
                let position = try StoredBytes.position(entry.key, table: "events")
                if position > size { return false }
                let view = try RecordView(checking: entry.value, at: position)
                guard position == frontier.size + 1 else {
                    failure = StoredDamage(table: "events", message: "position \(frontier.size + 1) is missing")
                    return false
                }
                try frontier.append(leaf: leafHash(view.hashBytes)) { level, index, hash in
                    try storeNode(level: level, index: index, hash: hash, txn, meta: meta)
                }
                return true
            }
        }
        if let failure { throw failure }
        return frontier
    }
}

/// Reads the tree of one snapshot: roots and inclusion proofs of any size up to the head.
struct MerkleReader: ~Copyable {
    let txn: UnsafePointer<Transaction>
    let dbs: EventLog.Databases

    func leaf(_ index: UInt64) throws -> [UInt8] {
        let hash: [UInt8]? = try txn.pointee.withValue(forKey: index + 1, in: dbs.events) { bytes in
            try bytes.map { Array(try RecordView(checking: $0, at: index + 1).hashBytes) }
        }
        guard let hash else { throw StoredDamage(table: "events", message: "the record at position \(index + 1) is missing") }
        return MerkleTree.leafHash(hash)
    }

    /// The root of leaves `lo..<hi` (hi > lo).
    func root(_ lo: UInt64, _ hi: UInt64) throws -> [UInt8] {
        let n = hi - lo
        if n == 1 { return try leaf(lo) }
        if n & (n - 1) == 0, lo % n == 0 {
            let level = UInt8(n.trailingZeroBitCount)
            if Int(level) >= MerkleTree.storedLevel {
                let stored = try MerkleTree.nodeKey(level: level, index: lo / n).withUnsafeBytes { key in
                    try txn.pointee.withValue(forKey: key, in: dbs.meta) { $0.map(Array.init) }
                }
                if let stored {
                    guard stored.count == 32 else {
                        throw StoredDamage(table: "meta", message: "the Merkle node \(level)/\(lo / n) is \(stored.count) bytes")
                    }
                    return stored
                }
            }
        }
        let k = MerkleTree.split(n)
        return MerkleTree.nodeHash(try root(lo, lo + k), try root(lo + k, hi))
    }

    /// The tree's root at `size` leaves.
    func root(size: UInt64) throws -> [UInt8] {
        size == 0 ? MerkleTree.emptyRoot : try root(0, size)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 PATH), leaf side first.
    func path(_ index: UInt64, size: UInt64) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        try path(index, 0, size, into: &out)
        return out
    }

    private func path(_ m: UInt64, _ lo: UInt64, _ hi: UInt64, into out: inout [[UInt8]]) throws {
        let n = hi - lo
        if n <= 1 { return }
        let k = MerkleTree.split(n)
        if m < k {
            try path(m, lo, lo + k, into: &out)
            out.append(try root(lo + k, hi))
        } else {
            try path(m - k, lo + k, hi, into: &out)
            out.append(try root(lo, lo + k))
        }
    }
}

extension EventLog {
    /// The Merkle root over the first `size` records (the head when nil), and that size.
    public func merkleRoot(size: UInt64? = nil) throws -> (size: UInt64, root: [UInt8]) {
        try env.read { txn in
            let head = try Self.readHead(txn, dbs).position
            let size = size ?? head
            guard size <= head else { throw MerkleError("the ledger holds \(head) events; a tree of \(size) does not exist") }
            return try withUnsafeTransaction(txn) { pointer in
                let reader = MerkleReader(txn: pointer, dbs: dbs)
                return (size, try reader.root(size: size))
            }
        }
    }

    /// The inclusion proof of the record at `position` in the tree of the first `treeSize` records.
    public func inclusionProof(position: UInt64, treeSize: UInt64) throws -> [[UInt8]] {
        guard position >= 1, position <= treeSize else { throw MerkleError("position \(position) is not in a tree of \(treeSize) events") }
        return try env.read { txn in
            let head = try Self.readHead(txn, dbs).position
            guard treeSize <= head else { throw MerkleError("the ledger holds \(head) events; a tree of \(treeSize) does not exist") }
            return try withUnsafeTransaction(txn) { pointer in
                let reader = MerkleReader(txn: pointer, dbs: dbs)
                return try reader.path(position - 1, size: treeSize)
            }
        }
    }
}

/// A Merkle root or proof asked of a tree the ledger does not hold.
public struct MerkleError: Error, Sendable, CustomStringConvertible {
    /// What was asked, and why it cannot be answered.
    public let description: String
    init(_ description: String) { self.description = description }
}
