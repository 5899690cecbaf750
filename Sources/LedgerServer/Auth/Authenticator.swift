import Foundation
import HTTPTypes
import Hummingbird

/// Who made a request: a key, or nobody on a server that allows anonymous access.
public enum Principal: Sendable, Hashable {
    /// Anonymous access (only when the server has no keys and was started with `--allow-anonymous`).
    case anonymous
    /// A checked API key.
    case key(APIKey)

    /// The source its appends are bound to, if any.
    public var boundSource: String? {
        if case .key(let key) = self { key.source } else { nil }
    }
}

/// Checks the key a request carries against the scope its route needs.
struct Authenticator: Sendable {
    /// The name of the dashboard's cookie.
    static let cookieName = "leadledger_key"

    let keys: APIKeyStore
    let allowAnonymous: Bool

    /// The principal, or a 401 (no or bad key) or 403 (key outside its scope).
    ///
    /// `browser` also accepts the key from the dashboard's cookie or a `?key=` query, which API
    /// routes refuse so that keys do not end up in proxies' access logs by habit.
    func require(_ scope: APIScope, _ request: Request, browser: Bool = false) throws -> Principal {
        guard let secret = Self.secret(in: request, browser: browser) else {
            if allowAnonymous, try !keys.hasActiveKeys() { return .anonymous }
            throw Self.unauthorized("this route needs an API key: send `Authorization: Bearer KEY`")
        }
        guard let key = try keys.authenticate(secret) else {
            throw Self.unauthorized("the API key is unknown or revoked")
        }
        guard key.scope.permits(scope) else {
            throw APIError(.forbidden, "key \(key.id) has scope `\(key.scope.rawValue)`; this route needs `\(scope.rawValue)`")
        }
        return .key(key)
    }

    static func secret(in request: Request, browser: Bool) -> String? {
        if let header = request.headers[.authorization] { return bearerToken(header) }
        guard browser else { return nil }
        if let key = request.uri.queryParameters["key"], !key.isEmpty { return String(key) }
        if let cookie = request.cookies[cookieName]?.value, !cookie.isEmpty { return cookie }
        return nil
    }

    /// The token of `Bearer TOKEN` (scheme in any case, blanks around the token ignored), or nil.
    /// Read byte by byte: it runs on every request.
    static func bearerToken(_ header: String) -> String? {
        let bytes = Substring(header).utf8
        let scheme = "bearer".utf8
        guard bytes.count > scheme.count,
            zip(bytes, scheme).allSatisfy({ $0 | 0x20 == $1 }),
            bytes[bytes.index(bytes.startIndex, offsetBy: scheme.count)] == UInt8(ascii: " ")
        else { return nil }
        let token = HeaderText.trimmed(bytes.dropFirst(scheme.count))
        return token.isEmpty ? nil : String(Substring(token))
    }

    static func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, message, headers: [.wwwAuthenticate: #"Bearer realm="leadledger""#])
    }
}
