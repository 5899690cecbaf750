import Foundation
import Hummingbird
import LeadModel
import Ledger
import Projections
import Synchronization

/// Proposing, reviewing and publishing a definition over HTTP, as `leadledger propose`, `review`,
/// `publish` and `proposals` do: with an `admin` key or one of scope `review`.
enum ProposalsController: LedgerController {
    /// The largest proposal body: rules of the largest size the decoder accepts, and a little more.
    static let maxBody = 96 << 10

    static func register(_ routes: inout RouteRegistrar) {
        ProposalPages.register(&routes)
        routes.add(.get, "/v1/proposals", statuses: [200, 401, 403, 503], access: .scopes([.read, .review])) { server, _, context in
            let ledger = server.ledger
            return JSONResponse.make(value: try await server.analysis(context) { try ledger.proposals() })
        }
        routes.add(.post, "/v1/proposals", statuses: [201, 400, 401, 403, 409, 413, 503], access: .scopes([.review])) {
            server, request, context in
            let body = try await server.collectBody(request, limit: maxBody)
            let input = try LedgerHTTPServer.proposalInput(Array(buffer: body))
            let ledger = server.ledger
            let evidence: ProposalEvidence?
            if let range = input.evidence {
                evidence = try await server.analysis(context) {
                    try refusing { try ledger.proposalEvidence(name: input.name, rules: input.rules, from: range.from, to: range.to, bandWidth: range.bandWidth) }
                }
            } else {
                evidence = nil
            }
            let receipt = try await refusing {
                try await ledger.propose(
                    proposal: input.proposal, name: input.name, rules: input.rulesJSON, rationale: input.rationale, evidence: evidence,
                    source: "leadledger-api", actor: input.actor)
            }
            return JSONResponse.make(status: .created, bytes: LedgerHTTPServer.receiptJSON(receipt))
        }
        routes.add(.get, "/v1/suggestions", statuses: [200, 400, 401, 403, 503], access: .scopes([.read, .review])) {
            server, request, context in
            let query = try LedgerHTTPServer.suggestionQuery(request.uri.queryParameters)
            return JSONResponse.make(value: try await server.suggestions(query, context))
        }
        routes.add(.get, "/v1/proposals/{id}/evidence", statuses: [200, 400, 401, 403, 404, 503], access: .scopes([.read, .review])) {
            server, _, context in
            let id = try context.parameters.require("id")
            let ledger = server.ledger
            return JSONResponse.make(value: try await server.analysis(context) { try refusing { try ledger.recheckEvidence(proposal: id) } })
        }
        routes.add(.post, "/v1/proposals/{id}/reviews", statuses: [201, 400, 401, 403, 409, 413, 503], access: .scopes([.review])) {
            server, request, context in
            let id = try context.parameters.require("id")
            let body = try await server.collectBody(request, limit: maxBody)
            let review = try LedgerHTTPServer.reviewInput(Array(buffer: body))
            let ledger = server.ledger
            let receipt = try await refusing {
                try await ledger.review(
                    proposal: id, verdict: review.verdict, role: review.role, note: review.note, source: "leadledger-api", actor: review.actor)
            }
            return JSONResponse.make(status: .created, bytes: LedgerHTTPServer.receiptJSON(receipt))
        }
        routes.add(.post, "/v1/proposals/{id}/publish", statuses: [201, 400, 401, 403, 404, 409, 413, 503], access: .scopes([.review])) {
            server, request, context in
            let id = try context.parameters.require("id")
            let body = try await server.collectBody(request, limit: maxBody)
            let publish = try LedgerHTTPServer.publishInput(Array(buffer: body))
            let ledger = server.ledger
            let receipt = try await refusing {
                try await ledger.publish(
                    proposal: id, name: publish.name, version: publish.version, effectiveAt: publish.effectiveAt, source: "leadledger-api",
                    actor: publish.actor)
            }
            return JSONResponse.make(status: .created, bytes: LedgerHTTPServer.receiptJSON(receipt))
        }
    }

    /// Runs `body`, turning the ledger's refusals into API errors that name the field.
    static func refusing<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch {
            throw apiError(error)
        }
    }

    static func refusing<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            throw apiError(error)
        }
    }

    static func apiError(_ error: any Error) -> any Error {
        switch error {
        case let error as EventInputError:
            return APIError(
                .badRequest, "the proposal was refused; nothing was appended",
                problems: [BatchProblem(field: error.field, message: error.description)])
        case let error as LedgerError:
            let problems = error.problems.map { BatchProblem(eventId: $0.eventId, field: $0.field, message: $0.message) }
            switch error.kind {
            case .invalid: return APIError(.badRequest, "refused; nothing was appended", problems: problems)
            case .conflict, .expectedVersionMismatch: return APIError(.conflict, "refused; nothing was appended", problems: problems)
            case .storage, .closed: return APIError(.serviceUnavailable, "the ledger could not store it; nothing was appended", problems: problems)
            }
        case let error as ProposalError:
            return APIError(error.description.contains("no such proposal") ? .notFound : .badRequest, error.description)
        case let error as PinnedReplayError:
            return APIError(.badRequest, error.description)
        case let error as SuggestionError:
            return APIError(.badRequest, error.description)
        case let error as WhatIfQueryError:
            return APIError(.badRequest, error.description, problems: [BatchProblem(field: error.field, message: error.message)])
        default:
            return error
        }
    }
}

