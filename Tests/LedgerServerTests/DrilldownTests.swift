import Foundation
import LeadModel
import Ledger
import Projections
import Testing

@testable import LedgerServer

/// The episodes of a JSON report page.
private func episodes(_ report: [String: Any]) -> [[String: Any]] { report["episodes"] as? [[String: Any]] ?? [] }

/// The HTML of a page with `&amp;` turned back into `&`, to follow the links it holds.
private func unescapedLinks(_ page: String, prefix: String) -> [String] {
    var links: [String] = []
    var rest = page[...]
    let escaped = prefix.replacingOccurrences(of: "&", with: "&amp;")
    while let start = rest.range(of: "href=\"\(escaped)") {
        let tail = rest[start.upperBound...]
        guard let end = tail.firstIndex(of: "\"") else { break }
        links.append(prefix + tail[..<end].replacingOccurrences(of: "&amp;", with: "&"))
        rest = tail[end...]
    }
    return links
}

@Suite("Dashboard filters and drill-down over a real socket", .serialized)
struct DrilldownTests {
    /// Runs `body` against a server over the dashboard fixture: 192 leads `D1`…`D192`, lead `Dn` in
    /// channel `web` when n is even (else `event`), handed to `rep:(n mod 3)`, weeks 0–7 under
    /// definition 1 and weeks 8–15 under definition 2.
    func withFixtureServer(_ body: @escaping @Sendable (inout HTTPConnection, String) async throws -> Void) async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append(DashboardFixture.events())
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in try await body(&connection, keys.read) }
            }
        }
    }

    @Test("channel, owner and definition filters narrow trends to the hand-offs the fixture gives them; an unknown value matches none")
    func filtersNarrowTrends() async throws {
        try await withFixtureServer { connection, key in
            // n even and n ≡ 1 (mod 3): n ≡ 4 (mod 6), 32 of the 192 leads.
            let webRep1 = try await connection.json(.GET, "/v1/trends?channel=web&owner=rep%3A1", key: key)
            #expect(totals(webRep1)[0] == 32)
            let rows = webRep1["rows"] as? [[String: Any]] ?? []
            #expect(rows.reduce(0) { $0 + ($1["handedOff"] as? Int ?? 0) } == 32)
            // Weeks 8–15: leads 97…192.
            #expect(totals(try await connection.json(.GET, "/v1/trends?definition=2", key: key))[0] == 96)
            #expect(totals(try await connection.json(.GET, "/v1/trends?definition=2&from=2026-03-09", key: key))[0] == 84)
            #expect(totals(try await connection.json(.GET, "/v1/trends?channel=nowhere", key: key))[0] == 0)
            #expect(totals(try await connection.json(.GET, "/v1/trends?owner=rep%3A9", key: key))[0] == 0)
            // An empty channel or owner is no filter.
            #expect(totals(try await connection.json(.GET, "/v1/trends?channel=&owner=", key: key))[0] == 192)
        }
    }

    @Test("each cohort's episodes are the trend row's hand-offs, under the same filters, inside the cohort's week")
    func cohortDrillDown() async throws {
        try await withFixtureServer { connection, key in
            let trend = try await connection.json(.GET, "/v1/trends?channel=web&owner=rep%3A1", key: key)
            let rows = trend["rows"] as? [[String: Any]] ?? []
            #expect(rows.count == 16)
            for row in rows {
                let start = try #require(row["start"] as? String)
                let list = try await connection.json(.GET, "/v1/episodes?cohort=\(start)&channel=web&owner=rep%3A1&limit=500", key: key)
                #expect(list["total"] as? Int == row["handedOff"] as? Int, "cohort \(start)")
                #expect(list["cohort"] as? String == start)
                #expect(list["next"] is NSNull)
                let weekStart = try #require(Bucket.dayStart(start)), weekEnd = weekStart + 7 * 86_400_000_000
                for e in episodes(list) {
                    #expect(e["channel"] as? String == "web")
                    #expect(e["owner"] as? String == "rep:1")
                    let at = try #require(Timestamp(rfc3339: e["handedOffAt"] as? String ?? "")).microseconds
                    #expect(at >= weekStart && at < weekEnd)
                    let n = Int((e["lead"] as? String ?? "").dropFirst()) ?? -1
                    #expect(n % 6 == 4)
                }
                let accepted = try await connection.json(
                    .GET, "/v1/episodes?cohort=\(start)&channel=web&owner=rep%3A1&outcome=accepted", key: key)
                #expect(accepted["total"] as? Int == row["accepted"] as? Int)
            }
            // A reason's rejections, summed over the cohorts, are the trend's count of that code.
            let all = try await connection.json(.GET, "/v1/trends", key: key)
            let code = "DATA.INVALID_EMAIL"
            let expected = (all["rows"] as? [[String: Any]] ?? []).reduce(0) { sum, row in
                sum + ((row["rejectionsByReason"] as? [[String: Any]] ?? []).first { $0["code"] as? String == code }?["count"] as? Int ?? 0)
            }
            #expect(expected > 0)
            let byReason = try await connection.json(.GET, "/v1/episodes?outcome=rejected&reason=\(code)&limit=500", key: key)
            #expect(byReason["total"] as? Int == expected)
            #expect(episodes(byReason).allSatisfy { $0["reason"] as? String == code && $0["outcome"] as? String == "rejected" })
            // A grouped cell: week × channel.
            let grouped = try await connection.json(.GET, "/v1/trends?by=channel", key: key)
            let cell = try #require((grouped["rows"] as? [[String: Any]])?.first { $0["group"] as? String == "event" })
            let cellList = try await connection.json(
                .GET, "/v1/episodes?cohort=\(cell["start"] as? String ?? "")&by=channel&group=event", key: key)
            #expect(cellList["total"] as? Int == cell["handedOff"] as? Int)
        }
    }

    @Test("pages of the episode list hold every episode once, in hand-off order, and end with next = null")
    func pagination() async throws {
        try await withFixtureServer { connection, key in
            var seen: [String] = []
            var times: [Int64] = []
            var after: String?
            var pages = 0
            repeat {
                let list = try await connection.json(
                    .GET, "/v1/episodes?limit=7" + (after.map { "&after=\($0)" } ?? ""), key: key)
                #expect(list["total"] as? Int == 192)
                let page = episodes(list)
                #expect(page.count <= 7)
                for e in page {
                    seen.append("\(e["lead"] as? String ?? "")#\(e["episode"] as? Int ?? 0)")
                    times.append(Timestamp(rfc3339: e["handedOffAt"] as? String ?? "")?.microseconds ?? 0)
                }
                after = list["next"] as? String
                pages += 1
            } while after != nil && pages < 100
            #expect(pages == 28)
            #expect(seen.count == 192)
            #expect(Set(seen).count == 192)
            #expect(times == times.sorted())
        }
    }

    @Test("bad drill-down parameters are refused with 400 naming the parameter")
    func refusals() async throws {
        try await withFixtureServer { connection, key in
            let cases: [(String, String)] = [
                ("/v1/episodes?after=yesterday", "after"), ("/v1/episodes?limit=0", "limit"), ("/v1/episodes?limit=501", "limit"),
                ("/v1/episodes?group=web", "by"), ("/v1/episodes?by=colour", "by"), ("/v1/episodes?outcome=won", "outcome"),
                ("/v1/episodes?definition=-1", "definition"), ("/v1/episodes?cohort=2026-02-30", "cohort"),
                ("/v1/episodes?bucket=year", "bucket"), ("/v1/trends?definition=v2", "definition"),
                ("/v1/episodes?from=2026-03-01&to=2026-02-01", "to"), ("/v1/trends?to=", "to"), ("/v1/episodes?definition=", "definition"),
                ("/v1/episodes?limit=", "limit"), ("/v1/episodes?cohort=", "cohort"),
            ]
            for (path, field) in cases {
                let reply = try await connection.send(.GET, path, headers: [("Authorization", "Bearer \(key)")])
                #expect(reply.status == 400, "\(path): \(reply.status)")
                let problems = try reply.json()["problems"] as? [[String: Any]] ?? []
                #expect(problems.contains { $0["field"] as? String == field }, "\(path): \(reply.text)")
            }
        }
    }

    @Test("the dashboard keeps its filters in the URL, applies them to every chart, and drills down from a week to its episodes and on to a lead's audit")
    func dashboardDrillDown() async throws {
        try await withFixtureServer { connection, key in
            let auth = [("Authorization", "Bearer \(key)")]
            let page = try await connection.send(.GET, "/?channel=web&owner=rep%3A1", headers: auth)
            #expect(page.status == 200)
            #expect(page.text.contains("Showing channel web, owner rep:1."))
            #expect(page.text.contains(#"<option value="web" selected>web</option>"#))
            #expect(page.text.contains(#"<option value="rep:1" selected>rep:1</option>"#))
            #expect(page.text.contains("<b>32</b><span>hand-offs</span>"), "\(page.text.prefix(3000))")
            // Every week of the rates chart links to its episodes under the same filters.
            let weeks = unescapedLinks(page.text, prefix: "/episodes?channel=web&owner=rep%3A1&cohort=")
                .filter { !$0.contains("outcome=") }
            #expect(weeks.count == 16)
            let firstWeek = try #require(weeks.first)
            #expect(firstWeek == "/episodes?channel=web&owner=rep%3A1&cohort=2026-01-05")
            let list = try await connection.send(.GET, firstWeek, headers: auth)
            #expect(list.status == 200)
            #expect(list.text.contains("Episodes: week of 2026-01-05"))
            let audits = unescapedLinks(list.text, prefix: "/leads?lead=")
            // Leads 4 and 10 of week 0 (n ≡ 4 mod 6 among 1…12).
            #expect(audits == ["/leads?lead=D4#episode-1", "/leads?lead=D10#episode-1"])
            let audit = try await connection.send(.GET, String(audits[0].prefix { $0 != "#" }), headers: auth)
            #expect(audit.status == 200)
            #expect(audit.text.contains("<h2>Lead D4</h2>"))
            #expect(audit.text.contains(#"<tr id="episode-1">"#))
            // The reasons chart's bars drill down to the rejections of one code.
            let bars = unescapedLinks(page.text, prefix: "/episodes?channel=web&owner=rep%3A1&cohort=").filter { $0.contains("outcome=rejected") }
            #expect(!bars.isEmpty)
            let bar = try await connection.send(.GET, try #require(bars.first), headers: auth)
            #expect(bar.status == 200)
            #expect(bar.text.contains("rejected"))
            // A form's "all" sends empty fields: no filter.
            let all = try await connection.send(.GET, "/?from=&to=&channel=&owner=&definition=", headers: auth)
            #expect(all.status == 200)
            #expect(all.text.contains("<b>192</b><span>hand-offs</span>"))
            #expect(all.text.contains("Showing all hand-offs."))
            // A form's GET sends spaces as `+`; the filter reads them as spaces.
            let spaced = try await connection.send(.GET, "/?channel=paid+search", headers: auth)
            #expect(spaced.text.contains("Showing channel paid search."))
            #expect(spaced.text.contains("<b>0</b><span>hand-offs</span>"))
        }
    }

    @Test("a filter value is text on the page, never markup; a bad filter is a 400 page naming it")
    func dashboardEscapesAndRefuses() async throws {
        try await withFixtureServer { connection, key in
            let auth = [("Authorization", "Bearer \(key)")]
            let hostile = try await connection.send(.GET, "/?channel=%3Cscript%3Ealert(1)%3C%2Fscript%3E&owner=%22onmouseover%3D", headers: auth)
            #expect(hostile.status == 200)
            #expect(!hostile.text.contains("<script>alert"))
            #expect(hostile.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(!hostile.text.contains(#""onmouseover="#))
            let drill = try await connection.send(.GET, "/episodes?channel=%3Cscript%3E&cohort=2026-01-05", headers: auth)
            #expect(drill.status == 200)
            #expect(!drill.text.contains("<script>"))
            let bad = try await connection.send(.GET, "/?from=2026-13-45", headers: auth)
            #expect(bad.status == 400)
            #expect(bad.text.contains("`from` must be a date YYYY-MM-DD"))
            let badPage = try await connection.send(.GET, "/episodes?after=nope", headers: auth)
            #expect(badPage.status == 400)
            #expect(badPage.text.contains("`after`"))
        }
    }
}
