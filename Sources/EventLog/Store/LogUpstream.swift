import Foundation

/// A log of record above this log (PostgreSQL, for a LeadLedger node): the local LMDB file is then a
/// materialized copy of it, and every group the writer commits is committed there first.
///
/// The writer calls both methods on its own thread and blocks on them: a group's LMDB transaction
/// stays open until the log of record has answered, so the local copy never holds a record the log
/// of record refused, and validation always runs against the local copy at the head it fences on.
public protocol LogUpstream: AnyObject, Sendable {
    /// The policy tables (``PolicyTables``) that live in the log of record too: what a group writes
    /// to them is committed with its records, and a catch-up brings other nodes' changes (for
    /// LeadLedger, the per-lead keys of personal data, so that a value sealed on one node opens on
    /// another and an erasure on one reaches all).
    var replicatedTables: [String] { get }

    /// Commits `records` (the group's new records, sealed: exact bytes, positions, hashes) and the
    /// group's changes to the replicated tables onto the log of record, fenced on `head`: they are
    /// stored only if the log of record still ends there.
    func commit(_ records: [StoredRecord], tableChanges: [PolicyTableChange], onto head: LogHead) -> UpstreamCommit

    /// The replicated tables' entries changed by the groups that ended after position `after` up
    /// to `through`, each in its latest state.
    func tableChanges(after position: UInt64, through last: UInt64) throws -> [PolicyTableChange]

    /// Up to `limit` records of the log of record from position `after + 1` on, in position order.
    func records(after position: UInt64, limit: Int) throws -> [StoredRecord]

    /// The records ``records(after:limit:)`` returned were applied: the local copy ends at `head`.
    func caughtUp(to head: UInt64, applied: Int)
}

extension LogUpstream {
    /// Nothing to note.
    public func caughtUp(to head: UInt64, applied: Int) {}
    /// None.
    public var replicatedTables: [String] { [] }
    /// None.
    public func tableChanges(after position: UInt64, through last: UInt64) throws -> [PolicyTableChange] { [] }
}

/// An entry of a replicated policy table as a group left it: its value, or nil once deleted.
public struct PolicyTableChange: Sendable, Hashable {
    /// The table, as the policy names it.
    public var table: String
    /// The entry's key.
    public var key: [UInt8]
    /// The entry's value; nil when the group deleted it.
    public var value: [UInt8]?

    /// A change.
    public init(table: String, key: [UInt8], value: [UInt8]?) {
        self.table = table
        self.key = key
        self.value = value
    }
}

/// What the log of record answered to a group's commit.
public enum UpstreamCommit: Sendable, Equatable {
    /// Stored, durably as the log of record promises.
    case committed
    /// The log of record no longer ends at the head the group was fenced on (another node appended,
    /// or stored one of the group's ids first): nothing was stored; catch up and try again.
    case fenceLost
    /// The connection failed while the commit was under way: the records may be stored. The
    /// appenders hear "unknown outcome, retry with the same ids".
    case unknownOutcome(String)
    /// Refused or unreachable before anything could be stored.
    case failed(String)
}

/// The local copy and the log of record disagree: a record of the log of record does not follow
/// the local copy's chain (another tenant's copy, or a copy of a log that was rewritten).
public struct UpstreamDivergence: Error, CustomStringConvertible, Sendable {
    /// Where the chains part, and how.
    public let message: String
    /// Creates the error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
