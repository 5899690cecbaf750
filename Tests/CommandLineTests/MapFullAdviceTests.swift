import Foundation
import Testing

@Suite("Map-full advice on the command line")
struct MapFullAdviceTests {
    @Test("an append that fills the map is refused, the ledger unchanged, and the command line names --map-size with a size")
    func mapFullNamesTheFlag() throws {
        let cli = CLI()
        defer { try? FileManager.default.removeItem(atPath: cli.ledger) }
        let blob = String(repeating: "x", count: 900)
        let lines = (1...3000).map {
            event(
                $0, "lead.captured", lead: "L\($0)", at: "2026-01-01T00:00:00Z",
                data: "{\"channel\":\"web\",\"attributes\":{\"blob\":\"\(blob)\"}}")
        }
        let file = try cli.write(lines.joined(separator: "\n") + "\n", to: "big.ndjson")
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try cli.run(["init", "--map-size", "1M"]).status == 0)
        let before = try cli.head()
        let refused = try cli.run(["append", "--map-size", "1M", file])
        #expect(refused.status == 5)
        #expect(refused.stderr.contains("Reopen the ledger with a larger map size (for example 1 GiB)"))
        #expect(refused.stderr.contains("run the command again with --map-size 1G"))
        #expect(try cli.head() == before)
        #expect(try cli.run(["append", "--map-size", "1G", file]).status == 0)
    }
}
