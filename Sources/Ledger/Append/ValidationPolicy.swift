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
/// Confined to the log's writer thread: the log calls it from there only.
final class ValidationPolicy: AppendPolicy, @unchecked Sendable {
    private var state = InMemoryLedgerState()
    private var appliedThrough: UInt64 = 0
    private var group: StagedLedgerState<InMemoryLedgerState>?
    /// The log whose writer thread calls this policy.
    private weak var writer: EventLog?

    init(log: EventLog) { writer = log }

    /// The state above is unsynchronised: every callback must come from the one writer thread.
    private func assertOnWriterThread() {
        precondition(writer?.isOnWriterThread ?? false, "the validation policy runs on the log's writer thread")
    }

    func beginGroup(head: UInt64, log: EventLog) throws {
        assertOnWriterThread()
        if appliedThrough < head {
            // The first append of this process, or another process appended: fold what is new.
            var failure: (any Error)?
            try log.scan(from: appliedThrough + 1, through: head) { record in
                do { try Self.fold(record.payload, into: &state) } catch {
                    failure = ReplayError(position: record.position, message: "\(error)")
                    return false
                }
                return true
            }
            if let failure { throw failure }
            appliedThrough = head
        }
        group = StagedLedgerState(base: state)
    }

    func admit(_ batch: AppendBatch, context: ValidationContext?, isNew: [Bool]) throws {
        assertOnWriterThread()
        guard let context, var staged = group else {
            preconditionFailure("a ledger batch carries its decoded events, inside a group")
        }
        // Taken out of `group` while it changes, so its dictionaries are mutated in place, not copied.
        group = nil
        defer { group = staged }
        let fresh = zip(context.events, isNew).filter(\.1).map(\.0)
        switch BatchValidator.validate(fresh, against: staged) {
        case .success(let changes):
            for change in changes.changes { staged.apply(change) }
        case .failure(let refusal):
            throw refusal
        }
    }

    func commitGroup(head: UInt64) {
        assertOnWriterThread()
        // The staged overlay holds a reference to `state`; drop it first, or applying the changes
        // would copy the whole state on every commit.
        let changes = group?.changes
        group = nil
        if let changes { state.apply(changes) }
        appliedThrough = head
    }

    func abortGroup() {
        assertOnWriterThread()
        group = nil
    }

    /// Applies one stored event's effects. Lead events are read through the record view (no full
    /// decode: this runs over the whole log on a process's first append); catalog events are rare.
    static func fold(_ payload: UnsafeRawBufferPointer, into state: inout InMemoryLedgerState) throws {
        guard let view = EventRecordView(validating: payload) else {
            throw RecordDecodingError(offset: 0, reason: "not an event record this version reads")
        }
        if view.type.isLeadEvent {
            StateChange.forEachEffect(ofLeadEvent: view) { state.apply($0) }
        } else {
            for change in StateChange.effects(ofCatalog: try LeadEvent(binary: payload).payload) { state.apply(change) }
        }
    }
}
