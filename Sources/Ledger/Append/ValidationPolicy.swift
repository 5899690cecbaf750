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

    func admit(_ batch: AppendBatch, isNew: [Bool]) throws {
        guard let context = batch.context as? ValidationContext, var staged = group else {
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
        // The staged overlay holds a reference to `state`; drop it first, or applying the changes
        // would copy the whole state on every commit.
        let changes = group?.changes
        group = nil
        if let changes { state.apply(changes) }
        appliedThrough = head
    }

    func abortGroup() { group = nil }

    /// Applies one stored event's effects. Lead events are read through the record view (no full
    /// decode: this runs over the whole log on a process's first append); catalog events are rare.
    static func fold(_ payload: UnsafeRawBufferPointer, into state: inout InMemoryLedgerState) throws {
        guard let view = EventRecordView(validating: payload) else {
            throw RecordDecodingError(offset: 0, reason: "not an event record this version reads")
        }
        func text(_ bytes: UnsafeRawBufferPointer?) -> String { bytes.map { String(decoding: $0, as: UTF8.self) } ?? "" }
        switch view.type {
        case .leadHandedOff:
            let at = Timestamp(microseconds: view.occurredAt, utcOffsetSeconds: view.utcOffsetSeconds)
            state.apply(.episodeOpened(lead: text(view.lead), OpenEpisode(handedOffAt: at, handOffEventId: UUID(bytes: view.id))))
        case .leadAccepted, .leadRecycled:
            state.apply(.episodeClosed(lead: text(view.lead)))
        case .leadRejected:
            let lead = text(view.lead)
            state.apply(.episodeClosed(lead: lead))
            state.apply(.rejectionStored(id: UUID(bytes: view.id), StoredRejection(lead: lead, reason: text(view.reason))))
        case .leadRejectionCorrected:
            if let target = view.correctedEvent { state.apply(.rejectionCorrected(id: UUID(bytes: target), reason: text(view.reason))) }
        case .reasonDefined, .reasonRetired, .definitionPublished:
            state.apply(try LeadEvent(binary: payload))
        default:
            break
        }
    }
}

extension UUID {
    /// The id held in 16 raw bytes.
    init(bytes b: UnsafeRawBufferPointer) {
        self.init(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}
