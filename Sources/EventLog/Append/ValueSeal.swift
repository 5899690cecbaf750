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

    /// A fresh random key.
    public static func newKey() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    /// `nonce ‖ ciphertext ‖ tag` of `value` under `key`, bound to `context`.
    public static func seal(_ value: [UInt8], key: [UInt8], context: [UInt8]) throws -> [UInt8] {
        guard key.count == keySize else { throw ValueSealError("a key of \(key.count) bytes; keys are \(keySize) bytes") }
        // The nonce needs to be unique per key, not secret: the context is (one value per context).
        let nonce = try AES.GCM.Nonce(data: Array(SHA256.hash(data: context)).prefix(12))
        let box = try AES.GCM.seal(value, using: SymmetricKey(data: key), nonce: nonce, authenticating: context)
        guard let combined = box.combined else { throw ValueSealError("AES-GCM gave no combined form") }
        return Array(combined)
    }

    /// The value inside `sealed`; throws when the key or context is not the one it was sealed with,
    /// or the bytes were altered.
    public static func open(_ sealed: [UInt8], key: [UInt8], context: [UInt8]) throws -> [UInt8] {
        guard key.count == keySize else { throw ValueSealError("a key of \(key.count) bytes; keys are \(keySize) bytes") }
        guard sealed.count >= overhead else { throw ValueSealError("sealed bytes shorter than a nonce and a tag") }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return Array(try AES.GCM.open(box, using: SymmetricKey(data: key), authenticating: context))
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
