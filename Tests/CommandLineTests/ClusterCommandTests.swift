import Foundation
import PostgresHarness
import Testing

// Skipped, with a warning printed in the test output, only where PostgreSQL 15 is not installed.
@Suite("leadledger cluster, against PostgreSQL on loopback", .enabled(if: PostgresTestCluster.isAvailable, "PostgreSQL 15 is not installed"))
struct ClusterCommandTests {
    @Test("migrate copies an embedded ledger into a tenant that verifies with the same head hash; a second run resumes with nothing to copy")
    func migrate() async throws {
        try await PostgresTestCluster.with(standbys: 1) { cluster in
            let cli = CLI()
            defer { try? FileManager.default.removeItem(atPath: cli.ledger) }
            try cli.run(["init", "--taxonomy", "starter"])
            #expect(try cli.run(["append", "-"], stdin: history).status == 0)
            let ledgerHead = try cli.head()

            let initialised = try cli.run(["cluster", "init", "--cluster", cluster.url, "--tenant", "crm"], withLedger: false)
            #expect(initialised.status == 0, "\(initialised.stderr)")
            // A page of 5 makes the copy span several transactions.
            let migrated = try cli.run(["cluster", "migrate", "--cluster", cluster.url, "--tenant", "crm", "--page", "5"])
            #expect(migrated.status == 0, "\(migrated.stderr)")
            #expect(migrated.stdout.contains("tenant  position 42  \(ledgerHead)"))
            #expect(migrated.stdout.contains("migrated: the same head hash"))

            let verified = try cli.run(["cluster", "verify", "--cluster", cluster.url, "--tenant", "crm", "--json"], withLedger: false)
            #expect(verified.status == 0, "\(verified.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(verified.stdout.utf8)) as! [String: Any]
            #expect((report["head"] as! [String: Any])["hash"] as? String == ledgerHead)

            let again = try cli.run(["cluster", "migrate", "--cluster", cluster.url, "--tenant", "crm"])
            #expect(again.status == 0 && again.stderr.contains("resuming after position 42"), "\(again.stderr)")

            // A tenant holding another history is not overwritten.
            let other = CLI()
            defer { try? FileManager.default.removeItem(atPath: other.ledger) }
            try other.run(["init", "--taxonomy", "starter"])
            let refused = try other.run(["cluster", "migrate", "--cluster", cluster.url, "--tenant", "crm"])
            #expect(refused.status == 1 && refused.stderr.contains("not part of this ledger"), "\(refused.stderr)")

            let status = try cli.run(["cluster", "status", "--cluster", cluster.url, "--json"], withLedger: false)
            #expect(status.status == 0, "\(status.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as! [String: Any]
            #expect((json["servers"] as! [[String: Any]]).map { $0["role"] as! String } == ["primary", "standby"])
            #expect(json["synchronousStandbyNames"] as? String == "ANY 1 (standby1)")
            #expect((json["standbys"] as! [[String: Any]]).first?["syncState"] as? String == "quorum")
        }
    }

    @Test("a bad cluster address or tenant is a usage error naming what is wrong; an unreachable cluster exits 5")
    func badInput() throws {
        let cli = CLI()
        let badURL = try cli.run(["cluster", "status", "--cluster", "postgresql://nobody@127.0.0.1:0/x"], withLedger: false)
        #expect(badURL.status == 64 && badURL.stderr.contains("port"), "\(badURL.stderr)")
        let badTenant = try cli.run(["cluster", "init", "--cluster", "postgresql://u@127.0.0.1/x", "--tenant", "a;b"], withLedger: false)
        #expect(badTenant.status == 64 && badTenant.stderr.contains("tenant"), "\(badTenant.stderr)")
        let port = try PostgresTestCluster.freePort()
        let down = try cli.run(["cluster", "status", "--cluster", "postgresql://u@127.0.0.1:\(port)/x"], withLedger: false)
        #expect(down.status == 5 && down.stdout.contains("unreachable"), "\(down.stderr)")
    }
}
