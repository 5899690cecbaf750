import Crypto
import Foundation
import LMDB

/// Proof that a stream's records (for LeadLedger: one lead's events) are part of a signed head,
/// checkable offline without the rest of the log: a signed receipt, and for each record its stored
/// bytes, the hash of the record before it, and its Merkle inclusion path against the receipt's root.
///
/// It reveals the stream's own records and nothing of the others but hashes.
///
/// A checker recomputes, for each record: the chained hash `SHA-256(previousHash ‖ position as
/// UInt64 LE ‖ record[0..<32] ‖ record[64...])`, which must equal the hash stored in `record[32..<64]`;
/// the leaf `SHA-256(0x00 ‖ that hash)`; and the path up to the receipt's `treeRoot` (RFC 9162
/// §2.1.3.2). Then the receipt's signature.
public struct StreamProof: Sendable, Hashable, Codable {
    /// One record of the stream and the path from it to the root.
    public struct Entry: Sendable, Hashable, Codable {
        /// Its position.
        public let position: UInt64
        /// The hash of the record before it (the genesis hash, zeros, at position 1), hex.
        public let previousHash: String
        /// The stored record, header and payload, base64.
        public let record: String
        /// The inclusion path, hashes hex, leaf side first.
        public let path: [String]
    }

    /// The format tag, `leadledger-proof/1`.
    public let format: String
    /// The stream's name (the lead).
    public let stream: String
    /// The signed head the records are proven part of.
    public let receipt: SignedReceipt
    /// The stream's records through the receipt's position, in order.
    public let records: [Entry]

    /// The format tag this version writes and reads.
    public static let formatTag = "leadledger-proof/1"

    /// Why the proof does not hold, or nil when it does: every record's hash, every path to the
    /// receipt's root, and the receipt's signature under `trustedKey` (hex; the receipt's own key
    /// when nil).
    ///
    /// The stream's name is not part of a record's hash: pass `streamName`, which reads the name a
    /// record's payload holds (a ledger event's lead), so that a proof relabelled with another
    /// stream's name fails instead of vouching for it.
    public func problem(trustedKey: String? = nil, streamName: ((UnsafeRawBufferPointer) -> String?)? = nil) -> String? {
        guard format == Self.formatTag else { return "the proof's format is \"\(format)\"; this LeadLedger reads \(Self.formatTag)" }
        if let problem = receipt.problem(trustedKey: trustedKey) { return problem }
        guard !records.isEmpty else { return "the proof holds no record" }
        guard let root = Hex.decode(receipt.treeRoot) else { return "the receipt's treeRoot is not hex" }
        var streamNumber: UInt32?
        var last: UInt64 = 0
        for (i, entry) in records.enumerated() {
            let name = "record \(i + 1) (position \(entry.position))"
            guard entry.position > last, entry.position <= receipt.position else {
                return "\(name): positions must increase and not pass the receipt's \(receipt.position)"
            }
            last = entry.position
            guard let data = Data(base64Encoded: entry.record), data.count >= LogRecordLayout.headerSize else {
                return "\(name): the record is not base64 of at least \(LogRecordLayout.headerSize) bytes"
            }
            // Base64 decoders ignore the unused low bits of a last character: only the one text
            // that encodes the bytes is accepted, so a proof's text cannot change without failing.
            guard data.base64EncodedString() == entry.record else {
                return "\(name): the record is not in canonical base64 (its last character's unused bits are set)"
            }
            let bytes = Array(data)
            guard let previous = Hex.decode(entry.previousHash), previous.count == 32 else {
                return "\(name): previousHash is not 32 bytes of hex"
            }
            let number = bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: LogRecordLayout.streamOffset, as: UInt32.self)) }
            guard number != 0, streamNumber == nil || streamNumber == number else {
                return "\(name): it belongs to another stream than the proof's first record"
            }
            streamNumber = number
            let digest = previous.withUnsafeBytes { p in
                bytes.withUnsafeBytes { LogRecordLayout.chainHash(previous: p, position: entry.position, record: $0) }
            }
            let stored = Array(bytes[LogRecordLayout.hashOffset..<LogRecordLayout.headerSize])
            guard Array(digest) == stored else { return "\(name): the record's contents do not match its hash" }
            if let streamName {
                let named = bytes.withUnsafeBytes { streamName(UnsafeRawBufferPointer(rebasing: $0[LogRecordLayout.headerSize...])) }
                guard named == stream else {
                    return "\(name): its event names \(named.map { "\"\($0)\"" } ?? "no lead"), not the proof's \"\(stream)\""
                }
            }
            let path = entry.path.compactMap(Hex.decode)
            guard path.count == entry.path.count else { return "\(name): its path holds something that is not hex" }
            guard
                MerkleTree.verifyInclusion(
                    leafHash: MerkleTree.leafHash(stored), index: entry.position - 1, treeSize: receipt.position, path: path, root: root)
            else {
                return "\(name): its path does not lead to the receipt's root: it is not part of the signed head"
            }
        }
        return nil
    }

    /// Decodes a proof from its JSON, naming what is wrong.
    public static func decode(_ data: Data) throws -> StreamProof {
        do { return try JSONDecoder().decode(StreamProof.self, from: data) } catch {
            throw ProofFormatError("not a proof: \(error)")
        }
    }
}

extension EventLog {
    /// The proof that the records of `stream` are part of the head, signed now with `key`; nil when
    /// the stream has no record. Read in one snapshot.
    public func proof(stream: String, signedBy key: LedgerSigningKey, time: Date = Date()) throws -> StreamProof? {
        try env.read { txn in
            try withUnsafeTransaction(txn) { pointer in
                let head = try Self.readHead(pointer.pointee, dbs)
                let snapshot = LogSnapshot(txn: pointer, dbs: dbs)
                let positions = try snapshot.positions(inStream: stream)
                if positions.isEmpty { return nil }
                let reader = MerkleReader(txn: pointer, dbs: dbs)
                let root = try reader.root(size: head.position)
                let receipt = try SignedReceipt(position: head.position, headHash: head.hash, treeRoot: root.hexString, time: time, key: key)
                var entries: [StreamProof.Entry] = []
                for position in positions {
                    var previous = LogRecordLayout.genesisHash
                    if position > 1 {
                        guard let found = try snapshot.withRecord(at: position - 1, { Array($0.hashBytes) }) else {
                            throw StoredDamage(table: "events", message: "the record at position \(position - 1) is missing")
                        }
                        previous = found
                    }
                    let bytes = try snapshot.withRecord(at: position) { Array($0.bytes) }
                    guard let bytes else { throw StoredDamage(table: "events", message: "the record at position \(position) is missing") }
                    entries.append(
                        .init(
                            position: position, previousHash: previous.hexString, record: Data(bytes).base64EncodedString(),
                            path: try reader.path(position - 1, size: head.position).map(\.hexString)))
                }
                return StreamProof(format: StreamProof.formatTag, stream: stream, receipt: receipt, records: entries)
            }
        }
    }
}