extension LedgerHTTPServer {
    /// `minHandOffsPerMonth`, `maxLostWinsPercent`, `split` (a day) and `limit`, each checked.
    static func suggestionQuery(_ parameters: Parameters) throws -> SuggestionQuery {
        func number(_ name: String, in range: ClosedRange<Double>) throws -> Double? {
            guard let text = parameters[Substring(name)], !text.isEmpty else { return nil }
            guard let value = Double(text), value.isFinite, range.contains(value) else {
                throw APIError(
                    .badRequest, "`\(name)` must be a number from \(Int(range.lowerBound)) to \(Int(range.upperBound)), not `\(text.prefix(64))`",
                    problems: [.init(field: name, message: "expected a number from \(Int(range.lowerBound)) to \(Int(range.upperBound))")])
            }
            return value
        }
        let minimum = try number("minHandOffsPerMonth", in: 0...10_000_000)
        let maximum = try number("maxLostWinsPercent", in: 0...100)
        let split = try dayRange(from: parameters["split"].flatMap { $0.isEmpty ? nil : $0 }, to: nil).0
        let limit = try integer(parameters["limit"], name: "limit", in: 1...63) ?? 5
        return SuggestionQuery(minimumHandOffsPerMonth: minimum, maximumLostWinsPercent: maximum, split: split, limit: limit)
    }
}

extension LedgerHTTPServer {
    /// The suggester's report for `query`: the last one computed is kept for the head it was
    /// computed at, so a page reloaded or a query repeated costs nothing until the ledger changes.
    func suggestions(_ query: SuggestionQuery, _ context: LedgerRequestContext) async throws -> SuggestionReport {
        let head = try ledger.head().position
        if let cached = SuggestionCache.shared.report(for: query, ledger: ledger.path, head: head) { return cached }
        let replay = self.replay
        let feedback = self.feedback
        let report = try await analysis(context) { try ProposalsController.refusing { try replay.suggest(query, feedback: feedback) } }
        SuggestionCache.shared.keep(report, for: query, ledger: ledger.path, head: head)
        return report
    }
}

/// The last suggester report per ledger, with the query and head it answers.
final class SuggestionCache: Sendable {
    static let shared = SuggestionCache()
    private let entries = Mutex<[String: (query: SuggestionQuery, head: UInt64, report: SuggestionReport)]>([:])

    func report(for query: SuggestionQuery, ledger: String, head: UInt64) -> SuggestionReport? {
        entries.withLock { entries in
            guard let entry = entries[ledger], entry.query == query, entry.head == head else { return nil }
            return entry.report
        }
    }

    func keep(_ report: SuggestionReport, for query: SuggestionQuery, ledger: String, head: UInt64) {
        entries.withLock { $0[ledger] = (query, head, report) }
    }
}

/// A proposal as `POST /v1/proposals` takes it.
struct ProposalInput: Sendable {
    var proposal: String
    var name: String
    var rulesJSON: JSONValue
    var rules: MQLRule
    var rationale: String?
    var actor: String?
    /// The evidence's range and band width, when evidence is asked for.
    var evidence: (from: String?, to: String?, bandWidth: Double)?
}

extension LedgerHTTPServer {
    /// The JSON object of a body, or a 400 that says what was expected.
    static func object(_ bytes: [UInt8], expected: String) throws -> JSONValue {
        guard let json = try? JSONValue.parse(bytes), json.objectMembers != nil else {
            throw APIError(.badRequest, expected, problems: [.init(message: "the body is not a JSON object")])
        }
        return json
    }

