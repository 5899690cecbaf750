import EventLog
import Foundation
import LeadModel
import Projections

/// One review of a proposal, as recorded.
public struct ProposalReview: Sendable, Hashable, Codable {
    /// The side that reviewed.
    public var role: String
    /// `approved` or `declined`.
    public var verdict: String
    /// The reviewer's note.
    public var note: String?
    /// Who reviewed (the event's actor), when known.
    public var actor: String?
    /// Business time of the review.
    public var at: String
    /// Its log position.
    public var position: UInt64
    /// Whether a later review by the same role replaced it.
    public var superseded: Bool
}

/// Where a proposal stands.
public enum ProposalStatus: String, Sendable, Hashable, Codable {
    /// Neither approved by every role it needs nor declined.
    case open
    /// Approved by every required role (when none is required: by at least one, declined by none).
    case approved
    /// Some role's latest review declined it.
    case declined
    /// A `definition.published` named it.
    case published
}

/// A proposed definition with its reviews, evidence, status and diff against the definition in force.
public struct ProposalSummary: Sendable, Hashable, Codable {
    /// The proposal's id.
    public var proposal: String
    /// Its name.
    public var name: String
    /// Its rules, as proposed.
    public var rules: JSONBox
    /// Why it was proposed.
    public var rationale: String?
    /// Who proposed it, when known.
    public var actor: String?
    /// Business time of the proposal.
    public var proposedAt: String
    /// Its log position.
    public var position: UInt64
    /// Where it stands.
    public var status: ProposalStatus
    /// The version that published it.
    public var publishedVersion: Int?
    /// Every review in log order; each role's latest one counts.
    public var reviews: [ProposalReview]
    /// The latest verdict per role.
    public var verdicts: [String: String]
    /// The required roles that have not approved it (empty when approval is not required).
    public var missingApprovals: [String]
    /// The definition it is compared with: the one it replaced when published, else the one in force (nil when none).
    public var comparedWithVersion: Int?
    /// What changes against the definition in force, one line per change.
    public var changes: [String]
    /// The evidence it carries: position, head hash and report.
    public var evidence: JSONBox?
}

/// Every proposal of a ledger, newest last.
public struct ProposalsReport: Sendable, Hashable, Codable {
    /// The roles whose approval a publish needs.
    public var requiredApprovals: [String]
    /// The version of the definition in force now, nil when none.
    public var definitionInForce: Int?
    /// The proposals, in the order they were made.
    public var proposals: [ProposalSummary]
}

/// The outcome of re-running a proposal's evidence.
public struct EvidenceCheck: Sendable, Hashable, Codable {
    /// The proposal.
    public var proposal: String
    /// The position the evidence is pinned to.
    public var position: UInt64
    /// The head hash it names.
    public var headHash: String
    /// The hash of the record at that position in this ledger.
    public var ledgerHash: String?
    /// Whether the re-run's report is byte for byte the stored one.
    public var identical: Bool
    /// The stored report, as compact JSON.
    public var stored: String
    /// The re-run's report, as compact JSON.
    public var rerun: String
}

/// A proposal, a review or its evidence that cannot be made as asked.
public struct ProposalError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, naming the input at fault.
    public let description: String
    init(_ description: String) { self.description = description }
}

