import Crypto
import Foundation
import Ledger
import Synchronization

/// What an API key may do. `admin` may do everything.
public enum APIScope: String, Sendable, Codable, CaseIterable {
    /// Append lead events (`POST /v1/events`).
    case append
    /// Read events, analyses, metrics and the dashboard.
    case read
    /// Everything, including managing keys.
    case admin
    /// Append catalog events (`reason.defined`, `reason.retired`, `definition.published`…): they
    /// change how every lead is judged, so a source's append key may not send them.
    case catalog
    /// Propose, review and publish MQL definitions through `/v1/proposals`, and read the proposals.
    case review

    /// Whether a key of this scope may do what `needed` allows.
    public func permits(_ needed: APIScope) -> Bool { self == .admin || self == needed }
}

/// An API key as stored: its id, scope, optional source binding and the SHA-256 of its secret.
public struct APIKey: Sendable, Hashable, Codable {
    /// The public part of the key, printed in lists and logs.
    public var id: String
    /// What it may do.
    public var scope: APIScope
    /// When set, the only `source` its appended events may claim.
    public var source: String?
    /// When it was created (RFC 3339).
    public var createdAt: String
    /// When it was revoked (RFC 3339), if it was.
    public var revokedAt: String?
    /// Lower-case hex SHA-256 of the whole secret; the secret itself is never stored.
    public var secretHash: String
    /// Standard Webhooks secrets (`whsec_…`), newest first, when senders sign with this key: two
    /// during a rotation. Kept as they are, unlike the key's secret: checking an HMAC needs it.
    public var signingSecrets: [String]?

    /// Whether it still opens the door.
    public var isActive: Bool { revokedAt == nil }

    /// What lists show of a key: everything but its secret's hash.
    public struct Summary: Sendable, Encodable {
        /// The key's id.
        public var id: String
        /// What it may do.
        public var scope: APIScope
        /// The source it is bound to, if any.
        public var source: String?
        /// When it was created (RFC 3339).
        public var createdAt: String
        /// When it was revoked (RFC 3339), if it was.
        public var revokedAt: String?
        /// How many Standard Webhooks signing secrets are valid (0: senders do not sign).
        public var signingSecrets: Int
    }

    /// The key as lists show it.
    public var summary: Summary {
        Summary(
            id: id, scope: scope, source: source, createdAt: createdAt, revokedAt: revokedAt, signingSecrets: signingSecrets?.count ?? 0)
    }
}

/// Why a key operation failed.
public struct APIKeyError: Error, Sendable, CustomStringConvertible {
    /// What a user reads.
    public let description: String
}

/// API keys kept in the ledger's own LMDB environment, hashed.
///
/// A secret reads `llk_<id>_<random>`: the id finds the record, the SHA-256 of the whole secret
/// proves it. Keys live in one meta value, re-read on every check so that a key added or revoked
/// by `leadledger keys` in another process takes effect at once without a restart.
public final class APIKeyStore: Sendable {
    private static let metaKey = "server.api-keys"
    private let ledger: Ledger
    private let cache = Mutex<(bytes: [UInt8]?, keys: [String: Entry])>((nil, [:]))

    /// A store over the ledger's meta database.
    public init(ledger: Ledger) {
        self.ledger = ledger
    }

    /// Creates a key; the returned secret is shown once and cannot be recovered.
    public func add(scope: APIScope, source: String? = nil) throws -> (id: String, secret: String) {
        let (id, secret, _) = try add(scope: scope, source: source, signing: false)
        return (id, secret)
    }

    /// Creates a key, with a Standard Webhooks signing secret when `signing`; both are shown once.
    public func add(scope: APIScope, source: String? = nil, signing: Bool) throws -> (id: String, secret: String, signingSecret: String?) {
        let (key, secret, signingSecret) = try Self.newKey(scope: scope, source: source, signing: signing)
        try modify { $0.append(key) }
        return (key.id, secret, signingSecret)
    }

    /// Gives an active key a new signing secret and returns it. The newest earlier secret stays
    /// valid beside it, so senders can switch without a refused message, until the next rotation
    /// or until `dropPrevious` retires it; older ones are retired at once.
    public func rotateSigningSecret(_ id: String, dropPrevious: Bool = false) throws -> String {
        try modify { try Self.rotateSigningSecret(id, dropPrevious: dropPrevious, in: &$0) }
    }

    /// The active key with this id, or nil.
    public func activeKey(id: String) throws -> APIKey? {
        guard let entry = try load()[id], entry.key.isActive else { return nil }
        return entry.key
    }

    /// Every key, revoked ones included, oldest first.
    public func list() throws -> [APIKey] { try load().values.map(\.key).sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }

    /// Revokes a key; false when no active key has this id.
    @discardableResult
    public func revoke(_ id: String) throws -> Bool {
        try modify { Self.revoke(id, in: &$0) }
    }

    /// Whether any key is still active.
    public func hasActiveKeys() throws -> Bool { try load().values.contains { $0.key.isActive } }

    /// The active key this secret proves, or nil.
    ///
    /// It runs on every request: the id is read from the secret's bytes in place, and the secret's
    /// SHA-256 is compared, in constant time, with the stored digest's bytes rather than as hex text.
    public func authenticate(_ secret: String) throws -> APIKey? {
        guard let id = Self.keyID(in: secret), let entry = try load()[id], entry.key.isActive else { return nil }
        return Self.proves(secret, digest: entry.digest) ? entry.key : nil
    }

