import Foundation
import Testing

/// Splits CSV text (RFC 4180: quoted fields, doubled quotes) into rows of fields; `nil` is an
/// empty unquoted field (null), `""` a quoted empty one.
private func parseCSV(_ text: String) -> [[String?]] {
    var rows: [[String?]] = []
    var row: [String?] = []
    var field = ""
    var quoted = false, inQuotes = false
    var characters = Array(text)[...]
    while let c = characters.popFirst() {
        if inQuotes {
            if c == "\"" {
                if characters.first == "\"" {
                    field.append("\"")
                    characters.removeFirst()
                } else {
                    inQuotes = false
                }
            } else {
                field.append(c)
            }
            continue
        }
        switch c {
        case "\"":
            inQuotes = true
            quoted = true
        case ",", "\n":
            row.append(field.isEmpty && !quoted ? nil : field)
            field = ""
            quoted = false
            if c == "\n" {
                rows.append(row)
                row = []
            }
        default: field.append(c)
        }
    }
    return rows
}

/// Whether a CSV cell reads as the SQL type the export documents for its column.
private func reads(_ cell: String, as type: String) -> Bool {
    switch type {
    case "VARCHAR": return true
    case "BIGINT": return Int64(cell) != nil
    case "DOUBLE": return Double(cell) != nil && (cell.contains(".") || cell.contains("e"))
    case "BOOLEAN": return cell == "true" || cell == "false"
    case "DATE": return cell.count == 10 && cell.wholeMatch(of: /\d{4}-\d{2}-\d{2}/) != nil
    case "TIMESTAMPTZ": return cell.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/) != nil
    default: return false
    }
}

