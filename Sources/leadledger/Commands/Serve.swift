import ArgumentParser
import EventLog
import Foundation
import Ledger
import LedgerServer

/// `leadledger serve`: the HTTP API, the dashboard and the metrics over one ledger.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the HTTP API, the dashboard (/) and Prometheus metrics (/metrics).",
        discussion: """
            Requests need an API key (`Authorization: Bearer KEY`); create one first:
              leadledger keys add --scope admin
              leadledger serve --ledger crm.ledger --port 8080
            A ledger without keys is refused unless --allow-anonymous, which opens everything and
            binds to loopback only. SIGTERM or SIGINT stop taking requests, let appends in flight
            finish (an acknowledged append is already durable) and close the ledger.
            The first line on standard output names the address, also when --port 0 picks a free port.
            """)

    @OptionGroup var options: LedgerOptions

    @Option(help: "The address to bind.")
    var host = "127.0.0.1"

    @Option(help: "The port to bind (0 picks a free one).")
    var port = 8080

    @Option(name: .customLong("max-body"), help: "The largest request body accepted, in bytes.")
    var maxBody = 8 << 20

    @Flag(help: "Serve a ledger that has no API keys without authentication (loopback only).")
    var allowAnonymous = false

    @Option(
        help: ArgumentHelp(
            "full (default: data and meta page synced at every commit) or no-meta-sync (one sync per commit; a power loss may lose the last acknowledged batch, never corrupt the log).",
            valueName: "MODE"))
    var durability = "full"

    func run() async throws {
        try await runReporting {
            let mode: EventLog.Durability
            switch durability {
            case "full": mode = .full
            case "no-meta-sync": mode = .noMetaSync
            default: throw CLIError(exitCode: .usage, "--durability must be full or no-meta-sync, not \(durability)")
            }
            let ledger: Ledger
            if mode == .full {
                ledger = try options.open(create: allowAnonymous)
            } else {
                do {
                    var ledgerOptions = options.ledgerOptions(create: allowAnonymous)
                    ledgerOptions.durability = mode
                    ledger = try Ledger(path: options.path, options: ledgerOptions)
                } catch {
                    throw CLIError(exitCode: .notFound, "cannot open the ledger at \(options.path): \(error)")
                }
            }
            let server = LedgerHTTPServer(
                ledger: ledger,
                configuration: ServerConfiguration(host: host, port: port, maxBodySize: maxBody, allowAnonymous: allowAnonymous))
            do {
                try server.checkStartup()
            } catch let error as APIKeyError {
                ledger.close()
                throw CLIError(exitCode: .usage, error.description)
            }
            let host = self.host
            try await server.run { port in
                FileHandle.standardOutput.write(Data("leadledger listening on http://\(host):\(port)\n".utf8))
            }
        }
    }
}
