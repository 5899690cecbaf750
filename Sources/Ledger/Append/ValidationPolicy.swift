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

    func beginGroup(head: UInt64, log: EventLog) throws {
        if appliedThrough < head {
            // The first append of this process, or another process appended: fold what is new.
            var failure: (any Error)?
            try log.scan(from: appliedThrough + 1, through: head) { record in
                do { state.apply(try LeadEvent(binary: record.payload)) } catch {
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

    func admit(_ batch: AppendBatch, isNew: [Bool]) throws {
        guard let context = batch.context as? ValidationContext, var staged = group else {
            preconditionFailure("a ledger batch carries its decoded events, inside a group")
        }
        let fresh = zip(context.events, isNew).filter(\.1).map(\.0)
        switch BatchValidator.validate(fresh, against: staged) {
        case .success(let changes):
            for change in changes.changes { staged.apply(change) }
            group = staged
        case .failure(let refusal):
            throw refusal
        }
    }

    func commitGroup(head: UInt64) {
        if let group { state.apply(group.changes) }
        group = nil
        appliedThrough = head
    }

    func abortGroup() { group = nil }
}
