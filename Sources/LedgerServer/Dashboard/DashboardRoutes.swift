import Foundation
import Hummingbird
import LeadModel
import Ledger
import NIOCore
import Projections

/// The dashboard: server-rendered pages that need a `read` key. Signing in with a key opens a
/// session: the browser keeps an opaque, expiring token (HttpOnly, SameSite=Strict, Secure over
/// TLS), never the key, and every form carries the session's CSRF token.
extension LedgerHTTPServer {
    func addDashboardRoutes(to router: Router<LedgerRequestContext>) {
        router.get("/") { request, context in
            guard let page = try self.browserPage(request, context) else { return Self.loginPage() }
            return HTML.response(try await self.dashboard(csrf: page.csrf, context))
        }
        router.get("/leads") { request, context in
            guard let page = try self.browserPage(request, context) else { return Self.loginPage() }
            let lead = request.uri.queryParameters["lead"].map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
            guard !lead.isEmpty else {
                return HTML.response(HTML.page(title: "Lead", csrf: page.csrf, Self.lookupForm()), status: .badRequest)
            }
            do {
                let audit = try await self.audit(lead: lead, context)
                return HTML.response(HTML.page(title: "Lead \(lead)", csrf: page.csrf, Self.auditView(audit) + Self.lookupForm()))
            } catch let error as APIError where error.status == .notFound {
                let content = "<section class=\"error\"><h2>Unknown lead</h2><p>\(HTML.escape(error.message))</p></section>"
                return HTML.response(HTML.page(title: "Lead \(lead)", csrf: page.csrf, content + Self.lookupForm()), status: .notFound)
            }
        }
        router.post("/what-if") { request, context in
            guard let page = try self.browserPage(request, context) else { return Self.loginPage() }
            let reservation = try self.bodies.reserve(request.headers[.contentLength].flatMap { Int($0) } ?? Self.maxWhatIfBody)
            let body = try await self.collectBody(request, limit: Self.maxWhatIfBody)
            let form = Self.formFields(String(buffer: body))
            withExtendedLifetime(reservation) {}
            try Self.checkCSRF(form, page)
            let candidate = form["candidate"] ?? ""
            do {
                let query = try Self.whatIfQuery(Array(Self.candidateDocument(candidate, from: form["from"], to: form["to"]).utf8))
                let ledger = self.ledger
                let report = try await self.analysis(context) { try ledger.whatIf(query) }
                return HTML.response(
                    HTML.page(title: "What-if", csrf: page.csrf, Self.whatIfView(report) + Self.whatIfForm(candidate, csrf: page.csrf)))
            } catch let error as APIError where error.status == .badRequest {
                let problems = error.problems.map { "<li>\(HTML.escape($0.field.map { "\($0): " } ?? ""))\(HTML.escape($0.message))</li>" }.joined()
                let content = "<section class=\"error\"><h2>The candidate was not run</h2><p>\(HTML.escape(error.message))</p><ul>\(problems)</ul></section>"
                return HTML.response(
                    HTML.page(title: "What-if", csrf: page.csrf, content + Self.whatIfForm(candidate, csrf: page.csrf)), status: .badRequest)
            }
        }
        router.post("/login") { request, _ in
            let body = try await self.collectBody(request, limit: 16 << 10)
            let key = Self.formFields(String(buffer: body))["key"]?.trimmingCharacters(in: .whitespaces) ?? ""
            guard let found = try self.keys.authenticate(key) else {
                return Self.loginPage(message: "That key is unknown or revoked.")
            }
            guard found.scope.permits(.read) else {
                return Self.loginPage(message: "Key \(found.id) has scope `\(found.scope.rawValue)`; the dashboard needs `read`.", status: .forbidden)
            }
            let session = self.sessions.open(secret: key)
            return Response(
                status: .seeOther,
                headers: [
                    .location: "/",
                    .setCookie: self.sessionCookie(session.token, maxAge: self.sessions.lifetimeSeconds),
                    .referrerPolicy: "no-referrer",
                    .cacheControl: "no-store",
                ])
        }
        router.post("/logout") { request, context in
            // Sign-out needs the session's CSRF token: another site must not be able to end it either.
            if let page = try self.browserPage(request, context) {
                let body = try await self.collectBody(request, limit: 16 << 10)
                try Self.checkCSRF(Self.formFields(String(buffer: body)), page)
                self.sessions.close(for: request)
            }
            return Response(
                status: .seeOther,
                headers: [.location: "/", .setCookie: self.sessionCookie("", maxAge: 0), .referrerPolicy: "no-referrer"])
        }
    }

