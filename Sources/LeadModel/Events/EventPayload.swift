import Foundation

/// The `data` of an event, one case per event type.
public enum EventPayload: Sendable, Hashable {
    /// `lead.captured`
    case leadCaptured(LeadCaptured)
    /// `lead.attributes_observed`
    case attributesObserved(AttributesObserved)
    /// `lead.scored`
    case leadScored(LeadScored)
    /// `lead.handed_off`
    case handedOff(HandedOff)
    /// `lead.accepted`
    case accepted(Accepted)
    /// `lead.rejected`
    case rejected(Rejected)
    /// `lead.recycled`
    case recycled(Recycled)
    /// `lead.converted`
    case converted(Converted)
    /// `lead.closed`
    case closed(Closed)
    /// `lead.rejection_corrected`
    case rejectionCorrected(RejectionCorrected)
    /// `reason.defined`
    case reasonDefined(ReasonDefined)
    /// `reason.retired`
    case reasonRetired(ReasonRetired)
    /// `definition.published`
    case definitionPublished(DefinitionPublished)
    /// `lead.forgotten`
    case forgotten(Forgotten)
    /// `lead.assigned`
    case assigned(Assigned)
    /// `lead.touched`
    case touched(Touched)
    /// `sla.published`
    case slaPublished(SLAPublished)
    /// `definition.proposed`
    case definitionProposed(DefinitionProposed)
    /// `definition.reviewed`
    case definitionReviewed(DefinitionReviewed)

    /// The event type this payload belongs to.
    @inlinable
    public var type: EventType {
        switch self {
        case .leadCaptured: .leadCaptured
        case .attributesObserved: .leadAttributesObserved
        case .leadScored: .leadScored
        case .handedOff: .leadHandedOff
        case .accepted: .leadAccepted
        case .rejected: .leadRejected
        case .recycled: .leadRecycled
        case .converted: .leadConverted
        case .closed: .leadClosed
        case .rejectionCorrected: .leadRejectionCorrected
        case .reasonDefined: .reasonDefined
        case .reasonRetired: .reasonRetired
        case .definitionPublished: .definitionPublished
        case .forgotten: .leadForgotten
        case .assigned: .leadAssigned
        case .touched: .leadTouched
        case .slaPublished: .slaPublished
        case .definitionProposed: .definitionProposed
        case .definitionReviewed: .definitionReviewed
        }
    }
}

extension EventPayload {
    /// First sight of a lead: where it came from, and what was known then.
    public struct LeadCaptured: Sendable, Hashable {
        /// The acquisition channel, e.g. `paid_search`.
        public var channel: String
        /// The campaign, when known.
        public var campaign: String?
        /// The attributes known at capture; a null value means "not known".
        public var attributes: [String: AttributeValue]?
        /// Creates the payload.
        public init(channel: String, campaign: String? = nil, attributes: [String: AttributeValue]? = nil) {
            self.channel = channel
            self.campaign = campaign
            self.attributes = attributes
        }
    }

    /// A partial update of attributes; a null value removes the attribute.
    public struct AttributesObserved: Sendable, Hashable {
        /// The attributes that changed.
        public var attributes: [String: AttributeValue]
        /// Creates the payload.
        public init(attributes: [String: AttributeValue]) {
            self.attributes = attributes
        }
    }

    /// A new lead score; the latest wins.
    public struct LeadScored: Sendable, Hashable {
        /// The score.
        public var score: Double
        /// The scoring model, when named.
        public var model: String?
        /// Creates the payload.
        public init(score: Double, model: String? = nil) {
            self.score = score
            self.model = model
        }
    }

    /// Marketing hands the lead to sales, opening an episode.
    public struct HandedOff: Sendable, Hashable {
        /// The sales owner (rep or queue) it was handed to.
        public var owner: String
        /// The MQL definition version it qualified under, when the source says so.
        public var definition: Int?
        /// Creates the payload.
        public init(owner: String, definition: Int? = nil) {
            self.owner = owner
            self.definition = definition
        }
    }

