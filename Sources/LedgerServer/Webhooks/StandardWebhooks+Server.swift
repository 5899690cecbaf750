import Foundation
import Hummingbird

extension LedgerHTTPServer {
    /// The key a Standard Webhooks message was signed with, once its signature, id and timestamp
    /// check out against the raw body; a 401 naming what failed otherwise.
    ///
    /// The key is named by `Authorization: Bearer KEY` when the sender can set it, else by the
    /// `?key=ID` query parameter (most senders only let their users choose a URL and a secret).
    func verifyStandardWebhook(_ request: Request, _ context: LedgerRequestContext, body: Data) async throws -> Principal {
        let key: APIKey
        switch context.authentication {
        case .principal(.key(let bearer)):
            key = bearer
        case .failed(let error):
            throw error
        case .unknownKey:
            throw Authenticator.unauthorized("the API key is unknown or revoked")
        case .principal(.anonymous), .missing:
            guard let id = request.uri.queryParameters["key"].map(String.init), !id.isEmpty else {
                throw Authenticator.unauthorized(
                    "a signed webhook names its key: `?key=KEY_ID` in the URL, or `Authorization: Bearer KEY`")
            }
            guard let found = try await keys.activeKey(id: id) else {
                throw Authenticator.unauthorized("the key named by `?key=` is unknown or revoked")
            }
            key = found
        }
        guard let secrets = key.signingSecrets, !secrets.isEmpty else {
            throw Authenticator.unauthorized(
                "key \(key.id) has no signing secret: create one with `leadledger keys rotate-signing \(key.id)`")
        }
        if let failure = StandardWebhooks.verify(
            id: request.headers[.webhookID], timestamp: request.headers[.webhookTimestamp],
            signatures: request.headers[.webhookSignature], body: body, secrets: secrets, now: Date())
        {
            throw Authenticator.unauthorized(failure.description)
        }
        guard key.scope.permits(.append) || key.scope.permits(.catalog) else {
            throw APIError(.forbidden, "key \(key.id) has scope `\(key.scope.rawValue)`; this route needs `append` or `catalog`")
        }
        return .key(key)
    }
}
