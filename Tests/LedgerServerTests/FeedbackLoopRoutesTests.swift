import Foundation
import LeadModel
import Ledger
import Projections
import Testing

@testable import LedgerServer

/// The dashboard fixture and a feedback loop around it: a service level from the start (UTC,
/// Monday to Friday 09:00–17:00, first touch within 4 business hours, decision within 16), a call on
/// every even lead two hours after its hand-off, and a conversion, in euros or dollars, for every
/// third accepted lead.
enum FeedbackFixture {
    static func events() -> [LeadEvent] {
        var events = DashboardFixture.events()
        var lines = [
            #"{"id":"\#(UUID().uuidString)","type":"sla.published","occurredAt":"2025-12-01T00:00:00Z","source":"crm","data":{"version":1,"name":"4h first touch","effectiveAt":"2025-12-01T00:00:00Z","firstTouchWithin":4,"decisionWithin":16,"calendar":{"timeZone":"UTC","workdays":[1,2,3,4,5],"start":"09:00","end":"17:00"}}}"#
        ]
        for event in events {
            guard case .handedOff = event.payload, let lead = event.lead, let n = Int(lead.dropFirst()) else { continue }
            let handOff = event.occurredAt.microseconds
            func at(hours: Double) -> String { Timestamp(microseconds: handOff + Int64(hours * 3_600_000_000)).rfc3339 }
            if n % 2 == 0 {
                lines.append(
                    #"{"id":"\#(UUID().uuidString)","type":"lead.touched","lead":"\#(lead)","occurredAt":"\#(at(hours: 2))","source":"crm","data":{"activity":"call"}}"#
                )
            }
            if n % 3 == 0 {
                lines.append(
                    #"{"id":"\#(UUID().uuidString)","type":"lead.converted","lead":"\#(lead)","occurredAt":"\#(at(hours: 24 * 5))","source":"crm","data":{"opportunity":"OPP-\#(n)","amount":\#(1000 * (n % 7 + 1)),"currency":"\#(n % 2 == 0 ? "EUR" : "USD")"}}"#
                )
            }
        }
        events += lines.map(LeadEventFixture.decode)
        return events
    }
}