    /// Sales accepts the open episode.
    public struct Accepted: Sendable, Hashable {
        /// Who accepted.
        public var by: String?
        /// Whether the acceptance was automatic (e.g. an SLA rule).
        public var auto: Bool?
        /// Creates the payload.
        public init(by: String? = nil, auto: Bool? = nil) {
            self.by = by
            self.auto = auto
        }
    }

    /// Sales rejects the open episode.
    public struct Rejected: Sendable, Hashable {
        /// The reason code, e.g. `FIT_COMPANY.TOO_SMALL`.
        public var reason: String
        /// Free text; required when the code's `requiresNote`.
        public var note: String?
        /// Who rejected.
        public var by: String?
        /// Creates the payload.
        public init(reason: String, note: String? = nil, by: String? = nil) {
            self.reason = reason
            self.note = note
            self.by = by
        }
    }

    /// The open episode goes back to nurture without a decision.
    public struct Recycled: Sendable, Hashable {
        /// An optional reason code.
        public var reason: String?
        /// Free text.
        public var note: String?
        /// Creates the payload.
        public init(reason: String? = nil, note: String? = nil) {
            self.reason = reason
            self.note = note
        }
    }

    /// An opportunity was created from the lead.
    public struct Converted: Sendable, Hashable {
        /// The opportunity id in the CRM.
        public var opportunity: String
        /// The opportunity amount.
        public var amount: Double?
        /// The ISO 4217 currency of `amount`.
        public var currency: String?
        /// Creates the payload.
        public init(opportunity: String, amount: Double? = nil, currency: String? = nil) {
            self.opportunity = opportunity
            self.amount = amount
            self.currency = currency
        }
    }

    /// The opportunity closed.
    public struct Closed: Sendable, Hashable {
        /// Won or lost.
        public var won: Bool
        /// The final amount.
        public var amount: Double?
        /// A reason code, typically from the LOST category.
        public var reason: String?
        /// Creates the payload.
        public init(won: Bool, amount: Double? = nil, reason: String? = nil) {
            self.won = won
            self.amount = amount
            self.reason = reason
        }
    }

    /// A stored rejection's reason is corrected.
    public struct RejectionCorrected: Sendable, Hashable {
        /// The id of the `lead.rejected` event being corrected.
        public var event: UUID
        /// The corrected reason code.
        public var reason: String
        /// Free text.
        public var note: String?
        /// Creates the payload.
        public init(event: UUID, reason: String, note: String? = nil) {
            self.event = event
            self.reason = reason
            self.note = note
        }
    }

    /// A reason code is defined, or re-labelled when it exists.
    public struct ReasonDefined: Sendable, Hashable {
        /// The code, e.g. `FIT_COMPANY.TOO_SMALL`.
        public var code: String
        /// The label people read.
        public var label: String
        /// The category it belongs to, e.g. `FIT_COMPANY`.
        public var category: String
        /// Whether a rejection with this code must carry a note.
        public var requiresNote: Bool?
        /// Creates the payload.
        public init(code: String, label: String, category: String, requiresNote: Bool? = nil) {
            self.code = code
            self.label = label
            self.category = category
            self.requiresNote = requiresNote
        }
    }

    /// A reason code is retired.
    public struct ReasonRetired: Sendable, Hashable {
        /// The retired code.
        public var code: String
        /// The code reports may map it to.
        public var replacedBy: String?
        /// Creates the payload.
        public init(code: String, replacedBy: String? = nil) {
            self.code = code
            self.replacedBy = replacedBy
        }
    }

    /// The lead's personal data is erased: the ledger destroys the lead's key in the transaction
    /// that appends this event, so its encrypted personal values can no longer be read.
    public struct Forgotten: Sendable, Hashable {
        /// Why, e.g. `GDPR art. 17 request 2026-031`.
        public var reason: String?
        /// Creates the payload.
        public init(reason: String? = nil) { self.reason = reason }
    }

