import Foundation
import Hummingbird
import LeadModel
import Ledger
import NIOCore
import Projections

/// The analyses: a lead's audit, trends, impact, what-if and the ledger's figures.
enum AnalysesController: LedgerController {
    static func register(_ routes: inout RouteRegistrar) {
        routes.add(.get, "/v1/leads/{lead}", statuses: [200, 401, 403, 404, 503], access: .scopes([.read])) { server, _, context in
            let lead = try context.parameters.require("lead")
            return JSONResponse.make(value: try await server.audit(lead: lead, context))
        }
        routes.add(.get, "/v1/trends", statuses: [200, 400, 401, 403, 503], access: .scopes([.read])) { server, request, context in
            let parameters = request.uri.queryParameters
            let query = try LedgerHTTPServer.trendsQuery(parameters)
            let cut = try LedgerHTTPServer.cut(asOfRecorded: parameters["asOfRecorded"], asOfOccurred: parameters["asOfOccurred"])
            let replay = server.replay
            return JSONResponse.make(value: try await server.analysis(context) { try replay.trends(query, cut: cut) })
        }
        routes.add(.get, "/v1/episodes", statuses: [200, 400, 401, 403, 503], access: .scopes([.read])) { server, request, context in
            let parameters = request.uri.queryParameters
            let cut = try LedgerHTTPServer.cut(asOfRecorded: parameters["asOfRecorded"], asOfOccurred: parameters["asOfOccurred"])
            let query = try LedgerHTTPServer.episodesQuery(parameters, at: server.ledger.reportInstant(for: cut))
            return JSONResponse.make(value: try await server.analysis(context) { try server.episodes(query, cut: cut) })
        }
        routes.add(.get, "/v1/impact", statuses: [200, 400, 401, 403, 503], access: .scopes([.read])) { server, request, context in
            let parameters = request.uri.queryParameters
            let window = try LedgerHTTPServer.integer(parameters["window"], name: "window", in: 1...3650) ?? 28
            let cut = try LedgerHTTPServer.cut(asOfRecorded: parameters["asOfRecorded"], asOfOccurred: parameters["asOfOccurred"])
            let mapRetired = try LedgerHTTPServer.flag(parameters["mapRetired"], name: "mapRetired")
            let weeks = try LedgerHTTPServer.integer(parameters["seriesWeeks"], name: "seriesWeeks", in: 1...520) ?? 8
            let stayers = try LedgerHTTPServer.integer(parameters["minimumStayers"], name: "minimumStayers", in: 1...1_000_000) ?? 30
            let replay = server.replay
            return JSONResponse.make(
                value: try await server.analysis(context) {
                    try replay.impact(
                        windowDays: window, cut: cut, mapRetiredReasons: mapRetired, seriesWeeks: weeks, minimumStayers: stayers)
                }
            )
        }
        routes.add(.post, "/v1/what-if", statuses: [200, 400, 401, 403, 413, 503], access: .scopes([.read])) { server, request, context in
            let reservation = try server.bodies.reserve(
                request.headers[.contentLength].flatMap { Int($0) } ?? LedgerHTTPServer.maxWhatIfBody)
            let body = try await server.collectBody(request, limit: LedgerHTTPServer.maxWhatIfBody)
            let query = try LedgerHTTPServer.whatIfQuery(Array(buffer: body))
            withExtendedLifetime(reservation) {}
            let ledger = server.ledger
            return JSONResponse.make(value: try await server.analysis(context) { try ledger.whatIf(query) })
        }
        routes.add(.get, "/v1/stats", statuses: [200, 401, 403], access: .scopes([.read])) { server, _, _ in
            JSONResponse.make(value: try server.ledger.statistics())
        }
    }
}

extension LedgerHTTPServer {
    /// The largest what-if body: a few candidates of the largest rule trees the parser accepts.
    static let maxWhatIfBody = 1 << 20
    /// The most candidates one what-if compares: the library's limit, checked before any rule is parsed.
    static let maxCandidates = WhatIfQuery.maxCandidates

    /// The audit of a lead, or 404.
    func audit(lead: String, _ context: LedgerRequestContext) async throws -> LeadAudit {
        let ledger = self.ledger
        guard let audit = try await analysis(context, { try ledger.audit(lead: lead) }) else {
            throw APIError(
                .notFound, "the ledger has no event for lead `\(lead)`", problems: [.init(field: "lead", message: "unknown lead")])
        }
        return audit
    }

    /// `bucket=day|week|month`, `by=channel|owner|definition|source|campaign`, `from`, `to` (inclusive days).
    static func trendsQuery(_ parameters: Parameters) throws -> TrendsQuery {
        var query = TrendsQuery()
        if let bucket = parameters["bucket"] {
            guard let value = Bucket(rawValue: String(bucket)) else {
                throw badParameter("bucket", "one of \(Bucket.allCases.map(\.rawValue).joined(separator: ", "))", bucket)
            }
            query.bucket = value
        }
        if let by = parameters["by"] {
            guard let value = Dimension(rawValue: String(by)) else {
                throw badParameter("by", "one of \(Dimension.allCases.map(\.rawValue).joined(separator: ", "))", by)
            }
            query.groupBy = value
        }
        query.filter = try episodeFilter(parameters)
        query.mapRetiredReasons = try flag(parameters["mapRetired"], name: "mapRetired")
        return query
    }

