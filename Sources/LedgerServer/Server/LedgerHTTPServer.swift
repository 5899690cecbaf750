import Foundation
import Hummingbird
import Ledger
import Logging
import NIOCore
import ServiceLifecycle

/// The LeadLedger HTTP server: the API, the dashboard, `/metrics` and `/health` over one ledger.
public final class LedgerHTTPServer: Sendable {
    /// The ledger it serves.
    public let ledger: Ledger
    /// The API keys it checks.
    public let keys: APIKeyStore
    /// Its Prometheus metrics.
    public let metrics: ServerMetrics
    /// How it listens.
    public let configuration: ServerConfiguration
    let auth: Authenticator
    let logger: Logger

    /// A server over an open ledger; it closes the ledger when `run` ends.
    public init(ledger: Ledger, configuration: ServerConfiguration = ServerConfiguration(), logger: Logger? = nil) {
        self.ledger = ledger
        self.keys = APIKeyStore(ledger: ledger)
        self.metrics = ServerMetrics()
        self.configuration = configuration
        self.auth = Authenticator(keys: keys, allowAnonymous: configuration.allowAnonymous)
        self.logger = logger ?? Logger(label: "leadledger.server")
    }

    /// Refuses configurations that would expose the ledger: no keys without `--allow-anonymous`,
    /// and anonymous access on anything but loopback.
    public func checkStartup() throws {
        if try keys.hasActiveKeys() { return }
        guard configuration.allowAnonymous else {
            throw APIKeyError(
                description: """
                    the ledger has no API keys, so every request would be refused. Create one with \
                    `leadledger keys add --scope admin`, or start with --allow-anonymous (loopback only) for local use
                    """)
        }
        guard configuration.isLoopback else {
            throw APIKeyError(
                description: "--allow-anonymous only binds to a loopback address (127.0.0.1, ::1); \(configuration.host) is not one")
        }
    }

    /// Every route, behind the middleware that turns errors into JSON refusals.
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        addEventRoutes(to: router)
        addAnalysisRoutes(to: router)
        addKeyRoutes(to: router)
        addOperationRoutes(to: router)
        addDashboardRoutes(to: router)
        return router
    }

    /// The Hummingbird application; `onServerRunning` receives the bound port.
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "leadledger"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Runs until SIGTERM or SIGINT: then it stops taking requests, lets those in flight finish
    /// (an acknowledged append is already durable), and closes the ledger.
    public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try checkStartup()
        // Services shut down in reverse order: the HTTP server drains first, then the ledger closes.
        let group = ServiceGroup(
            configuration: .init(
                services: [LedgerCloser(ledger: ledger), application(onServerRunning: onServerRunning)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

/// Closes the ledger once everything after it in the service group has shut down.
struct LedgerCloser: Service {
    let ledger: Ledger

    func run() async throws {
        try? await gracefulShutdown()
        ledger.close()
    }
}

/// Runs blocking work (a replay, a scan) off the cooperative pool, so a long analysis does not
/// hold back the appends that share those few threads.
func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
