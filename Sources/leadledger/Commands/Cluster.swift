import ArgumentParser
import ClusterStore
import EventLog
import Foundation
import Ledger

/// `--cluster URL` and `--tenant NAME`: which log of record, and which of its ledgers.
struct ClusterOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The PostgreSQL cluster holding the log of record: postgresql://USER@HOST[:PORT][,HOST[:PORT]…]/DATABASE (default: $LEADLEDGER_CLUSTER).",
            valueName: "URL"))
    var cluster: String?

    @Option(name: .long, help: ArgumentHelp("The tenant: one ledger of the cluster (letters, digits, - and _).", valueName: "NAME"))
    var tenant: String = "default"

    /// The parsed address; usage errors name the part at fault.
    func address() throws -> ClusterAddress {
        guard let text = cluster ?? ProcessInfo.processInfo.environment["LEADLEDGER_CLUSTER"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw CLIError(exitCode: .usage, "--cluster URL is required (or $LEADLEDGER_CLUSTER)")
        }
        do { return try ClusterAddress(parsing: text) } catch { throw CLIError(exitCode: .usage, error.description) }
    }

    /// The tenant's name, checked.
    func checkedTenant() throws -> String {
        do { try TenantName.check(tenant) } catch { throw CLIError(exitCode: .usage, error.description) }
        return tenant
    }
}

