import EventLog
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// An ``AsyncEventStore`` whose log of record is one tenant of a PostgreSQL cluster (DESIGN §8.5).
///
/// Records are the LMDB log's own bytes (``LogRecordLayout``: header, chained hash, payload) in
/// `ll_events`, so a ledger moved between the two stores keeps its head hash. Concurrent appends are
/// grouped: each group is one transaction that ends by moving the tenant's row of `ll_heads` from
/// the head it read to the new one (`… WHERE tenant = $1 AND position = $expected`), so a writer
/// that read a stale head fails the fence, reads again and retries, and positions stay gapless and
/// in commit order whatever the number of writers. An append returns once PostgreSQL's commit
/// returned with `synchronous_commit = on`: with `synchronous_standby_names` set, on a standby too.
/// When the connection fails during the commit, the append fails with
/// ``AppendError/Code/unknownOutcome``: the batch may be stored; retrying it with the same ids is safe.
public final class PostgresEventStore: AsyncEventStore {
    /// The tenant (one ledger of the cluster) this store reads and writes.
    public let tenant: String
    private let address: ClusterAddress
    private let writer: WritableConnection
    private let reader: WritableConnection
    private let logger: Logger
    private let maxPayloadSize: Int
    private let clock: any LogClock
    private let signal = HeadSignal(head: 0)
    private let queue = Mutex(Queue())
    private let closedFlag = ClosedFlag()
    private let listener: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let listening = ListeningFlag()

    /// Whether the store is listening for other writers' commits now (``waitForCommit(after:timeout:)``
    /// then wakes at once; otherwise only at its timeout).
    public var isListening: Bool { listening.isSet }

    private struct Pending: Sendable {
        let batch: AppendBatch
        let continuation: CheckedContinuation<Result<AppendReceipt, AppendError>, Never>
    }

    private struct Queue: Sendable {
        var pending: [Pending] = []
        var draining = false
    }

    /// The greatest number of batches one transaction takes.
    static let groupLimit = 256
    /// How often a group is retried after losing the fence to another writer before giving up.
    static let fenceRetries = 64
    /// The `LISTEN/NOTIFY` channel on which each commit rings (payload: tenant, a space, the new head).
    static let channel = "ll_log"

    /// Opens `tenant` of the cluster at `address`, creating its head when the tenant is new. The
    /// schema must exist (``createSchema(at:logger:)``, `leadledger cluster init`). A group's
    /// transaction that gets no answer within `commitTimeout` fails with an unknown outcome.
    public static func open(
        _ address: ClusterAddress, tenant: String, maxPayloadSize: Int = EventLog.Options().maxPayloadSize,
        clock: any LogClock = SystemLogClock(), commitTimeout: Duration = .seconds(30),
        logger: Logger = Logger(label: "leadledger.cluster")
    ) async throws -> PostgresEventStore {
        try TenantName.check(tenant)
        let store = PostgresEventStore(
            address: address, tenant: tenant, maxPayloadSize: maxPayloadSize, clock: clock, commitTimeout: commitTimeout, logger: logger)
        do {
            let connection = try await store.writer.connection()
            try await connection.query(
                "INSERT INTO ll_heads (tenant, position, hash, streams) VALUES (\(tenant), 0, \(ByteBuffer(bytes: LogRecordLayout.genesisHash)), 0) ON CONFLICT (tenant) DO NOTHING",
                logger: logger)
            store.signal.advance(to: try await store.head().position)
        } catch {
            await store.writer.close()
            await store.reader.close()
            if let error = error as? ClusterError { throw error }
            throw ClusterError("cannot open tenant \"\(tenant)\" at \(address): \(describe(error))")
        }
        store.startListening()
        return store
    }

