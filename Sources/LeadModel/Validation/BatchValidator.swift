import Foundation

/// Checks events against the ledger's state: the rules of DESIGN §3 that the wire format alone cannot decide.
public struct BatchValidator: Sendable {
    /// Creates a validator; its methods are static.
    public init() {}

    /// Validates in order, each event against the state plus the earlier accepted events of the batch.
    /// Returns every refusal (one per bad event; later events are checked against the state without the
    /// refused ones) or the changes to apply.
    public static func validate(
        _ events: [(line: Int?, event: LeadEvent)], against state: some LedgerState
    ) -> Result<StateChanges, BatchRefusal> {
        var staged = StagedLedgerState(base: state)
        var issues: [ValidationIssue] = []
        for (line, event) in events {
            if let issue = check(event, line: line, against: staged) {
                issues.append(issue)
            } else {
                staged.apply(event)
            }
        }
        return issues.isEmpty ? .success(staged.changes) : .failure(BatchRefusal(issues: issues))
    }

    /// The first issue with one event against `state`, or nil when it may be appended.
    public static func check(_ event: LeadEvent, line: Int? = nil, against state: some LedgerState) -> ValidationIssue? {
        let context = Context(line: line, eventId: event.id)
        let lead = event.lead ?? ""
        switch event.payload {
        case .leadCaptured, .attributesObserved, .forgotten:
            return nil
        case .leadScored(let data):
            return rangeIssue(data.score, "data.score", limit: EventDecoder.Limits.scoreMagnitude, context: context)
        case .converted(let data):
            return data.amount.flatMap { rangeIssue($0, "data.amount", limit: EventDecoder.Limits.amountMagnitude, context: context) }
        case .handedOff(let data):
            let open = state.openEpisode(lead: lead)
            if case .open(replacing: true) = EpisodeMachine.transition(of: event, from: EpisodePhase(isOpen: open != nil)), let open {
                return context.issue(
                    .episodeAlreadyOpen, "lead", expected: "a lead without an open episode",
                    found: "\(quoted(lead)), handed off at \(open.handedOffAt.rfc3339) and not yet decided",
                    hint: "a re-assignment is not a new hand-off; decide or recycle the open episode first")
            }
            if let version = data.definition, state.definition(version: version) == nil {
                return context.issue(
                    .unknownDefinition, "data.definition", expected: "a published definition version",
                    found: "\(version)",
                    hint: state.latestDefinitionVersion.map { "the latest published version is \($0)" }
                        ?? "no definition has been published yet")
            }
            return nil
        case .accepted:
            return episodeIssue(event, lead: lead, context: context, state: state)
        case .rejected(let data):
            if let issue = episodeIssue(event, lead: lead, context: context, state: state) { return issue }
            return reasonIssue(data.reason, note: data.note, field: "data.reason", allowRetired: false, context: context, state: state)
        case .recycled(let data):
            if let issue = episodeIssue(event, lead: lead, context: context, state: state) { return issue }
            guard let reason = data.reason else { return nil }
            return reasonIssue(reason, note: data.note, field: "data.reason", allowRetired: true, context: context, state: state)
        case .closed(let data):
            if let issue = data.amount.flatMap({
                rangeIssue($0, "data.amount", limit: EventDecoder.Limits.amountMagnitude, context: context)
            }) {
                return issue
            }
            guard let reason = data.reason else { return nil }
            return reasonIssue(
                reason, note: nil, checksNote: false, field: "data.reason", allowRetired: true, context: context, state: state)
        case .rejectionCorrected(let data):
            let target = data.event.lowercasedText
            guard let rejection = state.storedRejection(id: data.event) else {
                return context.issue(
                    .correctionTargetInvalid, "data.event", expected: "the id of a stored lead.rejected of lead \(quoted(lead))",
                    found: quoted(target), hint: "no rejection with this id is stored")
            }
            guard rejection.lead == lead else {
                return context.issue(
                    .correctionTargetInvalid, "data.event", expected: "the id of a stored lead.rejected of lead \(quoted(lead))",
                    found: quoted(target), hint: "it rejected lead \(quoted(rejection.lead))")
            }
            return reasonIssue(data.reason, note: data.note, field: "data.reason", allowRetired: false, context: context, state: state)
        case .reasonDefined:
            return nil
        case .reasonRetired(let data):
            guard state.reason(data.code) != nil else {
                return context.issue(
                    .unknownReason, "data.code", expected: "a defined reason code", found: quoted(data.code),
                    hint: "only a defined code can be retired")
            }
            guard let replacement = data.replacedBy else { return nil }
            guard replacement != data.code else {
                return context.issue(
                    .invalidReplacement, "data.replacedBy", expected: "a code other than the one retired",
                    found: quoted(replacement))
            }
            guard let replacementCode = state.reason(replacement) else {
                return context.issue(
                    .unknownReason, "data.replacedBy", expected: "a defined reason code", found: quoted(replacement),
                    hint: "define it with a reason.defined event first")
            }
            if replacementCode.retired {
                return context.issue(
                    .invalidReplacement, "data.replacedBy", expected: "a reason code in use",
                    found: "\(quoted(replacement)), which is retired")
            }
            return nil
        case .definitionPublished(let data):
            if let latest = state.latestDefinitionVersion, data.version <= latest {
                return context.issue(
                    .definitionVersionNotIncreasing, "data.version", expected: "a version greater than \(latest)",
                    found: "\(data.version)", hint: "versions only increase; publish \(latest + 1) instead")
            }
            return publishIssue(data, context: context, state: state)
        case .definitionProposed(let data):
            if state.proposal(data.proposal) != nil {
                return context.issue(
                    .proposalExists, "data.proposal", expected: "a proposal id not used before", found: quoted(data.proposal),
                    hint: "a proposal is never replaced; propose the change under a new id")
            }
            return nil
        case .definitionReviewed(let data):
            guard let proposal = state.proposal(data.proposal) else {
                return context.issue(
                    .unknownProposal, "data.proposal", expected: "the id of a definition.proposed", found: quoted(data.proposal),
                    hint: "no proposal with this id is stored")
            }
            if let version = proposal.publishedVersion {
                return context.issue(
                    .proposalAlreadyPublished, "data.proposal", expected: "a proposal not yet published",
                    found: "\(quoted(data.proposal)), published as version \(version)")
            }
            return nil
        case .assigned, .touched:
            // Neither needs an episode: owners change and sales works leads whatever their phase.
            return nil
        case .slaPublished(let data):
            if data.firstTouchWithin == nil && data.decisionWithin == nil {
                return context.issue(
                    .invalidServiceLevel, "data.firstTouchWithin", expected: "at least one limit: firstTouchWithin or decisionWithin",
                    found: "neither")
            }
            for (field, hours) in [("data.firstTouchWithin", data.firstTouchWithin), ("data.decisionWithin", data.decisionWithin)] {
                if let hours, !(hours > 0 && hours <= FieldReader.longestServiceLimitHours) {
                    return context.issue(
                        .invalidServiceLevel, field, expected: "business hours above 0 and at most \(Int(FieldReader.longestServiceLimitHours))",
                        found: "\(hours)")
                }
            }
            if BusinessClock(data.calendar) == nil {
                return context.issue(
                    .invalidServiceLevel, "data.calendar.timeZone", expected: "an IANA time zone name like Europe/Paris",
                    found: quoted(data.calendar.timeZone))
            }
            if let latest = state.latestServiceLevelVersion, data.version <= latest {
                return context.issue(
                    .serviceLevelVersionNotIncreasing, "data.version", expected: "a version greater than \(latest)",
                    found: "\(data.version)", hint: "service-level versions only increase; publish \(latest + 1) instead")
            }
            return nil
        }
    }