extension Ledger {
    /// The what-if of `rules` over the records up to `position` (the head when nil), as a
    /// proposal's evidence: the report holds the query (`from`, `to`, `bandWidth`) and the what-if.
    public func proposalEvidence(
        name: String, rules: MQLRule, from: String? = nil, to: String? = nil, bandWidth: Double = 10, through position: UInt64? = nil
    ) throws -> ProposalEvidence {
        let range: (from: Int64?, until: Int64?)
        do throws(QueryInputError) { range = try QueryInput.dayRange(from: from, to: to) } catch {
            throw ProposalError("evidence range: \(error)")
        }
        let pinned = try position ?? head().position
        let query = WhatIfQuery(
            candidates: [CandidateDefinition(name: name, rules: rules)], from: range.from, until: range.until, scoreBandWidth: bandWidth)
        let report = try WhatIf.run(log, query, through: pinned)
        var queryMembers: [JSONMember] = []
        if let from = report.from { queryMembers.append(JSONMember("from", .string(from))) }
        if let to = report.to { queryMembers.append(JSONMember("to", .string(to))) }
        queryMembers.append(JSONMember("bandWidth", .number(bandWidth)))
        let json = JSONValue.object([JSONMember("query", .object(queryMembers)), JSONMember("whatIf", try Self.json(report))])
        return ProposalEvidence(position: report.asOf.position, headHash: report.asOf.headHash, report: json)
    }

    /// Re-runs the evidence of the stored proposal `id` over the same records, and compares.
    public func recheckEvidence(proposal id: String) throws -> EvidenceCheck {
        guard let (payload, _) = try proposalEvents().proposals.first(where: { $0.0.proposal == id }) else {
            throw ProposalError("proposal \(JSONValue.string(id).jsonText): no such proposal in this ledger")
        }
        guard let evidence = payload.evidence else {
            throw ProposalError("proposal \(JSONValue.string(id).jsonText) carries no evidence")
        }
        guard case .object(let members) = evidence.report, case .object(let query)? = members.first(where: { $0.key == "query" })?.value
        else {
            throw ProposalError("proposal \(JSONValue.string(id).jsonText): its evidence has no query to re-run")
        }
        func text(_ key: String) -> String? {
            if case .string(let value)? = query.first(where: { $0.key == key })?.value { return value }
            return nil
        }
        var bandWidth = 10.0
        if case .number(let width)? = query.first(where: { $0.key == "bandWidth" })?.value { bandWidth = width }
        let rerun = try proposalEvidence(
            name: payload.name, rules: payload.rules, from: text("from"), to: text("to"), bandWidth: bandWidth, through: evidence.position)
        let ledgerHash = try log.record(at: evidence.position)?.hash
        let stored = String(decoding: evidence.report.jsonBytes, as: UTF8.self)
        let again = String(decoding: rerun.report.jsonBytes, as: UTF8.self)
        return EvidenceCheck(
            proposal: id, position: evidence.position, headHash: evidence.headHash, ledgerHash: ledgerHash,
            identical: stored == again && ledgerHash == evidence.headHash && rerun.headHash == evidence.headHash, stored: stored,
            rerun: again)
    }

