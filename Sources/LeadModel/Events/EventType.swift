/// The kinds of event the ledger accepts, by their wire names.
public enum EventType: String, CaseIterable, Sendable, Codable {
    /// First sight of a lead.
    case leadCaptured = "lead.captured"
    /// A partial update of a lead's attributes.
    case leadAttributesObserved = "lead.attributes_observed"
    /// A new score for a lead; the latest wins.
    case leadScored = "lead.scored"
    /// Marketing hands the lead to sales: opens an episode.
    case leadHandedOff = "lead.handed_off"
    /// Sales accepts the open episode.
    case leadAccepted = "lead.accepted"
    /// Sales rejects the open episode, with a reason code.
    case leadRejected = "lead.rejected"
    /// The open episode goes back to nurture without a decision.
    case leadRecycled = "lead.recycled"
    /// An opportunity was created from the lead.
    case leadConverted = "lead.converted"
    /// The opportunity closed, won or lost.
    case leadClosed = "lead.closed"
    /// A stored rejection's reason is corrected; the original stays in the log.
    case leadRejectionCorrected = "lead.rejection_corrected"
    /// A reason code is defined or re-labelled.
    case reasonDefined = "reason.defined"
    /// A reason code is retired.
    case reasonRetired = "reason.retired"
    /// A new version of the MQL definition is published.
    case definitionPublished = "definition.published"
    /// The lead's owner changes (routing, re-assignment); needs no episode.
    case leadAssigned = "lead.assigned"
    /// A sales activity on the lead.
    case leadTouched = "lead.touched"
    /// A new version of the hand-off service level is published.
    case slaPublished = "sla.published"
    /// The lead's personal data is erased (its key destroyed); its other events stay.
    case leadForgotten = "lead.forgotten"
    /// A candidate MQL definition is put up for review.
    case definitionProposed = "definition.proposed"
    /// One side's verdict on a proposed definition.
    case definitionReviewed = "definition.reviewed"

    /// The stable one-byte code of the binary record; never renumber, only append.
    @inlinable
    public var code: UInt8 {
        switch self {
        case .leadCaptured: 1
        case .leadAttributesObserved: 2
        case .leadScored: 3
        case .leadHandedOff: 4
        case .leadAccepted: 5
        case .leadRejected: 6
        case .leadRecycled: 7
        case .leadConverted: 8
        case .leadClosed: 9
        case .leadRejectionCorrected: 10
        case .reasonDefined: 11
        case .reasonRetired: 12
        case .definitionPublished: 13
        case .leadAssigned: 14
        case .leadTouched: 15
        case .slaPublished: 16
        case .definitionProposed: 17
        case .definitionReviewed: 18
        // 19 is unassigned.
        case .leadForgotten: 20
        }
    }

    /// The type with binary code `code`, or nil for a code this version does not know.
    @inlinable
    public init?(code: UInt8) {
        switch code {
        case 1: self = .leadCaptured
        case 2: self = .leadAttributesObserved
        case 3: self = .leadScored
        case 4: self = .leadHandedOff
        case 5: self = .leadAccepted
        case 6: self = .leadRejected
        case 7: self = .leadRecycled
        case 8: self = .leadConverted
        case 9: self = .leadClosed
        case 10: self = .leadRejectionCorrected
        case 11: self = .reasonDefined
        case 12: self = .reasonRetired
        case 13: self = .definitionPublished
        case 20: self = .leadForgotten
        case 14: self = .leadAssigned
        case 15: self = .leadTouched
        case 16: self = .slaPublished
        case 17: self = .definitionProposed
        case 18: self = .definitionReviewed
        default: return nil
        }
    }

    /// Whether events of this type concern one lead (`lead.*`), and so carry `lead`.
    @inlinable
    public var isLeadEvent: Bool {
        let code = self.code
        return code <= 10 || code == 14 || code == 15 || code == 20
    }
}
