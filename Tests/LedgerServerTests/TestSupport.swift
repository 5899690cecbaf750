import EventLog
import Foundation
import Ledger
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Testing

@testable import LedgerServer

/// A fresh ledger in a temporary directory, removed afterwards; `clock` stamps `recordedAt`.
func withTemporaryLedger<T>(clock: any LogClock = SystemLogClock(), _ body: (Ledger, String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-server-\(UUID().uuidString)").path
    let ledger = try Ledger(path: path, options: .init(mapSize: 1 << 30, clock: clock))
    defer {
        ledger.close()
        try? FileManager.default.removeItem(atPath: path)
    }
    return try await body(ledger, path)
}

/// One `lead.captured` event as NDJSON text.
func capturedEvent(id: UUID = UUID(), lead: String, source: String = "webform", channel: String = "web") -> String {
    #"{"id":"\#(id.uuidString.lowercased())","type":"lead.captured","lead":"\#(lead)","occurredAt":"2026-03-02T14:05:00Z","source":"\#(source)","data":{"channel":"\#(channel)"}}"#
}

/// A server over `ledger` that binds a free port (0) on 127.0.0.1.
func testServer(_ ledger: Ledger) -> LedgerHTTPServer {
    LedgerHTTPServer(ledger: ledger, configuration: ServerConfiguration(port: 0))
}

/// Runs the server for the duration of `body`, then shuts it down the way SIGTERM does.
func withRunningServer<T: Sendable>(_ server: LedgerHTTPServer, _ body: @Sendable (Int) async throws -> T) async throws -> T {
    precondition(server.configuration.port == 0, "tests bind a free port, never a fixed one")
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let group = ServiceGroup(
        services: [server.application { continuation.yield($0) }], gracefulShutdownSignals: [], cancellationSignals: [],
        logger: Logger(label: "test"))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            // Ends the port stream too, so a server that fails to bind fails the test instead of hanging it.
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw TestFailure("the server did not report a port") }
        do {
            let result = try await body(port)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A reply read off the socket.
struct HTTPReply: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(text)")
        }
        return object
    }
}

/// A keep-alive HTTP/1.1 connection that sends one request at a time, over a real socket.
struct HTTPConnection: ~Copyable {
    var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    /// Opens a connection, runs `body` with it and closes it.
    static func with<T>(port: Int, _ body: (inout HTTPConnection) async throws -> T) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = HTTPConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&connection)
        }
    }

    /// Sends a request and reads the whole reply.
    mutating func send(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) async throws -> HTTPReply {
        try await write(method, path, headers: headers, body: body)
        var (status, responseHeaders) = try await readHead()
        var bytes: [UInt8] = []
        while let part = try await inbound.next() {
            switch part {
            case .head(let head): (status, responseHeaders) = (Int(head.status.code), head.headers)
            case .body(let buffer): bytes += buffer.readableBytesView
            case .end: return HTTPReply(status: status, headers: responseHeaders, body: bytes)
            }
        }
        throw TestFailure("the connection closed mid-reply")
    }

    mutating func write(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: "127.0.0.1")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if let body { head.headers.add(name: "Content-Length", value: String(body.count)) }
        var parts: [HTTPClientRequestPart] = [.head(head)]
        if let body, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        parts.append(.end(nil))
        try await outbound.write(contentsOf: parts)
    }

    mutating func readHead() async throws -> (Int, HTTPHeaders) {
        guard case .head(let head)? = try await inbound.next() else { throw TestFailure("expected a response head") }
        return (Int(head.status.code), head.headers)
    }

    /// The next chunk of a streamed body, nil at its end.
    mutating func nextChunk() async throws -> [UInt8]? {
        while let part = try await inbound.next() {
            switch part {
            case .head: continue
            case .body(let buffer): return Array(buffer.readableBytesView)
            case .end: return nil
            }
        }
        return nil
    }
}

/// Fails the test instead of hanging when `body` takes longer than `seconds`.
func withTimeout<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TestFailure("timed out after \(seconds) s")
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Where `swift build` put the package's executables: beside the test bundle.
func builtProduct(_ name: String) -> URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
}
