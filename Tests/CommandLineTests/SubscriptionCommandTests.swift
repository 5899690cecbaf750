import Foundation
import Testing

@Suite("leadledger subscriptions")
struct SubscriptionCommandTests {
    struct Listed: Decodable {
        let id: String
        let paused: Bool
        let cursor: UInt64
        let types: [String]
    }

    @Test("add prints an id and a secret; list, pause, resume, parked, redeliver and remove act on it; bad input names what was wrong")
    func lifecycle() throws {
        let cli = CLI()
        defer { try? FileManager.default.removeItem(atPath: cli.ledger) }
        try #require(cli.run(["init"]).status == 0)
        let added = try cli.run(["subscriptions", "add", "https://hooks.example.com/x", "--types", "lead.rejected,definition.published"])
        try #require(added.status == 0, "\(added.stderr)")
        let lines = added.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.last?.hasPrefix("whsec_") == true)
        let id = lines[0]

        func listed() throws -> [Listed] {
            try JSONDecoder().decode([Listed].self, from: Data(try cli.run(["subscriptions", "list", "--format", "json"]).stdout.utf8))
        }
        #expect(try listed().map(\.id) == [id])
        #expect(try listed().first?.types == ["lead.rejected", "definition.published"])
        #expect(try cli.run(["subscriptions", "pause", id]).status == 0)
        #expect(try listed().first?.paused == true)
        #expect(try cli.run(["subscriptions", "resume", id]).status == 0)
        #expect(try listed().first?.paused == false)
        let parked = try cli.run(["subscriptions", "parked", id]).stdout
        #expect((try JSONSerialization.jsonObject(with: Data(parked.utf8)) as? [Any])?.isEmpty == true, "\(parked)")
        #expect(try cli.run(["subscriptions", "redeliver", id]).stdout.contains("queued 0"))

        let badType = try cli.run(["subscriptions", "add", "https://hooks.example.com/x", "--types", "lead.nope"])
        #expect(badType.status == 64)
        #expect(badType.stderr.contains("lead.nope"))
        let badURL = try cli.run(["subscriptions", "add", "ftp://x", "--types", "lead.rejected"])
        #expect(badURL.status == 64)
        let pastHead = try cli.run(["subscriptions", "add", "https://h.example.com", "--types", "lead.rejected", "--from", "5"])
        #expect(pastHead.status == 64)
        #expect(pastHead.stderr.contains("--from 5"))

        #expect(try cli.run(["subscriptions", "remove", id]).status == 0)
        #expect(try listed().isEmpty)
        #expect(try cli.run(["subscriptions", "pause", id]).status == 3)
    }
}