    /// The filters every analysis and the dashboard share: `from`, `to` (inclusive hand-off days),
    /// `channel`, `owner` and `definition`; an empty channel or owner is no filter.
    static func episodeFilter(_ parameters: Parameters) throws -> EpisodeFilter {
        var filter = EpisodeFilter()
        (filter.from, filter.until) = try dayRange(from: parameters["from"], to: parameters["to"])
        filter.channel = parameters["channel"].flatMap { $0.isEmpty ? nil : String($0) }
        filter.owner = parameters["owner"].flatMap { $0.isEmpty ? nil : String($0) }
        filter.definition = try integer(parameters["definition"], name: "definition", in: 0...Int(Int32.max))
        return filter
    }

    /// The drill-down: the filters, `cohort` (a day of the cohort, `YYYY-MM-DD`) with `bucket`,
    /// `by` and `group` for a grouped cell, `outcome`, `reason`, `mapRetired`, `stage` (a funnel
    /// bar), `serviceLevel` with `serviceLevelStatus` and `deadlineOwner` (a service-level figure,
    /// judged at `at`, the report's instant), and the page: `after` (the previous page's `next`)
    /// and `limit` (1 to 500, default 100).
    static func episodesQuery(_ parameters: Parameters, at: Int64) throws -> EpisodeListQuery {
        func text(_ name: String) -> Substring? { parameters[Substring(name)] }
        var query = EpisodeListQuery()
        query.filter = try episodeFilter(parameters)
        if let bucket = text("bucket") {
            guard let value = Bucket(rawValue: String(bucket)) else {
                throw badParameter("bucket", "one of \(Bucket.allCases.map(\.rawValue).joined(separator: ", "))", bucket)
            }
            query.bucket = value
        }
        if let cohort = text("cohort") {
            guard let start = Bucket.dayStart(String(cohort)) else { throw badParameter("cohort", "a date YYYY-MM-DD", cohort) }
            query.cohort = start
        }
        if let by = text("by") {
            guard let value = Dimension(rawValue: String(by)) else {
                throw badParameter("by", "one of \(Dimension.allCases.map(\.rawValue).joined(separator: ", "))", by)
            }
            query.groupBy = value
        }
        query.group = text("group").map(String.init)
        if query.group != nil, query.groupBy == nil {
            throw APIError(
                .badRequest, "`group` names a value of the dimension `by`, which is missing",
                problems: [.init(field: "by", message: "expected `by` beside `group`")])
        }
        if let outcome = text("outcome") {
            guard let value = EpisodeOutcome(name: String(outcome)) else {
                throw badParameter("outcome", "one of \(EpisodeOutcome.allCases.map(\.name).joined(separator: ", "))", outcome)
            }
            query.outcome = value
        }
        query.reason = text("reason").map(String.init)
        query.mapRetiredReasons = try flag(parameters["mapRetired"], name: "mapRetired")
        if let stage = text("stage") {
            guard let value = FunnelStage(rawValue: String(stage)) else {
                throw badParameter("stage", "one of \(FunnelStage.allCases.map(\.rawValue).joined(separator: ", "))", stage)
            }
            query.stage = value
        }
        if let limit = text("serviceLevel") {
            guard let value = ServiceLevelLimit(rawValue: String(limit)) else {
                throw badParameter("serviceLevel", "one of \(ServiceLevelLimit.allCases.map(\.rawValue).joined(separator: ", "))", limit)
            }
            var selection = ServiceLevelSelection(limit: value, at: at)
            if let status = text("serviceLevelStatus") {
                guard let value = ServiceLevelStatus(rawValue: String(status)) else {
                    throw badParameter(
                        "serviceLevelStatus", "one of \(ServiceLevelStatus.allCases.map(\.rawValue).joined(separator: ", "))", status)
                }
                selection.status = value
            }
            selection.owner = text("deadlineOwner").flatMap { $0.isEmpty ? nil : String($0) }
            query.serviceLevel = selection
        } else if let name = ["serviceLevelStatus", "deadlineOwner"].first(where: { text($0) != nil }) {
            throw APIError(
                .badRequest, "`\(name)` selects among the episodes judged against `serviceLevel`, which is missing",
                problems: [.init(field: "serviceLevel", message: "expected `serviceLevel` (firstTouch or decision) beside `\(name)`")])
        }
        if let after = text("after") {
            guard let cursor = EpisodeCursor(String(after)) else {
                throw badParameter("after", "the `next` of a previous page", after.prefix(64))
            }
            query.after = cursor
        }
        query.limit = try integer(text("limit"), name: "limit", in: 1...EpisodeListQuery.maxLimit) ?? 100
        return query
    }

    /// A boolean parameter: `true`/`1` or `false`/`0`, false when absent.
    static func flag(_ text: Substring?, name: String) throws -> Bool {
        switch text {
        case nil, "false", "0": return false
        case "true", "1": return true
        case let text?: throw badParameter(name, "true or false", text)
        }
    }

