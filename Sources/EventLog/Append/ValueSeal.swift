import Crypto
import Foundation

/// AES-256-GCM sealing of small values under a per-stream key, for the layers above the log (which
/// keep no crypto dependency of their own): LeadLedger seals a lead's personal attribute values
/// with the lead's key, and erases them by destroying the key.
///
/// Sealing is deterministic: the nonce is derived from `context` (SHA-256, first 12 bytes), so the
/// same value sealed again under the same key for the same context gives the same bytes, and a
/// re-sent event compares equal to the stored one. A context is used for one value only (LeadLedger:
/// event id ‖ attribute name), so a nonce never seals two different plaintexts that are stored.
/// `context` is also the authenticated data: sealed bytes moved to another event or attribute do
/// not open.
public enum ValueSeal {
    /// Bytes of a key.
    public static let keySize = 32
    /// Bytes a seal adds to a value: nonce and tag.
    public static let overhead = 12 + 16

    /// A key ready to seal with: checked and held as swift-crypto's key once, for every value it
    /// seals, rather than rebuilt from its bytes per value.
    public struct Key: Sendable {
        let symmetric: SymmetricKey

        /// The key whose bytes are `bytes`; throws unless they are ``keySize`` long.
        public init(_ bytes: [UInt8]) throws {
            guard bytes.count == keySize else { throw ValueSealError("a key of \(bytes.count) bytes; keys are \(keySize) bytes") }
            symmetric = SymmetricKey(data: bytes)
        }
    }

    /// A fresh random key.
    public static func newKey() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    /// `nonce ‖ ciphertext ‖ tag` of `value` under `key`, bound to `context`.
    public static func seal(_ value: [UInt8], key: [UInt8], context: [UInt8]) throws -> [UInt8] {
        let key = try Key(key)
        var out: [UInt8] = []
        try value.withUnsafeBytes { value in
            try context.withUnsafeBytes { context in try seal(value, key: key, context: context, appendingTo: &out) }
        }
        return out
    }

    /// Appends `nonce ‖ ciphertext ‖ tag` of `value` under `key`, bound to `context`, to `out`: the
    /// same bytes as ``seal(_:key:context:)``, without the copies in between (the append path seals
    /// every personal value of every event through here).
    public static func seal(
        _ value: UnsafeRawBufferPointer, key: Key, context: UnsafeRawBufferPointer, appendingTo out: inout [UInt8]
    ) throws {
        // The nonce needs to be unique per key, not secret: the context is (one value per context).
        var hasher = SHA256()
        hasher.update(bufferPointer: context)
        let nonce = try hasher.finalize().withUnsafeBytes { try AES.GCM.Nonce(data: UnsafeRawBufferPointer(rebasing: $0[..<12])) }
        let box = try AES.GCM.seal(value, using: key.symmetric, nonce: nonce, authenticating: context)
        guard let combined = box.combined else { throw ValueSealError("AES-GCM gave no combined form") }
        combined.withUnsafeBytes { out.append(contentsOf: $0) }
    }

    /// The value inside `sealed`; throws when the key or context is not the one it was sealed with,
    /// or the bytes were altered.
    public static func open(_ sealed: [UInt8], key: [UInt8], context: [UInt8]) throws -> [UInt8] {
        try open(sealed, key: try Key(key), context: context)
    }

    /// The value inside `sealed`, under a key made ready; throws as ``open(_:key:context:)`` does.
    public static func open(_ sealed: [UInt8], key: Key, context: [UInt8]) throws -> [UInt8] {
        guard sealed.count >= overhead else { throw ValueSealError("sealed bytes shorter than a nonce and a tag") }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: key.symmetric, authenticating: context))
        } catch {
            throw ValueSealError("the sealed value does not open under this key: \(error)")
        }
    }
}

/// A value that cannot be sealed or opened.
public struct ValueSealError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}
