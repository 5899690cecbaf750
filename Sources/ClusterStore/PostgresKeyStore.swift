import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// One API key of a tenant as the log of record keeps it: what the embedded ledger keeps in its
/// LMDB meta value, and nothing more — the SHA-256 of the secret, never the secret.
public struct ClusterKeyRecord: Sendable, Hashable {
    /// The public part of the key.
    public var id: String
    /// Its scope's name (`append`, `read`, `admin`…), as the server spells it.
    public var scope: String
    /// The only `source` its events may claim, when it is bound to one.
    public var source: String?
    /// When it was created (RFC 3339).
    public var createdAt: String
    /// When it was revoked (RFC 3339), if it was.
    public var revokedAt: String?
    /// Lower-case hex SHA-256 of the whole secret.
    public var secretHash: String
    /// Standard Webhooks signing secrets, newest first; kept as they are because checking an HMAC
    /// needs them, as in the embedded ledger.
    public var signingSecrets: [String]

    /// A record.
    public init(
        id: String, scope: String, source: String?, createdAt: String, revokedAt: String?, secretHash: String, signingSecrets: [String]
    ) {
        self.id = id
        self.scope = scope
        self.source = source
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.secretHash = secretHash
        self.signingSecrets = signingSecrets
    }
}

/// The API keys of one tenant, kept in the log of record's `ll_keys` table so that every node
/// serving the tenant checks the same keys, and a key added or revoked once holds everywhere.
///
/// Keys are bound to their tenant: every read and write names it, so a key of one tenant is never
/// found when another tenant's keys are asked for. Reads come from a cache, so authenticating a
/// request does not cost a round-trip to PostgreSQL: a change made through any store rings
/// `NOTIFY ll_keys` with the tenant's name, which empties the cache of every store listening, and
/// the cache is never used longer than ``cacheLifetime`` after it was read, so a revoked key stops
/// authenticating within that time even when a notification is lost (a node reconnecting after a
/// failover, say). When the cache is stale and PostgreSQL does not answer, reads fail rather than
/// trust keys that may have been revoked since.
public final class PostgresKeyStore: Sendable {
    /// The tenant whose keys these are.
    public let tenant: String
    /// The longest a read of the keys is used before it is read again.
    public let cacheLifetime: Duration
    private let address: ClusterAddress
    private let logger: Logger
    private let connection: WritableConnection
    private let cache = Mutex(Cache())
    private let listener: Mutex<Task<Void, Never>?> = Mutex(nil)

    private struct Cache: Sendable {
        var keys: [String: ClusterKeyRecord]?
        var readAt = ContinuousClock.now
        /// Moves on each invalidation, so a read that began before one does not refill the cache
        /// with keys older than the change that emptied it.
        var generation = 0
        var reading: Task<[String: ClusterKeyRecord], any Error>?
    }

    /// The `LISTEN/NOTIFY` channel on which a change of keys rings, with the tenant as payload.
    public static let channel = "ll_keys"

    /// The table: one row per key, the tenant in its primary key.
    static let schema = """
        CREATE TABLE IF NOT EXISTS ll_keys (
            tenant text NOT NULL,
            key_id text NOT NULL,
            scope text NOT NULL,
            source text,
            created_at text NOT NULL,
            revoked_at text,
            secret_hash text NOT NULL,
            signing_secrets text[] NOT NULL DEFAULT '{}',
            PRIMARY KEY (tenant, key_id))
        """