    /// Every proposal with its reviews and status, and its diff against the definition in force at `now` (µs).
    public func proposals(now: Int64 = Int64(Date().timeIntervalSince1970 * 1_000_000)) throws -> ProposalsReport {
        let events = try proposalEvents()
        let required = requiredApprovals
        let published = events.definitions.sorted { ($0.effectiveAt.microseconds, $0.version) < ($1.effectiveAt.microseconds, $1.version) }
        let inForce = published.last(where: { $0.effectiveAt.microseconds <= now }) ?? published.last
        var summaries: [ProposalSummary] = []
        for (proposed, record) in events.proposals {
            let reviews = events.reviews.filter { $0.0.proposal == proposed.proposal }
            var latest: [String: Int] = [:]
            for (index, review) in reviews.enumerated() { latest[review.0.role] = index }
            let verdicts = latest.mapValues { reviews[$0].0.verdict }
            let publishedBy = events.definitions.first { $0.proposal == proposed.proposal }
            let missing = Set(required).filter { verdicts[$0] != .approved }.sorted()
            // A published proposal is read against the definition it replaced, an open one against today's.
            let comparedWith =
                publishedBy.map { publish in events.definitions.filter { $0.version < publish.version }.max { $0.version < $1.version } }
                ?? inForce
            var changes = comparedWith.map { DefinitionDiff.describeChanges(from: $0.rules, to: proposed.rules) }
                ?? ["a first definition: nothing was in force"]
            if changes.isEmpty, let comparedWith { changes = ["the same rules as version \(comparedWith.version)"] }
            let approved = required.isEmpty ? !verdicts.isEmpty : missing.isEmpty
            let status: ProposalStatus
            if publishedBy != nil {
                status = .published
            } else if verdicts.values.contains(.declined) {
                status = .declined
            } else {
                status = approved ? .approved : .open
            }
            summaries.append(
                ProposalSummary(
                    proposal: proposed.proposal, name: proposed.name, rules: JSONBox(proposed.rulesJSON), rationale: proposed.rationale,
                    actor: record.actor, proposedAt: record.occurredAt.rfc3339, position: record.position, status: status,
                    publishedVersion: publishedBy?.version,
                    reviews: reviews.enumerated().map { index, review in
                        ProposalReview(
                            role: review.0.role, verdict: review.0.verdict.rawValue, note: review.0.note, actor: review.1.actor,
                            at: review.1.occurredAt.rfc3339, position: review.1.position, superseded: latest[review.0.role] != index)
                    },
                    verdicts: verdicts.mapValues(\.rawValue), missingApprovals: missing, comparedWithVersion: comparedWith?.version,
                    changes: changes,
                    evidence: proposed.evidence.map { JSONBox($0.jsonObject) }))
        }
        return ProposalsReport(requiredApprovals: required, definitionInForce: inForce?.version, proposals: summaries)
    }

    /// Where and by whom a catalog event was recorded.
    struct CatalogRecord {
        var position: UInt64
        var occurredAt: Timestamp
        var actor: String?
    }

    /// The proposals, reviews and publishes of the catalog stream, in log order.
    func proposalEvents() throws -> (
        proposals: [(EventPayload.DefinitionProposed, CatalogRecord)], reviews: [(EventPayload.DefinitionReviewed, CatalogRecord)],
        definitions: [EventPayload.DefinitionPublished]
    ) {
        var proposals: [(EventPayload.DefinitionProposed, CatalogRecord)] = []
        var reviews: [(EventPayload.DefinitionReviewed, CatalogRecord)] = []
        var definitions: [EventPayload.DefinitionPublished] = []
        for stored in try log.records(inStream: CatalogStream.name) {
            guard let code = stored.payload.count > 1 ? stored.payload[1] : nil,
                [EventType.definitionProposed.code, EventType.definitionReviewed.code, EventType.definitionPublished.code].contains(code)
            else { continue }
            let event = try LeadEvent(binary: stored.payload)
            let record = CatalogRecord(position: stored.position, occurredAt: event.occurredAt, actor: event.actor)
            switch event.payload {
            case .definitionProposed(let data): proposals.append((data, record))
            case .definitionReviewed(let data): reviews.append((data, record))
            case .definitionPublished(let data): definitions.append(data)
            default: break
            }
        }
        return (proposals, reviews, definitions)
    }

    /// A Codable report as JSON, through the ledger's own parser so it re-encodes the same way each time.
    static func json(_ value: some Encodable) throws -> JSONValue {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try JSONValue.parse(try encoder.encode(value))
    }
}