    /// A signed-in page: who asked, and the CSRF token its forms must carry (empty for a key sent
    /// in `Authorization`, which another site cannot make a browser send).
    struct BrowserPage {
        var principal: Principal
        var csrf: String
        var fromSession: Bool
    }

    /// The page's principal, nil when the login form should be shown; a key outside its scope is a 403.
    private func browserPage(_ request: Request, _ context: LedgerRequestContext) throws -> BrowserPage? {
        if Authenticator.secret(in: request) == nil, let session = try sessions.session(for: request, keys: keys) {
            guard session.key.scope.permits(.read) else {
                throw APIError(.forbidden, "key \(session.key.id) has scope `\(session.key.scope.rawValue)`; the dashboard needs `read`")
            }
            return BrowserPage(principal: .key(session.key), csrf: session.csrfToken, fromSession: true)
        }
        do {
            return BrowserPage(principal: try auth.require(.read, request: request, context: context), csrf: "", fromSession: false)
        } catch let error as APIError where error.status == .unauthorized {
            return nil
        }
    }

    /// Refuses a form posted with a session but without its CSRF token.
    private static func checkCSRF(_ form: [String: String], _ page: BrowserPage) throws {
        guard page.fromSession else { return }
        guard let sent = form[SessionStore.csrfField], SessionStore.tokensMatch(sent, page.csrf) else {
            throw APIError(
                .forbidden, "the form's CSRF token is missing or stale: reload the page and send the form again",
                problems: [.init(field: SessionStore.csrfField, message: "expected the token of this session's page")])
        }
    }

    /// The session cookie: HttpOnly, SameSite=Strict, and Secure when clients reach us over TLS.
    private func sessionCookie(_ token: String, maxAge: Int64) -> String {
        "\(SessionStore.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)\(configuration.servedOverTLS ? "; Secure" : "")"
    }