    /// A publish that names a proposal must match it; when the ledger requires approvals, it must
    /// name one approved by each required role.
    private static func publishIssue(
        _ data: EventPayload.DefinitionPublished, context: Context, state: some LedgerState
    ) -> ValidationIssue? {
        let required = state.requiredApprovals
        guard let id = data.proposal else {
            guard !required.isEmpty else { return nil }
            return context.issue(
                .proposalNotApproved, "data.proposal",
                expected: "a proposal approved by \(required.sorted().joined(separator: ", ")) (this ledger requires approval)",
                found: "nothing", hint: "propose the definition, have each role review it, then publish naming the proposal")
        }
        guard let proposal = state.proposal(id) else {
            return context.issue(
                .unknownProposal, "data.proposal", expected: "the id of a definition.proposed", found: quoted(id),
                hint: "no proposal with this id is stored")
        }
        if let version = proposal.publishedVersion {
            return context.issue(
                .proposalAlreadyPublished, "data.proposal", expected: "a proposal not yet published",
                found: "\(quoted(id)), published as version \(version)")
        }
        let proposed = try? JSONValue.parse(proposal.rulesJSON)
        let proposedRules = proposed.flatMap { try? RuleParser().parse($0) }
        if proposedRules != data.rules {
            return context.issue(
                .proposalRulesMismatch, "data.rules", expected: "the rules of proposal \(quoted(id)): \(String(decoding: proposal.rulesJSON, as: UTF8.self).prefix(300))",
                found: String(decoding: data.rulesJSON.jsonBytes, as: UTF8.self).prefix(300).description,
                hint: "publish exactly what was reviewed, or propose the new rules")
        }
        let missing = proposal.missingApprovals(required)
        if !missing.isEmpty {
            let verdicts = missing.map { role in "\(role): \(proposal.reviews[role].map(\.rawValue) ?? "no review")" }
            return context.issue(
                .proposalNotApproved, "data.proposal",
                expected: "a proposal approved by \(required.sorted().joined(separator: ", "))",
                found: "\(quoted(id)) without the approval of \(missing.joined(separator: ", ")) (\(verdicts.joined(separator: "; ")))",
                hint: "missing approvals: \(missing.joined(separator: ", "))")
        }
        return nil
    }

