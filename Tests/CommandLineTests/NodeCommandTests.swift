import Foundation
import PostgresHarness
import Testing

/// A `leadledger serve --cluster` child process and its port.
final class NodeProcess {
    let process = Process()
    let port: Int
    let stderr = Pipe()

    init(ledger: String, cluster: String, tenant: String, anonymous: Bool = true) throws {
        process.executableURL = CLI.binary
        process.arguments =
            ["serve", "--ledger", ledger, "--cluster", cluster, "--tenant", tenant, "--port", "0"] + (anonymous ? ["--allow-anonymous"] : [])
        let out = Pipe()
        process.standardOutput = out
        process.standardError = stderr
        try process.run()
        var text = ""
        while !text.contains("\n") {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let match = text.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            process.waitUntilExit()
            throw CLIProblem("the node did not start: \(text) \(String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        }
        port = match
    }

    func get(_ path: String) throws -> String { try curl(["http://127.0.0.1:\(port)\(path)"]) }

    /// The HTTP status of a GET with `key` as bearer (none without).
    func status(_ path: String, key: String?) throws -> Int {
        let auth = key.map { ["-H", "Authorization: Bearer \($0)"] } ?? []
        return Int(try curl(["-o", "/dev/null", "-w", "%{http_code}"] + auth + ["http://127.0.0.1:\(port)\(path)"])) ?? -1
    }

    func post(_ path: String, ndjson: String) throws -> String {
        try curl(["-X", "POST", "-H", "Content-Type: application/x-ndjson", "--data-binary", ndjson, "http://127.0.0.1:\(port)\(path)"])
    }

    func health() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(try get("/health").utf8)) as! [String: Any]
    }

    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    private func curl(_ arguments: [String]) throws -> String {
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-sS", "--max-time", "30"] + arguments
        let out = Pipe()
        curl.standardOutput = out
        try curl.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        curl.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Whether `condition` holds within 10 seconds.
func eventually(_ condition: () throws -> Bool) throws -> Bool {
    for _ in 0..<100 {
        if try condition() { return true }
        usleep(100_000)
    }
    return false
}

struct CLIProblem: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@Suite("leadledger serve --cluster: nodes over HTTP", .enabled(if: PostgresTestCluster.isAvailable, "PostgreSQL 15 is not installed"))
struct NodeCommandTests {
    @Test("a node checks the tenant's keys in the log of record: another tenant's key is an unknown key, a revoked one stops working")
    func keysInTheLogOfRecord() async throws {
        try await PostgresTestCluster.withShared { cluster in
            let tenant = "cli-keys-\(UInt32.random(in: 0...UInt32.max))"
            let other = tenant + "-other"
            let cli = CLI()
            defer { try? FileManager.default.removeItem(atPath: cli.ledger) }
            for name in [tenant, other] {
                #expect(try cli.run(["cluster", "init", "--cluster", cluster.url, "--tenant", name], withLedger: false).status == 0)
            }
            func addKey(_ name: String) throws -> String {
                let added = try cli.run(["keys", "add", "--cluster", cluster.url, "--tenant", name, "--scope", "read"], withLedger: false)
                #expect(added.status == 0, "\(added.stderr)")
                return String(added.stdout.split(separator: "\n").first ?? "")
            }
            let mine = try addKey(tenant)
            let theirs = try addKey(other)
            let node = try NodeProcess(ledger: cli.ledger, cluster: cluster.url, tenant: tenant, anonymous: false)
            defer { node.stop() }
            #expect(try node.status("/v1/trends", key: mine) == 200, "a key added with --cluster opens the node")
            #expect(try node.status("/v1/trends", key: theirs) == 401, "another tenant's key is refused")
            #expect(try node.status("/v1/trends", key: "llk_made_up_secret") == 401)
            #expect(try node.status("/v1/trends", key: nil) == 401)
            let id = String(mine.dropFirst(4).prefix { $0 != "_" })
            let revoked = try cli.run(["keys", "revoke", "--cluster", cluster.url, "--tenant", tenant, id], withLedger: false)
            #expect(revoked.status == 0, "\(revoked.stderr)")
            #expect(try eventually { try node.status("/v1/trends", key: mine) == 401 }, "a revoked key stops working on the node")
        }
    }

    @Test(
        "two nodes serve the same trends; a node killed with SIGKILL and restarted fetches only what it lacks; a copy of another chain is refused"
    )
    func nodes() async throws {
        try await PostgresTestCluster.withShared { cluster in
            let tenant = "cli-node-\(UInt32.random(in: 0...UInt32.max))"
            let cli = CLI()
            let (one, two) = (CLI(), CLI())
            defer { for path in [cli.ledger, one.ledger, two.ledger] { try? FileManager.default.removeItem(atPath: path) } }
            try cli.run(["init", "--taxonomy", "starter"])
            #expect(try cli.run(["append", "-"], stdin: history).status == 0)
            let migratedEmail = "migrated.\(UUID().uuidString.lowercased())@example.com"
            let migratedPersonal = event(
                50, "lead.captured", lead: "00QP", at: "2026-03-04T11:00:00Z", data: #"{"channel":"email","attributes":{"email":"\#(migratedEmail)"}}"#)
            #expect(try cli.run(["append", "-"], stdin: migratedPersonal + "\n").status == 0)
            #expect(try cli.run(["cluster", "init", "--cluster", cluster.url, "--tenant", tenant], withLedger: false).status == 0)
            let migrated = try cli.run(["cluster", "migrate", "--cluster", cluster.url, "--tenant", tenant])
            #expect(migrated.status == 0, "\(migrated.stderr)")
            let migratedHead = try cli.head()

            // A directory that does not exist becomes a copy of the tenant, filled by catch-up.
            let node1 = try NodeProcess(ledger: one.ledger, cluster: cluster.url, tenant: tenant)
            defer { node1.stop() }
            let health = try node1.health()
            let lag = try #require(health["node"] as? [String: Any])
            let fetched = lag["recordsFetched"] as? Int ?? -1
            #expect(fetched > 0 && health["head"] as? Int == fetched, "a fresh copy reads the whole tenant: \(health)")
            #expect(lag["positionsBehind"] as? Int == 0 && lag["tenant"] as? String == tenant)
            #expect(try node1.get("/v1/leads/00QP").contains(migratedEmail), "the migrated ledger's keys went with its records")

            let more = [
                event(101, "lead.captured", lead: "00QC", at: "2026-03-05T09:00:00Z", data: #"{"channel":"email"}"#),
                event(102, "lead.handed_off", lead: "00QC", at: "2026-03-05T10:00:00Z", data: #"{"owner":"rep:jo","definition":1}"#),
            ].joined(separator: "\n")
            let appended = try node1.post("/v1/events", ndjson: more)
            #expect(appended.contains("\"positions\":[\(fetched + 1),\(fetched + 2)]"), "\(appended)")

            var node2 = try NodeProcess(ledger: two.ledger, cluster: cluster.url, tenant: tenant)
            #expect(try node2.get("/v1/trends?by=channel") == (try node1.get("/v1/trends?by=channel")), "both nodes answer from the same history")
            let head = try node2.health()["head"] as? Int ?? -1
            #expect(head == fetched + 2)
            node2.kill()

            let later = [
                event(103, "lead.accepted", lead: "00QC", at: "2026-03-06T10:00:00Z", data: #"{"by":"rep:jo"}"#),
                event(104, "lead.captured", lead: "00QD", at: "2026-03-06T11:00:00Z", data: #"{"channel":"webinar"}"#),
                event(105, "lead.captured", lead: "00QE", at: "2026-03-06T12:00:00Z", data: #"{"channel":"webinar"}"#),
            ].joined(separator: "\n")
            let laterReply = try node1.post("/v1/events", ndjson: later)
            #expect(laterReply.contains("\"positions\":[\(head + 1),\(head + 2),\(head + 3)]"), "\(laterReply)")

            node2 = try NodeProcess(ledger: two.ledger, cluster: cluster.url, tenant: tenant)
            defer { node2.stop() }
            let restarted = try node2.health()
            #expect(restarted["head"] as? Int == head + 3)
            #expect(
                (restarted["node"] as? [String: Any])?["recordsFetched"] as? Int == 3,
                "the restarted node reads the 3 records past its own head, not the \(head + 3) of the tenant: \(restarted)")
            // A node appends too: node 1 is stale until its follower catches up, and still appends onto one chain.
            let fromTwo = event(106, "lead.handed_off", lead: "00QE", at: "2026-03-07T10:00:00Z", data: #"{"owner":"rep:al","definition":1}"#)
            let fromTwoReply = try node2.post("/v1/events", ndjson: fromTwo)
            #expect(fromTwoReply.contains("\"positions\":[\(head + 4)]"), "\(fromTwoReply)")
            // Accepting needs node 2's hand-off: judged on node 1's copy at the fenced head, not a stale one.
            let accepted = event(107, "lead.accepted", lead: "00QE", at: "2026-03-07T11:00:00Z", data: #"{"by":"rep:al"}"#)
            let acceptedReply = try node1.post("/v1/events", ndjson: accepted)
            #expect(acceptedReply.contains("\"positions\":[\(head + 5)]"), "\(acceptedReply)")
            let verified = try cli.run(["cluster", "verify", "--cluster", cluster.url, "--tenant", tenant], withLedger: false)
            #expect(verified.status == 0 && verified.stdout.contains("head \(head + 5) "), "\(verified.stdout) \(verified.stderr)")

            // A personal value sealed on node 1 opens on node 2, whose follower brought the lead's key
            // from the log of record with the record; node 1's erasure destroys node 2's key too.
            let email = "node.\(UUID().uuidString.lowercased())@example.com"
            let personal = event(
                108, "lead.captured", lead: "00QF", at: "2026-03-08T09:00:00Z", data: #"{"channel":"email","attributes":{"email":"\#(email)"}}"#)
            let personalReply = try node1.post("/v1/events", ndjson: personal)
            #expect(personalReply.contains("\"positions\":[\(head + 6)]"), "\(personalReply)")
            #expect(try eventually { try node2.get("/v1/leads/00QF").contains(email) }, "node 2 opens the value node 1 sealed")
            // Node 2 seals under the same key, so node 1 opens what node 2 appended.
            let observed = event(
                109, "lead.attributes_observed", lead: "00QF", at: "2026-03-08T10:00:00Z", data: #"{"attributes":{"phone":"+1 555 0109"}}"#)
            let observedReply = try node2.post("/v1/events", ndjson: observed)
            #expect(observedReply.contains("\"positions\":[\(head + 7)]"), "\(observedReply)")
            #expect(try eventually { try node1.get("/v1/leads/00QF").contains("+1 555 0109") }, "node 1 opens the value node 2 sealed")
            let forgot = try node1.post("/v1/leads/00QF/forget", ndjson: "")
            #expect(forgot.contains("\"positions\""), "\(forgot)")
            #expect(try eventually { try node2.get("/v1/leads/00QF").contains("[erased]") }, "the erasure reached node 2")
            #expect(!(try node2.get("/v1/leads/00QF").contains(email)))
            #expect(!(try node1.get("/v1/leads/00QF").contains(email)))

            // Appending to a node's copy without its log of record would fork it: refused, nothing written.
            let copyHead = try two.head()
            let forked = try two.run(
                ["append", "-"],
                stdin: event(110, "lead.captured", lead: "00QZ", at: "2026-03-09T09:00:00Z", data: #"{"channel":"email"}"#) + "\n")
            #expect(forked.status != 0 && forked.stderr.contains("copy of tenant"), "\(forked.stderr)")
            #expect(try two.head() == copyHead)

            // The embedded ledger the tenant came from holds the same chain; another one does not.
            let other = CLI()
            defer { try? FileManager.default.removeItem(atPath: other.ledger) }
            try other.run(["init", "--taxonomy", "starter"])
            #expect(try other.head() != migratedHead)
            #expect(throws: CLIProblem.self) { _ = try NodeProcess(ledger: other.ledger, cluster: cluster.url, tenant: tenant) }
            let refused = try other.run(["serve", "--cluster", cluster.url, "--tenant", tenant, "--port", "0", "--allow-anonymous"])
            #expect(refused.status == 5 && refused.stderr.contains("another chain"), "\(refused.stderr)")
        }
    }
}
