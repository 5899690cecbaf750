import Foundation
import Testing

@Suite("API keys changed by many processes at once")
struct KeyUpdateTests {
    /// Starts the CLI without waiting for it; `wait()` collects its exit status and standard output.
    final class Running {
        let process = Process()
        let output = Pipe()

        init(_ arguments: [String], ledger: String) throws {
            process.executableURL = CLI.binary
            process.arguments = arguments + ["--ledger", ledger]
            var environment = ProcessInfo.processInfo.environment
            environment["LEADLEDGER_PATH"] = nil
            process.environment = environment
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        func wait() -> (status: Int32, stdout: String) {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }

    struct Listed: Decodable {
        let id: String
        let revokedAt: String?
    }

    @Test("concurrent `keys add` and `keys revoke` runs all take effect: no add is lost, no revoke undone")
    func concurrentChangesAreNotLost() throws {
        let cli = CLI()
        defer { try? FileManager.default.removeItem(atPath: cli.ledger) }
        try #require(cli.run(["init"]).status == 0)
        var existing: [String] = []
        for _ in 0..<10 {
            let added = try cli.run(["keys", "add", "--scope", "read"])
            try #require(added.status == 0)
            existing.append(String(added.stdout.split(separator: "_")[1]))
        }

        // Twenty adds and ten revokes, all started before any is waited for: each reads the keys and
        // writes them back, so any read taken outside the writing transaction loses others' changes.
        var runs: [Running] = []
        for i in 0..<30 {
            if i % 3 == 0 {
                runs.append(try Running(["keys", "revoke", existing[i / 3]], ledger: cli.ledger))
            } else {
                runs.append(try Running(["keys", "add", "--scope", "append"], ledger: cli.ledger))
            }
        }
        let results = runs.map { $0.wait() }
        #expect(results.allSatisfy { $0.status == 0 }, "every run reported success: \(results.map(\.status))")
        let secrets = results.enumerated().filter { $0.offset % 3 != 0 }.map {
            $0.element.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let addedIDs = Set(secrets.map { String($0.split(separator: "_")[1]) })
        #expect(addedIDs.count == 20)

        let listed = try JSONDecoder().decode([Listed].self, from: Data(cli.run(["keys", "list", "--format", "json"]).stdout.utf8))
        let byID = Dictionary(uniqueKeysWithValues: listed.map { ($0.id, $0) })
        #expect(listed.count == 30, "10 keys before, 20 added at once")
        #expect(addedIDs.isSubset(of: Set(byID.keys)), "every key whose secret was printed is stored")
        for id in existing {
            #expect(byID[id]?.revokedAt != nil, "key \(id) was revoked and stays revoked")
        }
        #expect(addedIDs.allSatisfy { byID[$0]?.revokedAt == nil })
    }
}
