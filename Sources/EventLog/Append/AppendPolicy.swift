/// Judges batches inside the writer's transaction, so that a check "against everything stored
/// before" holds even with concurrent appenders.
///
/// The log calls these methods on its single writer thread only (``EventLog/isOnWriterThread`` is
/// true in each), in this order for each group of batches it commits together:
/// ``beginGroup(head:log:tables:)``, then ``admit(_:context:isNew:tables:)`` once per batch,
/// then ``commitGroup(head:)`` once the transaction is durable or ``abortGroup()`` when it is not.
/// An implementation keeps staged effects apart until `commitGroup`, so an aborted group leaves its
/// state as it was.
public protocol AppendPolicy: AnyObject, Sendable {
    /// What a batch carries for this policy to judge it (for LeadLedger, the decoded events). The log
    /// hands it over typed: a batch whose ``AppendBatch/context`` is of another type, or absent,
    /// reaches ``admit(_:context:isNew:tables:)`` with nil.
    associatedtype Context: Sendable = Never

    /// The names of the tables the policy keeps in the log's file (see ``PolicyTables``); they are
    /// created by the first group that commits, so a ledger written before a table existed gets it then.
    var tableNames: [String] { get }

    /// A group begins; `head` is the log's committed head, `tables` the policy's tables in the group's
    /// transaction. When the policy's state lags the log (another process appended without it, or the
    /// tables are new), it catches up by reading `log`.
    func beginGroup(head: UInt64, log: EventLog, tables: PolicyTables) throws

    /// Rewrites a batch's payloads before the log checks and writes it (LeadLedger seals personal
    /// values with keys it reads from, or stages for, `tables`). Runs in the group's transaction
    /// before ``admit(_:context:isNew:tables:)``; anything it stages for the tables it writes only
    /// in `admit`, so a refused batch leaves them as they were. It must give the same payload for
    /// an identical re-sent record, which the log compares with the stored one.
    func prepare(_ batch: AppendBatch, context: Context?, tables: PolicyTables) throws -> AppendBatch

    /// Judges one batch with its context; `isNew[i]` is false for a record that is a duplicate of a
    /// stored one. Throw to refuse the whole batch; stage its effects otherwise.
    func admit(_ batch: AppendBatch, context: Context?, isNew: [Bool], tables: PolicyTables) throws

    /// The group's transaction is durable and the log now ends at `head`: staged effects become the state.
    func commitGroup(head: UInt64)

    /// The group's transaction was not committed: drop staged effects.
    func abortGroup()
}

extension AppendPolicy {
    /// No tables.
    public var tableNames: [String] { [] }

    /// The batch as it is.
    public func prepare(_ batch: AppendBatch, context: Context?, tables: PolicyTables) throws -> AppendBatch { batch }
}
