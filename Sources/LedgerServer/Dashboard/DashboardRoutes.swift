import Foundation
import Hummingbird
import LeadModel
import Ledger
import NIOCore
import Projections

/// The dashboard: server-rendered pages that need a `read` key. Signing in with a key opens a
/// session: the browser keeps an opaque, expiring token (HttpOnly, SameSite=Strict, Secure over
/// TLS), never the key, and every form carries the session's CSRF token.
enum DashboardController: LedgerController {
    static func register(_ routes: inout RouteRegistrar) {
        routes.add(.get, "/", statuses: [200, 400, 401, 403, 503], access: .page) { server, request, context in
            guard let page = try await server.browserPage(request, context) else { return LedgerHTTPServer.loginPage() }
            let filters: DashboardFilters
            do { filters = try DashboardFilters(DashboardFilters.pageParameters(request)) } catch let error as APIError {
                return LedgerHTTPServer.badFilterPage(error, csrf: page.csrf)
            }
            return HTML.response(try await server.dashboard(csrf: page.csrf, filters: filters, context))
        }
        routes.add(.get, "/episodes", statuses: [200, 400, 401, 403, 503], access: .page) { server, request, context in
            guard let page = try await server.browserPage(request, context) else { return LedgerHTTPServer.loginPage() }
            let parameters = DashboardFilters.pageParameters(request)
            let filters: DashboardFilters
            let query: EpisodeListQuery
            let cut: ReplayCut
            do {
                filters = try DashboardFilters(parameters)
                cut = try LedgerHTTPServer.cut(asOfRecorded: parameters["asOfRecorded"], asOfOccurred: parameters["asOfOccurred"])
                query = try LedgerHTTPServer.episodesQuery(parameters, at: server.ledger.reportInstant(for: cut))
            } catch let error as APIError {
                return LedgerHTTPServer.badFilterPage(error, csrf: page.csrf)
            }
            let report = try await server.analysis(context) { try server.episodes(query, cut: cut) }
            return HTML.response(
                HTML.page(
                    title: "Episodes", csrf: page.csrf,
                    Templates.render("episodes", EpisodesPageView(report, query: query, filters: filters, parameters: parameters))))
        }
        routes.add(.get, "/leads", statuses: [200, 400, 401, 403, 404, 503], access: .page) { server, request, context in
            guard let page = try await server.browserPage(request, context) else { return LedgerHTTPServer.loginPage() }
            let lead = request.uri.queryParameters["lead"].map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
            guard !lead.isEmpty else {
                return HTML.response(HTML.page(title: "Lead", csrf: page.csrf, Templates.render("lookupForm", ())), status: .badRequest)
            }
            do {
                let audit = try await server.audit(lead: lead, context)
                return HTML.response(
                    HTML.page(
                        title: "Lead \(lead)", csrf: page.csrf,
                        Templates.render("audit", AuditView(audit)) + Templates.render("lookupForm", ())))
            } catch let error as APIError where error.status == .notFound {
                let content = Templates.render("error", ErrorView(heading: "Unknown lead", error: error, listsProblems: false))
                return HTML.response(
                    HTML.page(title: "Lead \(lead)", csrf: page.csrf, content + Templates.render("lookupForm", ())), status: .notFound)
            }
        }
        routes.add(.post, "/what-if", statuses: [200, 400, 401, 403, 413, 503], access: .page) { server, request, context in
            guard let page = try await server.browserPage(request, context) else { return LedgerHTTPServer.loginPage() }
            let reservation = try server.bodies.reserve(
                request.headers[.contentLength].flatMap { Int($0) } ?? LedgerHTTPServer.maxWhatIfBody)
            let body = try await server.collectBody(request, limit: LedgerHTTPServer.maxWhatIfBody)
            let form = LedgerHTTPServer.formFields(String(buffer: body))
            withExtendedLifetime(reservation) {}
            try LedgerHTTPServer.checkCSRF(form, page)
            let candidate = form["candidate"] ?? ""
            let formView = WhatIfFormView(candidate: candidate, csrf: CSRFField(page.csrf))
            do {
                let query = try LedgerHTTPServer.whatIfQuery(
                    Array(LedgerHTTPServer.candidateDocument(candidate, from: form["from"], to: form["to"]).utf8))
                let ledger = server.ledger
                let report = try await server.analysis(context) { try ledger.whatIf(query) }
                return HTML.response(
                    HTML.page(
                        title: "What-if", csrf: page.csrf,
                        Templates.render("whatIfResult", WhatIfResultView(report)) + Templates.render("whatIfForm", formView)))
            } catch let error as APIError where error.status == .badRequest {
                let content = Templates.render("error", ErrorView(heading: "The candidate was not run", error: error, listsProblems: true))
                return HTML.response(
                    HTML.page(title: "What-if", csrf: page.csrf, content + Templates.render("whatIfForm", formView)), status: .badRequest)
            }
        }
        routes.add(.post, "/login", statuses: [303, 401, 403, 413], access: .page) { server, request, _ in
            let body = try await server.collectBody(request, limit: 16 << 10)
            let key = LedgerHTTPServer.formFields(String(buffer: body))["key"]?.trimmingCharacters(in: .whitespaces) ?? ""
            guard let found = try await server.keys.authenticate(key) else {
                return LedgerHTTPServer.loginPage(message: "That key is unknown or revoked.")
            }
            guard found.scope.permits(.read) else {
                return LedgerHTTPServer.loginPage(
                    message: "Key \(found.id) has scope `\(found.scope.rawValue)`; the dashboard needs `read`.", status: .forbidden)
            }
            let session = server.sessions.open(secret: key)
            return Response(
                status: .seeOther,
                headers: [
                    .location: "/",
                    .setCookie: server.sessionCookie(session.token, maxAge: server.sessions.lifetimeSeconds),
                    .referrerPolicy: "no-referrer",
                    .cacheControl: "no-store",
                ])
        }
        routes.add(.post, "/logout", statuses: [303, 403, 413], access: .page) { server, request, context in
            // Sign-out needs the session's CSRF token: another site must not be able to end it either.
            if let page = try await server.browserPage(request, context) {
                let body = try await server.collectBody(request, limit: 16 << 10)
                try LedgerHTTPServer.checkCSRF(LedgerHTTPServer.formFields(String(buffer: body)), page)
                server.sessions.close(for: request)
            }
            return Response(
                status: .seeOther,
                headers: [.location: "/", .setCookie: server.sessionCookie("", maxAge: 0), .referrerPolicy: "no-referrer"])
        }
    }
}

