import Foundation
import Hummingbird
import LeadModel
import Ledger
import Projections

/// The dashboard's proposals page: each proposal's evidence, reviews and diff against the
/// definition in force.
enum ProposalPages {
    static func register(_ routes: inout RouteRegistrar) {
        routes.add(.get, "/proposals", statuses: [200, 400, 401, 403, 503], access: .page) { server, request, context in
            guard let page = try await server.browserPage(request, context) else { return LedgerHTTPServer.loginPage() }
            let parameters = request.uri.queryParameters
            let ledger = server.ledger
            let report = try await server.analysis(context) { try ledger.proposals() }
            var content = ""
            // The suggester's parameters are checked whether or not it is asked to run.
            let query: SuggestionQuery
            do { query = try LedgerHTTPServer.suggestionQuery(parameters) } catch let error as APIError {
                content = Templates.render("error", ErrorView(heading: "These suggestion settings cannot be used", error: error, listsProblems: true))
                return HTML.response(
                    HTML.page(title: "Proposals", csrf: page.csrf, content + Templates.render("proposals", ProposalsPageView(report))),
                    status: .badRequest)
            }
            if parameters["suggest"] != nil {
                do {
                    let suggestions = try await server.suggestions(query, context)
                    content += Templates.render("suggestions", SuggestionsView(suggestions, csrf: page.csrf))
                } catch let error as APIError where error.status == .badRequest {
                    content += Templates.render("error", ErrorView(heading: "No suggestion could be made", error: error, listsProblems: true))
                    return HTML.response(
                        HTML.page(title: "Proposals", csrf: page.csrf, content + Templates.render("proposals", ProposalsPageView(report))),
                        status: .badRequest)
                }
            }
            return HTML.response(HTML.page(title: "Proposals", csrf: page.csrf, content + Templates.render("proposals", ProposalsPageView(report))))
        }
        routes.add(.post, "/proposals", statuses: [303, 400, 401, 403, 413, 503], access: .page) { server, request, context in
            guard let page = try await server.browserPage(request, context) else { return LedgerHTTPServer.loginPage() }
            let body = try await server.collectBody(request, limit: ProposalsController.maxBody)
            let form = LedgerHTTPServer.formFields(String(buffer: body))
            try LedgerHTTPServer.checkCSRF(form, page)
            if case .key(let key) = page.principal, !key.scope.permits(.review) {
                throw APIError(.forbidden, "key \(key.id) has scope `\(key.scope.rawValue)`; proposing needs `review`")
            }
            // The form's fields, as the API's body: one way in, one set of checks.
            var members = [
                JSONMember("proposal", .string(form["proposal"] ?? "")), JSONMember("name", .string(form["name"] ?? "")),
                JSONMember("evidence", .bool(true)),
            ]
            if let rules = form["rules"], let parsed = try? JSONValue.parse(rules) { members.append(JSONMember("rules", parsed)) }
            if let rationale = form["rationale"], !rationale.isEmpty { members.append(JSONMember("rationale", .string(rationale))) }
            let input = try LedgerHTTPServer.proposalInput(JSONValue.object(members).jsonBytes)
            let ledger = server.ledger
            let evidence = try await server.analysis(context) {
                try ProposalsController.refusing { try ledger.proposalEvidence(name: input.name, rules: input.rules) }
            }
            _ = try await ProposalsController.refusing {
                try await ledger.propose(
                    proposal: input.proposal, name: input.name, rules: input.rulesJSON, rationale: input.rationale, evidence: evidence,
                    source: "leadledger-dashboard")
            }
            return Response(status: .seeOther, headers: [.location: "/proposals#proposal-\(input.proposal)", .cacheControl: "no-store"])
        }
    }