    /// A new version of the MQL definition.
    public struct DefinitionPublished: Sendable, Hashable {
        /// The version, greater than every earlier one.
        public var version: Int
        /// A name people recognise, e.g. `Q2 2026 tightening`.
        public var name: String
        /// The parsed rules.
        public var rules: MQLRule
        /// The rules exactly as sent, so re-encoding reproduces them.
        public var rulesJSON: JSONValue
        /// When the definition takes effect, in business time.
        public var effectiveAt: Timestamp
        /// Why it changed.
        public var rationale: String?
        /// The `definition.proposed` this publishes, when it names one: its rules must then equal the proposal's.
        public var proposal: String?
        /// Creates the payload from rules JSON, which must parse.
        public init(
            version: Int, name: String, rulesJSON: JSONValue, effectiveAt: Timestamp, rationale: String? = nil,
            proposal: String? = nil
        ) throws(RuleError) {
            self.version = version
            self.name = name
            self.rules = try RuleParser().parse(rulesJSON)
            self.rulesJSON = rulesJSON
            self.effectiveAt = effectiveAt
            self.rationale = rationale
            self.proposal = proposal
        }
        /// Creates the payload from parsed rules, writing their canonical JSON.
        public init(
            version: Int, name: String, rules: MQLRule, effectiveAt: Timestamp, rationale: String? = nil, proposal: String? = nil
        ) {
            self.version = version
            self.name = name
            self.rules = rules
            self.rulesJSON = rules.json
            self.effectiveAt = effectiveAt
            self.rationale = rationale
            self.proposal = proposal
        }
    }

    /// The lead's owner changes; it needs no episode.
    public struct Assigned: Sendable, Hashable {
        /// The new owner (rep or queue).
        public var owner: String
        /// The owner's team, when known.
        public var team: String?
        /// Creates the payload.
        public init(owner: String, team: String? = nil) {
            self.owner = owner
            self.team = team
        }
    }

    /// A sales activity on the lead.
    public struct Touched: Sendable, Hashable {
        /// What kind of activity it was.
        public var activity: SalesActivity
        /// Who did it.
        public var by: String?
        /// Creates the payload.
        public init(activity: SalesActivity, by: String? = nil) {
            self.activity = activity
            self.by = by
        }
    }

    /// A new version of the hand-off service level (DESIGN §8.1).
    public struct SLAPublished: Sendable, Hashable {
        /// The version, greater than every earlier one.
        public var version: Int
        /// A name people recognise.
        public var name: String
        /// When the policy takes effect, in business time.
        public var effectiveAt: Timestamp
        /// Business hours within which sales must first touch a handed-off lead.
        public var firstTouchWithin: Double?
        /// Business hours within which sales must decide on a handed-off lead.
        public var decisionWithin: Double?
        /// The working hours the limits count in.
        public var calendar: BusinessCalendar
        /// Creates the payload; at least one limit should be given (the decoder and validation insist).
        public init(
            version: Int, name: String, effectiveAt: Timestamp, firstTouchWithin: Double? = nil, decisionWithin: Double? = nil,
            calendar: BusinessCalendar
        ) {
            self.version = version
            self.name = name
            self.effectiveAt = effectiveAt
            self.firstTouchWithin = firstTouchWithin
            self.decisionWithin = decisionWithin
            self.calendar = calendar
        }
    }
}

