import Foundation
import Testing

@Suite("leadledger propose, review, publish, proposals and suggest")
struct ProposalCommandTests {
    @Test("an unapproved publish is refused with exit 1 naming the missing role; after approval it publishes, and the evidence re-runs identically")
    func lifecycle() throws {
        let cli = CLI()
        defer { try? FileManager.default.removeItem(atPath: cli.ledger) }
        try #require(cli.run(["demo", "--leads", "400", "--seed", "5"]).status == 0)
        let setting = try cli.run(["init", "--require-approval", "sales,marketing"])
        try #require(setting.status == 0, "\(setting.stderr)")
        #expect(setting.stdout.contains("marketing, sales"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("proposal-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try #"{"name":"Score 75","rules":{"all":[{"field":"score","gte":75}]}}"#.write(toFile: file, atomically: true, encoding: .utf8)

        let proposed = try cli.run(["propose", "score-75", file, "--rationale", "fewer not-ready rejections", "--actor", "user:ana"])
        try #require(proposed.status == 0, "\(proposed.stderr)")
        #expect(try cli.run(["review", "score-75", "--role", "marketing", "--approve"]).status == 0)
        #expect(try cli.run(["review", "score-75", "--role", "sales", "--decline", "--note", "too strict"]).status == 0)

        // The attack: publish what sales declined.
        let refused = try cli.run(["publish", "score-75", "--effective-at", "2027-01-01"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("missing approvals: sales"), "\(refused.stderr)")
        #expect(refused.stderr.contains("data.proposal"), "\(refused.stderr)")

        let listed = try cli.run(["proposals"])
        #expect(listed.stdout.contains("score-75"))
        #expect(listed.stdout.contains("declined"))
        #expect(listed.stdout.contains("marketing: approved, sales: declined"), "\(listed.stdout)")

        #expect(try cli.run(["review", "score-75", "--role", "sales", "--approve"]).status == 0)
        let published = try cli.run(["publish", "score-75", "--effective-at", "2027-01-01"])
        #expect(published.status == 0, "\(published.stderr)")
        struct Report: Decodable {
            struct Proposal: Decodable {
                let proposal: String
                let status: String
                let publishedVersion: Int?
            }
            let proposals: [Proposal]
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(try cli.run(["proposals", "--format", "json"]).stdout.utf8))
        #expect(report.proposals.map(\.status) == ["published"])
        #expect(report.proposals.first?.publishedVersion == 6)

        let recheck = try cli.run(["proposals", "--recheck", "score-75"])
        #expect(recheck.status == 0, "\(recheck.stderr)")
        #expect(recheck.stdout.contains("byte-identical"))
        #expect(try cli.run(["verify"]).status == 0)

        let badRole = try cli.run(["review", "score-75", "--role", "Sales Team", "--approve"])
        #expect(badRole.status == 1)
        #expect(badRole.stderr.contains("data.role"), "\(badRole.stderr)")
        let unknown = try cli.run(["publish", "nobody", "--effective-at", "2027-01-01"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no such proposal"))
    }

    @Test("suggest names the split and reports each candidate like a what-if")
    func suggest() throws {
        let cli = CLI()
        defer { try? FileManager.default.removeItem(atPath: cli.ledger) }
        try #require(cli.run(["demo", "--leads", "1500", "--seed", "9"]).status == 0)
        let out = try cli.run(["suggest", "--max-lost-wins", "25", "--limit", "3"])
        try #require(out.status == 0, "\(out.stderr)")
        #expect(out.stdout.contains("fitted on"))
        #expect(out.stdout.contains("judged on"))
        #expect(out.stdout.contains("split"))
        #expect(out.stdout.contains("ESTIMATE"))
        let bad = try cli.run(["suggest", "--max-lost-wins", "250"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--max-lost-wins"))
    }
}