    /// The replay's cut from `asOfRecorded` (knowledge time) or `asOfOccurred` (business time),
    /// each an RFC 3339 time or a day meaning its end; at most one of them.
    static func cut(asOfRecorded: Substring?, asOfOccurred: Substring?) throws -> ReplayCut {
        do throws(QueryInputError) {
            return try QueryInput.cut(asOfRecorded: asOfRecorded.map(String.init), asOfOccurred: asOfOccurred.map(String.init))
        } catch {
            throw badQuery(error)
        }
    }

    /// `from` and `to` (`YYYY-MM-DD`, `to` inclusive) as a half-open range of business time.
    static func dayRange(from: Substring?, to: Substring?) throws -> (Int64?, Int64?) {
        do throws(QueryInputError) {
            return try QueryInput.dayRange(from: from.map(String.init), to: to.map(String.init))
        } catch {
            throw badQuery(error)
        }
    }

    /// The library's complaint about a range or a cut, as the API words it.
    static func badQuery(_ error: QueryInputError) -> APIError {
        switch error {
        case .notADay(let field, let found): badParameter(field, "a date YYYY-MM-DD", Substring(found))
        case .notAnInstant(let field, let found): badParameter(field, ReplayCut.instantForms, Substring(found))
        case .toBeforeFrom:
            APIError(.badRequest, "`to` is before `from`", problems: [.init(field: "to", message: "expected a day on or after `from`")])
        case .bothCuts:
            APIError(
                .badRequest, "give `asOfRecorded` (knowledge time) or `asOfOccurred` (business time), not both",
                problems: [
                    .init(field: "asOfRecorded", message: "cannot be combined with `asOfOccurred`"),
                    .init(field: "asOfOccurred", message: "cannot be combined with `asOfRecorded`"),
                ])
        }
    }

    /// Parses `{"candidates":[{"name":…,"rules":{…}}],"from":"YYYY-MM-DD","to":"YYYY-MM-DD"}`, with at
    /// most one of `"asOfRecorded"` and `"asOfOccurred"` (an RFC 3339 time, or a day meaning its end).
    static func whatIfQuery(_ bytes: [UInt8]) throws -> WhatIfQuery {
        let json: JSONValue
        do { json = try JSONValue.parse(bytes) } catch {
            throw APIError(.badRequest, "malformed JSON: \(error)", problems: [.init(message: error.description)])
        }
        guard case .array(let list)? = json["candidates"], !list.isEmpty else {
            throw APIError(
                .badRequest, "expected {\"candidates\":[{\"name\":…,\"rules\":{…}}]}",
                problems: [.init(field: "candidates", message: "expected a non-empty array of candidates")])
        }
        guard list.count <= maxCandidates else {
            throw APIError(
                .badRequest, "at most \(maxCandidates) candidates at once, not \(list.count)",
                problems: [.init(field: "candidates", message: "expected at most \(maxCandidates) candidates")])
        }
        var candidates: [CandidateDefinition] = []
        var problems: [APIError.Problem] = []
        for (index, item) in list.enumerated() {
            do throws(CandidateInputError) {
                candidates.append(try CandidateDefinition(parsing: item, index: index))
            } catch {
                problems.append(.init(field: "/candidates/\(index)\(error.pointer)", message: error.description))
            }
        }
        if !problems.isEmpty { throw APIError(.badRequest, "invalid candidate rules", problems: problems) }
        let (from, until) = try dayRange(from: stringMember(json, "from"), to: stringMember(json, "to"))
        let cut = try cut(asOfRecorded: stringMember(json, "asOfRecorded"), asOfOccurred: stringMember(json, "asOfOccurred"))
        let query = WhatIfQuery(candidates: candidates, from: from, until: until, cut: cut)
        do { try query.validate() } catch {
            throw APIError(.badRequest, error.description, problems: [.init(field: error.field, message: error.message)])
        }
        return query
    }

    /// The string member `name` of a JSON body; nil when absent or null, refused when of another type.
    static func stringMember(_ json: JSONValue, _ name: String) throws -> Substring? {
        switch json[name] {
        case nil, .null?: return nil
        case .string(let text)?: return Substring(text)
        case let other?:
            throw APIError(
                .badRequest, "`\(name)` must be a string, not \(other.kindDescription)",
                problems: [.init(field: name, message: "expected a string, found \(other.shortDescription)")])
        }
    }

    static func badParameter(_ name: String, _ expected: String, _ found: Substring) -> APIError {
        APIError(
            .badRequest, "`\(name)` must be \(expected), not `\(found)`",
            problems: [.init(field: name, message: "expected \(expected), found `\(found)`")])
    }
}

extension LedgerHTTPServer {
    /// A drill-down page: from the shared replay, or from the feedback loop's when it needs the
    /// episode facts (a funnel stage, a service level).
    func episodes(_ query: EpisodeListQuery, cut: ReplayCut) throws -> EpisodeListReport {
        query.needsFacts ? try feedback.episodes(query, cut: cut) : try replay.episodes(query, cut: cut)
    }
}
