import EventLog
import Foundation
import LeadModel
import Synchronization

/// Sees each lead event as the replay applies it, in business-time order within the lead.
///
/// When a late event arrives for a lead, the engine calls ``resetLead(_:)`` and then replays that
/// lead's events again in business-time order, so an observer never needs to sort anything.
public protocol ReplayObserver {
    /// The lead's earlier observations are void; it will be replayed from its first event.
    mutating func resetLead(_ lead: UInt32)
    /// A lead event, applied after the engine updated its own state.
    mutating func observe(lead: UInt32, event: EventRecordView, position: UInt64)
}

/// An observer whose work splits by lead, so a replay can fold on several threads: observers that
/// saw disjoint sets of leads combine into one.
public protocol PartitionedReplayObserver: ReplayObserver, SendableMetatype {
    /// Takes over the leads of `other`, which observed exactly the leads whose number is
    /// `index` modulo `count`, while this one observed none of them.
    mutating func absorb(_ other: consuming Self, partition: (index: UInt32, count: UInt32))
}

/// An observer that observes nothing.
public struct NoObserver: PartitionedReplayObserver {
    /// Creates it.
    public init() {}
    /// Does nothing.
    public mutating func resetLead(_ lead: UInt32) {}
    /// Does nothing.
    public mutating func observe(lead: UInt32, event: EventRecordView, position: UInt64) {}
    /// Does nothing.
    public mutating func absorb(_ other: consuming NoObserver, partition: (index: UInt32, count: UInt32)) {}
}

/// Why a replay failed.
public struct ReplayError: Error, CustomStringConvertible, Sendable {
    /// The position at fault.
    public let position: UInt64
    /// What went wrong.
    public let message: String
    /// "position 42: …".
    public var description: String { "position \(position): \(message)" }
    /// Creates an error at a position.
    public init(position: UInt64, message: String) {
        self.position = position
        self.message = message
    }
}

/// Folds the log into a ``ReplayState``.
///
/// Records are read once, in position order, inside one snapshot. Within a lead, events must apply in
/// business-time order (`occurredAt`, ties by position); most arrive that way. A lead whose event
/// arrives earlier in business time than one already applied is set aside and, at the end of the
/// pass, replayed alone from its own stream, sorted — instead of sorting the whole log.
public enum ReplayEngine {
    /// Replays the whole log under `cut`.
    public static func replay<O: ReplayObserver>(_ log: EventLog, cut: ReplayCut = .everything, observer: inout O) throws -> ReplayState {
        var state = ReplayState(cut: cut)
        try log.withSnapshot { try catchUp(&state, snapshot: $0, observer: &observer) }
        return state
    }

    /// Replays the whole log under `cut`, with no observer.
    public static func replay(_ log: EventLog, cut: ReplayCut = .everything) throws -> ReplayState {
        try replay(log, cut: cut) { NoObserver() }.state
    }

