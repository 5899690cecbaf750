import Foundation
import Testing

/// Runs the built `leadledger` binary as a user would, and reads what it prints.
struct CLI {
    static let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("leadledger")
    let ledger: String

    init() {
        ledger = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-cli-\(UUID().uuidString)").path
    }

    init(ledger: String) { self.ledger = ledger }

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    @discardableResult
    func run(_ arguments: [String], stdin: String? = nil, withLedger: Bool = true) throws -> Output {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments + (withLedger ? ["--ledger", ledger] : [])
        var environment = ProcessInfo.processInfo.environment
        environment["LEADLEDGER_PATH"] = nil
        process.environment = environment
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// The ledger's head hash, from `stats --json`.
    func head() throws -> String {
        let stats = try run(["stats", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as! [String: Any]
        return (json["head"] as! [String: Any])["hash"] as! String
    }

    func write(_ text: String, to name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString)-\(name)").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
    "LedgerTests/Fixtures")

func event(_ id: Int, _ type: String, lead: String?, at time: String, data: String) -> String {
    let leadField = lead.map { "\"lead\":\"\($0)\"," } ?? ""
    return
        "{\"id\":\"00000000-0000-4000-8000-\(String(format: "%012d", id))\",\"type\":\"\(type)\",\(leadField)\"occurredAt\":\"\(time)\",\"source\":\"salesforce\",\"actor\":\"rep:jo\",\"data\":\(data)}"
}

let history =
    [
        event(
            1, "definition.published", lead: nil, at: "2026-01-01T00:00:00Z",
            data: #"{"version":1,"name":"Score 50","rules":{"field":"score","gte":50},"effectiveAt":"2026-01-01T00:00:00Z"}"#),
        event(2, "lead.captured", lead: "00QA", at: "2026-03-02T09:00:00Z", data: #"{"channel":"email","attributes":{"country":"US"}}"#),
        event(3, "lead.scored", lead: "00QA", at: "2026-03-02T09:30:00Z", data: #"{"score":72}"#),
        event(4, "lead.handed_off", lead: "00QA", at: "2026-03-02T10:00:00Z", data: #"{"owner":"rep:jo","definition":1}"#),
        event(
            5, "lead.rejected", lead: "00QA", at: "2026-03-02T14:00:00Z", data: #"{"reason":"FIT_COMPANY.TOO_SMALL","note":"12 employees"}"#
        ),
        event(6, "lead.captured", lead: "00QB", at: "2026-03-03T09:00:00Z", data: #"{"channel":"webinar"}"#),
        event(7, "lead.handed_off", lead: "00QB", at: "2026-03-03T10:00:00Z", data: #"{"owner":"rep:al"}"#),
        event(8, "lead.accepted", lead: "00QB", at: "2026-03-04T10:00:00Z", data: #"{"by":"rep:al"}"#),
    ].joined(separator: "\n") + "\n"

@Suite("leadledger, run as a child process")
struct CommandLineTests {
    @Test("init loads the starter taxonomy once; append stores a history; a re-send is all duplicates")
    func initAndAppend() throws {
        let cli = CLI()
        let first = try cli.run(["init", "--taxonomy", "starter"])
        #expect(first.status == 0)
        #expect(first.stdout.contains("loaded the starter taxonomy: 34 reason codes"))
        #expect(try cli.run(["init", "--taxonomy", "starter"]).stdout.contains("0 reason codes (34 already there)"))
        let file = try cli.write(history, to: "history.ndjson")
        let appended = try cli.run(["append", file])
        #expect(appended.status == 0, "\(appended.stderr)")
        #expect(appended.stdout.hasPrefix("appended 8 events at positions 35–42, 0 duplicates"))
        let again = try cli.run(["append", "-"], stdin: history)
        #expect(again.stdout.hasPrefix("appended 0 events, 8 duplicates"))
        let stats = try cli.run(["stats"])
        #expect(stats.stdout.contains("events     42"))
        #expect(stats.stdout.contains("leads      2"))
    }

    @Test("bad input is refused with line, event id and field, a non-zero exit, and the same head")
    func refusals() throws {
        let cli = CLI()
        try cli.run(["init", "--taxonomy", "starter"])
        try cli.run(["append", "-"], stdin: history)
        let head = try cli.head()
        let cases: [(String, [String])] = [
            (
                event(20, "lead.captured", lead: "00QC", at: "2026-03-05T09:00:00Z", data: #"{"channel":"email"}"#) + "\n{\"id\": 3,\n",
                ["line 2", "expected"]
            ),
            (
                event(21, "lead.teleported", lead: "00QC", at: "2026-03-05T09:00:00Z", data: "{}"),
                ["line 1", "00000000-0000-4000-8000-000000000021", "field \"type\"", "lead.teleported"]
            ),
            (
                event(22, "lead.handed_off", lead: "00QC", at: "2026-03-05T09:00:00Z", data: #"{"owner":"rep:x"}"#) + "\n"
                    + event(23, "lead.rejected", lead: "00QC", at: "2026-03-05T10:00:00Z", data: #"{"reason":"FIT.NOPE"}"#),
                ["line 2", "00000000-0000-4000-8000-000000000023", "field \"data.reason\"", "FIT.NOPE"]
            ),
            (event(24, "lead.accepted", lead: "00QZ", at: "2026-03-05T10:00:00Z", data: "{}"), ["line 1", "open episode"]),
            (
                event(4, "lead.handed_off", lead: "00QA", at: "2026-03-02T10:00:00Z", data: #"{"owner":"rep:other","definition":1}"#),
                ["line 1", "already stored at position 38 with different content"]
            ),
        ]
        for (input, expected) in cases {
            let result = try cli.run(["append", "-"], stdin: input)
            #expect(result.status == 1, "\(input)")
            #expect(result.stderr.contains("the ledger is unchanged"))
            for fragment in expected { #expect(result.stderr.contains(fragment), "\(fragment) not in \(result.stderr)") }
        }
        let stale = try cli.run(
            ["append", "--expected-version", "00QA=2", "-"],
            stdin: event(30, "lead.scored", lead: "00QA", at: "2026-03-06T10:00:00Z", data: #"{"score":80}"#))
        #expect(stale.status == 1)
        #expect(stale.stderr.contains("stream \"00QA\" holds 4 events; the batch expected 2"))
        let missing = try cli.run(["append", "/nonexistent/events.ndjson"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("cannot read /nonexistent/events.ndjson"))
        #expect(try cli.head() == head)
    }

    @Test("import olist: the fixture's hand-offs and wins; a second import appends nothing; a broken CSV changes nothing")
    func importOlist() throws {
        let cli = CLI()
        let folder = fixtures.appendingPathComponent("olist").path
        let first = try cli.run(["import", "olist", folder])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("lead.handed_off"))
        let second = try cli.run(["import", "olist", folder])
        #expect(second.stdout.contains("appended 0 events"))
        let head = try cli.head()
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        try "mql_id,first_contact_date,landing_page_id,origin\n\"abc,2018-01-01,x,social\n".write(
            to: broken.appendingPathComponent("olist_marketing_qualified_leads_dataset.csv"), atomically: true, encoding: .utf8)
        let refused = try cli.run(["import", "olist", broken.path])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("olist_marketing_qualified_leads_dataset.csv line 2"))
        #expect(refused.stderr.contains("nothing was appended"))
        let absent = try cli.run(["import", "olist", "/nonexistent/folder"])
        #expect(absent.status == 1)
        #expect(try cli.head() == head)
    }

    @Test("trends, impact, what-if and audit answer in table, JSON and CSV")
    func analyses() throws {
        let cli = CLI()
        try cli.run(["init", "--taxonomy", "starter"])
        try cli.run(["append", "-"], stdin: history)
        let trends = try cli.run(["trends", "--bucket", "week", "--by", "channel", "--format", "json"])
        #expect(trends.status == 0, "\(trends.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(trends.stdout.utf8)) as! [String: Any]
        let rows = report["rows"] as! [[String: Any]]
        #expect(rows.map { $0["start"] as! String } == ["2026-03-02", "2026-03-02"])
        #expect(rows.map { $0["group"] as! String } == ["email", "webinar"])
        #expect(rows.map { $0["rejected"] as! Int } == [1, 0])
        #expect(rows[0]["acceptanceRate"] as! Double == 0)
        #expect(rows[1]["rejectionRate"] as! Double == 0)
        let csv = try cli.run(["trends", "--format", "csv"])
        #expect(csv.stdout.hasPrefix("start,group,handedOff,accepted,rejected,recycled,pending,acceptanceRate"))
        #expect(try cli.run(["trends"]).stdout.contains("total"))

        let impact = try cli.run(["impact", "--format", "json"])
        #expect(impact.status == 0)
        #expect(impact.stdout.contains("\"windowDays\" : 28"))

        let candidate = try cli.write(#"{"name":"Score 80","rules":{"field":"score","gte":80}}"#, to: "candidate.json")
        let whatIf = try cli.run(["what-if", candidate, "--format", "json"])
        #expect(whatIf.status == 0, "\(whatIf.stderr)")
        let result = (try JSONSerialization.jsonObject(with: Data(whatIf.stdout.utf8)) as! [String: Any])["candidates"] as! [[String: Any]]
        #expect((result[0]["dropped"] as! [String: Any])["leads"] as! Int == 2)
        #expect((result[0]["both"] as! [String: Any])["leads"] as! Int == 0)
        #expect((result[0]["added"] as! [String: Any])["outcome"] as! String == "unobserved")
        let badCandidate = try cli.write(#"{"name":"x","rules":{"all":[{"field":"score","between":3}]}}"#, to: "bad.json")
        let refused = try cli.run(["what-if", badCandidate])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("/all/0"))

        let audit = try cli.run(["audit", "00QA"])
        #expect(audit.status == 0)
        #expect(audit.stdout.contains("definition v1 “Score 50”, named by the hand-off; lead qualified"))
        #expect(audit.stdout.contains("✓ score ≥ 50   saw 72"))
        #expect(audit.stdout.contains("reason: FIT_COMPANY.TOO_SMALL"))
        let unknown = try cli.run(["audit", "00QNOBODY"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no events for lead \"00QNOBODY\""))

        // A second definition from 3 March: 00QA (score 72, before) satisfies both, 00QB (unscored, after) neither.
        let v2 = event(
            9, "definition.published", lead: nil, at: "2026-03-02T12:00:00Z",
            data: #"{"version":2,"name":"Score 60","rules":{"field":"score","gte":60},"effectiveAt":"2026-03-03T00:00:00Z"}"#)
        let published = try cli.run(["append", "-"], stdin: v2 + "\n")
        #expect(published.status == 0, "\(published.stderr)")
        let impactJSON = try cli.run(["impact", "--format", "json", "--minimum-stayers", "1"]).stdout
        let change = try #require(
            ((try JSONSerialization.jsonObject(with: Data(impactJSON.utf8)) as? [String: Any])?["changes"] as? [[String: Any]])?.first)
        let adjusted = try #require(change["timeAdjusted"] as? [String: Any])
        #expect((adjusted["stayersBefore"] as? [String: Any])?["decided"] as? Int == 1)
        #expect((adjusted["stayersAfter"] as? [String: Any])?["decided"] as? Int == 0)
        #expect(adjusted["tooFewStayers"] as? Bool == true)
        let impactTable = try cli.run(["impact"]).stdout
        #expect(impactTable.contains("stayers (satisfy v1 and v2): before 100.0% (1/1)"), "\(impactTable)")
        #expect(impactTable.contains("too few stayers: 1 decided before and 0 after; at least 30 needed on each side"))
        #expect(impactTable.contains("weekly series (1 weeks before, 1 after, of 8 each side): too few weeks with decisions"))
        #expect(try cli.run(["impact", "--format", "csv"]).stdout.contains(",stayersBeforeDecided,"))
        let badWeeks = try cli.run(["impact", "--series-weeks", "0"])
        #expect(badWeeks.status != 0 && badWeeks.stderr.contains("--series-weeks must be from 1 to 520, found 0"))
    }

    @Test("reports cut at a business or knowledge time; a malformed time is refused naming the option, the forms and the text")
    func asOf() throws {
        let cli = CLI()
        try cli.run(["init", "--taxonomy", "starter"])
        try cli.run(["append", "-"], stdin: history)
        // handedOff, accepted, rejected, pending of the trends total.
        func totals(_ arguments: [String]) throws -> [Int] {
            let trends = try cli.run(["trends", "--format", "json"] + arguments)
            try #require(trends.status == 0, "trends \(arguments): \(trends.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(trends.stdout.utf8)) as! [String: Any]
            let total = report["total"] as! [String: Any]
            return ["handedOff", "accepted", "rejected", "pending"].map { total[$0] as! Int }
        }
        #expect(try totals([]) == [2, 1, 1, 0])
        // The whole of 2 March: 00QA's hand-off and rejection; 00QB comes on the 3rd.
        #expect(try totals(["--as-of-occurred", "2026-03-02"]) == [1, 0, 1, 0])
        #expect(try totals(["--as-of-occurred", "2026-03-03T12:00:00Z"]) == [2, 0, 1, 1])
        // Nothing had been recorded in 2000; everything had by the far future.
        #expect(try totals(["--as-of-recorded", "2000-01-01"]) == [0, 0, 0, 0])
        #expect(try totals(["--as-of-recorded", "2999-12-31"]) == [2, 1, 1, 0])
        for option in ["--as-of-recorded", "--as-of-occurred"] {
            let refused = try cli.run(["trends", option, "yesterday"])
            #expect(refused.status == 64)
            #expect(
                refused.stderr.contains(
                    #"\#(option): expected a time like 2026-03-02T14:05:00Z or a date like 2026-03-02, found "yesterday""#),
                "\(refused.stderr)")
        }
        let both = try cli.run(["impact", "--as-of-recorded", "2026-03-02", "--as-of-occurred", "2026-03-02"])
        #expect(both.status == 64)
        #expect(both.stderr.contains("give --as-of-recorded or --as-of-occurred, not both"))
    }

    @Test("verify prints the head hash; backup writes a copy that verifies; a missing ledger exits 3")
    func operations() throws {
        let cli = CLI()
        try cli.run(["append", "-"], stdin: history)
        let head = try cli.head()
        let verify = try cli.run(["verify"])
        #expect(verify.status == 0)
        #expect(verify.stdout.contains(head))
        let destination = FileManager.default.temporaryDirectory.appendingPathComponent("backup-\(UUID().uuidString)").path
        let backup = try cli.run(["backup", destination])
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(try cli.run(["verify", "--ledger", destination], withLedger: false).stdout.contains(head))
        #expect(try cli.run(["backup", destination]).status == 1)
        let missing = try CLI().run(["trends"])
        #expect(missing.status == 3)
        #expect(missing.stderr.contains("no ledger at"))
        #expect(try cli.run(["trends", "--from", "2026-13-01"]).status == 64)
    }

    @Test("demo appends a seeded history and tells its story")
    func demo() throws {
        let cli = CLI()
        let demo = try cli.run(["demo", "--leads", "1500", "--seed", "3"])
        #expect(demo.status == 0, "\(demo.stderr)")
        for heading in [
            "1. A year of hand-offs", "2. The monthly trend", "3. What each change", "4. What if", "5. From hand-off to revenue",
            "6. Did sales touch leads in time", "7. What the leads sales accepts look like", "9. The receipt",
        ] {
            #expect(demo.stdout.contains(heading))
        }
        #expect(try cli.run(["verify"]).status == 0)
    }

    @Test("funnel, sla and profile print a table, JSON and CSV, and refuse a bad option by name")
    func feedbackLoop() throws {
        let cli = CLI()
        #expect(try cli.run(["demo", "--leads", "1500", "--seed", "5"]).status == 0)
        let funnel = try cli.run(["funnel", "--bucket", "month", "--format", "json", "--as-of-occurred", "2025-12-31"])
        #expect(funnel.status == 0, "\(funnel.stderr)")
        let json = try JSONSerialization.jsonObject(with: Data(funnel.stdout.utf8)) as? [String: Any]
        #expect(json?["reportAt"] as? String == "2025-12-31T23:59:59.999999Z")
        #expect(((json?["total"] as? [String: Any])?["handedOff"] as? Int ?? 0) > 100)
        let sla = try cli.run(["sla", "--format", "csv", "--limit", "decision"])
        #expect(sla.status == 0, "\(sla.stderr)")
        #expect(sla.stdout.hasPrefix("limit,start,owner,met,breached,open,withdrawn,compliance"))
        #expect(sla.stdout.contains("decision,,rep:"))
        let table = try cli.run(["profile", "--minimum", "20"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("attributes.country"))
        let refused = try cli.run(["profile", "--minimum", "0"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("--minimum: expected at least 1, found 0"))
    }

    @Test("--channel, --owner and --definition count the same episodes as that group's row of the grouped report")
    func analysisFilters() throws {
        let cli = CLI()
        #expect(try cli.run(["demo", "--leads", "1500", "--seed", "5"]).status == 0)
        func json(_ arguments: [String]) throws -> [String: Any] {
            let run = try cli.run(arguments + ["--format", "json"])
            #expect(run.status == 0, "\(run.stderr)")
            return try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] ?? [:]
        }
        // The grouped report's total per group, summed over its cohorts.
        func handedOff(_ report: [String: Any], group: String) -> Int {
            (report["rows"] as? [[String: Any]] ?? []).filter { $0["group"] as? String == group }.reduce(0) { $0 + ($1["handedOff"] as? Int ?? 0) }
        }
        for (dimension, option) in [("channel", "--channel"), ("owner", "--owner"), ("definition", "--definition")] {
            let grouped = try json(["funnel", "--bucket", "month", "--by", dimension])
            let groups = Set((grouped["rows"] as? [[String: Any]] ?? []).compactMap { $0["group"] as? String }).filter { $0 != "(none)" }
            let group = try #require(groups.sorted().first)
            let filtered = try json(["funnel", "--bucket", "month", option, group])
            let total = (filtered["total"] as? [String: Any])?["handedOff"] as? Int
            #expect(total == handedOff(grouped, group: group), "\(option) \(group)")
            #expect(total ?? 0 < (grouped["total"] as? [String: Any])?["handedOff"] as? Int ?? 0)
        }
        let channel = try json(["trends", "--by", "channel"])
        let paid = try json(["trends", "--channel", "paid_search"])
        let byGroup = (channel["rows"] as? [[String: Any]] ?? []).filter { $0["group"] as? String == "paid_search" }.reduce(0) { $0 + ($1["handedOff"] as? Int ?? 0) }
        #expect(byGroup > 0)
        #expect((paid["rows"] as? [[String: Any]] ?? []).reduce(0) { $0 + ($1["handedOff"] as? Int ?? 0) } == byGroup)
        let unknown = try json(["sla", "--owner", "nobody-at-all"])
        let firstTouch = (unknown["firstTouch"] as? [String: Any])?["total"] as? [String: Any]
        #expect(firstTouch?["met"] as? Int == 0)
        #expect(firstTouch?["breached"] as? Int == 0)
        let refused = try cli.run(["profile", "--definition=-1"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("--definition: expected a version from 0 to 2147483647, found -1"))
    }
}
