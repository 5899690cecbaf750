import Foundation
import HTTPTypes
import Hummingbird

/// Who made a request: a key, or nobody on a server that allows anonymous access.
public enum Principal: Sendable, Hashable {
    /// Anonymous access (only when the server has no keys, was started with `--allow-anonymous`,
    /// listens on loopback and the request comes from this machine).
    case anonymous
    /// A checked API key.
    case key(APIKey)

    /// The source its appends are bound to, if any.
    public var boundSource: String? {
        if case .key(let key) = self { key.source } else { nil }
    }

    /// Whether it may append events of this kind: lead events need `append`, catalog events `catalog`.
    func mayAppend(catalogEvent: Bool) -> Bool {
        switch self {
        case .anonymous: true
        case .key(let key): key.scope.permits(catalogEvent ? .catalog : .append)
        }
    }

    /// Whether it may erase a lead's personal data (`lead.forgotten`): `admin` only.
    var mayErase: Bool {
        switch self {
        case .anonymous: true
        case .key(let key): key.scope.permits(.admin)
        }
    }

    /// The id streams are counted under.
    var streamOwner: String {
        if case .key(let key) = self { key.id } else { "anonymous" }
    }
}

/// What authentication found for a request, before any route asks for a scope.
public enum Authentication: Sendable {
    /// A checked key, or anonymous access this request may use.
    case principal(Principal)
    /// No key was sent, and anonymous access is not open to this request.
    case missing
    /// The key sent is unknown or revoked.
    case unknownKey
    /// The keys could not be read.
    case failed(any Error)
}

/// Reads the key a request carries, and checks it against the scope a route needs.
struct Authenticator: Sendable {
    let keys: any APIKeyStoring
    let configuration: ServerConfiguration

    /// Who sent `request`.
    ///
    /// Only the `Authorization` header counts: the dashboard's session cookie opens its pages
    /// alone, so that a page another site opens cannot make a browser call the API with the
    /// user's rights.
    func authenticate(_ request: Request, context: LedgerRequestContext) async -> Authentication {
        do {
            guard let secret = Self.secret(in: request) else {
                return try await anonymousAllowed(context) ? .principal(.anonymous) : .missing
            }
            guard let key = try await keys.authenticate(secret) else { return .unknownKey }
            return .principal(.key(key))
        } catch {
            return .failed(error)
        }
    }

    /// The request's principal, or a 401 (no or bad key) or 403 (key outside any of `scopes`).
    func authorize(_ scopes: [APIScope], _ context: LedgerRequestContext) throws -> Principal {
        switch context.authentication {
        case .principal(.anonymous): return .anonymous
        case .principal(.key(let key)):
            guard scopes.contains(where: key.scope.permits) else {
                let needed = scopes.map { "`\($0.rawValue)`" }.joined(separator: " or ")
                throw APIError(.forbidden, "key \(key.id) has scope `\(key.scope.rawValue)`; this route needs \(needed)")
            }
            return .key(key)
        case .missing: throw Self.unauthorized("this route needs an API key: send `Authorization: Bearer KEY`")
        case .unknownKey: throw Self.unauthorized("the API key is unknown or revoked")
        case .failed(let error): throw error
        }
    }

    /// Anonymous access is decided on every request, not once at start-up: a key revoked later
    /// must not open the server to the network, so it needs a loopback binding and a local peer.
    func anonymousAllowed(_ context: LedgerRequestContext) async throws -> Bool {
        guard configuration.allowAnonymous, configuration.isLoopback, context.isLocalPeer else { return false }
        return try await !keys.hasActiveKeys()
    }

    static func secret(in request: Request) -> String? {
        request.headers[.authorization].flatMap(bearerToken)
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

/// Puts who sent each request in its context, refusing nothing itself: a route that needs a
/// scope refuses through ``Authenticator/authorize(_:_:)``, while `/health`, the sign-in page
/// and unknown routes answer as they would without a key.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext
    let authenticator: Authenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.authentication = await authenticator.authenticate(request, context: context)
        return try await next(request, context)
    }
}