    /// Replays the whole log under `cut` with an observer made by `makeObserver`.
    ///
    /// A large log is folded on two threads, each taking the leads of one parity with its own
    /// observer: both read their own snapshot up to the same position, so they see exactly the same
    /// records, and the two states and observers are merged. Leads are independent of each other, and
    /// catalog events are folded by both.
    public static func replay<O: PartitionedReplayObserver>(
        _ log: EventLog, cut: ReplayCut = .everything, makeObserver: @Sendable () -> O
    ) throws -> (state: ReplayState, observer: O) {
        let through = try log.head().position
        guard through >= parallelThreshold else {
            var observer = makeObserver()
            return (try replay(log, cut: cut, observer: &observer), observer)
        }
        // Each half writes only its own slot; `concurrentPerform` returns after both are done.
        let halves = [HalfResult<O>(), HalfResult<O>()]
        // Task-locals do not reach the threads below; one half reports, as each reads every record,
        // and both stop when the progress is cancelled.
        let progress = ReplayProgress.current
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            halves[half].result = Result {
                var state = ReplayState(cut: cut)
                var observer = makeObserver()
                try log.withSnapshot {
                    try catchUp(
                        &state, snapshot: $0, observer: &observer, through: through, partition: (UInt32(half), 2),
                        progress: progress)
                }
                return (state, observer)
            }
        }
        var (state, observer) = try halves[0].result!.get()
        let (otherState, otherObserver) = try halves[1].result!.get()
        state.absorb(otherState)
        observer.absorb(otherObserver, partition: (1, 2))
        return (state, observer)
    }

    /// One thread's outcome of a partitioned replay, written once by that thread.
    private final class HalfResult<O>: @unchecked Sendable {
        var result: Result<(ReplayState, O), any Error>?
    }

    /// Below this many records a replay runs on one thread: a second one would not pay for itself.
    static let parallelThreshold: UInt64 = 50_000

    /// Folds the records after `state.position` that `snapshot` holds, then repairs late leads.
    public static func catchUp<O: ReplayObserver>(_ state: inout ReplayState, snapshot: borrowing LogSnapshot, observer: inout O) throws {
        try catchUp(&state, snapshot: snapshot, observer: &observer, through: .max, partition: nil, progress: ReplayProgress.current)
    }

    /// Folds records up to `through`, and only the leads whose number falls in `partition`
    /// (`number % count == index`); catalog events always.
    static func catchUp<O: ReplayObserver>(
        _ state: inout ReplayState, snapshot: borrowing LogSnapshot, observer: inout O, through: UInt64,
        partition: (index: UInt32, count: UInt32)?,
        progress: ReplayProgress?
    ) throws {
        let cut = state.cut
        var failure: ReplayError?
        var cancelled = false
        // Sized once: growing these arrays while folding millions of events costs copies and page faults.
        let streams = try snapshot.streamCount()
        if state.leads.capacity < streams + 1 { state.leads.reserveCapacity(streams + 1) }
        let pending = Int(min(through, try snapshot.head().position) - min(state.position, through))
        let reports = partition.map { $0.index == 0 } ?? true
        if reports { progress?.expect(UInt64(pending)) }
        if state.episodes.capacity < state.episodes.count + pending / 4 {
            state.episodes.reserveCapacity(state.episodes.count + pending / 4)
        }
        // A partition skips the other leads' records before decoding them. Only lead events live in
        // lead streams; catalog events (their own stream, or none) are read by every partition.
        let catalog = partition == nil ? nil : try snapshot.streamNumber(CatalogStream.name)
        try snapshot.scan(from: state.position + 1, through: through) { record in
            state.position = record.position
            if record.position & 0xFFF == 0 {
                if reports, record.position & 0xFFFF == 0 { progress?.advance(0x10000) }
                // Checked every few thousand records: the client that asked may have left.
                if progress?.isCancelled == true {
                    cancelled = true
                    return false
                }
            }
            if let partition, record.streamNumber % partition.count != partition.index, record.streamNumber != 0,
                record.streamNumber != catalog
            {
                return true
            }
            let payload = record.payload
            guard let event = EventRecordView(validating: payload) else {
                failure = ReplayError(position: record.position, message: "the stored event cannot be decoded")
                return false
            }
            guard cut.admits(recordedAt: record.recordedAt, occurredAt: event.occurredAt) else { return true }
            if event.type.isLeadEvent {
                if let partition, record.streamNumber % partition.count != partition.index { return true }
                applyLeadEvent(
                    &state, lead: record.streamNumber, event: event, position: record.position, observer: &observer, inOrder: false)
            } else {
                do { try applyCatalogEvent(&state, payload: payload, position: record.position) } catch {
                    failure = ReplayError(position: record.position, message: "\(error)")
                    return false
                }
            }
            return true
        }
        if cancelled { throw CancellationError() }
        if let failure { throw failure }
        if state.position > 0, let hash = try snapshot.withRecord(at: state.position, { $0.hashBytes.map { $0 } }) {
            state.headHash = hash.map { String(format: "%02x", $0) }.joined()
        }
        try repairLateLeads(&state, snapshot: snapshot, observer: &observer)
    }

    // MARK: Lead events

    @inline(__always)
    static func applyLeadEvent<O: ReplayObserver>(
        _ state: inout ReplayState, lead: UInt32, event: EventRecordView, position: UInt64, observer: inout O, inOrder: Bool
    ) {
        let index = Int(lead)
        if index >= state.leads.count {
            state.leads.append(contentsOf: repeatElement(LeadState(), count: index + 1 - state.leads.count))
        }
        var lead0 = state.leads[index]
        if lead0.outOfOrder && !inOrder { return }
        let occurredAt = event.occurredAt
        if occurredAt < lead0.lastOccurredAt && !inOrder {
            lead0.outOfOrder = true
            state.leads[index] = lead0
            state.outOfOrderLeads.append(lead)
            return
        }
        lead0.lastOccurredAt = occurredAt
        lead0.seen = true
        switch EpisodeMachine.transition(of: event, from: EpisodePhase(isOpen: lead0.openEpisode >= 0)) {
        case .open:
            let episode = Episode(
                lead: lead, handedOffAt: occurredAt, handOffPosition: position,
                namedDefinition: event.definitionVersion.map { Int32(clamping: $0) } ?? -1,
                owner: event.owner.map { state.owners.intern($0) } ?? -1,
                channel: lead0.channel, campaign: lead0.campaign, source: state.sources.intern(event.source),
                previous: lead0.lastEpisode, scoreAtHandOff: lead0.score)
            let number = Int32(state.episodes.count)
            state.episodes.append(episode)
            lead0.openEpisode = number
            lead0.lastEpisode = number
        case .close(let decision):
            let number = Int(lead0.openEpisode)
            state.episodes[number].decidedAt = occurredAt
            switch decision {
            case .accepted: state.episodes[number].outcome = .accepted
            case .recycled: state.episodes[number].outcome = .recycled
            case .rejected:
                state.episodes[number].outcome = .rejected
                let reason = event.reason.map { state.reasons.intern($0) } ?? -1
                let id = uuidWords(event.id)
                state.episodes[number].rejectionID = id
                state.episodes[number].originalReason = reason
                if let corrected = state.corrections[UUIDKey(id)] {
                    state.episodes[number].reason = corrected
                    state.episodes[number].corrected = true
                } else {
                    state.episodes[number].reason = reason
                }
            }
            lead0.openEpisode = -1
        case .closeWithoutEpisode:
            break
        case .correctRejection:
            if let target = event.correctedEvent, let reasonBytes = event.reason {
                let id = uuidWords(target)
                let reason = state.reasons.intern(reasonBytes)
                state.corrections[UUIDKey(id)] = reason
                var number = lead0.lastEpisode
                while number >= 0 {
                    if state.episodes[Int(number)].rejectionID == id {
                        state.episodes[Int(number)].reason = reason
                        state.episodes[Int(number)].corrected = true
                        break
                    }
                    number = state.episodes[Int(number)].previous
                }
            }
        case .none:
            switch event.type {
            case .leadCaptured:
                if let channel = event.channel { lead0.channel = state.channels.intern(channel) }
                if let campaign = event.campaign { lead0.campaign = state.campaigns.intern(campaign) }
            case .leadScored:
                if let score = event.score { lead0.score = score }
            case .leadConverted:
                lead0.converted = true
            case .leadClosed:
                if event.won == true { lead0.won = true }
            default:
                break
            }
        }
        state.leads[index] = lead0
        observer.observe(lead: lead, event: event, position: position)
    }

    /// Replays each lead set aside, alone and sorted by business time, from its own stream.
    static func repairLateLeads<O: ReplayObserver>(_ state: inout ReplayState, snapshot: borrowing LogSnapshot, observer: inout O) throws {
        guard !state.outOfOrderLeads.isEmpty else { return }
        let cut = state.cut
        let through = state.position
        for lead in state.outOfOrderLeads {
            var number = state.leads[Int(lead)].lastEpisode
            while number >= 0 {
                state.episodes[Int(number)].isVoid = true
                number = state.episodes[Int(number)].previous
            }
            state.leads[Int(lead)] = LeadState()
            observer.resetLead(lead)
            var order: [(occurredAt: Int64, position: UInt64)] = []
            for position in try snapshot.positions(inStreamNumber: lead) where position <= through {
                let keep: (Int64, UInt64)?? = try snapshot.withRecord(at: position) { record in
                    let event = EventRecordView(record.payload)
                    return cut.admits(recordedAt: record.recordedAt, occurredAt: event.occurredAt) ? (event.occurredAt, position) : nil
                }
                if let keep = keep ?? nil { order.append(keep) }
            }
            order.sort { ($0.occurredAt, $0.position) < ($1.occurredAt, $1.position) }
            for (_, position) in order {
                _ = try snapshot.withRecord(at: position) { record in
                    applyLeadEvent(
                        &state, lead: lead, event: EventRecordView(record.payload), position: position, observer: &observer, inOrder: true)
                }
            }
        }
        state.outOfOrderLeads.removeAll()
        state.voidCount = state.episodes.count(where: { $0.isVoid })
    }

    // MARK: Catalog events

    static func applyCatalogEvent(_ state: inout ReplayState, payload: UnsafeRawBufferPointer, position: UInt64) throws {
        let event = try LeadEvent(binary: payload)
        switch event.payload {
        case .reasonDefined(let defined):
            let number = state.reasons.intern(defined.code)
            state.reasonInfo[number] = EpisodeMachine.reason(afterDefining: defined, existing: state.reasonInfo[number])
        case .reasonRetired(let retired):
            let number = state.reasons.intern(retired.code)
            // A log written without validation may retire a code it never defined: the reports still
            // show the code, retired, under its own name.
            let existing = state.reasonInfo[number] ?? ReasonCode(code: retired.code, label: retired.code, category: "OTHER")
            if let code = EpisodeMachine.reason(afterRetiring: retired, existing: existing) { state.reasonInfo[number] = code }
        case .definitionPublished(let published):
            state.definitions[published.version] = DefinitionInfo(
                version: published.version, name: published.name, effectiveAt: published.effectiveAt.microseconds,
                rules: published.rules, rationale: published.rationale, position: position)
        case .slaPublished(let published):
            state.serviceLevels[published.version] = ServiceLevelInfo(
                version: published.version, name: published.name, effectiveAt: published.effectiveAt.microseconds,
                firstTouchWithin: ServiceLevelInfo.micros(hours: published.firstTouchWithin),
                decisionWithin: ServiceLevelInfo.micros(hours: published.decisionWithin), calendar: published.calendar,
                position: position)
        default:
            break
        }
    }
}

/// The two 64-bit halves of a 16-byte id.
@inline(__always)
func uuidWords(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64) {
    (bytes.loadUnaligned(as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
}

/// A hashable 16-byte id.
struct UUIDKey: Hashable, Sendable {
    let high: UInt64, low: UInt64
    init(_ words: (UInt64, UInt64)) {
        high = words.0
        low = words.1
    }
}
