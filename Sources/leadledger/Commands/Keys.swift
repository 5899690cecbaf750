import ArgumentParser
import ClusterStore
import Foundation
import Ledger
import LedgerServer

/// `--ledger PATH`, or `--cluster URL [--tenant NAME]`: where the keys live.
struct KeyStoreOptions: ParsableArguments {
    @OptionGroup var ledgerOptions: LedgerOptions
    @OptionGroup var clusterOptions: ClusterOptions

    /// Runs `body` over the keys of the ledger, or of the cluster's tenant when `--cluster` is given.
    /// A ledger is opened (and with `create`, made) only in the embedded mode.
    func withKeys<T>(create: Bool, _ body: (any APIKeyStoring) async throws -> T) async throws -> T {
        guard let text = clusterOptions.cluster else {
            let ledger = try ledgerOptions.open(create: create)
            defer { ledger.close() }
            return try await body(APIKeyStore(ledger: ledger))
        }
        guard ledgerOptions.ledger == nil else {
            throw CLIError(exitCode: .usage, "give --ledger PATH or --cluster URL, not both: keys live in one place")
        }
        let address: ClusterAddress
        do { address = try ClusterAddress(parsing: text) } catch { throw CLIError(exitCode: .usage, error.description) }
        let tenant = try clusterOptions.checkedTenant()
        let store: PostgresKeyStore
        do { store = try await PostgresKeyStore.open(address, tenant: tenant) } catch { throw CLIError(exitCode: .storage, "\(error)") }
        do {
            let result = try await body(ClusterAPIKeyStore(store: store))
            await store.close()
            return result
        } catch let error as ClusterError {
            await store.close()
            throw CLIError(exitCode: .storage, error.description)
        } catch let error as APIError where error.status.code == 503 {
            // The keys could not be read from the log of record (what a server answers with 503).
            await store.close()
            throw CLIError(exitCode: .storage, error.message)
        } catch {
            await store.close()
            throw error
        }
    }
}

/// `leadledger keys`: API keys for the HTTP server, stored hashed in the ledger or in a tenant of
/// the cluster's log of record.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the HTTP API's keys (stored as SHA-256 hashes in the ledger, or in a tenant of the cluster).",
        discussion: """
            Scopes: append (lead events to POST /v1/events), catalog (reason.defined, reason.retired,
            definition.published to POST /v1/events), read (queries, stream, metrics, dashboard),
            admin (everything).
              KEY=$(leadledger keys add --ledger crm.ledger --scope append --source hubspot)
              leadledger keys list --ledger crm.ledger
              leadledger keys revoke --ledger crm.ledger 3f9a0c1b2d4e
            A key made with --signing also gets a Standard Webhooks secret (whsec_…): senders that
            sign with it post to /v1/events?key=ID without a bearer key. Rotate it with
              leadledger keys rotate-signing --ledger crm.ledger 3f9a0c1b2d4e
            (the previous secret stays valid until the next rotation or --drop-previous).
            In the replicated mode the keys live in the log of record, bound to one tenant: give
            --cluster URL [--tenant NAME] in place of --ledger, and every node serving the tenant
            checks them (a revoked key is refused everywhere within 2 seconds):
              leadledger keys add --cluster postgresql://leadledger@db1,db2/leadledger --tenant crm --scope append
            """,
        subcommands: [Add.self, List.self, Revoke.self, RotateSigning.self])

    /// `keys add`.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key and print its secret once (only the secret goes to standard output).")

        @OptionGroup var options: KeyStoreOptions

        @Option(help: "append, catalog, read or admin.")
        var scope: String

        @Option(help: "Bind the key to one event source: it may then only append events with this `source`.")
        var source: String?

        @Flag(help: "Also create a Standard Webhooks signing secret (printed on a second line) for senders that sign their requests.")
        var signing = false

        func run() async throws {
            try await runReporting {
                guard let scope = APIScope(rawValue: scope) else {
                    throw CLIError(
                        exitCode: .usage, "--scope must be \(APIScope.allCases.map(\.rawValue).joined(separator: ", ")), not \(scope)")
                }
                let (id, secret, signingSecret): (String, String, String?)
                do {
                    (id, secret, signingSecret) = try await options.withKeys(create: true) {
                        try await $0.add(scope: scope, source: source, signing: signing)
                    }
                } catch let error as APIKeyError {
                    throw CLIError(exitCode: .usage, error.description)
                }
                let bound = source.map { ", bound to source \($0)" } ?? ""
                let shown = signingSecret == nil ? "the secret below is" : "the secret and the signing secret below are"
                FileHandle.standardError.write(
                    Data("created key \(id) (scope \(scope.rawValue)\(bound)); \(shown) shown only now:\n".utf8))
                print(secret)
                if let signingSecret { print(signingSecret) }
            }
        }
    }

    /// `keys list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (ids, scopes, sources; never secrets).")

        @OptionGroup var options: KeyStoreOptions

        @Option(help: "table or json.")
        var format: OutputFormat = .table

        func run() async throws {
            try await runReporting {
                let keys = try await options.withKeys(create: false) { try await $0.list() }
                switch format {
                case .json:
                    try printJSON(keys.map(\.summary))
                case .table, .csv:
                    let separator = format == .csv ? "," : "  "
                    print(["id", "scope", "source", "created", "revoked", "signing"].joined(separator: separator))
                    for key in keys {
                        print(
                            [
                                key.id, key.scope.rawValue, key.source ?? "-", key.createdAt, key.revokedAt ?? "-",
                                String(key.signingSecrets?.count ?? 0),
                            ].joined(separator: separator))
                    }
                }
            }
        }
    }

    /// `keys revoke`.
    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key; a running server refuses it from its next request on.")

        @OptionGroup var options: KeyStoreOptions

        @Argument(help: "The key's id (from `keys list`).")
        var id: String

        func run() async throws {
            try await runReporting {
                guard try await options.withKeys(create: false, { try await $0.revoke(id) }) else {
                    throw CLIError(exitCode: .notFound, "no active key with id \(id)")
                }
                print("revoked \(id)")
            }
        }
    }

    /// `keys rotate-signing`.
    struct RotateSigning: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-signing",
            abstract:
                "Give a key a new Standard Webhooks signing secret and print it; the previous one stays valid until the next rotation.")

        @OptionGroup var options: KeyStoreOptions

        @Argument(help: "The key's id (from `keys list`).")
        var id: String

        @Flag(help: "Retire the previous signing secret now instead of keeping it valid beside the new one.")
        var dropPrevious = false

        func run() async throws {
            try await runReporting {
                let secret: String
                do {
                    secret = try await options.withKeys(create: false) { try await $0.rotateSigningSecret(id, dropPrevious: dropPrevious) }
                } catch let error as APIKeyError {
                    throw CLIError(exitCode: .notFound, error.description)
                }
                FileHandle.standardError.write(Data("new signing secret for key \(id); shown only now:\n".utf8))
                print(secret)
            }
        }
    }
}