    static func loginPage(message: String? = nil, status: HTTPResponse.Status = .unauthorized) -> Response {
        let notice = message.map { "<p class=\"error\">\(HTML.escape($0))</p>" } ?? ""
        let content = """
            <section style="max-width:520px"><h2>Sign in</h2>
            <p class="note">The dashboard needs an API key with the <code>read</code> scope (create one with
            <code>leadledger keys add --scope read</code>). Signing in opens a session for this site; the key itself is not kept by the browser.</p>\(notice)
            <form method="post" action="/login"><label for="key">API key</label>
            <input type="password" id="key" name="key" autocomplete="off"><button>Sign in</button></form></section>
            """
        return HTML.response(HTML.page(title: "Sign in", nav: false, content), status: status, headers: [.wwwAuthenticate: #"Bearer realm="leadledger""#])
    }

    // MARK: The main page

    func dashboard(csrf: String, _ context: LedgerRequestContext) async throws -> String {
        let ledger = self.ledger
        let (trends, impact, stats) = try await analysis(context) {
            (try ledger.trends(TrendsQuery(bucket: .week)), try ledger.impact(windowDays: 28), try ledger.statistics())
        }
        let markers = impact.changes.compactMap { change in
            Timestamp(rfc3339: change.effectiveAt).map { Charts.Marker(micros: $0.microseconds, label: "v\(change.to)") }
        }
        let week: Int64 = 7 * 86_400_000_000
        let total = trends.total
        let summary = """
            <section><div class="stats">
            <div class="stat"><b>\(HTML.count(stats.head.position))</b><span>events</span></div>
            <div class="stat"><b>\(HTML.count(stats.streams))</b><span>leads seen</span></div>
            <div class="stat"><b>\(HTML.count(total.handedOff))</b><span>hand-offs</span></div>
            <div class="stat"><b>\(HTML.percent(total.acceptanceRate))</b><span>accepted (\(HTML.count(total.accepted)))</span></div>
            <div class="stat"><b>\(HTML.percent(total.rejectionRate))</b><span>rejected (\(HTML.count(total.rejected)))</span></div>
            <div class="stat"><b>\(HTML.count(total.pending))</b><span>pending</span></div>
            </div><p class="note" style="margin-top:8px">Head hash <code>\(HTML.escape(String(stats.head.hash.prefix(16))))…</code> ·
            map \(HTML.percent(stats.mapSize > 0 ? Double(stats.usedBytes) / Double(stats.mapSize) : nil, digits: 3)) used</p></section>
            """
        return HTML.page(
            title: "Dashboard", csrf: csrf,
            summary
                + "<section><h2>Acceptance and rejection rate, weekly</h2><p class=\"note\">By hand-off cohort (ISO week).</p>"
                + Charts.rates(trends.rows, bucketMicros: week, markers: markers) + "</section>"
                + "<section><h2>Rejections by reason</h2><p class=\"note\">Per weekly cohort, after corrections.</p>"
                + Charts.reasons(trends.rows, bucketMicros: week, markers: markers) + "</section>"
                + Self.impactTable(impact)
                + "<div class=\"grid\">" + Self.whatIfForm(nil, csrf: csrf) + Self.lookupForm() + "</div>")
    }

    static func impactTable(_ report: ImpactReport) -> String {
        var rows = ""
        for change in report.changes {
            let difference = change.difference
            let direction = (difference?.difference ?? 0) > 0 ? "up" : "down"
            let rising = change.reasonsRising.map { "\($0.code) +\(HTML.number($0.change * 100)) pp" }.joined(separator: ", ")
            let falling = change.reasonsFalling.map { "\($0.code) \(HTML.number($0.change * 100)) pp" }.joined(separator: ", ")
            rows += """
                <tr><td>v\(change.from) → v\(change.to)<br><small>\(HTML.escape(change.name))</small></td>
                <td class="date">\(HTML.escape(String(change.effectiveAt.prefix(10))))</td>
                <td class="num">\(HTML.percent(change.before.rejectionRate)) <small>(\(change.before.rejected)/\(change.before.decided))</small></td>
                <td class="num">\(HTML.percent(change.after.rejectionRate)) <small>(\(change.after.rejected)/\(change.after.decided))</small></td>
                <td class="num \(direction)">\(difference.map { "\(HTML.number($0.difference * 100)) pp" } ?? "–")<br><small>\(difference.map { "[\(HTML.number($0.interval.low * 100)), \(HTML.number($0.interval.high * 100))]" } ?? "")</small></td>
                <td class="num">\(difference.map { String(format: "%.3g", $0.pValue) } ?? "–")</td>
                <td><small class="up">\(HTML.escape(rising))</small><br><small class="down">\(HTML.escape(falling))</small></td>
                <td><small>\(HTML.escape(change.changes.joined(separator: "; ")))</small></td></tr>
                """
        }
        if rows.isEmpty { rows = "<tr><td colspan=\"8\">No definition change yet: publish a second MQL definition to see its impact.</td></tr>" }
        return """
            <section><h2>Impact of each definition change</h2>
            <p class="note">Rejection rate of episodes under the old definition in the \(report.windowDays) days before each change and under the new one in the \(report.windowDays) days after; difference with its 95 % interval and two-proportion p-value.</p>
            <table><thead><tr><th>Change</th><th>Effective</th><th class="num">Before</th><th class="num">After</th><th class="num">Difference</th><th class="num">p</th><th>Reasons rising / falling</th><th>Rules changed</th></tr></thead>
            <tbody>\(rows)</tbody></table></section>
            """
    }

    // MARK: What-if

    static let exampleCandidate = """
        {"name": "score 70+, no free mail",
         "rules": {"all": [{"field": "score", "gte": 70},
                           {"not": {"field": "email_domain", "in": ["gmail.com", "yahoo.com"]}}]}}
        """

    static func whatIfForm(_ candidate: String?, csrf: String) -> String {
        """
        <section><h2>What if the definition were…</h2>
        <p class="note">A candidate <code>{"name":…,"rules":{…}}</code> (or a bare rules object), evaluated over the whole log. Outcomes of leads it would add are unobserved.</p>
        <form method="post" action="/what-if">\(HTML.csrfInput(csrf))<label for="candidate">Candidate</label>
        <textarea id="candidate" name="candidate">\(HTML.escape(candidate ?? exampleCandidate))</textarea>
        <div class="row"><div><label for="from">From (hand-off day)</label><input type="date" id="from" name="from"></div>
        <div><label for="to">To (inclusive)</label><input type="date" id="to" name="to"></div></div>
        <button>Run what-if</button></form></section>
        """
    }

    /// The form's candidate as the API's `{"candidates":[…],"from":…,"to":…}` document.
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
            candidate = .object([JSONMember("candidates", .array([.object([JSONMember("name", "candidate"), JSONMember("rules", json)])]))])
        }
        guard case .object(var members) = candidate else { throw APIError(.badRequest, "expected a JSON object") }
        if let from, !from.isEmpty { members.append(JSONMember("from", .string(from))) }
        if let to, !to.isEmpty { members.append(JSONMember("to", .string(to))) }
        return JSONValue.object(members).jsonText
    }