@Suite("Funnel, service levels and buyer profile over HTTP", .serialized)
struct FeedbackLoopRoutesTests {
    func withFixtureServer(_ body: @escaping @Sendable (inout HTTPConnection, String, Ledger) async throws -> Void) async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append(FeedbackFixture.events())
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in try await body(&connection, keys.read, ledger) }
            }
        }
    }

    @Test("GET /v1/funnel, /v1/sla and /v1/profile answer the library's reports byte for byte, filters and cut included")
    func sameJSONAsTheLibrary() async throws {
        try await withFixtureServer { connection, key, ledger in
            let cutText = "2026-05-01"
            let cut = ReplayCut.occurredBy(try #require(ReplayCut.instant(parsing: cutText)))
            let at = ledger.reportInstant(for: cut)
            let encoder = JSONResponse.encoder()
            func text(_ value: some Encodable) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
            let auth = [("Authorization", "Bearer \(key)")]

            var funnelQuery = CohortQuery(bucket: .week, groupBy: .channel, at: at)
            let funnel = try await connection.send(.GET, "/v1/funnel?by=channel&asOfOccurred=\(cutText)", headers: auth)
            #expect(funnel.status == 200)
            #expect(funnel.text == (try text(try ledger.funnel(funnelQuery, cut: cut))))

            funnelQuery = CohortQuery(bucket: .month, at: at, channel: "web", owner: "rep:1")
            let filtered = try await connection.send(.GET, "/v1/funnel?bucket=month&channel=web&owner=rep%3A1&asOfOccurred=\(cutText)", headers: auth)
            #expect(filtered.text == (try text(try ledger.funnel(funnelQuery, cut: cut))))
            let total = try filtered.json()["total"] as? [String: Any] ?? [:]
            // Leads n ≡ 4 (mod 6): 32, all handed off before May.
            #expect(total["handedOff"] as? Int == 32)

            let slaQuery = CohortQuery(bucket: .week, at: at, definition: 2)
            let sla = try await connection.send(.GET, "/v1/sla?definition=2&breaches=5&asOfOccurred=\(cutText)", headers: auth)
            #expect(sla.status == 200)
            #expect(sla.text == (try text(try ledger.serviceLevels(slaQuery, cut: cut, maximumBreaches: 5))))
            let firstTouch = try sla.json()["firstTouch"] as? [String: Any] ?? [:]
            #expect((firstTouch["breaches"] as? [Any])?.count ?? 99 <= 5)

            var profileQuery = ProfileQuery(minimumDecided: 5, scoreBandWidth: 5)
            profileQuery.channel = "web"
            let profile = try await connection.send(
                .GET, "/v1/profile?channel=web&minimum=5&bandWidth=5&asOfOccurred=\(cutText)", headers: auth)
            #expect(profile.status == 200)
            #expect(profile.text == (try text(try ledger.buyerProfile(profileQuery, cut: cut))))
        }
    }

    @Test("the HTTP reports are the JSON `leadledger funnel|sla|profile --format json` prints for the same question")
    func sameJSONAsTheCommandLine() async throws {
        try await withTemporaryLedger { ledger, path in
            _ = try await ledger.append(FeedbackFixture.events())
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let pairs: [(String, [String])] = [
                        ("/v1/funnel?by=owner&asOfOccurred=2026-05-01", ["funnel", "--by", "owner"]),
                        ("/v1/sla?asOfOccurred=2026-05-01", ["sla"]),
                        ("/v1/profile?minimum=5&asOfOccurred=2026-05-01", ["profile", "--minimum", "5"]),
                    ]
                    for (route, command) in pairs {
                        let http = try await connection.json(.GET, route, key: keys.read)
                        let process = Process()
                        process.executableURL = builtProduct("leadledger")
                        process.arguments = command + ["--format", "json", "--as-of-occurred", "2026-05-01", "--ledger", path]
                        let output = Pipe()
                        process.standardOutput = output
                        process.standardError = FileHandle.nullDevice
                        try process.run()
                        let data = output.fileHandleForReading.readDataToEndOfFile()
                        process.waitUntilExit()
                        #expect(process.terminationStatus == 0, "\(command)")
                        let cli = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
                        #expect(NSDictionary(dictionary: http).isEqual(to: cli), "\(route) differs from leadledger \(command)")
                    }
                }
            }
        }
    }

    @Test("the feedback loop's routes read one replay that catches up with each append, and answer as a fresh replay does")
    func sharedReplayCatchesUp() async throws {
        try await withTemporaryLedger { ledger, _ in
            let events = FeedbackFixture.events()
            _ = try await ledger.append(Array(events[..<(events.count / 2)]))
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let encoder = JSONResponse.encoder()
                    /// The report a fresh replay gives, judged at the instant the server's report names.
                    func fresh(_ reply: HTTPReply, _ report: (Int64) throws -> any Encodable) throws -> String {
                        let reportAt = try reply.json()["reportAt"] as? String ?? ""
                        let at = try #require(Timestamp(rfc3339: reportAt)).microseconds
                        return String(decoding: try encoder.encode(try report(at)), as: UTF8.self)
                    }
                    let auth = [("Authorization", "Bearer \(keys.read)")]
                    let first = try await connection.send(.GET, "/v1/funnel", headers: auth)
                    #expect(first.text == (try fresh(first) { try ledger.funnel(CohortQuery(at: $0)) }))
                    _ = try await ledger.append(Array(events[(events.count / 2)...]))
                    let second = try await connection.send(.GET, "/v1/funnel", headers: auth)
                    #expect(second.text != first.text)
                    #expect(second.text == (try fresh(second) { try ledger.funnel(CohortQuery(at: $0)) }))
                    let sla = try await connection.send(.GET, "/v1/sla", headers: auth)
                    #expect(sla.text == (try fresh(sla) { try ledger.serviceLevels(CohortQuery(at: $0), maximumBreaches: 20) }))
                    let profile = try await connection.send(.GET, "/v1/profile?minimum=5", headers: auth)
                    #expect(profile.text == (try text(try ledger.buyerProfile(ProfileQuery(minimumDecided: 5)), encoder)))
                }
            }
            #expect(try server.feedback.current().0.position == (try ledger.head().position))
        }
    }

    private func text(_ value: some Encodable, _ encoder: JSONEncoder) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test("filters narrow the service levels and the profile to the episodes they select")
    func filtersApply() async throws {
        try await withFixtureServer { connection, key, _ in
            let sla = try await connection.json(.GET, "/v1/sla?owner=rep%3A1&asOfOccurred=2026-05-01", key: key)
            let byOwner = (sla["firstTouch"] as? [String: Any])?["byOwner"] as? [[String: Any]] ?? []
            #expect(byOwner.map { $0["owner"] as? String } == ["rep:1"])
            let trends = try await connection.json(.GET, "/v1/trends?channel=web", key: key)
            let decided = ((trends["total"] as? [String: Any])?["accepted"] as? Int ?? 0) + ((trends["total"] as? [String: Any])?["rejected"] as? Int ?? 0)
            let profile = try await connection.json(.GET, "/v1/profile?channel=web&minimum=5", key: key)
            let baseline = (profile["baselines"] as? [[String: Any]])?.first
            #expect(baseline?["decided"] as? Int == decided)
            let nowhere = try await connection.json(.GET, "/v1/funnel?channel=nowhere", key: key)
            #expect((nowhere["total"] as? [String: Any])?["handedOff"] as? Int == 0)
        }
    }

    @Test("bad parameters of the feedback loop's routes are refused with 400 naming them")
    func refusals() async throws {
        try await withFixtureServer { connection, key, _ in
            let cases: [(String, String)] = [
                ("/v1/funnel?bucket=year", "bucket"), ("/v1/funnel?by=colour", "by"), ("/v1/sla?breaches=-1", "breaches"),
                ("/v1/profile?minimum=0", "minimum"), ("/v1/profile?bandWidth=nan", "bandWidth"), ("/v1/profile?bandWidth=0", "bandWidth"),
                ("/v1/profile?byDefinition=maybe", "byDefinition"), ("/v1/sla?definition=x", "definition"),
                ("/v1/funnel?asOfOccurred=soon", "asOfOccurred"),
            ]
            for (path, field) in cases {
                let reply = try await connection.send(.GET, path, headers: [("Authorization", "Bearer \(key)")])
                #expect(reply.status == 400, "\(path): \(reply.status)")
                let problems = try reply.json()["problems"] as? [[String: Any]] ?? []
                #expect(problems.contains { $0["field"] as? String == field }, "\(path): \(reply.text)")
            }
        }
    }

    @Test("the dashboard shows the funnel, compliance by week and by owner, and the profile, under its filters, each linked to its episodes")
    func dashboardSections() async throws {
        try await withFixtureServer { connection, key, _ in
            let page = try await connection.send(.GET, "/?channel=web", headers: [("Authorization", "Bearer \(key)")])
            #expect(page.status == 200)
            let text = page.text
            #expect(text.contains("Funnel: hand-off to revenue"))
            #expect(text.contains(#"<svg class="chart funnel""#))
            #expect(text.contains(#"<svg class="chart compliance""#))
            #expect(text.contains(#"<svg class="chart owners""#))
            #expect(text.contains("<h2>Buyer profile</h2>"))
            // Only web leads: 96 hand-offs in the funnel, and every owner's link keeps the channel.
            #expect(text.contains(#"<tspan style="font-weight:600">96</tspan>"#))
            #expect(text.contains(#"href="/episodes?channel=web&amp;serviceLevel=firstTouch&amp;deadlineOwner=rep%3A0""#))
            #expect(text.contains(#"href="/episodes?channel=web&amp;outcome=accepted""#))
            #expect(text.contains(#"href="/episodes?channel=web&amp;stage=converted""#))
            #expect(text.contains(#"href="/episodes?channel=web&amp;stage=won""#))
            #expect(text.contains("EUR"))
        }
    }

    @Test("the converted and won bars and each owner's compliance list exactly the episodes they count, the owner at the deadline after a re-assignment")
    func drillDownToStagesAndOwners() async throws {
        try await withTemporaryLedger { ledger, _ in
            var events = FeedbackFixture.events()
            // Leads D4, D10 and D16, handed to rep:1, move to rep:7 an hour after their hand-off, inside
            // the 4-business-hour first-touch limit: rep:7 answers for them at the deadline.
            let handOffs = Dictionary(
                events.compactMap { event -> (String, Int64)? in
                    guard case .handedOff = event.payload, let lead = event.lead else { return nil }
                    return (lead, event.occurredAt.microseconds)
                }, uniquingKeysWith: { first, _ in first })
            for lead in ["D4", "D10", "D16"] {
                let at = Timestamp(microseconds: try #require(handOffs[lead]) + 3_600_000_000).rfc3339
                events.append(
                    LeadEventFixture.decode(
                        #"{"id":"\#(UUID().uuidString)","type":"lead.assigned","lead":"\#(lead)","occurredAt":"\#(at)","source":"crm","data":{"owner":"rep:7"}}"#
                    ))
            }
            _ = try await ledger.append(events.sorted { $0.occurredAt.microseconds < $1.occurredAt.microseconds })
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let cut = "asOfOccurred=2026-05-01"
                    let funnel = try await connection.json(.GET, "/v1/funnel?\(cut)", key: keys.read)
                    let total = funnel["total"] as? [String: Any] ?? [:]
                    func listed(_ query: String) async throws -> (total: Int, episodes: [[String: Any]]) {
                        let page = try await connection.json(.GET, "/v1/episodes?\(query)&\(cut)&limit=500", key: keys.read)
                        return (page["total"] as? Int ?? -1, page["episodes"] as? [[String: Any]] ?? [])
                    }
                    let converted = try await listed("stage=converted")
                    #expect(converted.total == total["convertedAccepted"] as? Int)
                    #expect(converted.total > 0)
                    #expect(converted.episodes.allSatisfy { $0["outcome"] as? String == "accepted" })
                    // Every third lead converts: D3, D6…
                    #expect(converted.episodes.allSatisfy { (Int(($0["lead"] as? String ?? "").dropFirst()) ?? 1) % 3 == 0 })
                    #expect(try await listed("stage=won").total == total["wonConverted"] as? Int)

                    let sla = try await connection.json(.GET, "/v1/sla?\(cut)", key: keys.read)
                    let owners = (sla["firstTouch"] as? [String: Any])?["byOwner"] as? [[String: Any]] ?? []
                    #expect(owners.contains { $0["owner"] as? String == "rep:7" })
                    for row in owners {
                        let owner = try #require(row["owner"] as? String)
                        let counted = ["met", "breached", "open", "withdrawn"].reduce(0) { $0 + (row[$1] as? Int ?? 0) }
                        let all = try await listed("serviceLevel=firstTouch&deadlineOwner=\(owner.replacingOccurrences(of: ":", with: "%3A"))")
                        #expect(all.total == counted, "\(owner)")
                        let breached = try await listed(
                            "serviceLevel=firstTouch&serviceLevelStatus=breached&deadlineOwner=\(owner.replacingOccurrences(of: ":", with: "%3A"))")
                        #expect(breached.total == row["breached"] as? Int, "\(owner)")
                    }
                    // rep:7 answers for the three re-assigned leads, though they were handed to rep:1.
                    let rep7 = try await listed("serviceLevel=firstTouch&deadlineOwner=rep%3A7")
                    #expect(Set(rep7.episodes.compactMap { $0["lead"] as? String }) == ["D4", "D10", "D16"])
                    #expect(rep7.episodes.allSatisfy { $0["owner"] as? String == "rep:1" })

                    let refused = try await connection.send(
                        .GET, "/v1/episodes?deadlineOwner=rep%3A1", headers: [("Authorization", "Bearer \(keys.read)")])
                    #expect(refused.status == 400)
                    #expect((try refused.json()["problems"] as? [[String: Any]])?.first?["field"] as? String == "serviceLevel")
                    let badStage = try await connection.send(.GET, "/v1/episodes?stage=lost", headers: [("Authorization", "Bearer \(keys.read)")])
                    #expect(badStage.status == 400)

                    // The dashboard's page for a bar names what it lists.
                    let page = try await connection.send(.GET, "/episodes?stage=converted", headers: [("Authorization", "Bearer \(keys.read)")])
                    #expect(page.status == 200)
                    #expect(page.text.contains("accepted and converted"))
                }
            }
        }
    }
}
