import ArgumentParser
import ClusterStore
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
            A ledger without keys is refused unless --allow-anonymous, which opens everything to
            this machine only: it is refused with a non-loopback --host, and ends as soon as a key exists. SIGTERM or SIGINT stop taking requests, let appends in flight
            finish (an acknowledged append is already durable) and close the ledger.
            The first line on standard output names the address, also when --port 0 picks a free port.
            This process also delivers the ledger's outbound subscriptions (`leadledger subscriptions`),
            and accepts HubSpot webhooks with --hubspot-secret-file and --public-url:
              leadledger serve --ledger crm.ledger --hubspot-secret-file hubspot.secret --public-url https://hooks.example.com
            With --cluster the ledger directory is a node's local copy of a tenant of a PostgreSQL log of
            record (`leadledger cluster init`): appends are committed there first, reads are served from
            the local copy, which follows the tenant. A directory that does not exist is created and filled
            from the tenant; one holding another chain is refused. GET /health reports the node's lag.
              leadledger serve --ledger node1.ledger --cluster postgresql://leadledger@h1,h2,h3/leadledger --tenant crm
            """)

    @OptionGroup var options: LedgerOptions

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "The address to bind.")
    var host = "127.0.0.1"

    @Option(help: "The port to bind (0 picks a free one).")
    var port = 8080

    @Option(name: .customLong("max-body"), help: "The largest request body accepted, in bytes.")
    var maxBody = 8 << 20

    @Flag(help: "Serve a ledger that has no API keys without authentication (loopback only).")
    var allowAnonymous = false

    @Option(name: .customLong("max-connections"), help: "The most client connections open at once.")
    var maxConnections = 512

    @Option(
        name: .customLong("idle-timeout"), help: "Seconds a client may stay silent in the middle of a request, or leave a stream unread.")
    var idleTimeout = 60.0

    @Option(name: .customLong("analysis-width"), help: "Analyses (trends, impact, what-if, audits) run at once; default: cores - 1.")
    var analysisWidth = ServerConfiguration.defaultAnalysisWidth

    @Flag(
        name: .customLong("behind-tls"),
        help: "Clients reach the server through a TLS-terminating proxy: session cookies are marked Secure.")
    var behindTLS = false

    @Option(
        help: ArgumentHelp(
            "full (default: data and meta page synced at every commit) or no-meta-sync (one sync per commit; a power loss may lose the last acknowledged batch, never corrupt the log).",
            valueName: "MODE"))
    var durability = "full"

    @Option(
        name: .customLong("hubspot-secret-file"),
        help: ArgumentHelp("Accept HubSpot webhooks at /v1/hooks/hubspot, signed with the app secret in this file.", valueName: "PATH"))
    var hubSpotSecretFile: String?

    @Option(
        name: .customLong("public-url"),
        help: ArgumentHelp(
            "The URL HubSpot calls, scheme and host (and any prefix a proxy removes): HubSpot signs that URI.", valueName: "URL"))
    var publicURL: String?

    @Flag(
        name: .customLong("hubspot-allow-v1"),
        help: "Also accept HubSpot's v1 signatures (no timestamp: a captured request can be replayed). Off by default.")
    var hubSpotAllowV1 = false

    @Option(
        name: .customLong("hubspot-mapping"),
        help: ArgumentHelp("A HubSpot mapping file (as for `import hubspot`) for the webhooks.", valueName: "PATH"))
    var hubSpotMapping: String?

    @Option(
        name: .customLong("cloudevents-sources"),
        help: ArgumentHelp("A JSON object mapping CloudEvents `source` URIs to ledger sources.", valueName: "PATH"))
    var cloudEventsSources: String?

    func run() async throws {
        try await runReporting {
            guard (1...1_000_000).contains(maxConnections), (1...256).contains(analysisWidth), (0.1...86_400).contains(idleTimeout),
                (1...(1 << 30)).contains(maxBody), (0...65_535).contains(port)
            else {
                throw CLIError(
                    exitCode: .usage,
                    "--max-connections must be 1…1000000, --analysis-width 1…256, --idle-timeout 0.1…86400 seconds, --max-body 1…1073741824 bytes, --port 0…65535"
                )
            }
            if allowAnonymous, !ServerConfiguration(host: host).isLoopback {
                throw CLIError(
                    exitCode: .usage, "--allow-anonymous only binds to a loopback address (127.0.0.1, ::1, localhost); \(host) is not one")
            }
            var hubSpot: HubSpotWebhookConfiguration? = nil
            if let hubSpotSecretFile {
                guard let publicURL, let url = URL(string: publicURL), url.scheme == "https" || url.scheme == "http", url.host != nil else {
                    throw CLIError(
                        exitCode: .usage,
                        "--hubspot-secret-file needs --public-url, the URL HubSpot calls (https://hooks.example.com): its signature covers it")
                }
                let secret: String
                do {
                    secret = try String(contentsOfFile: hubSpotSecretFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                } catch {
                    throw CLIError(exitCode: .notFound, "cannot read the HubSpot secret from \(hubSpotSecretFile): \(error.localizedDescription)")
                }
                guard !secret.isEmpty else { throw CLIError(exitCode: .usage, "the HubSpot secret file \(hubSpotSecretFile) is empty") }
                var mapping = HubSpotMapping.default
                if let hubSpotMapping {
                    do {
                        mapping = try HubSpotMapping.load(from: URL(fileURLWithPath: hubSpotMapping))
                    } catch {
                        throw CLIError(exitCode: .usage, "\(error)")
                    }
                }
                hubSpot = HubSpotWebhookConfiguration(secret: secret, publicURL: publicURL, allowV1: hubSpotAllowV1, mapping: mapping)
            } else if publicURL != nil || hubSpotAllowV1 || hubSpotMapping != nil {
                throw CLIError(exitCode: .usage, "--public-url, --hubspot-allow-v1 and --hubspot-mapping go with --hubspot-secret-file")
            }
            var sources = CloudEventSources()
            if let cloudEventsSources {
                do {
                    sources = try CloudEventSources.load(from: URL(fileURLWithPath: cloudEventsSources))
                } catch {
                    throw CLIError(exitCode: .usage, "--cloudevents-sources \(cloudEventsSources): \(error)")
                }
            }
            let mode: EventLog.Durability
            switch durability {
            case "full": mode = .full
            case "no-meta-sync": mode = .noMetaSync
            default: throw CLIError(exitCode: .usage, "--durability must be full or no-meta-sync, not \(durability)")
            }
            let ledger: Ledger
            var node: ClusterNode?
            if cluster.cluster != nil {
                let opened = try await openNode(durability: mode)
                ledger = opened.ledger
                node = opened.node
            } else if mode == .full {
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
            var configuration = ServerConfiguration(
                host: host, port: port, maxBodySize: maxBody, allowAnonymous: allowAnonymous, idleTimeoutSeconds: idleTimeout,
                maxConnections: maxConnections, analysisWidth: analysisWidth, servedOverTLS: behindTLS)
            configuration.hubSpot = hubSpot
            configuration.cloudEventSources = sources
            var following: Task<Void, Never>?
            // A node checks the tenant's keys in the log of record, so a key added or revoked with
            // `keys … --cluster` reaches every node, and another tenant's key is an unknown key.
            var clusterKeys: ClusterAPIKeyStore?
            if let node {
                do {
                    clusterKeys = try await ClusterAPIKeyStore.open(try cluster.address(), tenant: node.store.tenant)
                } catch {
                    ledger.close()
                    node.store.close()
                    throw CLIError(exitCode: .storage, "cannot read the keys of tenant \(node.store.tenant) from the cluster: \(error)")
                }
                let log = ledger.log
                configuration.nodeLag = {
                    let status = node.status(of: log)
                    return NodeLag(
                        tenant: status.tenant, server: status.server, clusterHead: status.clusterHead, positionsBehind: status.positionsBehind,
                        secondsSinceCaughtUp: status.secondsSinceCaughtUp, recordsFetched: status.recordsFetched, problem: status.problem)
                }
                following = node.follow(log)
            }
            defer {
                following?.cancel()
                if let node { node.store.close() }
            }
            let server = LedgerHTTPServer(ledger: ledger, configuration: configuration, keys: clusterKeys)
            do {
                try await server.checkStartup()
            } catch let error as APIKeyError {
                ledger.close()
                throw CLIError(exitCode: .usage, error.description)
            }
            let host = self.host
            do {
                try await server.run { port in
                    FileHandle.standardOutput.write(Data("leadledger listening on http://\(host):\(port)\n".utf8))
                }
            } catch {
                await clusterKeys?.store.close()
                throw error
            }
            await clusterKeys?.store.close()
        }
    }

    /// Opens (creating when missing) the node's local copy of the tenant and brings it up to the
    /// tenant's head before any request is served.
    private func openNode(durability: EventLog.Durability) async throws -> (ledger: Ledger, node: ClusterNode) {
        let address = try cluster.address()
        let tenant = try cluster.checkedTenant()
        let node: ClusterNode
        do {
            node = try await ClusterNode.open(address, tenant: tenant, replicatedTables: Ledger.replicatedTables)
        } catch {
            throw CLIError(exitCode: .storage, "cannot reach tenant \(tenant) of the cluster: \(error)")
        }
        var ledgerOptions = options.ledgerOptions(create: true)
        ledgerOptions.durability = durability
        ledgerOptions.upstream = node
        let ledger: Ledger
        do {
            ledger = try Ledger(path: options.path, options: ledgerOptions)
        } catch {
            node.store.close()
            if let error = error as? LogOpenError, case .damaged = error { throw CLIError(exitCode: .damaged, error.description) }
            throw CLIError(exitCode: .notFound, "cannot open the node's copy at \(options.path): \(error)")
        }
        do {
            try await node.attach(ledger.log)
        } catch {
            ledger.close()
            node.store.close()
            throw CLIError(exitCode: .storage, "the ledger at \(options.path) cannot serve tenant \(tenant): \(error)")
        }
        return (ledger, node)
    }
}
