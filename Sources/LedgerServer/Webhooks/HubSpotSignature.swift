import Crypto
import Foundation
import Ledger

/// How the server checks and maps HubSpot's webhooks.
public struct HubSpotWebhookConfiguration: Sendable {
    /// The app's client secret, which HubSpot signs with.
    public var secret: String
    /// The URL HubSpot calls, up to the host and any prefix a proxy strips
    /// (`https://crm-hooks.example.com`): HubSpot signs the URI it called, not the one the server sees.
    public var publicURL: String
    /// Whether the v1 signature (SHA-256 of secret and body: no method, URI or time, so a captured
    /// request can be replayed for ever) is accepted. Off unless asked for.
    public var allowV1: Bool
    /// How properties map to events: the importer's mapping.
    public var mapping: HubSpotMapping

    /// A configuration; the public URL loses any trailing `/`.
    public init(secret: String, publicURL: String, allowV1: Bool = false, mapping: HubSpotMapping = .default) {
        self.secret = secret
        var url = publicURL
        while url.hasSuffix("/") { url.removeLast() }
        self.publicURL = url
        self.allowV1 = allowV1
        self.mapping = mapping
    }
}

/// HubSpot's request signatures, as its developer documentation defines them.
public enum HubSpotSignature {
    /// How old `X-HubSpot-Request-Timestamp` may be, in milliseconds.
    public static let toleranceMilliseconds: Int64 = 5 * 60 * 1000

    /// v3: base64 HMAC-SHA256, keyed with the app secret, of method, URI, body and timestamp.
    public static func v3(secret: String, method: String, uri: String, body: Data, timestamp: String) -> String {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: Data(secret.utf8)))
        hmac.update(data: Data((method + uri).utf8))
        hmac.update(data: body)
        hmac.update(data: Data(timestamp.utf8))
        return Data(hmac.finalize()).base64EncodedString()
    }

    /// v1: lower-case hex SHA-256 of the secret followed by the body.
    public static func v1(secret: String, body: Data) -> String {
        var hasher = SHA256()
        hasher.update(data: Data(secret.utf8))
        hasher.update(data: body)
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Why a request is not HubSpot's, or nil when it is: the v3 signature over exactly these bytes
    /// and a timestamp at most 5 minutes old (v1 only when `allowV1`). Compared in constant time.
    public static func check(
        configuration: HubSpotWebhookConfiguration, method: String, pathAndQuery: String, body: Data, headers: (String) -> String?,
        now: Date
    ) -> String? {
        if let signature = headers("X-HubSpot-Signature-v3") {
            guard let timestamp = headers("X-HubSpot-Request-Timestamp"), let millis = Int64(timestamp) else {
                return "X-HubSpot-Request-Timestamp is missing or not milliseconds since 1970"
            }
            let current = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
            let (age, overflow) = current.subtractingReportingOverflow(millis)
            guard !overflow, age <= toleranceMilliseconds, age >= -toleranceMilliseconds else {
                return "X-HubSpot-Request-Timestamp is more than 5 minutes from this server's clock: a stale or replayed request"
            }
            let expected = v3(
                secret: configuration.secret, method: method, uri: configuration.publicURL + pathAndQuery, body: body, timestamp: timestamp)
            return equal(signature, expected)
                ? nil : "X-HubSpot-Signature-v3 does not match this body, URI and timestamp under the app's secret"
        }
        if let signature = headers("X-HubSpot-Signature") {
            let version = headers("X-HubSpot-Signature-Version")?.lowercased() ?? "v1"
            guard version == "v1", configuration.allowV1 else {
                return "this server checks X-HubSpot-Signature-v3; the \(version) signature is accepted only when enabled (serve --hubspot-allow-v1)"
            }
            return equal(signature.lowercased(), v1(secret: configuration.secret, body: body))
                ? nil : "X-HubSpot-Signature does not match this body under the app's secret"
        }
        return "the request carries no HubSpot signature (X-HubSpot-Signature-v3)"
    }

    /// Equal texts, compared without stopping at the first difference.
    static func equal(_ a: String, _ b: String) -> Bool {
        StandardWebhooks.constantTimeEqual(Array(a.utf8), Array(b.utf8))
    }
}
