import ArgumentParser
import Foundation
import Ledger
import LedgerServer

/// `leadledger keys`: API keys for the HTTP server, stored hashed in the ledger.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the HTTP API's keys (stored as SHA-256 hashes in the ledger).",
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
            """,
        subcommands: [Add.self, List.self, Revoke.self, RotateSigning.self])

    /// `keys add`.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key and print its secret once (only the secret goes to standard output).")

        @OptionGroup var options: LedgerOptions

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
                let ledger = try options.open(create: true)
                defer { ledger.close() }
                let (id, secret, signingSecret): (String, String, String?)
                do {
                    (id, secret, signingSecret) = try APIKeyStore(ledger: ledger).add(scope: scope, source: source, signing: signing)
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

        @OptionGroup var options: LedgerOptions

        @Option(help: "table or json.")
        var format: OutputFormat = .table

        func run() async throws {
            try await runReporting {
                let ledger = try options.open(create: false)
                defer { ledger.close() }
                let keys = try APIKeyStore(ledger: ledger).list()
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

        @OptionGroup var options: LedgerOptions

        @Argument(help: "The key's id (from `keys list`).")
        var id: String

        func run() async throws {
            try await runReporting {
                let ledger = try options.open(create: false)
                defer { ledger.close() }
                guard try APIKeyStore(ledger: ledger).revoke(id) else {
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
            abstract: "Give a key a new Standard Webhooks signing secret and print it; the previous one stays valid until the next rotation.")

        @OptionGroup var options: LedgerOptions

        @Argument(help: "The key's id (from `keys list`).")
        var id: String

        @Flag(help: "Retire the previous signing secret now instead of keeping it valid beside the new one.")
        var dropPrevious = false

        func run() async throws {
            try await runReporting {
                let ledger = try options.open(create: false)
                defer { ledger.close() }
                let secret: String
                do {
                    secret = try APIKeyStore(ledger: ledger).rotateSigningSecret(id, dropPrevious: dropPrevious)
                } catch let error as APIKeyError {
                    throw CLIError(exitCode: .notFound, error.description)
                }
                FileHandle.standardError.write(Data("new signing secret for key \(id); shown only now:\n".utf8))
                print(secret)
            }
        }
    }
}
