import Foundation

/// What LeadLedger needs of an event store, whatever keeps the records: an append-only log of
/// records in positions 1, 2, 3…, each in an optional stream, sealed by a chain of SHA-256 hashes.
///
/// The contract, which conformance tests (`EventStoreConformance` in the test suite) check for every implementation:
/// - ``append(_:)`` is atomic: every new record of the batch, or none; a refused batch changes nothing.
/// - Idempotency: a record whose id is stored with the same stream and payload is a duplicate (it
///   takes no new position, its outcome names the stored one); with other content, the batch is
///   refused with ``AppendError/Code/conflict``. Within one batch, the same holds for repeated ids.
/// - Expected versions: a stream named in ``AppendBatch/expectedVersions`` must hold exactly that
///   many records before the batch, or it is refused with ``AppendError/Code/expectedVersionMismatch``.
/// - The hash chain: each record's hash is SHA-256 over the previous record's hash (32 zero bytes for
///   the first), its position (8 bytes, little-endian), the first 32 bytes of its header and its
///   payload; the head carries the last record's hash.
/// - Reads see only committed records, in position order; a stream's records in position order.
/// - A subscription yields every record from a position on, then each new one once committed.
public protocol EventStore: AnyObject, Sendable {
    /// Appends a batch atomically and durably (as durable as the store is); returns once committed.
    func append(_ batch: AppendBatch) async throws(AppendError) -> AppendReceipt
    /// The last position and its hash.
    func head() throws -> LogHead
    /// Up to `limit` records from `position` on, in position order.
    func records(from position: UInt64, limit: Int) throws -> [StoredRecord]
    /// The record at `position`, nil when there is none.
    func record(at position: UInt64) throws -> StoredRecord?
    /// The record with this id, nil when there is none.
    func record(id: UUID) throws -> StoredRecord?
    /// Every record of `stream`, in position order.
    func records(inStream stream: String) throws -> [StoredRecord]
    /// How many records `stream` holds: 0 for a stream never written.
    func version(ofStream stream: String) throws -> Int
    /// Every record from `position` on, then each new one as it is committed, until the task is
    /// cancelled or the store closes.
    func subscribe(from position: UInt64) -> LogSubscription
    /// Ends appending: later appends fail with ``AppendError/Code/closed`` and subscriptions end.
    func close()
}

extension EventLog: EventStore {}

/// The ``EventStore`` contract for a store whose reads may wait on the network (PostgreSQL as the
/// replicated log of record): the same operations and the same promises, with asynchronous reads. The
/// LMDB log and the in-memory store satisfy it with their synchronous reads, so one conformance suite
/// checks every store.
public protocol AsyncEventStore: AnyObject, Sendable {
    /// Appends a batch atomically and durably (as durable as the store is); returns once committed.
    func append(_ batch: AppendBatch) async throws(AppendError) -> AppendReceipt
    /// The last position and its hash.
    func head() async throws -> LogHead
    /// Up to `limit` records from `position` on, in position order.
    func records(from position: UInt64, limit: Int) async throws -> [StoredRecord]
    /// The record at `position`, nil when there is none.
    func record(at position: UInt64) async throws -> StoredRecord?
    /// The record with this id, nil when there is none.
    func record(id: UUID) async throws -> StoredRecord?
    /// Every record of `stream`, in position order.
    func records(inStream stream: String) async throws -> [StoredRecord]
    /// How many records `stream` holds: 0 for a stream never written.
    func version(ofStream stream: String) async throws -> Int
    /// Every record from `position` on, then each new one as it is committed, until the task is
    /// cancelled or the store closes.
    func subscribe(from position: UInt64) -> LogSubscription
    /// Ends appending: later appends fail with ``AppendError/Code/closed`` and subscriptions end.
    func close()
}

extension EventLog: AsyncEventStore {}
extension InMemoryEventStore: AsyncEventStore {}