/// `leadledger cluster`: the replicated mode's log of record in PostgreSQL.
struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the replicated mode: PostgreSQL as the log of record (DESIGN §8.5).",
        discussion: """
            The embedded LMDB ledger stays the default. In the replicated mode the log of record is
            a PostgreSQL 15 cluster (a primary with synchronous standbys); each tenant is one ledger.
              leadledger cluster init --cluster postgresql://leadledger@db1,db2,db3/leadledger
              leadledger cluster migrate --ledger crm.ledger --cluster postgresql://… --tenant crm
              leadledger cluster status --cluster postgresql://…
              leadledger cluster verify --cluster postgresql://… --tenant crm
            Exit codes: 5 when the cluster cannot be reached; 4 when a tenant's chain does not verify.
            """,
        subcommands: [Init.self, Status.self, Migrate.self, VerifyTenant.self])

    /// `cluster init`.
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the log of record's tables (ll_heads, ll_streams, ll_events) where missing, and a tenant.")

        @OptionGroup var options: ClusterOptions

        func run() async throws {
            try await runReporting {
                let address = try options.address()
                let tenant = try options.checkedTenant()
                do {
                    try await PostgresEventStore.createSchema(at: address)
                    let store = try await PostgresEventStore.open(address, tenant: tenant)
                    let head = try await store.head()
                    await store.shutdown()
                    print("cluster ready at \(address); tenant \(tenant) at position \(head.position)")
                } catch {
                    throw CLIError(exitCode: .storage, "\(error)")
                }
            }
        }
    }

    /// `cluster status`.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each server's role, the synchronous standbys and their lag, and every tenant's head.")

        @OptionGroup var options: ClusterOptions

        @Flag(help: "Print the status as JSON.")
        var json = false

        func run() async throws {
            try await runReporting {
                let status = await ClusterStatus.read(try options.address())
                if json {
                    try printJSON(status)
                } else {
                    for server in status.servers {
                        print("\(server.server)  \(server.role)\(server.error.map { "  (\($0))" } ?? "")")
                    }
                    let names = status.synchronousStandbyNames ?? ""
                    print("synchronous_standby_names: \(names.isEmpty ? "(none: commits wait for no standby)" : names)")
                    for standby in status.standbys {
                        print("standby \(standby.name)  \(standby.state)  \(standby.syncState)  replay lag \(standby.replayLagBytes) bytes")
                    }
                    for tenant in status.tenants { print("tenant \(tenant.tenant)  position \(tenant.head.position)  \(tenant.head.hash)") }
                }
                if !status.servers.contains(where: { $0.role == "primary" }) {
                    throw CLIError(exitCode: .storage, "no writable server among \(status.servers.map(\.server).joined(separator: ", "))")
                }
            }
        }
    }

    /// `cluster migrate`.
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy an embedded LMDB ledger into a tenant of the cluster, record for record, with the same hash chain.",
            discussion: """
                The tenant must be empty or hold a prefix of the ledger (a migration that stopped
                half-way resumes). Each record keeps its bytes, so the tenant's head hash is the
                ledger's; the command checks it at the end and prints both.
                """)

        @OptionGroup var ledgerOptions: LedgerOptions
        @OptionGroup var options: ClusterOptions

        @Option(help: "Records per transaction.")
        var page: Int = 2000

        func run() async throws {
            try await runReporting {
                guard (1...100_000).contains(page) else { throw CLIError(exitCode: .usage, "--page must be 1–100000, not \(page)") }
                let address = try options.address()
                let tenant = try options.checkedTenant()
                let ledger = try ledgerOptions.openForReading()
                defer { ledger.close() }
                let source = try ledger.head()
                let store: PostgresEventStore
                do {
                    try await PostgresEventStore.createSchema(at: address)
                    store = try await PostgresEventStore.open(address, tenant: tenant)
                } catch {
                    throw CLIError(exitCode: .storage, "\(error)")
                }
                defer { store.close() }
                var head = try await store.head()
                if head.position > 0 {
                    guard head.position <= source.position, try ledger.log.record(at: head.position)?.hash == head.hash else {
                        throw CLIError(
                            exitCode: .refused,
                            "tenant \(tenant) already holds position \(head.position) \(head.hash), which is not part of this ledger; choose another tenant")
                    }
                    FileHandle.standardError.write(Data("resuming after position \(head.position)\n".utf8))
                }
                while head.position < source.position {
                    let records = try ledger.log.records(from: head.position + 1, limit: page)
                    guard !records.isEmpty else { break }
                    do { try await store.copy(records) } catch { throw CLIError(exitCode: .storage, "\(error)") }
                    head = try await store.head()
                    FileHandle.standardError.write(Data("copied up to position \(head.position) of \(source.position)\n".utf8))
                }
                let verification = try await store.verify()
                print("ledger  position \(source.position)  \(source.hash)")
                print("tenant  position \(verification.head.position)  \(verification.head.hash)")
                if let problem = verification.problem { throw CLIError(exitCode: .damaged, "tenant \(tenant): \(problem)") }
                guard verification.head == source else {
                    throw CLIError(exitCode: .damaged, "the tenant's head differs from the ledger's")
                }
                // The per-lead keys of personal data go with the records, or no node could open the values.
                var keys: [PolicyTableChange] = []
                try ledger.log.withPolicyTables(Ledger.replicatedTables) { tables in
                    for table in Ledger.replicatedTables {
                        try tables.forEach(in: table) { key, value in
                            keys.append(PolicyTableChange(table: table, key: key, value: value))
                            return true
                        }
                    }
                }
                do { try await store.storeTableEntries(keys, at: source.position) } catch { throw CLIError(exitCode: .storage, "\(error)") }
                print("migrated: the same head hash; \(keys.count) personal-data keys")
            }
        }
    }

    /// `cluster verify`.
    struct VerifyTenant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify", abstract: "Recompute a tenant's hash chain from its records and print its head hash.")

        @OptionGroup var options: ClusterOptions

        @Flag(help: "Print the report as JSON.")
        var json = false

        func run() async throws {
            try await runReporting {
                let address = try options.address()
                let tenant = try options.checkedTenant()
                let verification: PostgresEventStore.Verification
                do {
                    let store = try await PostgresEventStore.open(address, tenant: tenant)
                    defer { store.close() }
                    verification = try await store.verify()
                } catch {
                    throw CLIError(exitCode: .storage, "\(error)")
                }
                if json {
                    try printJSON(verification)
                } else {
                    print("tenant \(tenant): \(verification.records) events checked, head \(verification.head.position) \(verification.head.hash)")
                }
                if let problem = verification.problem { throw CLIError(exitCode: .damaged, "tenant \(tenant): \(problem)") }
            }
        }
    }
}
