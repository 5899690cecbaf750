import Foundation
import Testing

@Suite("Out-of-range numbers and import reports, at the command line")
struct OutOfRangeInputTests {
    @Test("a score the analyses cannot hold is refused naming the field; the ledger is unchanged")
    func hugeScoreRefused() throws {
        let cli = CLI()
        defer { try? FileManager.default.removeItem(atPath: cli.ledger) }
        try cli.run(["init", "--taxonomy", "starter"])
        try cli.run(["append", "-"], stdin: history)
        let head = try cli.head()
        let result = try cli.run(
            ["append", "-"], stdin: event(40, "lead.scored", lead: "00QA", at: "2026-03-06T10:00:00Z", data: #"{"score":1e20}"#))
        #expect(result.status == 1)
        #expect(result.stderr.contains("field \"data.score\""))
        #expect(result.stderr.contains("from -1000000 to 1000000"))
        #expect(try cli.head() == head)
    }

    @Test("what-if refuses a band width it cannot band with, before reading the ledger, with exit 64")
    func bandWidthRefused() throws {
        let cli = CLI()
        defer { try? FileManager.default.removeItem(atPath: cli.ledger) }
        try cli.run(["init"])
        try cli.run(["append", "-"], stdin: history)
        let candidate = try cli.write(#"{"name":"stricter","rules":{"field":"score","gte":60}}"#, to: "candidate.json")
        for width in ["1e300", "0", "-3", "nan"] {
            let result = try cli.run(["what-if", "--band-width", width, candidate])
            #expect(result.status == 64, "--band-width \(width): \(result.stderr)")
            #expect(result.stderr.contains("--band-width"), "\(result.stderr)")
        }
        #expect(try cli.run(["what-if", "--band-width", "2.5", candidate]).status == 0)
    }

    @Test("import --json reports the counts and whether the import was atomic")
    func importJSON() throws {
        let cli = CLI()
        defer { try? FileManager.default.removeItem(atPath: cli.ledger) }
        let folder = fixtures.appendingPathComponent("olist").path
        struct Outcome: Decodable {
            let delivery: String
            let batches: Int
            let appended: Int
            let duplicates: Int
        }
        let first = try cli.run(["import", "olist", "--json", folder])
        #expect(first.status == 0, "\(first.stderr)")
        let outcome = try JSONDecoder().decode(Outcome.self, from: Data(first.stdout.utf8))
        #expect(outcome.delivery == "atomic")
        #expect(outcome.batches == 1)
        #expect(outcome.appended > 0)
        #expect(outcome.duplicates == 0)
        let second = try JSONDecoder().decode(Outcome.self, from: Data(try cli.run(["import", "olist", "--json", folder]).stdout.utf8))
        #expect(second.appended == 0)
        #expect(second.duplicates == outcome.appended)
        let text = try cli.run(["import", "olist", folder])
        #expect(text.stdout.contains("already in the ledger, in one atomic batch"))
    }
}
