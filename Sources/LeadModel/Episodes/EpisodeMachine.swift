import Foundation

/// Whether a lead has an episode handed off and not yet decided or recycled.
public enum EpisodePhase: Sendable, Hashable {
    /// No open episode: before the first hand-off, or after a decision or recycle.
    case idle
    /// An episode is open: handed off, not yet decided or recycled.
    case open

    /// `.open` when `isOpen`, else `.idle`.
    @inlinable
    public init(isOpen: Bool) { self = isOpen ? .open : .idle }
}

/// How an open episode is closed.
public enum EpisodeDecision: Sendable, Hashable {
    /// Sales accepted it.
    case accepted
    /// Sales rejected it, with a reason code.
    case rejected
    /// It went back to nurture without a decision.
    case recycled
}

/// The effect of one event on a lead's episode.
public enum EpisodeTransition: Sendable, Hashable {
    /// No effect on the episode: captures, observations, scores, conversions, closes, catalog events.
    case none
    /// A hand-off opens a new episode. `replacing` is true when one was already open: validation
    /// refuses that hand-off; a replay or an audit of a log written without validation keeps the
    /// earlier episode pending and opens the new one.
    case open(replacing: Bool)
    /// A decision or recycle closes the open episode with this outcome.
    case close(EpisodeDecision)
    /// A decision or recycle with no open episode: validation refuses it, a replay and an audit
    /// ignore it, an importer inserts the missing hand-off before a decision.
    case closeWithoutEpisode(EpisodeDecision)
    /// A correction of a stored rejection's reason; it names its rejection, so the lead's phase does
    /// not matter.
    case correctRejection

    /// The lead's phase after the transition.
    @inlinable
    public func phase(from phase: EpisodePhase) -> EpisodePhase {
        switch self {
        case .none, .correctRejection: phase
        case .open: .open
        case .close, .closeWithoutEpisode: .idle
        }
    }
}

/// An event as the episode rules read it: the decoded ``LeadEvent`` or the allocation-free
/// ``EventRecordView`` over a stored record.
public protocol EpisodeEventRepresentation {
    /// The event's type, which alone decides its effect on the episode.
    var type: EventType { get }
}

extension LeadEvent: EpisodeEventRepresentation {}
extension EventRecordView: EpisodeEventRepresentation {}

/// The rules of an episode (DESIGN §3), written once: what a hand-off, a decision, a recycle and a
/// correction do to a lead's episode, and what a catalog event does to a reason code.
///
/// Pure functions of the event and the state they are given. Each caller keeps its own state and
/// decides the order it feeds events in: validation in append order, the replay and the audit in
/// business-time order, the importers in the order of the source's history.
public enum EpisodeMachine {
    /// The effect of an event of `type` on a lead in `phase`.
    @inlinable
    public static func transition(_ type: EventType, from phase: EpisodePhase) -> EpisodeTransition {
        switch type {
        case .leadHandedOff: return .open(replacing: phase == .open)
        case .leadAccepted: return decision(.accepted, from: phase)
        case .leadRejected: return decision(.rejected, from: phase)
        case .leadRecycled: return decision(.recycled, from: phase)
        case .leadRejectionCorrected: return .correctRejection
        case .leadCaptured, .leadAttributesObserved, .leadScored, .leadConverted, .leadClosed,
            .reasonDefined, .reasonRetired, .definitionPublished, .leadForgotten,
            .leadAssigned, .leadTouched, .slaPublished, .definitionProposed, .definitionReviewed:
            return .none
        }
    }

    /// The effect of `event` on a lead in `phase`.
    @inlinable
    public static func transition(of event: some EpisodeEventRepresentation, from phase: EpisodePhase) -> EpisodeTransition {
        transition(event.type, from: phase)
    }

    @inlinable
    static func decision(_ outcome: EpisodeDecision, from phase: EpisodePhase) -> EpisodeTransition {
        phase == .open ? .close(outcome) : .closeWithoutEpisode(outcome)
    }