/// The README's column table of one exported table: `| column | TYPE | meaning |` rows under its heading.
private func documentedColumns(_ table: String) throws -> [(name: String, type: String)] {
    let readme = try String(contentsOf: fixtures.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md"), encoding: .utf8)
    guard let start = readme.range(of: "#### `\(table)`") else { return [] }
    var columns: [(String, String)] = []
    for line in readme[start.upperBound...].split(separator: "\n").dropFirst() {
        if line.hasPrefix("####") || line.hasPrefix("## ") || line.hasPrefix("### ") { break }
        let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        guard cells.count >= 3, cells[0].hasPrefix("`") else { continue }
        columns.append((cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`")), cells[1]))
    }
    return columns
}

@Suite("leadledger export: the warehouse tables")
struct ExportTests {
    func ledgerWithHistory(_ more: [String] = []) throws -> CLI {
        let cli = CLI()
        try cli.run(["init", "--taxonomy", "starter"])
        let appended = try cli.run(["append", "-"], stdin: history + more.map { $0 + "\n" }.joined())
        #expect(appended.status == 0, "\(appended.stderr)")
        return cli
    }

    /// A service level (UTC, Monday to Friday 09:00–17:00, first touch within 2 business hours,
    /// decision within 8), a call on 00QB an hour after its hand-off, and its conversion and win.
    static let feedback = [
        event(
            50, "sla.published", lead: nil, at: "2026-01-01T00:00:00Z",
            data:
                #"{"version":1,"name":"2h touch","effectiveAt":"2026-01-01T00:00:00Z","firstTouchWithin":2,"decisionWithin":8,"calendar":{"timeZone":"UTC","workdays":[1,2,3,4,5],"start":"09:00","end":"17:00"}}"#
        ),
        event(51, "lead.touched", lead: "00QB", at: "2026-03-03T11:00:00Z", data: #"{"activity":"call"}"#),
        event(52, "lead.converted", lead: "00QB", at: "2026-03-05T10:00:00Z", data: #"{"opportunity":"OPP-1","amount":5000,"currency":"EUR"}"#),
        event(53, "lead.closed", lead: "00QB", at: "2026-03-10T10:00:00Z", data: #"{"won":true,"amount":5000}"#),
    ]

    @Test("every table's CSV header is the README's column list, and every cell reads as the column's documented type")
    func headerAndTypingContract() throws {
        let cli = try ledgerWithHistory(Self.feedback)
        for table in ["episodes", "history", "daily"] {
            let documented = try documentedColumns(table)
            #expect(!documented.isEmpty, "README documents no columns for \(table)")
            let result = try cli.run(["export", table])
            #expect(result.status == 0, "\(result.stderr)")
            let rows = parseCSV(result.stdout)
            try #require(rows.count > 1, "\(table): \(result.stdout)")
            #expect(rows[0].map { $0 ?? "" } == documented.map(\.name), "\(table) header")
            for row in rows.dropFirst() {
                #expect(row.count == documented.count, "\(table): \(row)")
                for (cell, column) in zip(row, documented) {
                    guard let cell else { continue }
                    #expect(reads(cell, as: column.type), "\(table).\(column.name) = \(cell) is not \(column.type)")
                }
            }
            // JSON Lines: the same columns, in order, on every line; nulls present.
            let jsonl = try cli.run(["export", table, "--format", "jsonl"])
            #expect(jsonl.status == 0)
            let lines = jsonl.stdout.split(separator: "\n")
            #expect(lines.count == rows.count - 1)
            for line in lines {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(Set(object.keys) == Set(documented.map(\.name)))
            }
        }
    }

    @Test("the episodes table: one row per episode with its hand-off, dimensions, outcome, times and reason")
    func episodesTable() throws {
        let cli = try ledgerWithHistory()
        let rows = parseCSV(try cli.run(["export", "episodes"]).stdout)
        #expect(rows.count == 3)
        let header = rows[0].map { $0 ?? "" }
        func row(_ lead: String) -> [String: String?] {
            guard let found = rows.first(where: { $0.first == lead }) else { return [:] }
            return Dictionary(uniqueKeysWithValues: zip(header, found))
        }
        let a = row("00QA"), b = row("00QB")
        #expect(a["episode"] == "1")
        #expect(a["handed_off_at"] == "2026-03-02T10:00:00Z")
        #expect(a["owner"] == "rep:jo")
        #expect(a["channel"] == "email")
        #expect(a["campaign"] == .some(nil))
        #expect(a["definition"] == "1")
        #expect(a["score_at_hand_off"] == "72.0")
        #expect(a["outcome"] == "rejected")
        #expect(a["decided_at"] == "2026-03-02T14:00:00Z")
        #expect(a["hours_to_decision"] == "4.0")
        #expect(a["reason"] == "FIT_COMPANY.TOO_SMALL")
        #expect(a["reason_corrected"] == "false")
        // No definition named: the one in force at the hand-off.
        #expect(b["definition"] == "1")
        #expect(b["outcome"] == "accepted")
        #expect(b["hours_to_decision"] == "24.0")
        #expect(b["score_at_hand_off"] == .some(nil))
        #expect(b["reason"] == .some(nil))
        #expect(b["reason_corrected"] == .some(nil))
        #expect(b["converted_at"] == .some(nil))
        #expect(a["sla_version"] == .some(nil))
    }

    @Test("the episodes table carries the first touch, conversion, win and service-level statuses, worked by hand")
    func episodesFeedbackColumns() throws {
        let cli = try ledgerWithHistory(Self.feedback)
        let rows = parseCSV(try cli.run(["export", "episodes", "--as-of-occurred", "2026-03-31"]).stdout)
        let header = rows[0].map { $0 ?? "" }
        func row(_ lead: String) -> [String: String?] {
            guard let found = rows.first(where: { $0.first == lead }) else { return [:] }
            return Dictionary(uniqueKeysWithValues: zip(header, found))
        }
        // 00QA: handed off Monday 10:00; its rejection at 14:00 is its first touch, 4 business hours
        // in (the 2-hour deadline was 12:00); the decision deadline, 8 business hours, falls on
        // Tuesday 10:00 (7 hours on Monday, 1 on Tuesday), and 14:00 on Monday meets it.
        let a = row("00QA")
        #expect(a["first_touch_at"] == "2026-03-02T14:00:00Z")
        #expect(a["first_touch_deadline"] == "2026-03-02T12:00:00Z")
        #expect(a["first_touch_status"] == "breached")
        #expect(a["decision_deadline"] == "2026-03-03T10:00:00Z")
        #expect(a["decision_status"] == "met")
        #expect(a["business_hours_to_first_touch"] == "4.0")
        #expect(a["sla_owner"] == "rep:jo")
        #expect(a["converted_at"] == .some(nil))
        #expect(a["won"] == .some(nil))
        // 00QB: handed off Tuesday 10:00, called at 11:00 (met by 12:00), accepted Wednesday 10:00,
        // exactly at its decision deadline (met); converted for 5,000 EUR and won.
        let b = row("00QB")
        #expect(b["sla_version"] == "1")
        #expect(b["first_touch_at"] == "2026-03-03T11:00:00Z")
        #expect(b["first_touch_status"] == "met")
        #expect(b["business_hours_to_first_touch"] == "1.0")
        #expect(b["decision_deadline"] == "2026-03-04T10:00:00Z")
        #expect(b["decision_status"] == "met")
        #expect(b["converted_at"] == "2026-03-05T10:00:00Z")
        #expect(b["pipeline_amount"] == "5000.0")
        #expect(b["currency"] == "EUR")
        #expect(b["closed_at"] == "2026-03-10T10:00:00Z")
        #expect(b["won"] == "true")
        #expect(b["won_amount"] == "5000.0")
        let daily = try cli.run(["export", "daily"]).stdout
        #expect(daily.contains("2026-03-05,webinar,0,0,0,0,0,1,0\n"))
        #expect(daily.contains("2026-03-10,webinar,0,0,0,0,0,0,1\n"))
    }

    @Test("the history table holds each state and attribute as a validity interval, closed by the next value")
    func historyTable() throws {
        let cli = try ledgerWithHistory()
        let text = try cli.run(["export", "history"]).stdout
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.first == "lead,kind,name,value,valid_from,valid_to,position")
        #expect(
            Array(lines.dropFirst().prefix(7)) == [
                "00QA,attribute,country,US,2026-03-02T09:00:00Z,,36",
                "00QA,state,stage,captured,2026-03-02T09:00:00Z,2026-03-02T10:00:00Z,36",
                "00QA,state,channel,email,2026-03-02T09:00:00Z,,36",
                "00QA,state,score,72.0,2026-03-02T09:30:00Z,,37",
                "00QA,state,stage,handed_off,2026-03-02T10:00:00Z,2026-03-02T14:00:00Z,38",
                "00QA,state,owner,rep:jo,2026-03-02T10:00:00Z,,38",
                "00QA,state,stage,rejected,2026-03-02T14:00:00Z,,39",
            ])
        #expect(lines.contains("00QB,state,stage,accepted,2026-03-04T10:00:00Z,,42"))
    }

    @Test("the daily snapshot counts per day and channel what was handed off, decided and still open at the day's end")
    func dailyTable() throws {
        let cli = try ledgerWithHistory()
        let text = try cli.run(["export", "daily"]).stdout
        #expect(
            text == """
                day,channel,open_at_end,handed_off,accepted,rejected,recycled,converted,won
                2026-03-02,email,0,1,0,1,0,0,0
                2026-03-02,webinar,0,0,0,0,0,0,0
                2026-03-03,email,0,0,0,0,0,0,0
                2026-03-03,webinar,1,1,0,0,0,0,0
                2026-03-04,email,0,0,0,0,0,0,0
                2026-03-04,webinar,0,0,1,0,0,0,0

                """)
        // As of the end of 3 March (business time) the webinar lead is still open, and 4 March is not there yet.
        let cut = try cli.run(["export", "daily", "--as-of-occurred", "2026-03-03"]).stdout
        #expect(cut.hasSuffix("2026-03-03,webinar,1,1,0,0,0,0,0\n"))
    }

    @Test("--out writes the file whole; a directory that does not exist is a storage error that leaves nothing behind")
    func outFile() throws {
        let cli = try ledgerWithHistory()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("episodes.jsonl").path
        let written = try cli.run(["export", "episodes", "--format", "jsonl", "--out", path])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(written.stdout.isEmpty)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["episodes.jsonl"])
        let missing = try cli.run(["export", "daily", "--out", directory.appendingPathComponent("no/such/daily.csv").path])
        #expect(missing.status == 5)
        #expect(missing.stderr.contains("cannot create"))
        let badTable = try cli.run(["export", "leads"])
        #expect(badTable.status == 64)
        let badCut = try cli.run(["export", "daily", "--as-of-occurred", "soon"])
        #expect(badCut.status == 64)
        #expect(badCut.stderr.contains("--as-of-occurred"))
    }
}