    private struct Context {
        let line: Int?
        /// Turned into text only when an issue is raised: most events pass.
        let eventId: UUID

        func issue(
            _ code: ValidationIssue.Code, _ field: String, expected: String, found: String, hint: String? = nil
        )
            -> ValidationIssue
        {
            ValidationIssue(
                code: code, line: line, eventId: eventId.lowercasedText, field: field, expected: expected, found: found, hint: hint)
        }
    }

    /// Events built in code (importers, the demo) do not pass the JSON decoder's range checks; the
    /// same limits apply to them here, so no stored number can overflow an analysis.
    private static func rangeIssue(_ value: Double, _ field: String, limit: Double, context: Context) -> ValidationIssue? {
        guard !(value.isFinite && abs(value) <= limit) else { return nil }
        return context.issue(
            .valueOutOfRange, field, expected: "a number from -\(Int64(limit)) to \(Int64(limit))", found: "\(value)")
    }

    private static func episodeIssue(
        _ event: LeadEvent, lead: String, context: Context, state: some LedgerState
    )
        -> ValidationIssue?
    {
        let open = state.openEpisode(lead: lead)
        guard case .close = EpisodeMachine.transition(of: event, from: EpisodePhase(isOpen: open != nil)), let open else {
            return context.issue(
                .noOpenEpisode, "lead", expected: "a lead with an open episode", found: "\(quoted(lead)) with none",
                hint: "a \(event.type.rawValue) needs a lead.handed_off not yet decided or recycled")
        }
        if event.occurredAt.microseconds < open.handedOffAt.microseconds {
            return context.issue(
                .decisionBeforeHandOff, "occurredAt", expected: "a time at or after the hand-off at \(open.handedOffAt.rfc3339)",
                found: event.occurredAt.rfc3339)
        }
        return nil
    }

    private static func reasonIssue(
        _ code: String, note: String?, checksNote: Bool = true, field: String, allowRetired: Bool, context: Context,
        state: some LedgerState
    ) -> ValidationIssue? {
        guard let reason = state.reason(code) else {
            return context.issue(
                .unknownReason, field, expected: "a defined reason code", found: quoted(code),
                hint: "define it with a reason.defined event first")
        }
        if reason.retired && !allowRetired {
            return context.issue(
                .retiredReason, field, expected: "a reason code in use", found: "\(quoted(code)), which is retired",
                hint: reason.replacedBy.map { "use \($0) instead" } ?? "choose a current code")
        }
        if checksNote, reason.requiresNote, (note ?? "").allSatisfy(\.isWhitespace) {
            let notePath = field.replacingOccurrences(of: "reason", with: "note")
            return context.issue(
                .noteRequired, notePath, expected: "a note, which reason \(code) requires",
                found: note == nil ? "nothing" : "a blank note")
        }
        return nil
    }

    private static func quoted(_ text: String) -> String { JSONValue.string(text).jsonText }
}