    /// The reason code's record after a `reason.defined`: re-labelling keeps a retired code retired.
    public static func reason(afterDefining data: EventPayload.ReasonDefined, existing: ReasonCode?) -> ReasonCode {
        ReasonCode(
            code: data.code, label: data.label, category: data.category, requiresNote: data.requiresNote ?? false,
            retired: existing?.retired ?? false, replacedBy: existing?.replacedBy)
    }

    /// The reason code's record after a `reason.retired`; nil when the code was never defined
    /// (validation refuses that retirement, so only a log written without validation holds one).
    public static func reason(afterRetiring data: EventPayload.ReasonRetired, existing: ReasonCode?) -> ReasonCode? {
        guard var code = existing else { return nil }
        code.retired = true
        code.replacedBy = data.replacedBy
        return code
    }

    // MARK: Service levels (DESIGN §8.2)

    /// Whether an event of `type` answers an open episode: the episode's first touch is the earliest
    /// `lead.touched`, `lead.accepted` or `lead.rejected` at or after its hand-off while it is open
    /// (a decision is a touch too; a recycle is not).
    @inlinable
    public static func countsAsTouch(_ type: EventType) -> Bool {
        type == .leadTouched || type == .leadAccepted || type == .leadRejected
    }

    /// Whether an event of `type` changes who owns the lead's open episode from then on.
    @inlinable
    public static func changesOwner(_ type: EventType) -> Bool { type == .leadAssigned }

    /// Whether a conversion or a close at `t` belongs to the lead's latest episode, handed off at
    /// `handedOffAt`: at or after the hand-off (and, by the order events apply in, before the next).
    @inlinable
    public static func outcomeBelongs(at t: Int64, toEpisodeHandedOffAt handedOffAt: Int64) -> Bool { t >= handedOffAt }

    /// The index in `policies` of the policy in force at `t`: the greatest `effectiveAt ≤ t`, ties by
    /// the greater version; nil before the first. `policies` may be in any order.
    public static func policyInForce(_ policies: [(effectiveAt: Int64, version: Int)], at t: Int64) -> Int? {
        var best: Int?
        for (index, policy) in policies.enumerated() where policy.effectiveAt <= t {
            if let current = best {
                let chosen = policies[current]
                if (policy.effectiveAt, policy.version) > (chosen.effectiveAt, chosen.version) { best = index }
            } else {
                best = index
            }
        }
        return best
    }

    /// The status of one limit of an episode's service level.
    ///
    /// - Parameters:
    ///   - deadline: when the limit runs out (nil: the calendar has no working time, so never).
    ///   - answeredAt: the first touch (for `firstTouchWithin`) or the decision (for `decisionWithin`).
    ///   - recycledAt: when the episode was recycled, if it was.
    ///   - reportAt: the report's instant.
    public static func serviceLevelStatus(
        deadline: Int64?, answeredAt: Int64?, recycledAt: Int64?, reportAt: Int64
    ) -> ServiceLevelStatus {
        guard let deadline else { return answeredAt == nil && recycledAt == nil ? .open : (answeredAt != nil ? .met : .withdrawn) }
        if let answeredAt { return answeredAt <= deadline ? .met : .breached }
        if let recycledAt { return recycledAt < deadline ? .withdrawn : .breached }
        return deadline <= reportAt ? .breached : .open
    }

    /// Who is responsible for a limit: the hand-off's owner, replaced by each assignment after the
    /// hand-off and at or before the deadline (`assignments` in business-time order).
    public static func ownerAtDeadline<Owner>(
        handOffOwner: Owner, assignments: some Sequence<(at: Int64, owner: Owner)>, deadline: Int64?
    ) -> Owner {
        var owner = handOffOwner
        for assignment in assignments where deadline.map({ assignment.at <= $0 }) ?? true { owner = assignment.owner }
        return owner
    }
}

/// Where one limit of a service level stands for an episode (DESIGN §8.2).
public enum ServiceLevelStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Touched or decided at or before the deadline.
    case met
    /// Touched or decided after the deadline, or not at all with the deadline passed.
    case breached
    /// Not yet, and the deadline is still ahead.
    case open
    /// Recycled before the deadline without it: counted in neither met nor breached.
    case withdrawn
}