extension EventPayload {
    /// A candidate MQL definition put up for review (DESIGN §8.1).
    public struct DefinitionProposed: Sendable, Hashable {
        /// The proposal's id, chosen by whoever proposes it; unique in the ledger.
        public var proposal: String
        /// A name people recognise.
        public var name: String
        /// The parsed rules.
        public var rules: MQLRule
        /// The rules exactly as sent, so re-encoding reproduces them.
        public var rulesJSON: JSONValue
        /// Why the change is proposed.
        public var rationale: String?
        /// A what-if run pinned to a log position, so anyone can re-run it.
        public var evidence: ProposalEvidence?
        /// Creates the payload from rules JSON, which must parse.
        public init(
            proposal: String, name: String, rulesJSON: JSONValue, rationale: String? = nil, evidence: ProposalEvidence? = nil
        ) throws(RuleError) {
            self.proposal = proposal
            self.name = name
            self.rules = try RuleParser().parse(rulesJSON)
            self.rulesJSON = rulesJSON
            self.rationale = rationale
            self.evidence = evidence
        }
        /// Creates the payload from parsed rules, writing their canonical JSON.
        public init(proposal: String, name: String, rules: MQLRule, rationale: String? = nil, evidence: ProposalEvidence? = nil) {
            self.init(proposal: proposal, name: name, rules: rules, rulesJSON: rules.json, rationale: rationale, evidence: evidence)
        }
        init(proposal: String, name: String, rules: MQLRule, rulesJSON: JSONValue, rationale: String?, evidence: ProposalEvidence?) {
            self.proposal = proposal
            self.name = name
            self.rules = rules
            self.rulesJSON = rulesJSON
            self.rationale = rationale
            self.evidence = evidence
        }
    }

    /// One side's verdict on a proposal; a later review by the same role replaces its earlier one.
    public struct DefinitionReviewed: Sendable, Hashable {
        /// The proposal reviewed.
        public var proposal: String
        /// Approved or declined.
        public var verdict: ReviewVerdict
        /// The side that reviews, e.g. `marketing` or `sales`.
        public var role: String
        /// Free text.
        public var note: String?
        /// Creates the payload.
        public init(proposal: String, verdict: ReviewVerdict, role: String, note: String? = nil) {
            self.proposal = proposal
            self.verdict = verdict
            self.role = role
            self.note = note
        }
    }
}

/// The evidence a proposal carries: a report computed from the log up to `position`, whose record
/// hash is `headHash`, so a re-run over the same records can be compared byte for byte.
public struct ProposalEvidence: Sendable, Hashable {
    /// The last log position the report read.
    public var position: UInt64
    /// The hash of the record at `position` (hex), the receipt of what was read.
    public var headHash: String
    /// The report, as JSON.
    public var report: JSONValue
    /// Creates evidence.
    public init(position: UInt64, headHash: String, report: JSONValue) {
        self.position = position
        self.headHash = headHash
        self.report = report
    }

    /// The `evidence` object: `position`, `headHash`, `report`.
    public var jsonObject: JSONValue {
        .object([
            JSONMember("position", .number(Double(position))), JSONMember("headHash", .string(headHash)), JSONMember("report", report),
        ])
    }
}

/// A reviewer's verdict.
public enum ReviewVerdict: String, Sendable, Hashable, CaseIterable, Codable {
    /// The side agrees to publish the proposal.
    case approved
    /// The side does not agree.
    case declined

    /// The stable one-byte code of the binary record.
    public var code: UInt8 { self == .approved ? 1 : 2 }

    /// The verdict with binary code `code`, or nil.
    public init?(code: UInt8) {
        switch code {
        case 1: self = .approved
        case 2: self = .declined
        default: return nil
        }
    }
}

/// The kinds of sales activity a `lead.touched` records.
public enum SalesActivity: String, Sendable, Hashable, CaseIterable, Codable {
    /// A phone call.
    case call
    /// An e-mail.
    case email
    /// A meeting.
    case meeting
    /// A chat or social message.
    case message
    /// Anything else.
    case other

    /// The stable one-byte code of the binary record.
    public var code: UInt8 {
        switch self {
        case .call: 1
        case .email: 2
        case .meeting: 3
        case .message: 4
        case .other: 5
        }
    }

    /// The activity with binary code `code`, or nil.
    public init?(code: UInt8) {
        switch code {
        case 1: self = .call
        case 2: self = .email
        case 3: self = .meeting
        case 4: self = .message
        case 5: self = .other
        default: return nil
        }
    }
}