    static func optionalText(_ json: JSONValue, _ field: String, problems: inout [APIError.Problem]) -> String? {
        switch json[field] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case let other?:
            problems.append(.init(field: field, message: "expected a string, found \(other.shortDescription)"))
            return nil
        }
    }

    /// `{"proposal", "name", "rules", "rationale"?, "actor"?, "evidence"?: {"from"?, "to"?, "bandWidth"?}}`.
    static func proposalInput(_ bytes: [UInt8]) throws -> ProposalInput {
        let expected = #"expected {"proposal":ID,"name":TEXT,"rules":{…},"rationale":TEXT?,"evidence":{"from":DAY?,"to":DAY?,"bandWidth":N?}?}"#
        let json = try object(bytes, expected: expected)
        var problems: [APIError.Problem] = []
        let proposal = optionalText(json, "proposal", problems: &problems)
        if proposal == nil, json["proposal"] == nil { problems.append(.init(field: "proposal", message: "missing")) }
        let name = optionalText(json, "name", problems: &problems)
        if name == nil, json["name"] == nil { problems.append(.init(field: "name", message: "missing")) }
        var rules: MQLRule?
        if let rulesJSON = json["rules"] {
            do { rules = try RuleParser().parse(rulesJSON) } catch {
                problems.append(.init(field: "rules" + error.pointer, message: "expected \(error.expected), found \(error.found)"))
            }
        } else {
            problems.append(.init(field: "rules", message: "missing"))
        }
        let rationale = optionalText(json, "rationale", problems: &problems)
        let actor = optionalText(json, "actor", problems: &problems)
        var evidence: (from: String?, to: String?, bandWidth: Double)?
        switch json["evidence"] {
        case nil, .null?: break
        case .bool(false)?: break
        case .bool(true)?: evidence = (nil, nil, 10)
        case .object?:
            let range = json["evidence"]!
            var bandWidth = 10.0
            switch range["bandWidth"] {
            case nil: break
            case .number(let width)? where width.isFinite && WhatIfQuery.scoreBandWidths.contains(width): bandWidth = width
            case let other?: problems.append(.init(field: "evidence.bandWidth", message: "expected a score band width from 0.001 to 1000000, found \(other.shortDescription)"))
            }
            evidence = (optionalText(range, "from", problems: &problems), optionalText(range, "to", problems: &problems), bandWidth)
        case let other?: problems.append(.init(field: "evidence", message: "expected an object or a boolean, found \(other.shortDescription)"))
        }
        guard problems.isEmpty, let proposal, let name, let rules, let rulesJSON = json["rules"] else {
            throw APIError(.badRequest, expected, problems: problems)
        }
        return ProposalInput(
            proposal: proposal, name: name, rulesJSON: rulesJSON, rules: rules, rationale: rationale, actor: actor, evidence: evidence)
    }

    /// `{"verdict": "approved"|"declined", "role": ROLE, "note"?, "actor"?}`.
    static func reviewInput(_ bytes: [UInt8]) throws -> (verdict: ReviewVerdict, role: String, note: String?, actor: String?) {
        let expected = #"expected {"verdict":"approved"|"declined","role":ROLE,"note":TEXT?}"#
        let json = try object(bytes, expected: expected)
        var problems: [APIError.Problem] = []
        var verdict: ReviewVerdict?
        switch json["verdict"] {
        case .string(let text)? where ReviewVerdict(rawValue: text) != nil: verdict = ReviewVerdict(rawValue: text)
        case let other?: problems.append(.init(field: "verdict", message: "expected approved or declined, found \(other.shortDescription)"))
        case nil: problems.append(.init(field: "verdict", message: "missing"))
        }
        let role = optionalText(json, "role", problems: &problems)
        if role == nil, json["role"] == nil { problems.append(.init(field: "role", message: "missing")) }
        let note = optionalText(json, "note", problems: &problems)
        let actor = optionalText(json, "actor", problems: &problems)
        guard problems.isEmpty, let verdict, let role else { throw APIError(.badRequest, expected, problems: problems) }
        return (verdict, role, note, actor)
    }

    /// `{"effectiveAt": RFC 3339, "version"?, "name"?, "actor"?}`.
    static func publishInput(_ bytes: [UInt8]) throws -> (effectiveAt: Timestamp, version: Int?, name: String?, actor: String?) {
        let expected = #"expected {"effectiveAt":"2026-07-01T00:00:00Z","version":N?,"name":TEXT?}"#
        let json = try object(bytes, expected: expected)
        var problems: [APIError.Problem] = []
        var effectiveAt: Timestamp?
        switch json["effectiveAt"] {
        case .string(let text)? where Timestamp(rfc3339: text) != nil: effectiveAt = Timestamp(rfc3339: text)
        case let other?: problems.append(.init(field: "effectiveAt", message: "expected an RFC 3339 date-time with offset, found \(other.shortDescription)"))
        case nil: problems.append(.init(field: "effectiveAt", message: "missing"))
        }
        var version: Int?
        switch json["version"] {
        case nil, .null?: break
        case .number(let number)? where number == number.rounded() && number >= 1 && number < 9_007_199_254_740_992: version = Int(number)
        case let other?: problems.append(.init(field: "version", message: "expected an integer version of at least 1, found \(other.shortDescription)"))
        }
        let name = optionalText(json, "name", problems: &problems)
        let actor = optionalText(json, "actor", problems: &problems)
        guard problems.isEmpty, let effectiveAt else { throw APIError(.badRequest, expected, problems: problems) }
        return (effectiveAt, version, name, actor)
    }
}
