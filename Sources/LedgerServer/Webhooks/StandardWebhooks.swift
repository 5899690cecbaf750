import Crypto
import Foundation
import HTTPTypes

extension HTTPField.Name {
    /// Standard Webhooks: the message id, the same on every re-delivery.
    static let webhookID = Self("webhook-id")!
    /// Standard Webhooks: the sending time, in seconds since 1970.
    static let webhookTimestamp = Self("webhook-timestamp")!
    /// Standard Webhooks: space-separated `v1,BASE64` signatures.
    static let webhookSignature = Self("webhook-signature")!
}

/// The Standard Webhooks scheme (standardwebhooks.com): HMAC-SHA256 with a shared secret over
/// `id.timestamp.body`, sent as `v1,BASE64` in `webhook-signature`, the secret written
/// `whsec_BASE64`. LeadLedger checks it on what generic senders post and would sign with it too.
public enum StandardWebhooks {
    /// How far `webhook-timestamp` may be from the receiver's clock, either way: an older
    /// message is a replay, a much newer one a clock that cannot be trusted.
    public static let toleranceSeconds: Int64 = 300

    /// Why a message was refused.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// What the sender reads.
        public let description: String
    }

    /// A new secret: `whsec_` and the base64 of 24 random bytes.
    public static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return "whsec_" + Data((0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
    }

    /// The key bytes of a `whsec_…` secret (the prefix is optional), or nil when it is not base64.
    public static func keyBytes(_ secret: String) -> Data? {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let bytes = Data(base64Encoded: encoded), !bytes.isEmpty else { return nil }
        return bytes
    }

    /// The `v1,BASE64` signature of a message.
    public static func sign(id: String, timestamp: Int64, body: Data, secret: String) -> String? {
        guard let key = keyBytes(secret) else { return nil }
        return "v1," + Data(mac(id: id, timestamp: timestamp, body: body, key: key)).base64EncodedString()
    }

    private static func mac(id: String, timestamp: Int64, body: Data, key: Data) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: key))
        hmac.update(data: Data("\(id).\(timestamp).".utf8))
        hmac.update(data: body)
        return Array(hmac.finalize())
    }

    /// Checks a message against every secret still valid for its key (two during a rotation):
    /// the timestamp within the tolerance of `now`, and one of its signatures made with one of the
    /// secrets over exactly these bytes. Signatures are compared in constant time.
    public static func verify(
        id: String?, timestamp: String?, signatures: String?, body: Data, secrets: [String], now: Date
    ) -> Failure? {
        guard let id, !id.isEmpty, id.utf8.count <= 256 else {
            return Failure(description: "the `webhook-id` header is missing or longer than 256 bytes")
        }
        guard let timestamp, let seconds = Int64(timestamp.trimmingCharacters(in: .whitespaces)) else {
            return Failure(description: "the `webhook-timestamp` header must be whole seconds since 1970")
        }
        let current = Int64(now.timeIntervalSince1970.rounded(.down))
        let (skew, overflow) = current.subtractingReportingOverflow(seconds)
        guard !overflow, skew.magnitude <= UInt64(toleranceSeconds) else {
            return Failure(
                description:
                    "the `webhook-timestamp` \(seconds) is more than \(toleranceSeconds) seconds from this server's clock (\(current)): a stale or replayed message"
            )
        }
        guard let signatures, !signatures.isEmpty else { return Failure(description: "the `webhook-signature` header is empty") }
        let offered: [[UInt8]] = signatures.split(separator: " ").compactMap { entry in
            guard entry.hasPrefix("v1,"), let bytes = Data(base64Encoded: String(entry.dropFirst(3))) else { return nil }
            return Array(bytes)
        }
        var matched = false
        for secret in secrets {
            guard let key = keyBytes(secret) else { continue }
            let expected = mac(id: id, timestamp: seconds, body: body, key: key)
            for signature in offered where constantTimeEqual(signature, expected) { matched = true }
        }
        return matched
            ? nil : Failure(description: "no `webhook-signature` matches this body, id and timestamp under the key's signing secrets")
    }

    /// Compares two byte strings without stopping at the first difference.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
