import Foundation
import Ledger
import NIOCore

/// How the server listens and what it accepts.
public struct ServerConfiguration: Sendable {
    /// The address to bind; anonymous access is only allowed on a loopback address.
    public var host: String
    /// The port to bind; 0 picks a free one.
    public var port: Int
    /// The largest request body accepted, in bytes (413 above).
    public var maxBodySize: Int
    /// Serve without keys when the ledger has none (loopback only).
    public var allowAnonymous: Bool
    /// Seconds between SSE keep-alive comments, which also notice clients that went away.
    public var streamHeartbeatSeconds: Double
    /// The most bytes of append bodies held at once, all requests together (503 above).
    public var maxBodyBytesInFlight: Int
    /// The most events one `POST /v1/events` may carry (413 above), counted before any is decoded.
    public var maxEventsPerRequest: Int
    /// The most problems a refusal lists; the rest are counted in its message.
    public var maxProblemsPerResponse: Int
    /// Seconds a client has, from connecting or from the end of its previous response, to finish
    /// sending a request's headers: it also bounds how long an idle keep-alive connection stays open.
    public var headerTimeoutSeconds: Double
    /// Seconds a connection may stay silent in the middle of a request (while sending its body)
    /// before it is closed; also the longest a stream's write may wait for a client that does not read.
    public var idleTimeoutSeconds: Double
    /// Seconds a client has to send a whole request body, from the end of its headers.
    public var bodyTimeoutSeconds: Double
    /// The most connections open at once; further clients wait in the listen backlog.
    public var maxConnections: Int
    /// The most event streams open at once, all keys together (503 above).
    public var maxStreams: Int
    /// The most event streams one key may hold open (429 above).
    public var maxStreamsPerKey: Int
    /// Analyses (trends, impact, what-if, audits) that run at once, on threads of their own.
    public var analysisWidth: Int
    /// Analyses that may wait for a free slot; more get 503 with `Retry-After`.
    public var analysisQueueLength: Int
    /// How long a dashboard session lasts, in seconds.
    public var sessionLifetimeSeconds: Double
    /// Whether clients reach the server over TLS (a terminating proxy in front): cookies are then `Secure`.
    public var servedOverTLS: Bool
    /// Where CloudEvents sources land among the ledger's sources.
    public var cloudEventSources: CloudEventSources = CloudEventSources()
    /// For a node whose ledger is a copy of a log of record: its lag, for `GET /health`.
    public var nodeLag: (@Sendable () -> NodeLag)?
    /// HubSpot webhooks at `POST /v1/hooks/hubspot`; nil answers them 404.
    public var hubSpot: HubSpotWebhookConfiguration?
    /// How outbound subscriptions are delivered.
    public var outbound: OutboundSettings = OutboundSettings()

    /// The defaults: 127.0.0.1:8080, 8 MiB bodies, keys required, and limits sized for one machine.
    public init(
        host: String = "127.0.0.1", port: Int = 8080, maxBodySize: Int = 8 << 20, allowAnonymous: Bool = false,
        streamHeartbeatSeconds: Double = 15, maxBodyBytesInFlight: Int = 256 << 20, maxEventsPerRequest: Int = 10_000,
        maxProblemsPerResponse: Int = 100,
        headerTimeoutSeconds: Double = 10, idleTimeoutSeconds: Double = 60, bodyTimeoutSeconds: Double = 120, maxConnections: Int = 512,
        maxStreams: Int = 128,
        maxStreamsPerKey: Int = 8, analysisWidth: Int = ServerConfiguration.defaultAnalysisWidth, analysisQueueLength: Int = 16,
        sessionLifetimeSeconds: Double = 12 * 3600, servedOverTLS: Bool = false
    ) {
        self.host = host
        self.port = port
        self.maxBodySize = maxBodySize
        self.allowAnonymous = allowAnonymous
        self.streamHeartbeatSeconds = streamHeartbeatSeconds
        self.maxEventsPerRequest = maxEventsPerRequest
        self.maxBodyBytesInFlight = maxBodyBytesInFlight
        self.maxProblemsPerResponse = maxProblemsPerResponse
        self.headerTimeoutSeconds = headerTimeoutSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.bodyTimeoutSeconds = bodyTimeoutSeconds
        self.maxConnections = maxConnections
        self.maxStreams = maxStreams
        self.maxStreamsPerKey = maxStreamsPerKey
        self.analysisWidth = analysisWidth
        self.analysisQueueLength = analysisQueueLength
        self.sessionLifetimeSeconds = sessionLifetimeSeconds
        self.servedOverTLS = servedOverTLS
    }

    /// One analysis per core but one: the last core stays free for appends, `/health` and the event loops.
    public static var defaultAnalysisWidth: Int { max(1, ProcessInfo.processInfo.activeProcessorCount - 1) }

    /// Whether `host` only accepts connections from this machine: `localhost`, an IPv4 address in
    /// 127.0.0.0/8 or `::1`. Anything else, names included, counts as reachable from the network.
    public var isLoopback: Bool {
        if host == "localhost" { return true }
        let literal = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        guard let address = try? SocketAddress(ipAddress: literal, port: 0) else { return false }
        return Self.isLoopback(address)
    }

    /// Whether a socket address is on the loopback interface (127.0.0.0/8, `::1`, or `::ffff:127.x.y.z`).
    static func isLoopback(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let v4):
            return UInt32(bigEndian: v4.address.sin_addr.s_addr) >> 24 == 127
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            guard bytes.count == 16 else { return false }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
            return bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
        case .unixDomainSocket:
            return true
        }
    }
}

/// How far a node's local copy is behind its log of record, as `GET /health` reports it.
public struct NodeLag: Sendable, Codable, Hashable {
    /// The tenant of the log of record the ledger is a copy of.
    public var tenant: String
    /// The PostgreSQL server in use (`host:port`), nil before one was reached.
    public var server: String?
    /// The log of record's head as last seen.
    public var clusterHead: UInt64?
    /// Positions the local copy lacks behind that head.
    public var positionsBehind: UInt64?
    /// Seconds since the copy was last found caught up, nil before it ever was.
    public var secondsSinceCaughtUp: Double?
    /// Records read from the log of record to catch up since the process started.
    public var recordsFetched: Int
    /// The last problem following the log of record, nil once caught up again.
    public var problem: String?

    /// Creates a report.
    public init(
        tenant: String, server: String?, clusterHead: UInt64?, positionsBehind: UInt64?, secondsSinceCaughtUp: Double?, recordsFetched: Int,
        problem: String?
    ) {
        self.tenant = tenant
        self.server = server
        self.clusterHead = clusterHead
        self.positionsBehind = positionsBehind
        self.secondsSinceCaughtUp = secondsSinceCaughtUp
        self.recordsFetched = recordsFetched
        self.problem = problem
    }
}