    private init(
        address: ClusterAddress, tenant: String, maxPayloadSize: Int, clock: any LogClock, commitTimeout: Duration, logger: Logger
    ) {
        self.commitTimeout = commitTimeout
        self.address = address
        self.tenant = tenant
        self.maxPayloadSize = maxPayloadSize
        self.clock = clock
        self.logger = logger
        writer = WritableConnection(address: address, logger: logger)
        reader = WritableConnection(address: address, logger: logger)
    }

    /// The tables of the log of record, created when missing: `ll_heads` (one row per tenant: the
    /// fence), `ll_streams` (each stream's dense number and version) and `ll_events` (the records).
    public static func createSchema(at address: ClusterAddress, logger: Logger = Logger(label: "leadledger.cluster")) async throws {
        let connection = try await WritableConnection.connectToPrimary(address, logger: logger)
        defer { Task { try? await connection.close() } }
        // CREATE TABLE IF NOT EXISTS is not safe against itself run concurrently (two nodes
        // initialising at once): one lock serialises them.
        try await connection.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(7617616465)", logger: logger)
            for statement in schema { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
        }
    }

    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS ll_heads (
            tenant text PRIMARY KEY,
            position bigint NOT NULL CHECK (position >= 0),
            hash bytea NOT NULL CHECK (length(hash) = 32),
            streams bigint NOT NULL CHECK (streams >= 0))
        """,
        """
        CREATE TABLE IF NOT EXISTS ll_streams (
            tenant text NOT NULL REFERENCES ll_heads (tenant),
            name text NOT NULL,
            number bigint NOT NULL,
            version bigint NOT NULL,
            PRIMARY KEY (tenant, name),
            UNIQUE (tenant, number))
        """,
        // `stream`/`stream_seq` are the lead and its event number for LeadLedger's records; the
        // uniques are the idempotency keys (kept forever) and the per-lead optimistic concurrency.
        """
        CREATE TABLE IF NOT EXISTS ll_events (
            tenant text NOT NULL REFERENCES ll_heads (tenant),
            position bigint NOT NULL CHECK (position >= 1),
            event_id uuid NOT NULL,
            stream text,
            stream_seq bigint,
            recorded_at bigint NOT NULL,
            record bytea NOT NULL,
            hash bytea NOT NULL,
            PRIMARY KEY (tenant, position),
            UNIQUE (tenant, event_id),
            UNIQUE (tenant, stream, stream_seq))
        """,
        // Nodes' policy tables kept in the log of record (the per-lead keys of personal data): each
        // entry in its latest state, `value` NULL once deleted, `position` the end of the group that
        // last changed it, so a node catching up from position P reads what changed after P.
        """
        CREATE TABLE IF NOT EXISTS ll_policy_rows (
            tenant text NOT NULL REFERENCES ll_heads (tenant),
            tbl text NOT NULL,
            key bytea NOT NULL,
            value bytea,
            position bigint NOT NULL,
            PRIMARY KEY (tenant, tbl, key))
        """,
        "CREATE INDEX IF NOT EXISTS ll_policy_rows_position ON ll_policy_rows (tenant, position)",
    ]

    // MARK: Appending

    /// Appends a batch atomically, acknowledged once PostgreSQL's synchronous commit returned.
    public func append(_ batch: AppendBatch) async throws(AppendError) -> AppendReceipt {
        if batch.records.isEmpty {
            do {
                return AppendReceipt(outcomes: [], head: try await head())
            } catch {
                throw AppendError(.storage, "cannot read the head of tenant \"\(tenant)\": \(describe(error))", underlying: ClusterError(describe(error)))
            }
        }
        if closedFlag.isSet { throw AppendError(.closed, "the store is closed") }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<AppendReceipt, AppendError>, Never>) in
            let start = queue.withLock { queue in
                queue.pending.append(Pending(batch: batch, continuation: continuation))
                if queue.draining { return false }
                queue.draining = true
                return true
            }
            if start { Task { await self.drain() } }
        }
        return try result.get()
    }

    /// Commits the waiting batches, a group per transaction, until none waits.
    private func drain() async {
        while true {
            let group: [Pending]? = queue.withLock { queue in
                if queue.pending.isEmpty {
                    queue.draining = false
                    return nil
                }
                let count = min(queue.pending.count, Self.groupLimit)
                let group = Array(queue.pending.prefix(count))
                queue.pending.removeFirst(count)
                return group
            }
            guard let group else { return }
            let results = await commit(group.map(\.batch))
            for (pending, result) in zip(group, results) { pending.continuation.resume(returning: result) }
        }
    }

    /// One transaction for the group, retried while another writer wins the fence.
    private func commit(_ batches: [AppendBatch]) async -> [Result<AppendReceipt, AppendError>] {
        if closedFlag.isSet { return batches.map { _ in .failure(AppendError(.closed, "the store is closed")) } }
        for _ in 0..<Self.fenceRetries {
            let connecting = await withDeadline(Self.connectTimeout) { [writer] () async -> Result<PostgresConnection, ClusterError> in
                do { return .success(try await writer.connection()) } catch { return .failure(ClusterError(describe(error))) }
            }
            let connection: PostgresConnection
            switch connecting {
            case .success(let open)?: connection = open
            case .failure(let error)?:
                let message = "the log of record is unreachable; nothing was stored: \(error)"
                return batches.map { _ in .failure(AppendError(.storage, message, underlying: error)) }
            case nil:
                let message = "no writable server of the log of record answered within \(Self.connectTimeout); nothing was stored"
                return batches.map { _ in .failure(AppendError(.storage, message, underlying: ClusterError(message))) }
            }
            // A server that stops answering (a network partition, a primary that hangs) must not hold
            // the appends forever: past the deadline the outcome is unknown, and a retry is safe.
            let outcome = await withDeadline(commitTimeout) { [self] in await attempt(batches, on: connection) }
                ?? .failed("no answer within \(commitTimeout)", committing: true)
            switch outcome {
            case .done(let results, let head):
                signal.advance(to: head)
                return results
            case .fenceLost:
                continue
            case .failed(let error, let committing):
                await writer.discard(connection)
                if committing {
                    let message =
                        "unknown outcome: the connection to the log of record failed during the commit (\(error)); retry with the same ids"
                    return batches.map { _ in .failure(AppendError(.unknownOutcome, message, underlying: ClusterError(message))) }
                }
                let message = "the log of record refused the transaction; nothing was stored: \(error)"
                return batches.map { _ in .failure(AppendError(.storage, message, underlying: ClusterError(message))) }
            }
        }
        let message = "tenant \"\(tenant)\": lost the head fence \(Self.fenceRetries) times in a row to other writers; nothing was stored"
        return batches.map { _ in .failure(AppendError(.storage, message)) }
    }

    private enum Attempt: Sendable {
        case done([Result<AppendReceipt, AppendError>], head: UInt64)
        case fenceLost
        case failed(String, committing: Bool)
    }

    /// How long finding the writable server may take before an append fails (nothing stored).
    static let connectTimeout = Duration.seconds(15)
    /// How long one group's transaction may take before its outcome is reported unknown.
    private let commitTimeout: Duration

    private func attempt(_ batches: [AppendBatch], on connection: PostgresConnection) async -> Attempt {
        var committing = false
        do {
            try await connection.query("BEGIN", logger: logger)
            var state = try await GroupState.read(batches, tenant: tenant, on: connection, logger: logger)
            let recordedAt = clock.now()
            var results: [Result<AppendReceipt, AppendError>] = []
            for batch in batches { results.append(state.plan(batch, maxPayloadSize: maxPayloadSize, recordedAt: recordedAt)) }
            if state.rows.isEmpty {
                try await connection.query("ROLLBACK", logger: logger)
                return .done(results, head: state.position)
            }
            guard try await state.write(tenant: tenant, on: connection, logger: logger) else {
                try await connection.query("ROLLBACK", logger: logger)
                return .fenceLost
            }
            try await connection.query("SELECT pg_notify(\(Self.channel), \(tenant + " " + String(state.position)))", logger: logger)
            committing = true
            try await connection.query("COMMIT", logger: logger)
            return .done(results, head: state.position)
        } catch {
            // Another writer stored the same id or stream version first: its commit moved the head,
            // so this group's fence is lost too; read again.
            if !committing, let state = sqlState(error), state == "23505" || state == "40001" {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                return .fenceLost
            }
            if !committing, !isConnectionLoss(error) { _ = try? await connection.query("ROLLBACK", logger: logger) }
            return .failed(describe(error), committing: committing)
        }
    }

    // MARK: Copying sealed records

    /// Appends records already sealed by another store (a ledger moved from LMDB, say), keeping their
    /// bytes, stream numbers and hashes: each must chain onto the head, which is checked before
    /// anything is written. Used by `leadledger cluster migrate`, in pages.
    public func copy(_ records: [StoredRecord]) async throws {
        guard !records.isEmpty else { return }
        let connection = try await writer.connection()
        do {
            try await connection.query("BEGIN", logger: logger)
            var state = try await GroupState.read([], tenant: tenant, on: connection, logger: logger)
            let streams = Set(records.compactMap(\.stream))
            try await state.readStreams(Array(streams), tenant: tenant, on: connection, logger: logger)
            for record in records { try state.seal(record) }
            guard try await state.write(tenant: tenant, on: connection, logger: logger) else {
                throw ClusterError("tenant \"\(tenant)\" was written to while records were copied into it")
            }
            try await connection.query("SELECT pg_notify(\(Self.channel), \(tenant + " " + String(state.position)))", logger: logger)
            try await connection.query("COMMIT", logger: logger)
            signal.advance(to: state.position)
        } catch {
            if !isConnectionLoss(error) { _ = try? await connection.query("ROLLBACK", logger: logger) } else { await writer.discard(connection) }
            if let error = error as? ClusterError { throw error }
            throw ClusterError("copying into tenant \"\(tenant)\" failed: \(describe(error))")
        }
    }

    // MARK: A node's groups

    /// Stores records a node sealed in its local copy (exact bytes, positions, hashes), in one
    /// transaction fenced on `head`: they are stored only when the tenant still ends at `head` with
    /// the same hash, and acknowledged once the synchronous commit returned. A node's writer is the
    /// only caller: it must not share this store with ``append(_:)``, whose groups use the same connection.
    public func commit(sealed records: [StoredRecord], tableChanges: [PolicyTableChange] = [], onto head: LogHead) async -> UpstreamCommit {
        if closedFlag.isSet { return .failed("the store is closed") }
        guard !records.isEmpty else { return .committed }
        let connecting = await withDeadline(Self.connectTimeout) { [writer] () async -> Result<PostgresConnection, ClusterError> in
            do { return .success(try await writer.connection()) } catch { return .failure(ClusterError(describe(error))) }
        }
        let connection: PostgresConnection
        switch connecting {
        case .success(let open)?: connection = open
        case .failure(let error)?: return .failed("the log of record is unreachable: \(error)")
        case nil: return .failed("no writable server of the log of record answered within \(Self.connectTimeout)")
        }
        let outcome = await withDeadline(commitTimeout) { [self] in await attemptSealed(records, tableChanges, onto: head, on: connection) }
            ?? .unknownOutcome("no answer within \(commitTimeout)")
        switch outcome {
        case .committed, .fenceLost: break
        case .unknownOutcome, .failed: await writer.discard(connection)
        }
        return outcome
    }

    private func attemptSealed(
        _ records: [StoredRecord], _ changes: [PolicyTableChange], onto head: LogHead, on connection: PostgresConnection
    ) async -> UpstreamCommit {
        var committing = false
        do {
            try await connection.query("BEGIN", logger: logger)
            var state = try await GroupState.read([], tenant: tenant, on: connection, logger: logger)
            guard state.fencePosition == head.position else {
                try await connection.query("ROLLBACK", logger: logger)
                return .fenceLost
            }
            guard state.headHash.hexadecimal == head.hash else {
                try await connection.query("ROLLBACK", logger: logger)
                return .failed(
                    "tenant \"\(tenant)\" has another record at position \(head.position) than this node's copy: the copy is not of this tenant")
            }
            try await state.readStreams(Array(Set(records.compactMap(\.stream))), tenant: tenant, on: connection, logger: logger)
            for record in records { try state.seal(record) }
            guard try await state.write(tenant: tenant, on: connection, logger: logger) else {
                try await connection.query("ROLLBACK", logger: logger)
                return .fenceLost
            }
            try await upsertTableEntries(changes, at: state.position, on: connection)
            try await connection.query("SELECT pg_notify(\(Self.channel), \(tenant + " " + String(state.position)))", logger: logger)
            committing = true
            try await connection.query("COMMIT", logger: logger)
            signal.advance(to: state.position)
            return .committed
        } catch {
            // Another node stored one of these ids or stream versions first: its commit moved the head.
            if !committing, let state = sqlState(error), state == "23505" || state == "40001" {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                return .fenceLost
            }
            if committing { return .unknownOutcome(describe(error)) }
            if !isConnectionLoss(error) { _ = try? await connection.query("ROLLBACK", logger: logger) }
            if let error = error as? ClusterError { return .failed(error.description) }
            return .failed(describe(error))
        }
    }

    /// Stores entries of policy tables kept in the log of record as changed at `position` (for
    /// `cluster migrate`, which copies an embedded ledger's keys with its records). Idempotent.
    public func storeTableEntries(_ entries: [PolicyTableChange], at position: UInt64) async throws {
        guard !entries.isEmpty else { return }
        guard Int64(exactly: position) != nil else { throw ClusterError("position \(position) is too large") }
        let connection = try await writer.connection()
        do {
            try await upsertTableEntries(entries, at: position, on: connection)
        } catch {
            if isConnectionLoss(error) { await writer.discard(connection) }
            throw ClusterError("storing tenant \"\(tenant)\"'s policy tables failed: \(describe(error))")
        }
    }

    /// Writes policy-table entries as changed at `position` (a deleted one as NULL), in whatever
    /// transaction `connection` is in: a group's, or a migration's own statement.
    private func upsertTableEntries(_ entries: [PolicyTableChange], at position: UInt64, on connection: PostgresConnection) async throws {
        guard !entries.isEmpty else { return }
        guard let at = Int64(exactly: position) else { throw ClusterError("position \(position) is too large") }
        let tables = entries.map(\.table)
        let keys = entries.map { ByteBuffer(bytes: $0.key) }
        let deleted = entries.map { $0.value == nil }
        let values = entries.map { ByteBuffer(bytes: $0.value ?? []) }
        try await connection.query(
            """
            INSERT INTO ll_policy_rows (tenant, tbl, key, value, position)
            SELECT \(tenant), t, k, CASE WHEN d THEN NULL ELSE v END, \(at)
            FROM unnest(\(tables)::text[], \(keys)::bytea[], \(deleted)::bool[], \(values)::bytea[]) AS c(t, k, d, v)
            ON CONFLICT (tenant, tbl, key) DO UPDATE SET value = EXCLUDED.value, position = EXCLUDED.position
            """, logger: logger)
    }

    /// The entries of the policy tables kept in the log of record that groups ending after `after`
    /// and up to `last` changed, in their latest state (nil: deleted).
    public func tableChanges(after position: UInt64, through last: UInt64) async throws -> [PolicyTableChange] {
        guard let after = Int64(exactly: position), let through = Int64(exactly: last), after < through else { return [] }
        let connection = try await reader.connection()
        do {
            var changes: [PolicyTableChange] = []
            for try await (table, key, value) in try await connection.query(
                "SELECT tbl, key, value FROM ll_policy_rows WHERE tenant = \(tenant) AND position > \(after) AND position <= \(through) ORDER BY position",
                logger: logger
            ).decode((String, ByteBuffer, ByteBuffer?).self) {
                changes.append(PolicyTableChange(table: table, key: Array(key.readableBytesView), value: value.map { Array($0.readableBytesView) }))
            }
            return changes
        } catch {
            if isConnectionLoss(error) { await reader.discard(connection) }
            throw ClusterError("reading tenant \"\(tenant)\"'s policy tables failed: \(describe(error))")
        }
    }

    /// Returns once a commit of this tenant past `position` was announced (by any node), or after
    /// `timeout`: a node's follower waits here between catch-ups.
    public func waitForCommit(after position: UInt64, timeout: Duration) async {
        await signal.waitForRecord(after: position, timeout: timeout)
    }

    /// The greatest head of this tenant announced so far (by this store's commits or any writer's `NOTIFY`).
    public var announcedHead: UInt64 { signal.head }

    /// The server the store writes to now (`host:port`), nil while it has no connection.
    public var writableServer: String? {
        get async {
            if let server = await writer.server { return server }
            return await reader.server
        }
    }

    // MARK: Reading

    private func readRows(_ query: PostgresQuery) async throws -> [StoredRecord] {
        let connection = try await reader.connection()
        do {
            var records: [StoredRecord] = []
            for try await (position, stream, record) in try await connection.query(query, logger: logger).decode(
                (Int64, String?, ByteBuffer).self)
            {
                guard let position = UInt64(exactly: position) else {
                    throw ClusterError("tenant \"\(tenant)\": a stored position is negative (\(position))")
                }
                let stored = try record.withUnsafeReadableBytes { bytes throws(StoredDamage) in
                    try StoredRecord(position: position, bytes: bytes, stream: stream)
                }
                records.append(stored)
            }
            return records
        } catch {
            if isConnectionLoss(error) { await reader.discard(connection) }
            if error is ClusterError || error is StoredDamage { throw error }
            throw ClusterError("reading tenant \"\(tenant)\" failed: \(describe(error))")
        }
    }

    /// The last position and its hash.
    public func head() async throws -> LogHead {
        let connection = try await reader.connection()
        do {
            for try await (position, hash) in try await connection.query(
                "SELECT position, hash FROM ll_heads WHERE tenant = \(tenant)", logger: logger
            ).decode((Int64, ByteBuffer).self) {
                guard let position = UInt64(exactly: position) else { throw ClusterError("tenant \"\(tenant)\": negative head") }
                return LogHead(position: position, hash: hash.readableBytesView.map { String(format: "%02x", $0) }.joined())
            }
        } catch {
            if isConnectionLoss(error) { await reader.discard(connection) }
            if error is ClusterError || error is StoredDamage { throw error }
            throw ClusterError("reading tenant \"\(tenant)\" failed: \(describe(error))")
        }
        throw ClusterError("tenant \"\(tenant)\" does not exist")
    }

    /// Up to `limit` records from `position` on.
    public func records(from position: UInt64, limit: Int) async throws -> [StoredRecord] {
        guard limit > 0 else { return [] }
        let start = Int64(clamping: max(position, 1))
        let count = Int64(clamping: limit)
        return try await readRows(
            "SELECT position, stream, record FROM ll_events WHERE tenant = \(tenant) AND position >= \(start) ORDER BY position LIMIT \(count)")
    }

    /// The record at `position`.
    public func record(at position: UInt64) async throws -> StoredRecord? {
        guard let position = Int64(exactly: position), position >= 1 else { return nil }
        return try await readRows(
            "SELECT position, stream, record FROM ll_events WHERE tenant = \(tenant) AND position = \(position)"
        ).first
    }

    /// The record with this id.
    public func record(id: UUID) async throws -> StoredRecord? {
        try await readRows("SELECT position, stream, record FROM ll_events WHERE tenant = \(tenant) AND event_id = \(id)").first
    }

    /// Every record of `stream`.
    public func records(inStream stream: String) async throws -> [StoredRecord] {
        try await readRows(
            "SELECT position, stream, record FROM ll_events WHERE tenant = \(tenant) AND stream = \(stream) ORDER BY position")
    }

    /// How many records `stream` holds.
    public func version(ofStream stream: String) async throws -> Int {
        let connection = try await reader.connection()
        do {
            for try await version in try await connection.query(
                "SELECT version FROM ll_streams WHERE tenant = \(tenant) AND name = \(stream)", logger: logger
            ).decode(Int64.self) {
                guard let version = Int(exactly: version), version >= 0 else { throw ClusterError("stream \"\(stream)\": bad version") }
                return version
            }
        } catch {
            if isConnectionLoss(error) { await reader.discard(connection) }
            if error is ClusterError { throw error }
            throw ClusterError("reading tenant \"\(tenant)\" failed: \(describe(error))")
        }
        return 0
    }

    /// Every record from `position` on, then each new one: woken by the commit's `NOTIFY`, and in
    /// any case every second (a missed notification only delays).
    public func subscribe(from position: UInt64 = 1) -> LogSubscription {
        LogSubscription(
            from: position, readingAsync: { [self] in try await records(from: $0, limit: $1) },
            isClosed: { [closedFlag] in closedFlag.isSet },
            waitAfter: { [signal] in await signal.waitForRecord(after: $0, timeout: .seconds(1)) })
    }

    /// Listens for commits of this tenant by any writer, to wake subscriptions at once.
    private func startListening() {
        let task = Task { [address, tenant, logger, signal, closedFlag, listening] in
            while !Task.isCancelled && !closedFlag.isSet {
                do {
                    let connection = try await WritableConnection.connectToPrimary(address, logger: logger)
                    defer { Task { try? await connection.close() } }
                    try await connection.listen(on: Self.channel) { notifications in
                        listening.set(true)
                        defer { listening.set(false) }
                        for try await notification in notifications {
                            let parts = notification.payload.split(separator: " ")
                            if parts.count == 2, parts[0] == tenant, let head = UInt64(parts[1]) { signal.advance(to: head) }
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

    /// Refuses later appends, ends subscriptions and closes the writing connection. Reads still
    /// work, as on the LMDB log; their connection closes with the store (or ``shutdown()``).
    public func close() {
        closedFlag.set()
        signal.closeAll()
        listener.withLock { $0?.cancel() }
        Task { [writer] in await writer.close() }
    }

    deinit {
        Task { [reader] in await reader.drop() }
    }

    /// Closes, and waits until the connections are closed.
    public func shutdown() async {
        close()
        await writer.close()
        await reader.drop()
    }
}

/// A tenant's name: what addresses one ledger of the cluster.
public enum TenantName {
    /// Letters, digits, `-` and `_`, 1–63 characters: safe in a notification payload, a folder name
    /// and a log line.
    public static func check(_ name: String) throws(ClusterError) {
        let ok = (1...63).contains(name.utf8.count)
            && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d || $0 == 0x5f }
        guard ok else {
            throw ClusterError("tenant \"\(name)\": a tenant's name is 1–63 letters, digits, '-' or '_'")
        }
    }
}

extension PostgresEventStore {
    /// What ``verify(pageSize:)`` found.
    public struct Verification: Sendable, Hashable, Codable {
        /// The head recomputed from the records: the last position and its hash.
        public var head: LogHead
        /// How many records were checked.
        public var records: UInt64
        /// The first problem, when there is one (then `head` is where the chain still held).
        public var problem: String?
    }

    /// Walks the tenant's records in position order, recomputing every hash from the record's bytes
    /// (as `leadledger verify` does on LMDB), and compares the result with the head row.
    public func verify(pageSize: Int = 1000) async throws -> Verification {
        var previous = LogRecordLayout.genesisHash
        var position: UInt64 = 0
        while true {
            let page = try await records(from: position + 1, limit: pageSize)
            if page.isEmpty { break }
            for record in page {
                let at = LogHead(position: position, hash: previous.hexadecimal)
                guard record.position == position + 1 else {
                    return Verification(head: at, records: position, problem: "position \(position + 1) is missing")
                }
                let hash = Self.chainHash(previous: previous, record: record)
                guard hash.hexadecimal == record.hash else {
                    return Verification(head: at, records: position, problem: "the hash at position \(record.position) does not chain")
                }
                previous = hash
                position = record.position
            }
        }
        let recomputed = LogHead(position: position, hash: previous.hexadecimal)
        let stored = try await head()
        if stored != recomputed {
            return Verification(
                head: recomputed, records: position,
                problem: "the head row says position \(stored.position) \(stored.hash); the records end at \(position) \(recomputed.hash)")
        }
        return Verification(head: recomputed, records: position, problem: nil)
    }

    /// The chained hash of a record, from its fields as the LMDB log lays them out.
    static func chainHash(previous: [UInt8], record: StoredRecord) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: LogRecordLayout.headerSize + record.payload.count)
        return bytes.withUnsafeMutableBytes { buffer in
            LogRecordLayout.writeHeader(into: buffer, stream: record.streamNumber, recordedAt: record.recordedAt, id: record.id)
            record.payload.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: buffer[LogRecordLayout.headerSize...]).copyMemory(from: $0)
            }
            return previous.withUnsafeBytes {
                Array(LogRecordLayout.chainHash(previous: $0, position: record.position, record: UnsafeRawBufferPointer(buffer)))
            }
        }
    }

    /// Every tenant of the cluster with its head, in name order.
    public static func tenants(at address: ClusterAddress, logger: Logger = Logger(label: "leadledger.cluster")) async throws -> [(
        tenant: String, head: LogHead
    )] {
        let connection = try await WritableConnection.connectToPrimary(address, logger: logger)
        defer { Task { try? await connection.close() } }
        var result: [(String, LogHead)] = []
        for try await (tenant, position, hash) in try await connection.query(
            "SELECT tenant, position, hash FROM ll_heads ORDER BY tenant", logger: logger
        ).decode((String, Int64, ByteBuffer).self) {
            result.append((tenant, LogHead(position: UInt64(clamping: position), hash: Array(hash.readableBytesView).hexadecimal)))
        }
        return result
    }
}

/// Whether a store's listener is listening now.
final class ListeningFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set(_ listening: Bool) { value.withLock { $0 = listening } }
}

/// Whether a store was closed, shared with its subscriptions and its listener.
final class ClosedFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// Runs `body`, returning nil if it has not finished within `duration`; `body` is then cancelled and
/// left to end on its own (a query on a dead connection ends when the connection is closed).
func withDeadline<T: Sendable>(_ duration: Duration, _ body: @escaping @Sendable () async -> T) async -> T? {
    let race = DeadlineRace<T>()
    return await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
        race.arm(continuation)
        let work = Task {
            let value = await body()
            race.finish(value)
        }
        Task {
            try? await Task.sleep(for: duration)
            if race.finish(nil) { work.cancel() }
        }
    }
}

/// Whichever of the work and the timer finishes first resumes the waiter; the other does nothing.
final class DeadlineRace<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T?, Never>?>(nil)
    func arm(_ waiter: CheckedContinuation<T?, Never>) { continuation.withLock { $0 = waiter } }
    @discardableResult
    func finish(_ value: T?) -> Bool {
        guard let waiter = continuation.withLock({ state -> CheckedContinuation<T?, Never>? in
            defer { state = nil }
            return state
        }) else { return false }
        waiter.resume(returning: value)
        return true
    }
}