extension LedgerHTTPServer {
    /// A signed-in page: who asked, and the CSRF token its forms must carry (empty for a key sent
    /// in `Authorization`, which another site cannot make a browser send).
    struct BrowserPage {
        var principal: Principal
        var csrf: String
        var fromSession: Bool
    }

    /// The page's principal, nil when the login form should be shown; a key outside its scope is a 403.
    func browserPage(_ request: Request, _ context: LedgerRequestContext) async throws -> BrowserPage? {
        if Authenticator.secret(in: request) == nil, let session = try await sessions.session(for: request, keys: keys) {
            guard session.key.scope.permits(.read) else {
                throw APIError(.forbidden, "key \(session.key.id) has scope `\(session.key.scope.rawValue)`; the dashboard needs `read`")
            }
            return BrowserPage(principal: .key(session.key), csrf: session.csrfToken, fromSession: true)
        }
        do {
            return BrowserPage(principal: try auth.authorize([.read], context), csrf: "", fromSession: false)
        } catch let error as APIError where error.status == .unauthorized {
            return nil
        }
    }

    /// Refuses a form posted with a session but without its CSRF token.
    static func checkCSRF(_ form: [String: String], _ page: BrowserPage) throws {
        guard page.fromSession else { return }
        guard let sent = form[SessionStore.csrfField], SessionStore.tokensMatch(sent, page.csrf) else {
            throw APIError(
                .forbidden, "the form's CSRF token is missing or stale: reload the page and send the form again",
                problems: [.init(field: SessionStore.csrfField, message: "expected the token of this session's page")])
        }
    }

    /// The session cookie: HttpOnly, SameSite=Strict, and Secure when clients reach us over TLS.
    func sessionCookie(_ token: String, maxAge: Int64) -> String {
        "\(SessionStore.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)\(configuration.servedOverTLS ? "; Secure" : "")"
    }