    static func whatIfView(_ report: WhatIfReport) -> String {
        var out = "<section><h2>What-if result</h2><p class=\"note\">Range: \(HTML.escape(report.from ?? "start")) – \(HTML.escape(report.to ?? "now")). Observed figures come from real outcomes; the estimate is labelled as one.</p>"
        for candidate in report.candidates {
            func segment(_ name: String, _ s: ObservedSegment) -> String {
                "<tr><td>\(name)</td><td class=\"num\">\(s.leads)</td><td class=\"num\">\(s.episodes)</td><td class=\"num\">\(s.accepted)</td><td class=\"num\">\(s.rejected)</td><td class=\"num\">\(s.won)</td><td class=\"num\">\(HTML.percent(s.rejectionRate))</td></tr>"
            }
            out += """
                <h3>\(HTML.escape(candidate.name))</h3>
                <p class="note">\(HTML.escape(candidate.changes.joined(separator: "; ")))</p>
                <table><thead><tr><th>Segment</th><th class="num">Leads</th><th class="num">Episodes</th><th class="num">Accepted</th><th class="num">Rejected</th><th class="num">Won</th><th class="num">Rejection rate</th></tr></thead><tbody>
                \(segment("both (handed off and qualifying)", candidate.both))
                \(segment("dropped (handed off, not qualifying)", candidate.dropped))
                <tr><td>added (qualifying, never handed off)</td><td class="num">\(candidate.added.leads)</td><td colspan="5">outcome \(HTML.escape(candidate.added.outcome))</td></tr>
                </tbody></table>
                <div class="stats" style="margin-top:10px">
                <div class="stat"><b>\(HTML.percent(candidate.observedRejectionRate))</b><span>observed rejection rate\(candidate.observedRejectionRateInterval.map { " [\(HTML.percent($0.low)), \(HTML.percent($0.high))]" } ?? "")</span></div>
                <div class="stat"><b>\(HTML.percent(candidate.bounds.low)) – \(HTML.percent(candidate.bounds.high))</b><span>bounds with added leads</span></div>
                <div class="stat"><b>\(HTML.percent(candidate.estimate.rejectionRate))</b><span>estimate (\(HTML.escape(candidate.estimate.method)))</span></div>
                <div class="stat"><b>\(candidate.rejectionsAvoided)</b><span>rejections avoided</span></div>
                <div class="stat"><b>\(candidate.acceptancesLost)</b><span>acceptances lost</span></div>
                <div class="stat"><b>\(candidate.winsLost)</b><span>wins lost</span></div></div>
                """
        }
        return out + "</section>"
    }

