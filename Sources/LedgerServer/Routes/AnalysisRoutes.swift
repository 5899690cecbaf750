import Foundation
import Hummingbird
import LeadModel
import Ledger
import NIOCore
import Projections

extension LedgerHTTPServer {
    func addAnalysisRoutes(to router: Router<BasicRequestContext>) {
        router.get("/v1/leads/:lead") { request, context in
            _ = try self.auth.require(.read, request)
            let lead = try context.parameters.require("lead")
            return JSONResponse.make(value: try await self.audit(lead: lead))
        }
        router.get("/v1/trends") { request, _ in
            _ = try self.auth.require(.read, request)
            let query = try Self.trendsQuery(request.uri.queryParameters)
            let ledger = self.ledger
            return JSONResponse.make(value: try await offload { try ledger.trends(query) })
        }
        router.get("/v1/impact") { request, _ in
            _ = try self.auth.require(.read, request)
            let window = try Self.integer(request.uri.queryParameters["window"], name: "window", in: 1...3650) ?? 28
            let ledger = self.ledger
            return JSONResponse.make(value: try await offload { try ledger.impact(windowDays: window) })
        }
        router.post("/v1/what-if") { request, _ in
            _ = try self.auth.require(.read, request)
            let body = try await request.body.collect(upTo: self.configuration.maxBodySize)
            let query = try Self.whatIfQuery(Array(buffer: body))
            let ledger = self.ledger
            return JSONResponse.make(value: try await offload { try ledger.whatIf(query) })
        }
        router.get("/v1/stats") { request, _ in
            _ = try self.auth.require(.read, request)
            return JSONResponse.make(value: try self.ledger.statistics())
        }
    }

    /// The audit of a lead, or 404.
    func audit(lead: String) async throws -> LeadAudit {
        let ledger = self.ledger
        guard let audit = try await offload({ try ledger.audit(lead: lead) }) else {
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
        if let mapped = parameters["mapRetired"] { query.mapRetiredReasons = mapped == "true" || mapped == "1" }
        return query
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

    /// Parses `{"candidates":[{"name":…,"rules":{…}}],"from":"YYYY-MM-DD","to":"YYYY-MM-DD"}`.
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
        let (from, until) = try dayRange(from: json["from"]?.stringValue.map { Substring($0) }, to: json["to"]?.stringValue.map { Substring($0) })
        return WhatIfQuery(candidates: candidates, from: from, until: until)
    }

    static func badParameter(_ name: String, _ expected: String, _ found: Substring) -> APIError {
        APIError(.badRequest, "`\(name)` must be \(expected), not `\(found)`", problems: [.init(field: name, message: "expected \(expected)")])
    }
}
