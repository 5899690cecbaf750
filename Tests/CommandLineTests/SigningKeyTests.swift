import Foundation
import Testing

@Suite("Standard Webhooks signing secrets from the command line")
struct SigningKeyTests {
    struct Listed: Decodable {
        let id: String
        let signingSecrets: Int
    }

    @Test("`keys add --signing` prints a key and a whsec_ secret; `keys rotate-signing` keeps two valid, `--drop-previous` one")
    func signingSecrets() throws {
        let cli = CLI()
        defer { try? FileManager.default.removeItem(atPath: cli.ledger) }
        try #require(cli.run(["init"]).status == 0)
        let added = try cli.run(["keys", "add", "--scope", "append", "--signing"])
        try #require(added.status == 0)
        let lines = added.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("llk_") == true)
        #expect(lines.last?.hasPrefix("whsec_") == true)
        #expect(lines.last.flatMap { Data(base64Encoded: String($0.dropFirst(6))) }?.count == 24)
        let id = String(lines[0].split(separator: "_")[1])

        func count() throws -> Int? {
            let listed = try cli.run(["keys", "list", "--format", "json"])
            return try JSONDecoder().decode([Listed].self, from: Data(listed.stdout.utf8)).first { $0.id == id }?.signingSecrets
        }
        #expect(try count() == 1)
        let rotated = try cli.run(["keys", "rotate-signing", id])
        #expect(rotated.status == 0)
        #expect(rotated.stdout.hasPrefix("whsec_"))
        #expect(rotated.stdout.trimmingCharacters(in: .whitespacesAndNewlines) != lines[1])
        #expect(try count() == 2)
        #expect(try cli.run(["keys", "rotate-signing", id, "--drop-previous"]).status == 0)
        #expect(try count() == 1)
        let unknown = try cli.run(["keys", "rotate-signing", "000000000000"])
        #expect(unknown.status == 3)
        #expect(unknown.stderr.contains("000000000000"))
    }
}
