import Foundation
import Hummingbird
import Ledger
import Projections

/// The feedback loop from hand-off to revenue: the funnel, service levels and the buyer profile,
/// each the JSON `leadledger funnel|sla|profile --format json` prints, under the same filters as trends.
enum FeedbackLoopController: LedgerController {
    static func register(_ routes: inout RouteRegistrar) {
        routes.add(.get, "/v1/funnel", statuses: [200, 400, 401, 403, 503], access: .scopes([.read])) { server, request, context in
            let parameters = request.uri.queryParameters
            let cut = try LedgerHTTPServer.cut(asOfRecorded: parameters["asOfRecorded"], asOfOccurred: parameters["asOfOccurred"])
            let query = try LedgerHTTPServer.cohortQuery(parameters, at: server.ledger.reportInstant(for: cut))
            let feedback = server.feedback
            return JSONResponse.make(
                value: try await server.analysis(context) { try feedback.reports(FeedbackLoopRequest(funnel: query), cut: cut).funnel })
        }
        routes.add(.get, "/v1/sla", statuses: [200, 400, 401, 403, 503], access: .scopes([.read])) { server, request, context in
            let parameters = request.uri.queryParameters
            let cut = try LedgerHTTPServer.cut(asOfRecorded: parameters["asOfRecorded"], asOfOccurred: parameters["asOfOccurred"])
            let query = try LedgerHTTPServer.cohortQuery(parameters, at: server.ledger.reportInstant(for: cut))
            // As many as `leadledger sla` lists unless asked.
            let breaches = try LedgerHTTPServer.integer(parameters["breaches"], name: "breaches", in: 0...10_000) ?? 20
            let feedback = server.feedback
            return JSONResponse.make(
                value: try await server.analysis(context) {
                    try feedback.reports(FeedbackLoopRequest(serviceLevels: query, maximumBreaches: breaches), cut: cut).serviceLevels
                })
        }
        routes.add(.get, "/v1/profile", statuses: [200, 400, 401, 403, 503], access: .scopes([.read])) { server, request, context in
            let parameters = request.uri.queryParameters
            let cut = try LedgerHTTPServer.cut(asOfRecorded: parameters["asOfRecorded"], asOfOccurred: parameters["asOfOccurred"])
            let query = try LedgerHTTPServer.profileQuery(parameters)
            let feedback = server.feedback
            return JSONResponse.make(
                value: try await server.analysis(context) { try feedback.reports(FeedbackLoopRequest(profile: query), cut: cut).profile })
        }
    }
}

extension LedgerHTTPServer {
    /// `bucket`, `by` and the filters of trends, judged at `at`.
    static func cohortQuery(_ parameters: Parameters, at: Int64) throws -> CohortQuery {
        let trends = try trendsQuery(parameters)
        var query = CohortQuery(bucket: trends.bucket, groupBy: trends.groupBy, at: at)
        query.filter = trends.filter
        return query
    }

    /// The filters, `minimum` decided episodes per value (1 to 1,000,000, default 30), `bandWidth` (score points, 0.001 to
    /// 1,000,000, default 10) and `byDefinition`.
    static func profileQuery(_ parameters: Parameters) throws -> ProfileQuery {
        var query = ProfileQuery()
        query.filter = try episodeFilter(parameters)
        query.minimumDecided = try integer(parameters["minimum"], name: "minimum", in: 1...1_000_000) ?? query.minimumDecided
        if let text = parameters["bandWidth"] {
            guard let width = Double(text), width.isFinite, (0.001...1_000_000).contains(width) else {
                throw badParameter("bandWidth", "a number from 0.001 to 1000000", text.prefix(64))
            }
            query.scoreBandWidth = width
        }
        query.byDefinition = try flag(parameters["byDefinition"], name: "byDefinition")
        return query
    }
}
