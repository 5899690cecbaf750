import ClusterStore
import Foundation

/// The API keys of one tenant of the PostgreSQL log of record, as a server checks them.
///
/// Keys and secrets are made, hashed and checked exactly as in the embedded ledger (``APIKeyStore``);
/// only where they are kept differs. Each server reads them through ``PostgresKeyStore``'s cache:
/// a change rings `NOTIFY ll_keys` and empties every node's cache at once, and no cache is used
/// longer than its lifetime (2 seconds unless set otherwise), which bounds how long a revoked key
/// may still open the door when a notification is lost. A key of another tenant is simply not
/// among this tenant's keys, so it is refused exactly as an unknown key is.
public final class ClusterAPIKeyStore: APIKeyStoring {
    /// The tenant's keys in PostgreSQL.
    public let store: PostgresKeyStore

    /// The keys of the tenant `store` was opened for.
    public init(store: PostgresKeyStore) {
        self.store = store
    }

    /// Opens the keys of `tenant` at `address`.
    public static func open(
        _ address: ClusterAddress, tenant: String, cacheLifetime: Duration = .seconds(2)
    ) async throws
        -> ClusterAPIKeyStore
    {
        ClusterAPIKeyStore(store: try await PostgresKeyStore.open(address, tenant: tenant, cacheLifetime: cacheLifetime))
    }

    /// The tenant this store's keys belong to.
    public var tenant: String { store.tenant }

    public func add(scope: APIScope, source: String?, signing: Bool) async throws -> (id: String, secret: String, signingSecret: String?) {
        let (key, secret, signingSecret) = try APIKeyStore.newKey(scope: scope, source: source, signing: signing)
        let record = Self.record(key)
        try await store.modify { $0.append(record) }
        return (key.id, secret, signingSecret)
    }

    public func rotateSigningSecret(_ id: String, dropPrevious: Bool) async throws -> String {
        try await modify { try APIKeyStore.rotateSigningSecret(id, dropPrevious: dropPrevious, in: &$0) }
    }

    public func activeKey(id: String) async throws -> APIKey? {
        guard let key = try await cached()[id].flatMap(Self.key), key.isActive else { return nil }
        return key
    }

    public func list() async throws -> [APIKey] {
        try await cached().values.compactMap(Self.key).sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }

    @discardableResult
    public func revoke(_ id: String) async throws -> Bool {
        try await modify { APIKeyStore.revoke(id, in: &$0) }
    }

    public func hasActiveKeys() async throws -> Bool {
        try await cached().values.contains { $0.revokedAt == nil && APIScope(rawValue: $0.scope) != nil }
    }

    public func authenticate(_ secret: String) async throws -> APIKey? {
        guard let id = APIKeyStore.keyID(in: secret), let record = try await cached()[id], let key = Self.key(record), key.isActive,
            APIKeyStore.proves(secret, digest: APIKeyStore.bytes(hex: record.secretHash))
        else { return nil }
        return key
    }

    // MARK: Records

    /// The cached keys; when PostgreSQL cannot be asked, a refusal that tells the client to retry
    /// rather than an error page, since nothing is wrong with the request.
    private func cached() async throws -> [String: ClusterKeyRecord] {
        do {
            return try await store.keys()
        } catch let error as ClusterError {
            throw APIError(
                .serviceUnavailable, "the API keys cannot be checked: the log of record does not answer (\(error)); retry shortly",
                headers: [.retryAfter: "2"])
        }
    }

    /// Applies `change` to the keys as the server understands them; a record it cannot read
    /// (a scope this server does not know) is left as it is.
    private func modify<R: Sendable>(_ change: (inout [APIKey]) throws -> R) async throws -> R {
        try await store.modify { records in
            var keys = records.compactMap(Self.key)
            let result = try change(&keys)
            records = keys.map(Self.record)
            return result
        }
    }

    static func key(_ record: ClusterKeyRecord) -> APIKey? {
        guard let scope = APIScope(rawValue: record.scope) else { return nil }
        return APIKey(
            id: record.id, scope: scope, source: record.source, createdAt: record.createdAt, revokedAt: record.revokedAt,
            secretHash: record.secretHash, signingSecrets: record.signingSecrets.isEmpty ? nil : record.signingSecrets)
    }

    static func record(_ key: APIKey) -> ClusterKeyRecord {
        ClusterKeyRecord(
            id: key.id, scope: key.scope.rawValue, source: key.source, createdAt: key.createdAt, revokedAt: key.revokedAt,
            secretHash: key.secretHash, signingSecrets: key.signingSecrets ?? [])
    }
}
