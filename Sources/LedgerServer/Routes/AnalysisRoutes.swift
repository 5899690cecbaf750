import Foundation
import Hummingbird
import LeadModel
import Ledger
import NIOCore
import Projections

extension LedgerHTTPServer {
    func addAnalysisRoutes(to router: Router<LedgerRequestContext>) {
        router.get("/v1/leads/:lead") { request, context in
            _ = try self.auth.require(.read, request: request, context: context)
            let lead = try context.parameters.require("lead")
            return JSONResponse.make(value: try await self.audit(lead: lead, context))
        }
        router.get("/v1/trends") { request, context in
            _ = try self.auth.require(.read, request: request, context: context)
            let parameters = request.uri.queryParameters
            let query = try Self.trendsQuery(parameters)
            let cut = try Self.cut(asOfRecorded: parameters["asOfRecorded"], asOfOccurred: parameters["asOfOccurred"])
            let ledger = self.ledger
            return JSONResponse.make(value: try await self.analysis(context) { try ledger.trends(query, cut: cut) })
        }
        router.get("/v1/impact") { request, context in
            _ = try self.auth.require(.read, request: request, context: context)
            let parameters = request.uri.queryParameters
            let window = try Self.integer(parameters["window"], name: "window", in: 1...3650) ?? 28
            let cut = try Self.cut(asOfRecorded: parameters["asOfRecorded"], asOfOccurred: parameters["asOfOccurred"])
            let mapRetired = try Self.flag(parameters["mapRetired"], name: "mapRetired")
            let ledger = self.ledger
            return JSONResponse.make(
                value: try await self.analysis(context) { try ledger.impact(windowDays: window, cut: cut, mapRetiredReasons: mapRetired) })
        }
        router.post("/v1/what-if") { request, context in
            _ = try self.auth.require(.read, request: request, context: context)
            let reservation = try self.bodies.reserve(request.headers[.contentLength].flatMap { Int($0) } ?? Self.maxWhatIfBody)
            let body = try await self.collectBody(request, limit: Self.maxWhatIfBody)
            let query = try Self.whatIfQuery(Array(buffer: body))
            withExtendedLifetime(reservation) {}
            let ledger = self.ledger
            return JSONResponse.make(value: try await self.analysis(context) { try ledger.whatIf(query) })
        }
        router.get("/v1/stats") { request, context in
            _ = try self.auth.require(.read, request: request, context: context)
            return JSONResponse.make(value: try self.ledger.statistics())
        }
    }

    /// The largest what-if body: a few candidates of the largest rule trees the parser accepts.
    static let maxWhatIfBody = 1 << 20
    /// The most candidates one what-if compares: the library's limit, checked before any rule is parsed.
    static let maxCandidates = WhatIfQuery.maxCandidates

    /// The audit of a lead, or 404.
    func audit(lead: String, _ context: LedgerRequestContext) async throws -> LeadAudit {
        let ledger = self.ledger
        guard let audit = try await analysis(context, { try ledger.audit(lead: lead) }) else {
            throw APIError(.notFound, "the ledger has no event for lead `\(lead)`", problems: [.init(field: "lead", message: "unknown lead")])
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
        (query.from, query.until) = try dayRange(from: parameters["from"], to: parameters["to"])
        query.mapRetiredReasons = try flag(parameters["mapRetired"], name: "mapRetired")
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
        func instant(_ text: Substring, _ name: String) throws -> Int64 {
            guard let instant = ReplayCut.instant(parsing: String(text)) else { throw badParameter(name, ReplayCut.instantForms, text) }
            return instant
        }
        switch (asOfRecorded, asOfOccurred) {
        case (nil, nil): return .everything
        case (let recorded?, nil): return .recordedBy(try instant(recorded, "asOfRecorded"))
        case (nil, let occurred?): return .occurredBy(try instant(occurred, "asOfOccurred"))
        case (_?, _?):
            throw APIError(
                .badRequest, "give `asOfRecorded` (knowledge time) or `asOfOccurred` (business time), not both",
                problems: [
                    .init(field: "asOfRecorded", message: "cannot be combined with `asOfOccurred`"),
                    .init(field: "asOfOccurred", message: "cannot be combined with `asOfRecorded`"),
                ])
        }
    }

    /// `from` and `to` (`YYYY-MM-DD`, `to` inclusive) as a half-open range of business time.
    static func dayRange(from: Substring?, to: Substring?) throws -> (Int64?, Int64?) {
        func day(_ text: Substring?, _ name: String) throws -> Int64? {
            guard let text else { return nil }
            guard let start = Bucket.dayStart(String(text)) else { throw badParameter(name, "a date YYYY-MM-DD", text) }
            return start
        }
        let start = try day(from, "from")
        let end = try day(to, "to").map { $0 + 86_400_000_000 }
        if let start, let end, end <= start {
            throw APIError(.badRequest, "`to` is before `from`", problems: [.init(field: "to", message: "expected a day on or after `from`")])
        }
        return (start, end)
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
            let name = item["name"]?.stringValue ?? "candidate \(index + 1)"
            guard let rules = item["rules"] else {
                problems.append(.init(field: "/candidates/\(index)/rules", message: "candidate `\(name)` has no rules"))
                continue
            }
            do {
                candidates.append(CandidateDefinition(name: name, rules: try RuleParser().parse(rules)))
            } catch {
                problems.append(.init(field: "/candidates/\(index)/rules\(error.pointer)", message: "candidate `\(name)`: \(error.description)"))
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
