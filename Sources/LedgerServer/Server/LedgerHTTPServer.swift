import Foundation
import Hummingbird
import HummingbirdCore
import Ledger
import Logging
import NIOCore
import ServiceLifecycle

/// The LeadLedger HTTP server: the API, the dashboard, `/metrics` and `/health` over one ledger.
public final class LedgerHTTPServer: Sendable {
    /// The ledger it serves.
    public let ledger: Ledger
    /// The API keys it checks: the ledger's own unless it was given others (a node's tenant keys
    /// in the log of record).
    public let keys: any APIKeyStoring
    /// Its Prometheus metrics.
    public let metrics: ServerMetrics
    /// How it listens.
    public let configuration: ServerConfiguration
    let auth: Authenticator
    let logger: Logger
    /// Where trends, impact, what-if and audits run: a few threads, a short queue.
    let analyses: AnalysisExecutor
    /// Open event streams, in all and per key.
    let streams: StreamLimiter
    /// Signed-in dashboard browsers.
    let sessions: SessionStore
    /// Append bodies held at once.
    let bodies: BodyBudget
    /// The replay of everything, caught up on demand and shared by every request that reads it.
    let replay: CurrentReplay
    /// The feedback loop's replay (funnel, service levels, profile), caught up likewise.
    let feedback: CurrentFeedbackLoop

    /// A server over an open ledger; it closes the ledger when `run` ends. It checks `keys`, or,
    /// when none are given, the keys kept in the ledger itself.
    public init(
        ledger: Ledger, configuration: ServerConfiguration = ServerConfiguration(), keys: (any APIKeyStoring)? = nil, logger: Logger? = nil
    ) {
        self.ledger = ledger
        self.keys = keys ?? APIKeyStore(ledger: ledger)
        self.metrics = ServerMetrics()
        self.configuration = configuration
        self.sessions = SessionStore(lifetimeSeconds: configuration.sessionLifetimeSeconds)
        self.auth = Authenticator(keys: self.keys, configuration: configuration)
        self.logger = logger ?? Logger(label: "leadledger.server")
        self.analyses = AnalysisExecutor(width: configuration.analysisWidth, queueLength: configuration.analysisQueueLength)
        self.streams = StreamLimiter(total: configuration.maxStreams, perOwner: configuration.maxStreamsPerKey)
        self.bodies = BodyBudget(capacity: configuration.maxBodyBytesInFlight)
        self.replay = CurrentReplay(ledger: ledger)
        self.feedback = CurrentFeedbackLoop(ledger: ledger)
    }

    /// Refuses configurations that would expose the ledger: no keys without `--allow-anonymous`,
    /// and `--allow-anonymous` on anything but loopback, even while keys exist (revoking them
    /// later would otherwise open every route to the network).
    public func checkStartup() async throws {
        if configuration.allowAnonymous, !configuration.isLoopback {
            throw APIKeyError(
                description:
                    "--allow-anonymous only binds to a loopback address (127.0.0.1, ::1, localhost); \(configuration.host) is not one")
        }
        if try await keys.hasActiveKeys() { return }
        guard configuration.allowAnonymous else {
            throw APIKeyError(
                description: """
                    the ledger has no API keys, so every request would be refused. Create one with \
                    `leadledger keys add --scope admin`, or start with --allow-anonymous (loopback only) for local use
                    """)
        }
    }

    /// Every controller's routes, behind the middleware that turns errors into JSON refusals and
    /// the one that finds who sent each request.
    public func router() -> Router<LedgerRequestContext> {
        let router = Router(context: LedgerRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: AuthenticationMiddleware(authenticator: auth))
        var registrar = RouteRegistrar(server: self, router: router)
        Self.registerRoutes(&registrar)
        return router
    }

    /// The Hummingbird application; `onServerRunning` receives the bound port.
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let headerTimeout = Self.timeAmount(seconds: configuration.headerTimeoutSeconds)
        let bodyTimeout = Self.timeAmount(seconds: configuration.bodyTimeoutSeconds)
        return Application(
            router: router(),
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [ConnectionGuard(headerTimeout: headerTimeout, bodyTimeout: bodyTimeout)],
                    idleTimeout: Self.timeAmount(seconds: configuration.idleTimeoutSeconds))),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "leadledger",
                availableConnectionsDelegate: MaximumAvailableConnections(max(1, configuration.maxConnections), logger: logger)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Runs until SIGTERM or SIGINT: then it stops taking requests, lets those in flight finish
    /// (an acknowledged append is already durable), and closes the ledger.
    public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await checkStartup()
        // Services shut down in reverse order: the HTTP server drains first, then outbound delivery
        // stops, then the ledger closes.
        let group = ServiceGroup(
            configuration: .init(
                services: [LedgerCloser(ledger: ledger), outboundDelivery(), application(onServerRunning: onServerRunning)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }
}

extension LedgerHTTPServer {
    /// The service that delivers outbound subscriptions; `run` starts it beside the HTTP server.
    func outboundDelivery() -> some Service {
        OutboundDelivery(ledger: ledger, metrics: metrics, settings: configuration.outbound, logger: logger)
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

extension LedgerHTTPServer {
    /// A duration from configuration, kept within what `TimeAmount` holds.
    static func timeAmount(seconds: Double) -> TimeAmount {
        let bounded = seconds.isFinite ? max(0.001, min(seconds, 86_400 * 365)) : 86_400
        return .milliseconds(Int64(bounded * 1000))
    }

    /// Runs an analysis on the analysis executor, and stops it when the client disconnects: its
    /// result would go nowhere, and it would hold a slot and a core meanwhile.
    func analysis<T: Sendable>(_ context: LedgerRequestContext, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        let analyses = self.analyses
        let task = Task { try await analyses.run(work) }
        context.channel.closeFuture.whenComplete { _ in task.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch is AnalysisExecutor.Busy {
            metrics.analysesRefused.increment()
            throw APIError(
                .serviceUnavailable,
                "the server is busy with \(analyses.width) analyses and \(analyses.queueLength) waiting; try again shortly",
                headers: [.retryAfter: "2"])
        } catch is CancellationError {
            throw APIError(.serviceUnavailable, "the analysis was cancelled: the client went away or the server is stopping")
        }
    }
}

/// Runs short blocking work (a page of the log) off the cooperative pool, so that it does not
/// hold back the appends that share those few threads.
func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
