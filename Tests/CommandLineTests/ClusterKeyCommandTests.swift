import Foundation
import PostgresHarness
import Testing

// Skipped, with a warning printed in the test output, only where PostgreSQL 15 is not installed.
@Suite(
    "leadledger keys --cluster, against PostgreSQL on loopback",
    .enabled(if: PostgresTestCluster.isAvailable, "PostgreSQL 15 is not installed"))
struct ClusterKeyCommandTests {
    @Test(
        "keys add, list, rotate-signing and revoke with --cluster keep a tenant's keys in PostgreSQL, hashed, apart from another tenant's")
    func lifecycle() async throws {
        try await PostgresTestCluster.withShared { cluster in
            let cli = CLI()
            let tenant = "keys_\(UUID().uuidString.prefix(8).lowercased())"
            let other = tenant + "_other"
            let added = try cli.run(
                ["keys", "add", "--cluster", cluster.url, "--tenant", tenant, "--scope", "append", "--source", "hubspot", "--signing"],
                withLedger: false)
            #expect(added.status == 0, "\(added.stderr)")
            let lines = added.stdout.split(separator: "\n").map(String.init)
            let secret = try #require(lines.first)
            #expect(secret.hasPrefix("llk_") && lines.count == 2 && lines[1].hasPrefix("whsec_"))
            let id = String(secret.dropFirst(4).prefix { $0 != "_" })
            #expect(!FileManager.default.fileExists(atPath: cli.ledger), "no ledger is made in the cluster mode")

            // Only the secret's SHA-256 is stored, as in the embedded ledger.
            let stored = try await cluster.psql(
                cluster.primary,
                "SELECT count(*) FROM ll_keys WHERE tenant = '\(tenant)' AND key_id = '\(id)' AND secret_hash = encode(sha256(convert_to('\(secret)', 'UTF8')), 'hex') AND scope = 'append' AND source = 'hubspot'"
            )
            #expect(stored.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            let leaked = try await cluster.psql(cluster.primary, "SELECT count(*) FROM ll_keys WHERE ll_keys::text LIKE '%\(secret)%'")
            #expect(leaked.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "the secret itself is nowhere in the table")

            let listed = try cli.run(["keys", "list", "--cluster", cluster.url, "--tenant", tenant, "--format", "json"], withLedger: false)
            #expect(listed.status == 0, "\(listed.stderr)")
            let keys = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
            #expect(keys.map { $0["id"] as? String } == [id])
            #expect(keys.first?["source"] as? String == "hubspot" && keys.first?["signingSecrets"] as? Int == 1)

            let elsewhere = try cli.run(
                ["keys", "list", "--cluster", cluster.url, "--tenant", other, "--format", "json"], withLedger: false)
            #expect(elsewhere.status == 0, "\(elsewhere.stderr)")
            let otherKeys = try JSONSerialization.jsonObject(with: Data(elsewhere.stdout.utf8)) as? [Any]
            #expect(otherKeys?.isEmpty == true, "another tenant has none of its keys: \(elsewhere.stdout)")
            let foreignRevoke = try cli.run(["keys", "revoke", "--cluster", cluster.url, "--tenant", other, id], withLedger: false)
            #expect(foreignRevoke.status == 3, "another tenant cannot revoke it: \(foreignRevoke.stderr)")

            let rotated = try cli.run(["keys", "rotate-signing", "--cluster", cluster.url, "--tenant", tenant, id], withLedger: false)
            #expect(rotated.status == 0 && rotated.stdout.hasPrefix("whsec_"), "\(rotated.stderr)")
            let signing = try await cluster.psql(
                cluster.primary, "SELECT cardinality(signing_secrets) FROM ll_keys WHERE tenant = '\(tenant)' AND key_id = '\(id)'")
            #expect(
                signing.trimmingCharacters(in: .whitespacesAndNewlines) == "2", "the previous signing secret stays valid beside the new one"
            )

            let revoked = try cli.run(["keys", "revoke", "--cluster", cluster.url, "--tenant", tenant, id], withLedger: false)
            #expect(revoked.status == 0 && revoked.stdout.contains("revoked \(id)"), "\(revoked.stderr)")
            let after = try cli.run(["keys", "list", "--cluster", cluster.url, "--tenant", tenant, "--format", "json"], withLedger: false)
            let afterKeys = try #require(try JSONSerialization.jsonObject(with: Data(after.stdout.utf8)) as? [[String: Any]])
            #expect(afterKeys.first?["revokedAt"] is String)
            let again = try cli.run(["keys", "revoke", "--cluster", cluster.url, "--tenant", tenant, id], withLedger: false)
            #expect(again.status == 3 && again.stderr.contains("no active key"), "\(again.stderr)")
        }
    }

    @Test("keys --cluster refuses a ledger beside it, a bad tenant or address as usage errors, and an unreachable cluster with exit 5")
    func badInput() throws {
        let cli = CLI()
        let both = try cli.run(["keys", "list", "--cluster", "postgresql://u@127.0.0.1/x"])
        #expect(both.status == 64 && both.stderr.contains("not both"), "\(both.stderr)")
        let badTenant = try cli.run(["keys", "list", "--cluster", "postgresql://u@127.0.0.1/x", "--tenant", "a b"], withLedger: false)
        #expect(badTenant.status == 64 && badTenant.stderr.contains("tenant"), "\(badTenant.stderr)")
        let badAddress = try cli.run(["keys", "add", "--cluster", "mysql://u@h/d", "--scope", "read"], withLedger: false)
        #expect(badAddress.status == 64 && badAddress.stderr.contains("postgresql://"), "\(badAddress.stderr)")
        let port = try PostgresTestCluster.freePort()
        let down = try cli.run(["keys", "list", "--cluster", "postgresql://u@127.0.0.1:\(port)/x"], withLedger: false)
        #expect(down.status == 5 && down.stderr.contains("no writable PostgreSQL server"), "\(down.stderr)")
    }
}