    static func loginPage(message: String? = nil, status: HTTPResponse.Status = .unauthorized) -> Response {
        HTML.response(
            HTML.page(title: "Sign in", nav: false, Templates.render("login", LoginView(message: message))), status: status,
            headers: [.wwwAuthenticate: #"Bearer realm="leadledger""#])
    }

    // MARK: The main page

    func dashboard(csrf: String, filters: DashboardFilters, _ context: LedgerRequestContext) async throws -> String {
        let ledger = self.ledger
        let replay = self.replay
        let feedback = self.feedback
        var trendsQuery = TrendsQuery(bucket: .week)
        trendsQuery.filter = filters.filter
        let query = trendsQuery
        // Impact compares definitions over windows of its own: only the channel and the owner narrow it.
        let impactFilter = EpisodeFilter(channel: filters.filter.channel, owner: filters.filter.owner)
        // The funnel, service levels and profile under the same filters, from one replay of their own.
        var cohort = CohortQuery(bucket: .week, at: ledger.reportInstant(for: .everything))
        cohort.filter = filters.filter
        var profileQuery = ProfileQuery()
        profileQuery.filter = filters.filter
        let loopRequest = FeedbackLoopRequest(funnel: cohort, serviceLevels: cohort, maximumBreaches: 0, profile: profileQuery)
        let (trends, impact, stats, leads, state, loop) = try await analysis(context) {
            (
                try replay.trends(query), try replay.impact(windowDays: 28, filter: impactFilter), try ledger.statistics(),
                try ledger.leadCount(), try replay.state(), try feedback.reports(loopRequest)
            )
        }
        // The latest receipt, signed now; a ledger without a signing key shows none.
        let receipt = try? ledger.receipt()
        let markers = impact.changes.compactMap { change in
            Timestamp(rfc3339: change.effectiveAt).map { Charts.Marker(micros: $0.microseconds, label: "v\(change.to)") }
        }
        let week: Int64 = 7 * 86_400_000_000
        let total = trends.total
        let view = DashboardView(
            events: HTML.count(stats.head.position), leads: HTML.count(leads), handedOff: HTML.count(total.handedOff),
            acceptanceRate: HTML.percent(total.acceptanceRate), accepted: HTML.count(total.accepted),
            rejectionRate: HTML.percent(total.rejectionRate), rejected: HTML.count(total.rejected), pending: HTML.count(total.pending),
            headHash: String(stats.head.hash.prefix(16)),
            receipt: receipt.map {
                "position \(HTML.count($0.position)), Merkle root \($0.treeRoot.prefix(16))…, signed \($0.time) by key \($0.publicKey.prefix(16))…"
            } ?? "none: the ledger has no signing key",
            mapUsed: HTML.percent(stats.mapSize > 0 ? Double(stats.usedBytes) / Double(stats.mapSize) : nil, digits: 3),
            ratesChart: Charts.rates(
                trends.rows, bucketMicros: week, markers: markers,
                link: { row in filters.href("/episodes", [("cohort", row.start ?? "")]) }),
            reasonsChart: Charts.reasons(
                trends.rows, bucketMicros: week, markers: markers,
                link: { row, code in
                    filters.href("/episodes", [("cohort", row.start ?? ""), ("outcome", "rejected"), ("reason", code ?? "")])
                }),
            impact: ImpactView(impact), candidate: Self.exampleCandidate, csrf: CSRFField(csrf),
            filters: FilterFormView(filters, state: state),
            funnelChart: loop.funnel.map { funnel in
                FeedbackCharts.funnel(funnel.total) { selection in filters.href("/episodes", selection) }
            } ?? "",
            complianceChart: loop.serviceLevels.map { report in
                FeedbackCharts.complianceByWeek(report, bucketMicros: week) { start in filters.href("/episodes", [("cohort", start)]) }
            } ?? "",
            ownersChart: loop.serviceLevels.map { report in
                FeedbackCharts.complianceByOwner(report) { owner in
                    filters.href("/episodes", [("serviceLevel", ServiceLevelLimit.firstTouch.rawValue), ("deadlineOwner", owner)])
                }
            } ?? "",
            profile: loop.profile.map { ProfileView($0) })
        return HTML.page(title: "Dashboard", csrf: csrf, Templates.render("dashboard", view))
    }

    /// A page refusing a filter or drill-down parameter, with the way back to an unfiltered view.
    static func badFilterPage(_ error: APIError, csrf: String) -> Response {
        let content = Templates.render("error", ErrorView(heading: "These filters cannot be applied", error: error, listsProblems: true))
        return HTML.response(
            HTML.page(title: "Dashboard", csrf: csrf, content + #"<p><a href="/">Show the dashboard without filters</a></p>"#),
            status: .badRequest)
    }

    // MARK: What-if

    static let exampleCandidate = """
        {"name": "score 70+, no free mail",
         "rules": {"all": [{"field": "score", "gte": 70},
                           {"not": {"field": "email_domain", "in": ["gmail.com", "yahoo.com"]}}]}}
        """

    /// The form's candidate as the API's `{"candidates":[…],"from":…,"to":…}` document; a bare
    /// rules object becomes an unnamed candidate, named as the API names one.
    static func candidateDocument(_ text: String, from: String?, to: String?) throws -> String {
        let json: JSONValue
        do { json = try JSONValue.parse(text) } catch {
            throw APIError(.badRequest, "the candidate is not valid JSON: \(error)")
        }
        let candidate: JSONValue
        if json["candidates"] != nil {
            candidate = json
        } else if json["rules"] != nil {
            candidate = .object([JSONMember("candidates", .array([json]))])
        } else {
            candidate = .object([JSONMember("candidates", .array([.object([JSONMember("rules", json)])]))])
        }
        guard case .object(var members) = candidate else { throw APIError(.badRequest, "expected a JSON object") }
        if let from, !from.isEmpty { members.append(JSONMember("from", .string(from))) }
        if let to, !to.isEmpty { members.append(JSONMember("to", .string(to))) }
        return JSONValue.object(members).jsonText
    }

    /// Decodes an `application/x-www-form-urlencoded` body.
    static func formFields(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            fields[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}
