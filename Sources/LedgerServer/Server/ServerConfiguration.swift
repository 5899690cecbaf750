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

    /// The defaults: 127.0.0.1:8080, 8 MiB bodies, keys required.
    public init(
        host: String = "127.0.0.1", port: Int = 8080, maxBodySize: Int = 8 << 20, allowAnonymous: Bool = false,
        streamHeartbeatSeconds: Double = 15
    ) {
        self.host = host
        self.port = port
        self.maxBodySize = maxBodySize
        self.allowAnonymous = allowAnonymous
        self.streamHeartbeatSeconds = streamHeartbeatSeconds
    }

    /// Whether `host` only accepts connections from this machine.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