extension Ledger {
    /// Appends `definition.proposed`: `rules` are checked as the wire format checks them.
    public func propose(
        proposal: String, name: String, rules: JSONValue, rationale: String? = nil, evidence: ProposalEvidence? = nil,
        source: String = "leadledger", actor: String? = nil, id: UUID = UUID(), occurredAt: Timestamp = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000))
    ) async throws -> LedgerReceipt {
        var members = [JSONMember("proposal", .string(proposal)), JSONMember("name", .string(name)), JSONMember("rules", rules)]
        if let rationale { members.append(JSONMember("rationale", .string(rationale))) }
        if let evidence { members.append(JSONMember("evidence", evidence.jsonObject)) }
        return try await appendCatalog(.definitionProposed, data: members, source: source, actor: actor, id: id, occurredAt: occurredAt)
    }

    /// Appends `definition.reviewed`: one role's verdict, replacing that role's earlier one.
    public func review(
        proposal: String, verdict: ReviewVerdict, role: String, note: String? = nil, source: String = "leadledger", actor: String? = nil,
        id: UUID = UUID(), occurredAt: Timestamp = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000))
    ) async throws -> LedgerReceipt {
        var members = [
            JSONMember("proposal", .string(proposal)), JSONMember("verdict", .string(verdict.rawValue)), JSONMember("role", .string(role)),
        ]
        if let note { members.append(JSONMember("note", .string(note))) }
        return try await appendCatalog(.definitionReviewed, data: members, source: source, actor: actor, id: id, occurredAt: occurredAt)
    }

    /// Appends `definition.published` with the rules of proposal `proposal`, as the next version
    /// (or `version`), effective at `effectiveAt`.
    public func publish(
        proposal: String, name: String? = nil, version: Int? = nil, effectiveAt: Timestamp, rationale: String? = nil,
        source: String = "leadledger", actor: String? = nil, id: UUID = UUID(), occurredAt: Timestamp = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000))
    ) async throws -> LedgerReceipt {
        let events = try proposalEvents()
        guard let (proposed, _) = events.proposals.first(where: { $0.0.proposal == proposal }) else {
            throw ProposalError("proposal \(JSONValue.string(proposal).jsonText): no such proposal in this ledger")
        }
        let next = version ?? ((events.definitions.map(\.version).max() ?? 0) + 1)
        var members = [
            JSONMember("version", .number(Double(next))), JSONMember("name", .string(name ?? proposed.name)),
            JSONMember("rules", proposed.rulesJSON), JSONMember("effectiveAt", .string(effectiveAt.rfc3339)),
        ]
        if let rationale = rationale ?? proposed.rationale { members.append(JSONMember("rationale", .string(rationale))) }
        members.append(JSONMember("proposal", .string(proposal)))
        return try await appendCatalog(.definitionPublished, data: members, source: source, actor: actor, id: id, occurredAt: occurredAt)
    }

    /// Builds a catalog event from its `data` through the wire decoder, so an event made here is
    /// checked exactly as one sent over HTTP, then appends it.
    private func appendCatalog(
        _ type: EventType, data: [JSONMember], source: String, actor: String?, id: UUID, occurredAt: Timestamp
    ) async throws -> LedgerReceipt {
        var envelope = [
            JSONMember("id", .string(id.uuidString.lowercased())), JSONMember("type", .string(type.rawValue)),
            JSONMember("occurredAt", .string(occurredAt.rfc3339)), JSONMember("source", .string(source)),
        ]
        if let actor { envelope.append(JSONMember("actor", .string(actor))) }
        envelope.append(JSONMember("data", .object(data)))
        let event = try EventDecoder().decode(json: .object(envelope))
        return try await append([event])
    }
}

extension Ledger {
    /// Candidate definitions that lower the observed rejection rate under `query`'s constraints,
    /// fitted on the earlier period and judged on the later one (``DefinitionSuggester``).
    public func suggest(_ query: SuggestionQuery) throws -> SuggestionReport {
        try DefinitionSuggester.run(log, query, state: try replay())
    }
}

extension CurrentReplay {
    /// ``Ledger/suggest(_:)`` from the replay kept current here and the feedback loop's cached
    /// facts: only the what-if passes read the log.
    public func suggest(_ query: SuggestionQuery, feedback: CurrentFeedbackLoop) throws -> SuggestionReport {
        try DefinitionSuggester.run(
            ledger.log, query, state: try state(),
            profile: { from, until in try feedback.reports(FeedbackLoopRequest(profile: ProfileQuery(from: from, until: until))).profile })
    }
}
