import EventLog
import Foundation
import LeadModel
import Projections

/// The events of a batch with their NDJSON line numbers: what the policy validates.
struct ValidationContext: Sendable {
    let events: [(line: Int?, event: LeadEvent)]
}

/// Validates every batch inside the log's write transaction, against the state of everything stored
/// before it (earlier batches of the same commit group included), so concurrent appenders can never
/// both open an episode on one lead, nor both decide it.
///
/// The state lives in the log's file (``ValidationTables``), written in the transaction of the events
/// it folds: a process's first append reads it as every later one does, nothing of it is held in
/// memory between groups, and another process's appends are in it already. A ledger written before
/// the tables existed, or by a log without this policy, is folded into them once, in the transaction
/// of the next append.
///
/// Confined to the log's writer thread: the log calls it from there only.
final class ValidationPolicy: AppendPolicy, @unchecked Sendable {
    /// The log whose writer thread calls this policy.
    private weak var writer: EventLog?
    /// The position the tables hold the effects through, within the group being committed.
    private var through: UInt64 = 0
    /// The attributes whose values are sealed under their lead's key.
    private let personal: Set<String>
    /// Key changes staged by `prepare` for the batch it prepared, written by `admit`.
    private var keyChanges: [KeyChange] = []
    /// Keys destroyed by the group being committed, by their event's id.
    private var groupDestroyed: [UUID: [UInt8]] = [:]
    /// Where the keys of committed groups wait for their copies in the file to be overwritten.
    private let destroyed: DestroyedKeys
    /// The roles whose approval a publish needs; set from any thread, read on the writer's.
    private let approvals: NSLock = NSLock()
    private var approvalRoles: [String]

    init(log: EventLog, personalAttributes: [String], destroyedKeys: DestroyedKeys, requiredApprovals: [String] = []) {
        writer = log
        personal = Set(personalAttributes)
        destroyed = destroyedKeys
        approvalRoles = requiredApprovals
    }

    /// The roles whose approval a publish needs, from the next batch on.
    var requiredApprovals: [String] {
        get { approvals.withLock { approvalRoles } }
        set { approvals.withLock { approvalRoles = newValue } }
    }

    var tableNames: [String] { ValidationTables.names + [PersonalData.keyTable] }

    func prepare(_ batch: AppendBatch, context: ValidationContext?, tables: PolicyTables) throws -> AppendBatch {
        assertOnWriterThread()
        keyChanges = []
        guard let context, context.events.count == batch.records.count else { return batch }
        var sealer = PersonalSealer(personal: personal, tables: tables, events: context.events.count)
        var sealed = batch
        for (index, numbered) in context.events.enumerated() {
            if let payload = try sealer.seal(numbered.event, index: index) { sealed.records[index].payload = payload }
        }
        keyChanges = sealer.changes
        return sealed
    }

    /// The state is the group's transaction: every callback must come from the one writer thread.
    private func assertOnWriterThread() {
        precondition(writer?.isOnWriterThread ?? false, "the validation policy runs on the log's writer thread")
    }

    func beginGroup(head: UInt64, log: EventLog, tables: PolicyTables) throws {
        assertOnWriterThread()
        groupDestroyed = [:]
        let state = ValidationTables(tables)
        through = try state.through()
        guard through != head else { return }
        guard through < head else {
            throw ValidationTableDamage(
                table: ValidationTables.meta, message: "it holds events through position \(through), the log ends at \(head)")
        }
        // A ledger written before these tables existed, or appended to without this policy: fold
        // what they lack, once, in this transaction.
        var failure: (any Error)?
        try log.scan(from: through + 1, through: head) { record in
            do { try state.fold(record.payload) } catch {
                failure = ReplayError(position: record.position, message: "\(error)")
                return false
            }
            return true
        }
        if let failure { throw failure }
        try state.setThrough(head)
        through = head
    }

    func admit(_ batch: AppendBatch, context: ValidationContext?, isNew: [Bool], tables: PolicyTables) throws {
        assertOnWriterThread()
        guard let context else {
            preconditionFailure("a ledger batch carries its decoded events")
        }
        let state = ValidationTables(tables, requiredApprovals: requiredApprovals)
        let fresh = zip(context.events, isNew).filter(\.1).map(\.0)
        let result = BatchValidator.validate(fresh, against: state)
        try state.checkReads()
        switch result {
        case .success(let changes):
            for change in changes.changes { try state.apply(change) }
            // Keys are made and destroyed with the events that need it, in this transaction.
            for (index, key) in try PersonalSealer.apply(keyChanges, isNew: isNew, to: tables) {
                groupDestroyed[context.events[index].event.id] = key
            }
            keyChanges = []
            // The log writes exactly the new records of an admitted batch.
            through += UInt64(isNew.count { $0 })
            try state.setThrough(through)
        case .failure(let refusal):
            throw refusal
        }
    }

    func commitGroup(head: UInt64) {
        assertOnWriterThread()
        destroyed.add(groupDestroyed)
        groupDestroyed = [:]
    }

    func abortGroup() {
        assertOnWriterThread()
        groupDestroyed = [:]
    }

    /// Applies one stored event's effects to a state in memory, as ``ValidationTables/fold(_:)`` does
    /// to the tables.
    static func fold(_ payload: UnsafeRawBufferPointer, into state: inout InMemoryLedgerState) throws {
        try StateChange.forEachEffect(ofRecord: payload) { state.apply($0) }
    }
}