    /// Opens the keys of `tenant`, creating the `ll_keys` table when missing.
    public static func open(
        _ address: ClusterAddress, tenant: String, cacheLifetime: Duration = .seconds(2),
        logger: Logger = Logger(label: "leadledger.cluster.keys")
    ) async throws -> PostgresKeyStore {
        try TenantName.check(tenant)
        let store = PostgresKeyStore(address: address, tenant: tenant, cacheLifetime: cacheLifetime, logger: logger)
        do {
            let connection = try await store.connection.connection()
            // The same lock as the log's own schema: two nodes or commands creating tables at once.
            try await connection.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(7617616465)", logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: schema), logger: logger)
            }
        } catch {
            await store.connection.close()
            if let error = error as? ClusterError { throw error }
            throw ClusterError("cannot open the keys of tenant \"\(tenant)\" at \(address): \(describe(error))")
        }
        store.startListening()
        return store
    }

    private init(address: ClusterAddress, tenant: String, cacheLifetime: Duration, logger: Logger) {
        self.address = address
        self.tenant = tenant
        self.cacheLifetime = cacheLifetime
        self.logger = logger
        connection = WritableConnection(address: address, logger: logger)
    }

    // MARK: Reading

    /// The tenant's keys by id, revoked ones included, from the cache when it is fresh.
    public func keys() async throws -> [String: ClusterKeyRecord] {
        let now = ContinuousClock.now
        let (fresh, task): ([String: ClusterKeyRecord]?, Task<[String: ClusterKeyRecord], any Error>?) = cache.withLock { cache in
            if let keys = cache.keys, now - cache.readAt < cacheLifetime { return (keys, nil) }
            // One read at a time: requests arriving while the cache is refilled wait for the same read.
            if let reading = cache.reading { return (nil, reading) }
            let generation = cache.generation
            let reading = Task { [self] in
                let started = ContinuousClock.now
                do {
                    let keys = try await read()
                    self.cache.withLock { cache in
                        cache.reading = nil
                        if cache.generation == generation {
                            cache.keys = keys
                            cache.readAt = started
                        }
                    }
                    return keys
                } catch {
                    self.cache.withLock { $0.reading = nil }
                    throw error
                }
            }
            cache.reading = reading
            return (nil, reading)
        }
        if let fresh { return fresh }
        guard let task else { return [:] }
        return try await task.value
    }

    /// Forgets the cached keys; the next read asks PostgreSQL.
    public func invalidate() {
        cache.withLock { cache in
            cache.keys = nil
            cache.generation &+= 1
            cache.reading = nil
        }
    }

    private func read() async throws -> [String: ClusterKeyRecord] {
        try await run { connection in try await Self.select(self.tenant, on: connection, logger: self.logger) }
    }

    private static func select(
        _ tenant: String, on connection: PostgresConnection, logger: Logger
    ) async throws -> [String: ClusterKeyRecord] {
        let query: PostgresQuery =
            "SELECT key_id, scope, source, created_at, revoked_at, secret_hash, signing_secrets FROM ll_keys WHERE tenant = \(tenant)"
        var keys: [String: ClusterKeyRecord] = [:]
        for try await (id, scope, source, createdAt, revokedAt, secretHash, signing) in try await connection.query(query, logger: logger)
            .decode((String, String, String?, String, String?, String, [String]).self)
        {
            keys[id] = ClusterKeyRecord(
                id: id, scope: scope, source: source, createdAt: createdAt, revokedAt: revokedAt, secretHash: secretHash,
                signingSecrets: signing)
        }
        return keys
    }

    // MARK: Changing

    /// Applies `change` to the tenant's keys in one transaction that holds the tenant's key lock,
    /// so that two changes made at once (two nodes, a node and the CLI) never overwrite each
    /// other; keys the change added or altered are written, and every listening store is told.
    /// An error thrown by `change` writes nothing and is rethrown as it is.
    public func modify<R: Sendable>(_ change: (inout [ClusterKeyRecord]) throws -> R) async throws -> R {
        let outcome: Result<R, any Error> = try await run { connection in
            try await connection.withTransaction(logger: self.logger) { connection -> Result<R, any Error> in
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext('ll_keys ' || \(self.tenant)))", logger: self.logger)
                let before = try await Self.select(self.tenant, on: connection, logger: self.logger)
                var keys = before.values.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
                let result: R
                do { result = try change(&keys) } catch { return .failure(error) }
                var changed = false
                for key in keys where before[key.id] != key {
                    changed = true
                    try await connection.query(
                        """
                        INSERT INTO ll_keys (tenant, key_id, scope, source, created_at, revoked_at, secret_hash, signing_secrets)
                        VALUES (\(self.tenant), \(key.id), \(key.scope), \(key.source), \(key.createdAt), \(key.revokedAt), \(key.secretHash), \(key.signingSecrets))
                        ON CONFLICT (tenant, key_id) DO UPDATE SET scope = EXCLUDED.scope, source = EXCLUDED.source,
                            revoked_at = EXCLUDED.revoked_at, secret_hash = EXCLUDED.secret_hash, signing_secrets = EXCLUDED.signing_secrets
                        """, logger: self.logger)
                }
                if changed { try await connection.query("SELECT pg_notify(\(Self.channel), \(self.tenant))", logger: self.logger) }
                return .success(result)
            }
        }
        invalidate()
        return try outcome.get()
    }

    /// Runs `body` on the connection to the writable server; a lost connection is dropped so the
    /// next use finds the primary again.
    private func run<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let open: PostgresConnection
        do {
            open = try await connection.connection()
        } catch {
            throw ClusterError("the keys of tenant \"\(tenant)\" cannot be read: \(error)")
        }
        do {
            return try await body(open)
        } catch {
            if isConnectionLoss(error)
                || (error as? PostgresTransactionError).map({ $0.closureError.map(isConnectionLoss) ?? true }) == true
            {
                await connection.discard(open)
            }
            throw ClusterError("the keys of tenant \"\(tenant)\" at \(address): \(describe(error))")
        }
    }

    private func startListening() {
        let task = Task { [address, tenant, logger, weak self] in
            while !Task.isCancelled {
                do {
                    let connection = try await WritableConnection.connectToPrimary(address, logger: logger)
                    defer { Task { try? await connection.close() } }
                    // A change made while no connection listened was not heard: start afresh.
                    self?.invalidate()
                    try await connection.listen(on: Self.channel) { notifications in
                        for try await notification in notifications where notification.payload == tenant {
                            self?.invalidate()
                        }
                    }
                } catch {
                    if Task.isCancelled { return }
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
        }
        listener.withLock { $0 = task }
    }

    /// Stops listening and closes the connection.
    public func close() async {
        listener.withLock { $0?.cancel() }
        await connection.close()
    }

    deinit {
        listener.withLock { $0?.cancel() }
    }
}