    // MARK: What every key store does alike

    /// A new key, its secret and, when `signing`, its Standard Webhooks secret.
    static func newKey(scope: APIScope, source: String?, signing: Bool) throws -> (key: APIKey, secret: String, signingSecret: String?) {
        if let source, !isValidSource(source) {
            throw APIKeyError(description: "invalid source \(source.debugDescription): use 1–64 characters of [a-z0-9_.-]")
        }
        let id = randomHex(bytes: 6)
        let secret = "llk_\(id)_\(randomHex(bytes: 24))"
        let signingSecret = signing ? StandardWebhooks.newSecret() : nil
        let key = APIKey(
            id: id, scope: scope, source: source, createdAt: now(), revokedAt: nil, secretHash: hash(secret),
            signingSecrets: signingSecret.map { [$0] })
        return (key, secret, signingSecret)
    }

    /// Gives the active key `id` of `keys` a new signing secret, keeping the newest earlier one
    /// unless `dropPrevious`.
    static func rotateSigningSecret(_ id: String, dropPrevious: Bool, in keys: inout [APIKey]) throws -> String {
        guard let index = keys.firstIndex(where: { $0.id == id && $0.isActive }) else {
            throw APIKeyError(description: "no active key has the id \(id)")
        }
        let secret = StandardWebhooks.newSecret()
        let previous = dropPrevious ? [] : Array((keys[index].signingSecrets ?? []).prefix(1))
        keys[index].signingSecrets = [secret] + previous
        return secret
    }

    /// Revokes the active key `id` of `keys`; false when there is none.
    static func revoke(_ id: String, in keys: inout [APIKey]) -> Bool {
        var found = false
        for index in keys.indices where keys[index].id == id && keys[index].revokedAt == nil {
            keys[index].revokedAt = now()
            found = true
        }
        return found
    }

    /// The id a secret names (`llk_<id>_…`), read from its bytes in place, or nil.
    static func keyID(in secret: String) -> String? {
        let utf8 = secret.utf8
        guard utf8.starts(with: "llk_".utf8) else { return nil }
        let rest = utf8.dropFirst(4)
        guard let end = rest.firstIndex(of: UInt8(ascii: "_")) else { return nil }
        return String(Substring(rest[..<end]))
    }

    /// Whether the secret's SHA-256 is `digest`, compared in constant time.
    static func proves(_ secret: String, digest stored: [UInt8]) -> Bool {
        constantTimeEqual(digest(of: secret), stored)
    }

    // MARK: Storage

    /// A stored key with its secret's digest decoded from hex once, when the keys are read.
    private struct Entry {
        var key: APIKey
        var digest: [UInt8]
    }

    private func load() throws -> [String: Entry] {
        let bytes = try ledger.metaValue(Self.metaKey)
        if let cached = cache.withLock({ $0.bytes == bytes ? $0.keys : nil }) { return cached }
        let keys = try bytes.map { try JSONDecoder().decode([APIKey].self, from: Data($0)) } ?? []
        let byID = Dictionary(
            keys.map { ($0.id, Entry(key: $0, digest: Self.bytes(hex: $0.secretHash))) }, uniquingKeysWith: { _, last in last })
        cache.withLock { $0 = (bytes, byID) }
        return byID
    }

    /// Applies `change` to the stored keys in one write transaction of the ledger, so that keys added
    /// or revoked at the same moment by other processes (the CLI beside a running server) or other
    /// requests are never overwritten by a read taken before them.
    private func modify<R>(_ change: (inout [APIKey]) throws -> R) throws -> R {
        try ledger.updateMetaValue(Self.metaKey) { stored in
            var keys = try stored.map { try JSONDecoder().decode([APIKey].self, from: Data($0)) } ?? []
            let result = try change(&keys)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return (Array(try encoder.encode(keys)), result)
        }
    }

    // MARK: Helpers

    /// The lower-case hex text of a secret's digest, as a key stores it.
    static func hash(_ secret: String) -> String {
        hex(digest(of: secret))
    }

    /// The SHA-256 of a secret's UTF-8 bytes, read in place.
    private static func digest(of secret: String) -> SHA256.Digest {
        var hasher = SHA256()
        var copy = secret
        copy.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        return hasher.finalize()
    }

    static func randomHex(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// Lower-case hex; every request hashes its key, so this avoids `String(format:)` per byte.
    private static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of lower-case hex text; an odd or non-hex text gives bytes no digest equals.
    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        guard digits.count % 2 == 0 else { return [] }
        var out: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return [] }
            out.append(high << 4 | low)
        }
        return out
    }

    /// Compares without returning early, so response time says nothing about how much matched.
    private static func constantTimeEqual(_ digest: SHA256.Digest, _ stored: [UInt8]) -> Bool {
        digest.withUnsafeBytes { computed in
            guard computed.count == stored.count else { return false }
            var difference: UInt8 = 0
            for index in stored.indices { difference |= computed[index] ^ stored[index] }
            return difference == 0
        }
    }

    static func isValidSource(_ source: String) -> Bool {
        (1...64).contains(source.utf8.count)
            && source.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D }
    }

    static func now() -> String {
        Date().formatted(.iso8601)
    }
}
