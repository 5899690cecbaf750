import EventLog
import Foundation
import Logging
import Synchronization

/// A LeadLedger node's tie to its log of record (DESIGN §8.5): the ``LogUpstream`` an LMDB
/// ``EventLog`` is opened with (``EventLog/Options/upstream``), so that every group its writer
/// commits is first committed to a PostgreSQL tenant, fenced on the local head, and the local file is a
/// materialized copy of the tenant that serves every read.
///
/// The node also follows the tenant (``follow(_:pollEvery:)``): woken by the commits' `NOTIFY`
/// (and, in case one is missed or the listening connection is moving to a new primary, every few
/// seconds), it has the writer apply what is new, records and head in one LMDB transaction.
public final class ClusterNode: LogUpstream {
    /// The tenant this node is a copy of.
    public let store: PostgresEventStore
    private let progress = Mutex(Progress())
    private let logger: Logger
    /// The policy tables kept in the log of record.
    public let replicatedTables: [String]

    private struct Progress {
        var recordsFetched = 0
        var localHead: UInt64 = 0
        var caughtUpAt: Date?
        var lastError: String?
        var clusterHead: UInt64?
        var server: String?
    }

    /// A node of `store`'s tenant.
    public init(store: PostgresEventStore, replicatedTables: [String] = [], logger: Logger = Logger(label: "leadledger.node")) {
        self.store = store
        self.replicatedTables = replicatedTables
        self.logger = logger
    }

    /// Opens `tenant` at `address` for a node.
    public static func open(
        _ address: ClusterAddress, tenant: String, replicatedTables: [String] = [], commitTimeout: Duration = .seconds(30),
        logger: Logger = Logger(label: "leadledger.node")
    ) async throws -> ClusterNode {
        ClusterNode(
            store: try await PostgresEventStore.open(address, tenant: tenant, commitTimeout: commitTimeout, logger: logger),
            replicatedTables: replicatedTables, logger: logger)
    }

    // MARK: LogUpstream (called on the log's writer thread, which blocks)

    /// Commits a group of the local writer to the tenant, fenced on `head`.
    public func commit(_ records: [StoredRecord], tableChanges: [PolicyTableChange], onto head: LogHead) -> UpstreamCommit {
        let store = self.store
        return Self.blocking { await store.commit(sealed: records, tableChanges: tableChanges, onto: head) }
    }

    /// The replicated tables' entries changed after `after` up to `last`.
    public func tableChanges(after position: UInt64, through last: UInt64) throws -> [PolicyTableChange] {
        guard !replicatedTables.isEmpty else { return [] }
        let store = self.store
        return try Self.blocking { () async -> Result<[PolicyTableChange], any Error> in
            do { return .success(try await store.tableChanges(after: position, through: last)) } catch { return .failure(error) }
        }.get()
    }

    /// The tenant's records from `after + 1` on.
    public func records(after position: UInt64, limit: Int) throws -> [StoredRecord] {
        guard position < UInt64(Int64.max) else { return [] }
        let store = self.store
        return try Self.blocking { () async -> Result<[StoredRecord], any Error> in
            do { return .success(try await store.records(from: position + 1, limit: limit)) } catch { return .failure(error) }
        }.get()
    }

    /// Notes the local copy's head after a catch-up.
    public func caughtUp(to head: UInt64, applied: Int) {
        progress.withLock {
            $0.recordsFetched += applied
            $0.localHead = head
            $0.caughtUpAt = Date()
            $0.lastError = nil
        }
    }

    /// Runs `body` on the concurrency pool and blocks the calling thread (the log's writer thread,
    /// never one of the pool's) until it returns.
    private static func blocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let box = Mutex<T?>(nil)
        Task {
            let value = await body()
            box.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return box.withLock { $0! }
    }

    // MARK: The local copy

    /// Checks that `log` is a copy of this node's tenant (empty, or ending on a record the tenant
    /// holds with the same hash), then brings it up to the tenant's head. A copy of another chain
    /// is refused, naming where the two differ.
    public func attach(_ log: EventLog) async throws {
        let local = try log.head()
        let remote = try await store.head()
        if local.position > 0 {
            guard local.position <= remote.position, let record = try await store.record(at: local.position) else {
                throw ClusterError(
                    "the ledger at \(log.path) ends at position \(local.position), tenant \"\(store.tenant)\" at \(remote.position): it is not a copy of this tenant")
            }
            guard record.hash == local.hash else {
                throw ClusterError(
                    "the ledger at \(log.path) holds another chain than tenant \"\(store.tenant)\": their records at position \(local.position) differ")
            }
        }
        progress.withLock { $0.localHead = local.position }
        if try log.metaValue(EventLog.logOfRecordKey) == nil {
            try log.setMetaValue(Array(store.tenant.utf8), for: EventLog.logOfRecordKey)
        }
        _ = try await log.catchUp()
    }

    /// Follows the tenant until the task is cancelled or the log closes: each announced commit (or,
    /// failing that, every `pollEvery`) makes the writer catch up. Between catch-ups it reads the
    /// tenant's head, which ``status(of:)`` reports without asking PostgreSQL itself.
    public func follow(_ log: EventLog, pollEvery: Duration = .seconds(3)) -> Task<Void, Never> {
        Task { [self, store, logger] in
            while !Task.isCancelled {
                let head = (try? log.head().position) ?? 0
                await store.waitForCommit(after: head, timeout: pollEvery)
                if Task.isCancelled { return }
                do {
                    let remote = try await store.head().position
                    let server = await store.writableServer
                    progress.withLock {
                        $0.clusterHead = remote
                        $0.server = server
                    }
                    if remote > head { _ = try await log.catchUp() } else { caughtUp(to: head, applied: 0) }
                } catch let error as AppendError where error.code == .closed {
                    return
                } catch {
                    progress.withLock { $0.lastError = "\(error)" }
                    logger.warning("following tenant \"\(store.tenant)\" failed: \(error)")
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }

    // MARK: Status

    /// How far a node's copy is behind its log of record.
    public struct Status: Sendable, Codable, Hashable {
        /// The tenant.
        public var tenant: String
        /// The writable server last in use (`host:port`), nil when none was reached yet.
        public var server: String?
        /// The local copy's head.
        public var localHead: UInt64
        /// The tenant's head as last read (by the follower, or announced by a commit's `NOTIFY`).
        public var clusterHead: UInt64?
        /// Positions the copy lacks behind that head.
        public var positionsBehind: UInt64?
        /// Seconds since the copy was last found caught up, nil before it ever was.
        public var secondsSinceCaughtUp: Double?
        /// Records this process read from the log of record to catch up, since it started.
        public var recordsFetched: Int
        /// The last problem following the log of record, nil once it caught up again.
        public var problem: String?
    }

    /// The node's lag behind its log of record, from what the follower last saw: never waits on PostgreSQL.
    public func status(of log: EventLog) -> Status {
        let local = (try? log.head().position) ?? progress.withLock { $0.localHead }
        let announced = store.announcedHead
        return progress.withLock { p in
            let remote = max(p.clusterHead ?? 0, announced)
            return Status(
                tenant: store.tenant, server: p.server, localHead: local, clusterHead: remote,
                positionsBehind: remote > local ? remote - local : 0,
                secondsSinceCaughtUp: p.caughtUpAt.map { Date().timeIntervalSince($0) }, recordsFetched: p.recordsFetched,
                problem: p.lastError)
        }
    }

    /// Records fetched from the log of record to catch up, since this process started.
    public var recordsFetched: Int { progress.withLock { $0.recordsFetched } }
}
