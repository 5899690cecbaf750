import Foundation

/// Where a server's API keys live: the ledger's own LMDB environment (``APIKeyStore``, the
/// embedded mode) or a tenant of the PostgreSQL log of record (``ClusterAPIKeyStore``, what a
/// node of a cluster uses). Authentication, the dashboard's sessions, signed webhooks and
/// `/v1/keys` go through this alone, so they behave the same over either.
public protocol APIKeyStoring: Sendable {
    /// Creates a key, with a Standard Webhooks signing secret when `signing`; both are shown once.
    func add(scope: APIScope, source: String?, signing: Bool) async throws -> (id: String, secret: String, signingSecret: String?)
    /// Gives an active key a new signing secret; the newest earlier one stays valid unless `dropPrevious`.
    func rotateSigningSecret(_ id: String, dropPrevious: Bool) async throws -> String
    /// The active key with this id, or nil.
    func activeKey(id: String) async throws -> APIKey?
    /// Every key, revoked ones included, oldest first.
    func list() async throws -> [APIKey]
    /// Revokes a key; false when no active key has this id.
    func revoke(_ id: String) async throws -> Bool
    /// Whether any key is still active.
    func hasActiveKeys() async throws -> Bool
    /// The active key this secret proves, or nil (unknown, revoked, or a wrong secret alike).
    func authenticate(_ secret: String) async throws -> APIKey?
}

extension APIKeyStoring {
    /// Creates a key without a signing secret; the secret is shown once.
    public func add(scope: APIScope, source: String? = nil) async throws -> (id: String, secret: String) {
        let (id, secret, _) = try await add(scope: scope, source: source, signing: false)
        return (id, secret)
    }

    /// Creates a key, with a signing secret when `signing`.
    public func add(scope: APIScope, signing: Bool) async throws -> (id: String, secret: String, signingSecret: String?) {
        try await add(scope: scope, source: nil, signing: signing)
    }

    /// Gives an active key a new signing secret, keeping the previous one valid beside it.
    public func rotateSigningSecret(_ id: String) async throws -> String {
        try await rotateSigningSecret(id, dropPrevious: false)
    }
}

extension APIKeyStore: APIKeyStoring {}