    /// The page's templates, registered with the dashboard's own.
    static let sources: [String: String] = [
        "proposals": """
        <section><h2>Proposed definitions</h2>
        <p class="note">Approval before publishing: {{required}}. Definition in force: {{inForce}}. Propose with <code>leadledger propose</code> or <code>POST /v1/proposals</code>; review with <code>leadledger review</code>.</p>
        {{^proposals}}<p>No definition has been proposed yet.</p>{{/proposals}}</section>
        {{#proposals}}<section id="proposal-{{id}}"><h2>{{name}} <small class="status-{{status}}">{{statusText}}</small></h2>
        <p class="note">Proposal <code>{{id}}</code>, position {{position}}, {{proposedAt}}{{#actor}} by {{.}}{{/actor}}.{{#rationale}} {{.}}{{/rationale}}</p>
        <h3>Changes against {{comparedWith}}</h3><ul>{{#changes}}<li>{{.}}</li>{{/changes}}</ul>
        <h3>Reviews</h3>{{#missing}}<p class="error">Missing approvals: {{.}}</p>{{/missing}}
        <table><thead><tr><th>Role</th><th>Verdict</th><th>When</th><th>By</th><th>Note</th></tr></thead><tbody>
        {{#reviews}}<tr{{#superseded}} class="superseded"{{/superseded}}><td>{{role}}</td><td class="verdict-{{verdict}}">{{verdict}}{{#superseded}} <small>(replaced)</small>{{/superseded}}</td><td class="date">{{at}}</td><td>{{actor}}</td><td>{{note}}</td></tr>
        {{/reviews}}{{^reviews}}<tr><td colspan="5">No review yet.</td></tr>{{/reviews}}</tbody></table>
        <h3>Evidence</h3>{{#evidence}}<p class="note">What-if pinned to position {{position}}, head hash <code>{{hash}}…</code>: re-run it with <code>leadledger proposals --recheck {{id}}</code> or <code>GET /v1/proposals/{{id}}/evidence</code>.</p>{{{result}}}{{/evidence}}{{^evidence}}<p class="note">This proposal carries no evidence.</p>{{/evidence}}
        </section>{{/proposals}}
        <section><h2>Suggest a definition</h2>
        <p class="note">Searches thresholds of the definition in force and the values the buyer profile finds least accepted, fitted on the earlier half of the hand-offs and judged on the later one.</p>
        <form method="get" action="/proposals"><input type="hidden" name="suggest" value="1"><div class="row">
        <div><label for="s-min">At least N hand-offs a month</label><input type="number" min="0" step="any" id="s-min" name="minHandOffsPerMonth"></div>
        <div><label for="s-wins">At most % of wins lost</label><input type="number" min="0" max="100" step="any" id="s-wins" name="maxLostWinsPercent"></div>
        <div><label for="s-split">Judge from (split)</label><input type="date" id="s-split" name="split"></div>
        <div class="actions"><button>Suggest</button></div></div></form></section>
        """,
        "suggestions": """
        <section><h2>Suggestions</h2><p class="note">Fitted on {{fittedFrom}} … {{fittedTo}}, judged on {{judgedFrom}} … {{judgedTo}} (the split: {{judgedFrom}}). {{method}}</p>
        <table><thead><tr><th>Candidate</th><th class="num">Fitted: rejection rate</th><th class="num">Judged: rejection rate</th><th class="num">Judged: bounds</th><th class="num">Judged: estimate</th><th class="num">Hand-offs a month</th><th class="num">Wins lost</th><th>Beats current</th><th></th></tr></thead><tbody>
        {{#rows}}<tr><td>{{name}}<br><small><code>{{rules}}</code></small></td><td class="num">{{fitted}}</td><td class="num">{{judged}}</td><td class="num">{{bounds}}</td><td class="num">{{estimate}} <small>(estimate)</small></td><td class="num">{{perMonth}}</td><td class="num">{{winsLost}}</td><td>{{beats}}</td>
        <td>{{#proposable}}<form method="post" action="/proposals">{{>csrf}}<input type="hidden" name="proposal" value="{{id}}"><input type="hidden" name="name" value="{{name}}"><input type="hidden" name="rules" value="{{rules}}"><input type="hidden" name="rationale" value="{{rationale}}"><button>Propose this</button></form>{{/proposable}}</td></tr>
        {{/rows}}{{^rows}}<tr><td colspan="9">No candidate meets the constraints on the earlier period.</td></tr>{{/rows}}</tbody></table></section>
        """,
    ]
}

/// The proposals page.
struct ProposalsPageView {
    struct Review {
        let role, verdict, at, actor, note: String
        let superseded: Bool
    }
    struct Evidence {
        let position, hash, id, result: String
    }
    struct Proposal {
        let id, name, status, statusText, position, proposedAt, comparedWith: String
        let actor, rationale, missing: String?
        let changes: [String]
        let reviews: [Review]
        let evidence: Evidence?
    }
    let required, inForce: String
    let proposals: [Proposal]

