/// Why an event that reads well is refused given what the ledger already holds.
public struct ValidationIssue: Error, CustomStringConvertible, Sendable, Hashable {
    /// A kind of validation refusal; more kinds may be added, so switch with a default.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case unknownReason, retiredReason, noteRequired, noOpenEpisode, episodeAlreadyOpen
            case decisionBeforeHandOff, unknownDefinition, definitionVersionNotIncreasing, correctionTargetInvalid
            case invalidReplacement, valueOutOfRange
            case serviceLevelVersionNotIncreasing, invalidServiceLevel
            case proposalExists, unknownProposal, proposalRulesMismatch, proposalNotApproved, proposalAlreadyPublished
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The reason code was never defined.
        public static var unknownReason: Self { Self(.unknownReason) }
        /// A rejection or correction uses a retired code.
        public static var retiredReason: Self { Self(.retiredReason) }
        /// The reason code requires a note and none was given.
        public static var noteRequired: Self { Self(.noteRequired) }
        /// A decision or recycle for a lead with no open episode.
        public static var noOpenEpisode: Self { Self(.noOpenEpisode) }
        /// A hand-off while the lead's episode is still open.
        public static var episodeAlreadyOpen: Self { Self(.episodeAlreadyOpen) }
        /// A decision or recycle dated before its episode's hand-off.
        public static var decisionBeforeHandOff: Self { Self(.decisionBeforeHandOff) }
        /// A hand-off names a definition version never published.
        public static var unknownDefinition: Self { Self(.unknownDefinition) }
        /// A published version not greater than every earlier one.
        public static var definitionVersionNotIncreasing: Self { Self(.definitionVersionNotIncreasing) }
        /// A correction whose target is not a stored rejection of the same lead.
        public static var correctionTargetInvalid: Self { Self(.correctionTargetInvalid) }
        /// A retirement that names itself, or a retired code, as its replacement.
        public static var invalidReplacement: Self { Self(.invalidReplacement) }
        /// A number beyond the range the analyses can hold (a score or an amount).
        public static var valueOutOfRange: Self { Self(.valueOutOfRange) }
        /// A service level's version not greater than every earlier one.
        public static var serviceLevelVersionNotIncreasing: Self { Self(.serviceLevelVersionNotIncreasing) }
        /// A service level without a limit or with a calendar that cannot be used.
        public static var invalidServiceLevel: Self { Self(.invalidServiceLevel) }

        /// A `definition.proposed` reuses the id of an earlier proposal.
        public static var proposalExists: Self { Self(.proposalExists) }
        /// A review or a publish names a proposal never made.
        public static var unknownProposal: Self { Self(.unknownProposal) }
        /// A publish's rules differ from those of the proposal it names.
        public static var proposalRulesMismatch: Self { Self(.proposalRulesMismatch) }
        /// A publish lacks a proposal approved by every role the ledger requires.
        public static var proposalNotApproved: Self { Self(.proposalNotApproved) }
        /// A publish or a review names a proposal already published.
        public static var proposalAlreadyPublished: Self { Self(.proposalAlreadyPublished) }

        /// The code's name, e.g. `unknownReason`.
        public var description: String { base.rawValue }
    }

    /// The kind of refusal.
    public var code: Code
    /// The 1-based line of the batch, when known.
    public var line: Int?
    /// The refused event's id.
    public var eventId: String
    /// The dotted path of the field at fault.
    public var field: String?
    /// What was expected.
    public var expected: String
    /// What was found.
    public var found: String
    /// What to do about it, shown in parentheses.
    public var hint: String?

    /// Creates an issue.
    public init(
        code: Code, line: Int?, eventId: String, field: String?, expected: String, found: String, hint: String? = nil
    ) {
        self.code = code
        self.line = line
        self.eventId = eventId
        self.field = field
        self.expected = expected
        self.found = found
        self.hint = hint
    }

    /// `line 4, event 7c1…: field "data.reason": expected a defined reason code, found "FIT.UNKNOWN" (define it with a reason.defined event first)`.
    public var description: String {
        issueDescription(line: line, eventId: eventId, field: field, expected: expected, found: found, hint: hint)
    }
}

/// A batch refused as a whole: every bad event with its issue.
public struct BatchRefusal: Error, CustomStringConvertible, Sendable, Hashable {
    /// One issue per refused event, in batch order.
    public var issues: [ValidationIssue]

    /// Creates a refusal.
    public init(issues: [ValidationIssue]) {
        self.issues = issues
    }

    /// The issues, one per line.
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
