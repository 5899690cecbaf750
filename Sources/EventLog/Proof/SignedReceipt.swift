import Crypto
import Foundation

/// A signed statement of the log's head: its position, the hash of the record there, the Merkle
/// root over the records through it, and when it was signed, under the ledger's Ed25519 key.
///
/// What is signed is the UTF-8 text ``signedText``, one `name=value` line per field, so a verifier
/// in any language rebuilds it without a JSON canonicalisation:
///
/// ```
/// leadledger-receipt/1
/// position=1042
/// head=<64 hex digits>
/// root=<64 hex digits>
/// time=2026-03-02T14:05:00Z
/// ```
public struct SignedReceipt: Sendable, Hashable, Codable {
    /// The format tag, `leadledger-receipt/1`.
    public let format: String
    /// The position of the head it signs (0 for an empty log).
    public let position: UInt64
    /// The hash of the record at `position`, hex.
    public let headHash: String
    /// The Merkle root over records 1…`position`, hex.
    public let treeRoot: String
    /// When it was signed, RFC 3339 in UTC, to the second.
    public let time: String
    /// The Ed25519 public key that signed it, hex (32 bytes).
    public let publicKey: String
    /// The Ed25519 signature of ``signedText``, hex (64 bytes).
    public let signature: String

    /// The format tag this version writes and reads.
    public static let formatTag = "leadledger-receipt/1"

    /// The text the signature covers.
    public var signedText: String {
        Self.signedText(position: position, headHash: headHash, treeRoot: treeRoot, time: time)
    }

    static func signedText(position: UInt64, headHash: String, treeRoot: String, time: String) -> String {
        "\(formatTag)\nposition=\(position)\nhead=\(headHash)\nroot=\(treeRoot)\ntime=\(time)\n"
    }

    /// Signs a head.
    public init(position: UInt64, headHash: String, treeRoot: String, time: Date, key: LedgerSigningKey) throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        let stamp = formatter.string(from: time)
        self.format = Self.formatTag
        self.position = position
        self.headHash = headHash
        self.treeRoot = treeRoot
        self.time = stamp
        self.publicKey = key.publicKeyHex
        self.signature = try key.sign(Array(Self.signedText(position: position, headHash: headHash, treeRoot: treeRoot, time: stamp).utf8))
            .hexString
    }

    /// Why a receipt does not hold, or nil when its signature verifies under `trustedKey` (hex; the
    /// receipt's own key when nil: then only its integrity is shown, not who signed it).
    public func problem(trustedKey: String? = nil) -> String? {
        guard format == Self.formatTag else { return "the receipt's format is \"\(format)\"; this LeadLedger reads \(Self.formatTag)" }
        guard Hex.decode(headHash)?.count == 32 else { return "the receipt's headHash is not 32 bytes of hex" }
        guard Hex.decode(treeRoot)?.count == 32 else { return "the receipt's treeRoot is not 32 bytes of hex" }
        if let trustedKey, trustedKey.lowercased() != publicKey.lowercased() {
            return "the receipt was signed by key \(publicKey.prefix(16))…, not by the ledger's key \(trustedKey.prefix(16))…"
        }
        guard let keyBytes = Hex.decode(publicKey), let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keyBytes) else {
            return "the receipt's publicKey is not an Ed25519 public key"
        }
        guard let signatureBytes = Hex.decode(signature), signatureBytes.count == 64 else {
            return "the receipt's signature is not 64 bytes of hex"
        }
        guard key.isValidSignature(signatureBytes, for: Array(signedText.utf8)) else {
            return "the receipt's signature does not match its contents: it was altered or forged"
        }
        return nil
    }

    /// Decodes a receipt from its JSON, naming what is wrong.
    public static func decode(_ data: Data) throws -> SignedReceipt {
        do { return try JSONDecoder().decode(SignedReceipt.self, from: data) } catch {
            throw ProofFormatError("not a receipt: \(error)")
        }
    }
}

/// The ledger's Ed25519 signing key: created by `init` (or supplied), kept in the ledger's directory
/// in a file only its owner can read (0600), and never logged, printed or served — only its public
/// half leaves the process.
public struct LedgerSigningKey: Sendable {
    private let key: Curve25519.Signing.PrivateKey

    /// The file name inside the ledger's directory.
    public static let fileName = "signing.key"

    /// A fresh key.
    public init() { key = Curve25519.Signing.PrivateKey() }

    /// A key from its 32 raw bytes, or 64 hex digits.
    public init(contents: [UInt8]) throws {
        var raw = contents
        let text = String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if raw.count != 32, let decoded = Hex.decode(text) { raw = decoded }
        guard raw.count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw) else {
            throw SigningKeyError("a signing key is 32 raw bytes or 64 hex digits (Ed25519); this one has \(contents.count) bytes")
        }
        self.key = key
    }

    /// The public half, hex.
    public var publicKeyHex: String { Array(key.publicKey.rawRepresentation).hexString }

    func sign(_ message: [UInt8]) throws -> [UInt8] { Array(try key.signature(for: message)) }

    /// The key file of the ledger at `ledgerPath`.
    public static func path(inLedger ledgerPath: String) -> String { ledgerPath + "/" + fileName }

    /// Loads the key of the ledger at `ledgerPath`; nil when it has none. Refuses a key file that
    /// others can read or write.
    public static func load(ledgerPath: String) throws -> LedgerSigningKey? {
        let path = path(inLedger: ledgerPath)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw SigningKeyError(
                "the signing key \(path) can be read or written by others (mode \(String(mode, radix: 8))); run `chmod 600 \(path)`")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw SigningKeyError("the signing key \(path) cannot be read") }
        return try LedgerSigningKey(contents: Array(data))
    }

    /// Writes the key as the ledger's, created 0600; refuses to replace an existing key, whose
    /// receipts would no longer verify.
    public func install(ledgerPath: String) throws {
        let path = Self.path(inLedger: ledgerPath)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw SigningKeyError("the ledger at \(ledgerPath) has a signing key already (\(path)); it is not replaced") }
            throw SigningKeyError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let text = Array((Array(key.rawRepresentation).hexString + "\n").utf8)
        let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == text.count, fsync(fd) == 0 else { throw SigningKeyError("writing \(path) failed: \(String(cString: strerror(errno)))") }
    }
}

/// A signing key missing, unreadable, exposed or malformed.
public struct SigningKeyError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, naming the file.
    public let description: String
    /// Creates the error.
    public init(_ description: String) { self.description = description }
}

/// A receipt or proof that cannot be read as one.
public struct ProofFormatError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Lower-case hexadecimal, both ways.
public enum Hex {
    /// The bytes of `text`, nil unless it is an even number of hex digits.
    public static func decode(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = value(digits[i]), let lo = value(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// Lower-case hex of `bytes`.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String { bytes.hexString }
}

extension EventLog {
    /// Signs the current head: position, head hash, Merkle root and `time`, read in one snapshot.
    public func receipt(signedBy key: LedgerSigningKey, time: Date = Date()) throws -> SignedReceipt {
        let (head, root): (LogHead, [UInt8]) = try env.read { txn in
            let head = try Self.readHead(txn, dbs)
            return try withUnsafeTransaction(txn) { pointer in
                let reader = MerkleReader(txn: pointer, dbs: dbs)
                return (head, try reader.root(size: head.position))
            }
        }
        return try SignedReceipt(position: head.position, headHash: head.hash, treeRoot: root.hexString, time: time, key: key)
    }
}