    init(_ report: ProposalsReport) {
        required = report.requiredApprovals.isEmpty ? "not required" : report.requiredApprovals.joined(separator: ", ")
        inForce = report.definitionInForce.map { "version \($0)" } ?? "none"
        proposals = report.proposals.map { p in
            Proposal(
                id: p.proposal, name: p.name, status: p.status.rawValue,
                statusText: p.status.rawValue + (p.publishedVersion.map { " as version \($0)" } ?? ""), position: HTML.count(p.position),
                proposedAt: p.proposedAt, comparedWith: p.comparedWithVersion.map { "version \($0)" } ?? "no definition",
                actor: p.actor, rationale: p.rationale, missing: p.missingApprovals.isEmpty ? nil : p.missingApprovals.joined(separator: ", "),
                changes: p.changes,
                reviews: p.reviews.map {
                    Review(role: $0.role, verdict: $0.verdict, at: $0.at, actor: $0.actor ?? "", note: $0.note ?? "", superseded: $0.superseded)
                },
                evidence: p.evidence.flatMap { Self.evidence($0.value, id: p.proposal) })
        }
    }

    /// The evidence's what-if, shown as the what-if page shows one; a report of another shape is shown as its JSON.
    static func evidence(_ json: JSONValue, id: String) -> Evidence? {
        guard case .object(let members) = json else { return nil }
        func member(_ key: String, in members: [JSONMember]) -> JSONValue? { members.first { $0.key == key }?.value }
        guard case .number(let position)? = member("position", in: members), case .string(let hash)? = member("headHash", in: members)
        else { return nil }
        var result = "<pre>" + HTML.escape(String(decoding: (member("report", in: members) ?? .null).jsonBytes.prefix(4000), as: UTF8.self)) + "</pre>"
        if case .object(let report)? = member("report", in: members), let whatIf = member("whatIf", in: report),
            let decoded = try? JSONDecoder().decode(WhatIfReport.self, from: Data(whatIf.jsonBytes))
        {
            result = Templates.render("whatIfResult", WhatIfResultView(decoded))
        }
        return Evidence(position: HTML.count(UInt64(max(0, min(position, 9e15)))), hash: String(hash.prefix(16)), id: id, result: result)
    }
}

/// The suggester's results, each with a button that proposes it.
struct SuggestionsView {
    struct Row {
        let name, rules, fitted, judged, bounds, estimate, perMonth, winsLost, beats, id, rationale: String
        let proposable: Bool
    }
    let fittedFrom, fittedTo, judgedFrom, judgedTo, method: String
    let rows: [Row]
    let csrf: CSRFField?

    init(_ report: SuggestionReport, csrf: String) {
        fittedFrom = report.fittedFrom
        fittedTo = report.fittedTo
        judgedFrom = report.judgedFrom
        judgedTo = report.judgedTo
        method = report.method
        self.csrf = CSRFField(csrf)
        let stamp = report.judgedTo.replacingOccurrences(of: "-", with: "")
        rows = ([report.current].compactMap { $0 } + report.suggestions).enumerated().map { index, s in
            let j = s.judged.whatIf
            return Row(
                name: s.name, rules: String(decoding: s.rules.value.jsonBytes, as: UTF8.self),
                fitted: HTML.percent(s.fitted.whatIf.observedRejectionRate), judged: HTML.percent(j.observedRejectionRate),
                bounds: "\(HTML.percent(j.bounds.low)) – \(HTML.percent(j.bounds.high))", estimate: HTML.percent(j.estimate.rejectionRate),
                perMonth: HTML.number(s.judged.handOffsPerMonth, digits: 0), winsLost: HTML.percent(s.judged.lostWinsShare),
                beats: index == 0 ? "(current)" : (s.beatsCurrent ? "yes" : "no"), id: "suggested-\(stamp)-\(index)",
                rationale: "Suggested: \(s.derivation); judged on \(report.judgedFrom) … \(report.judgedTo): observed rejection rate \(HTML.percent(j.observedRejectionRate)).",
                proposable: index > 0)
        }
    }
}