    // MARK: Lead lookup

    static func lookupForm() -> String {
        """
            <section><h2>Why was this lead rejected?</h2><p class="note">Every event of a lead, each episode with the definition in force and the rules' verdicts at hand-off.</p>
            <form method="get" action="/leads"><label for="lead">Lead id</label><input type="text" id="lead" name="lead" placeholder="00Q5e00000AbCdE"><button>Look up</button></form></section>
            """
    }

    static func auditView(_ audit: LeadAudit) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func json(_ value: some Encodable) -> String { (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        var episodes = ""
        for episode in audit.episodes {
            let verdicts = episode.verdicts.map {
                "<li class=\"\($0.passed ? "pass" : "fail")\">\($0.passed ? "✓" : "✗") <code>\(HTML.escape($0.rule))</code> saw \(HTML.escape($0.seen))</li>"
            }.joined()
            let reason = episode.reason.map { "\($0.code)\($0.label.map { " — \($0)" } ?? "")\($0.category.map { " (\($0))" } ?? "")" } ?? ""
            let corrections = episode.corrections.map { "<li>corrected to \(HTML.escape($0.reason.code)) at \(HTML.escape($0.occurredAt))\($0.note.map { ": \(HTML.escape($0))" } ?? "")</li>" }.joined()
            episodes += """
                <tr><td class="num">\(episode.number)</td><td>\(HTML.escape(episode.handedOffAt))<br><small>to \(HTML.escape(episode.owner))</small></td>
                <td>\(episode.definition.map { "v\($0)" } ?? "–") \(HTML.escape(episode.definitionName ?? ""))<br><small>\(episode.qualified.map { $0 ? "qualified" : "did not qualify" } ?? "")</small><ul>\(verdicts)</ul></td>
                <td><b>\(HTML.escape(episode.outcome))</b>\(episode.decidedAt.map { "<br><small>\(HTML.escape($0))</small>" } ?? "")\(episode.decidedBy.map { "<br><small>by \(HTML.escape($0))</small>" } ?? "")</td>
                <td>\(HTML.escape(reason))\(episode.note.map { "<br><small>\(HTML.escape($0))</small>" } ?? "")<ul>\(corrections)</ul></td></tr>
                """
        }
        var events = ""
        for event in audit.events {
            events += """
                <tr><td class="num">\(event.position)</td><td>\(HTML.escape(event.occurredAt))\(event.late ? " <small>(late)</small>" : "")</td><td><small>\(HTML.escape(event.recordedAt))</small></td>
                <td>\(HTML.escape(event.type))</td><td>\(HTML.escape(event.source))\(event.actor.map { "<br><small>\(HTML.escape($0))</small>" } ?? "")</td><td><pre>\(HTML.escape(json(event.data)))</pre></td></tr>
                """
        }
        return """
            <section><h2>Lead \(HTML.escape(audit.lead))</h2><p class="note">\(audit.events.count) events, \(audit.episodes.count) episodes; as of position \(audit.head.position).</p>
            <h3>Episodes</h3><table><thead><tr><th class="num">#</th><th>Handed off</th><th>Definition and verdicts</th><th>Outcome</th><th>Reason</th></tr></thead><tbody>\(episodes)</tbody></table>
            <h3>Events, in business-time order</h3><table><thead><tr><th class="num">Pos</th><th>Occurred</th><th>Recorded</th><th>Type</th><th>Source</th><th>Data</th></tr></thead><tbody>\(events)</tbody></table></section>
            """
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
