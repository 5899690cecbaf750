import Hummingbird
import NIOCore

/// The context of every request: Hummingbird's basics, the connection it came on (so that access
/// checks can see the peer and long work can stop when the client goes away), and who sent it.
public struct LedgerRequestContext: RequestContext {
    /// Hummingbird's per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The connection the request arrived on.
    public let channel: any Channel
    /// Who sent the request, as the authentication middleware found.
    public internal(set) var authentication: Authentication = .missing

    /// A context for a request on `source.channel`.
    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// The peer's address, when the connection has one.
    var remoteAddress: SocketAddress? { channel.remoteAddress }

    /// Whether the peer is this machine (unknown peers, as in in-process tests, count as local).
    var isLocalPeer: Bool { remoteAddress.map(ServerConfiguration.isLoopback) ?? true }
}
