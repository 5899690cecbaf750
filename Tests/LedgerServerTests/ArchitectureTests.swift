import Foundation
import LeadModel
import Ledger
import Projections
import Testing

@testable import LedgerServer

@Suite("The server: controllers, authentication middleware, one shared replay, templates")
struct ServerArchitectureTests {
    @Test("the dashboard's `leads seen` is the ledger's lead count, not the store's streams (which count the catalog too)")
    func dashboardLeadCount() async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append(DashboardFixture.events())
            let leads = try ledger.leadCount()
            #expect(leads == 16 * 12)
            #expect(try ledger.statistics().streams == leads + 1)
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let page = try await connection.send(.GET, "/", headers: [("Authorization", "Bearer \(keys.read)")])
                    #expect(page.status == 200)
                    #expect(page.text.contains("<b>\(leads)</b><span>leads seen</span>"), "\(page.text.prefix(2000))")
                }
            }
        }
    }

    @Test("trends and impact read one replay that catches up with each append, and answer as a fresh replay does")
    func sharedReplay() async throws {
        try await withTemporaryLedger { ledger, _ in
            let events = DashboardFixture.events()
            let half = events.count / 2
            _ = try await ledger.append(Array(events[..<half]))
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let auth = [("Authorization", "Bearer \(keys.read)")]
                    let first = try await connection.send(.GET, "/v1/trends", headers: auth)
                    #expect(first.status == 200)
                    #expect(first.text == String(decoding: try JSONResponse.encoder().encode(try ledger.trends()), as: UTF8.self))
                    _ = try await ledger.append(Array(events[half...]))
                    let second = try await connection.send(.GET, "/v1/trends", headers: auth)
                    #expect(second.text != first.text)
                    #expect(second.text == String(decoding: try JSONResponse.encoder().encode(try ledger.trends()), as: UTF8.self))
                    let impact = try await connection.send(.GET, "/v1/impact", headers: auth)
                    #expect(impact.text == String(decoding: try JSONResponse.encoder().encode(try ledger.impact()), as: UTF8.self))
                }
            }
            #expect(try server.replay.state().position == (try ledger.head().position))
        }
    }

    @Test("authentication refuses nothing by itself: a bad key still gets /health and a 404, and a 401 where a scope is needed")
    func authenticationMiddleware() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = testServer(ledger)
            _ = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let bogus = [("Authorization", "Bearer llk_nobody_secret")]
                    #expect(try await connection.send(.GET, "/health", headers: bogus).status == 200)
                    #expect(try await connection.send(.GET, "/v1/nowhere", headers: bogus).status == 404)
                    let refused = try await connection.send(.GET, "/v1/trends", headers: bogus)
                    #expect(refused.status == 401)
                    #expect(refused.text.contains("unknown or revoked"))
                }
            }
        }
    }

    @Test("the route table is what the controllers register, in the router's path form")
    func routeTable() {
        // 18, the integrations' 8, GET /v1/receipt, POST /v1/leads/{lead}/forget, GET /v1/episodes and /episodes, GET /v1/funnel, /v1/sla and /v1/profile;
        // the proposals' 6 (list, propose, evidence, reviews, publish, suggestions) and the proposals page's GET and POST.
        #expect(RouteTable.all.count == 41)
        #expect(RouteTable.methods(servingPath: "/v1/proposals/q3/publish") == ["POST"])
        #expect(RouteTable.methods(servingPath: "/v1/leads/00QA/forget") == ["POST"])
        #expect(Set(RouteTable.all.map(\.description)).count == RouteTable.all.count)
        #expect(RouteRegistrar.routerPath("/v1/leads/{lead}") == "/v1/leads/:lead")
        #expect(RouteTable.methods(servingPath: "/v1/keys/abc") == ["DELETE"])
    }

    @Test("every template parses, and what a page prints from outside is escaped")
    func templatesEscape() async throws {
        #expect(throws: Never.self) { try Templates.library.get() }
        let page = HTML.page(title: "<script>alert(1)</script>", csrf: "ab\"c", "<p>kept</p>")
        #expect(!page.contains("<script>alert(1)</script>"))
        #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(page.contains(#"name="csrf" value="ab&quot;c""#))
        #expect(page.contains("<main><p>kept</p></main>"))

        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append(DashboardFixture.events())
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let name = "<img src=x onerror=alert(1)>"
                    let candidate = #"{"name":"\#(name)","rules":{"field":"score","gte":80}}"#
                    let form = "candidate=" + candidate.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                    let reply = try await connection.send(
                        .POST, "/what-if",
                        headers: [("Authorization", "Bearer \(keys.read)"), ("Content-Type", "application/x-www-form-urlencoded")],
                        body: Array(form.utf8))
                    #expect(reply.status == 200)
                    #expect(!reply.text.contains(name))
                    #expect(reply.text.contains("&lt;img src=x onerror=alert(1)&gt;"))
                }
            }
        }
    }
}
