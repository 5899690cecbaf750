import Foundation
import Testing

@Suite("append: one meaning of a place in the batch")
struct BatchPlaceTests {
    @Test("a JSON array's refusals name the item, from the decoder and from validation alike, as the HTTP API does")
    func arrayItems() throws {
        let cli = CLI()
        try cli.run(["init", "--taxonomy", "starter"])
        let head = try cli.head()
        let captured = event(40, "lead.captured", lead: "00QK", at: "2026-03-05T09:00:00Z", data: #"{"channel":"email"}"#)
        let undecodable = try cli.run(["append", "-"], stdin: "[\n\(captured),\n{\"id\": 3}\n]")
        #expect(undecodable.status == 1)
        #expect(undecodable.stderr.contains("item 1"), "\(undecodable.stderr)")
        #expect(!undecodable.stderr.contains("line 3"), "\(undecodable.stderr)")
        let accepted = event(41, "lead.accepted", lead: "00QL", at: "2026-03-05T10:00:00Z", data: "{}")
        let invalid = try cli.run(["append", "-"], stdin: "[\n\(captured),\n\(accepted)\n]")
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("item 1"), "\(invalid.stderr)")
        #expect(invalid.stderr.contains("open episode"), "\(invalid.stderr)")
        #expect(!invalid.stderr.contains("line 2"), "\(invalid.stderr)")
        #expect(try cli.head() == head)
    }

    @Test("an unnamed candidate file is named by its place, as the API names one")
    func unnamedCandidate() throws {
        let cli = CLI()
        try cli.run(["init", "--taxonomy", "starter"])
        let file = try cli.write(#"{"rules":{"field":"score","gte":80}}"#, to: "unnamed.json")
        let result = try cli.run(["what-if", "--format", "json", file])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(#""name" : "candidate 1""#), "\(result.stdout.prefix(400))")
    }
}
