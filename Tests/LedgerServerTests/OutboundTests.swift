import Foundation
import HTTPTypes
import Hummingbird
import LeadModel
import Ledger
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

@testable import LedgerServer

/// What a loopback receiver saw: each delivery's positions, in arrival order, and whether its
/// Standard Webhooks signature verified under the subscription's secret.
final class ReceivedDeliveries: Sendable {
    struct Delivery: Sendable {
        var positions: [Int]
        var signatureVerified: Bool
        var acknowledged: Bool
    }
    private let deliveries = Mutex<[Delivery]>([])
    let secret = Mutex<String>("")

    func record(_ delivery: Delivery) { deliveries.withLock { $0.append(delivery) } }
    var all: [Delivery] { deliveries.withLock { $0 } }

    /// Positions in the order they were first received.
    var firstSeen: [Int] {
        var seen = Set<Int>()
        var order: [Int] = []
        for delivery in all { for position in delivery.positions where seen.insert(position).inserted { order.append(position) } }
        return order
    }
}

/// How the receiver answers a delivery.
enum ReceiverBehaviour: Sendable {
    case succeed
    /// Acknowledges after 50 ms.
    case slow
    case fail
    case hang
}

/// Runs a receiver on 127.0.0.1 that checks each delivery's signature and answers as `behave` says.
func withReceiver<T: Sendable>(
    _ received: ReceivedDeliveries, behave: @escaping @Sendable () -> ReceiverBehaviour, _ body: @Sendable (Int) async throws -> T
) async throws -> T {
    let router = Router()
    router.post("/hook") { request, _ -> Response in
        let bytes = Array(buffer: try await request.body.collect(upTo: 16 << 20))
        let id = request.headers[HTTPField.Name("webhook-id")!] ?? ""
        let timestamp = Int64(request.headers[HTTPField.Name("webhook-timestamp")!] ?? "") ?? 0
        let signature = request.headers[HTTPField.Name("webhook-signature")!] ?? ""
        let expected = standardWebhookSignature(secret: received.secret.withLock { $0 }, id: id, timestamp: timestamp, body: bytes)
        let events = (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [[String: Any]]) ?? []
        let positions = events.compactMap { $0["position"] as? Int }
        let behaviour = behave()
        if behaviour == .hang { try await Task.sleep(for: .milliseconds(600)) }
        if behaviour == .slow { try await Task.sleep(for: .milliseconds(50)) }
        received.record(
            .init(positions: positions, signatureVerified: signature == expected, acknowledged: behaviour == .succeed || behaviour == .slow))
        return Response(status: behaviour == .fail ? .internalServerError : .ok)
    }
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "receiver"))
    let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], cancellationSignals: [], logger: Logger(label: "receiver"))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask {
            defer { continuation.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw TestFailure("the receiver did not start") }
        defer { Task { await group.triggerGracefulShutdown() } }
        let result = try await body(port)
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return result
    }
}

/// Runs the HTTP server and its outbound delivery, as `serve` does, for the duration of `body`.
func withDeliveringServer<T: Sendable>(_ server: LedgerHTTPServer, _ body: @Sendable () async throws -> T) async throws -> T {
    let group = ServiceGroup(
        services: [server.outboundDelivery()], gracefulShutdownSignals: [], cancellationSignals: [], logger: Logger(label: "test"))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let result = try await body()
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

/// Waits until `condition` holds, at most `seconds`.
func eventually(seconds: Double, _ condition: () throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try condition()
}

@Suite("Outbound subscriptions", .serialized)
struct OutboundTests {
    static func captured(_ index: Int) -> LeadEvent {
        try! EventDecoder().decode(line: capturedEvent(lead: "O\(index)"))
    }

    @Test("a receiver that fails, times out and recovers at random gets every subscribed event at least once, in order, signed")
    func flakyReceiver() async throws {
        try await withTemporaryLedger { ledger, _ in
            var configuration = ServerConfiguration(port: 0)
            configuration.outbound = OutboundSettings(
                maxAttempts: 10_000, baseDelay: .milliseconds(5), maxDelay: .milliseconds(50), timeout: .milliseconds(300), batchLimit: 7,
                pollInterval: .milliseconds(50))
            let server = LedgerHTTPServer(ledger: ledger, configuration: configuration)
            let received = ReceivedDeliveries()
            let random = Mutex(SplitMix(seed: 42))
            try await withReceiver(
                received,
                behave: {
                    switch random.withLock({ $0.next() % 10 }) {
                    case 0...3: .fail
                    case 4: .hang
                    default: .succeed
                    }
                }
            ) { port in
                let subscription = try SubscriptionStore(ledger: ledger).add(
                    url: "http://127.0.0.1:\(port)/hook", types: ["lead.captured", "lead.scored"])
                received.secret.withLock { $0 = subscription.secret }
                try await withDeliveringServer(server) {
                    var expected: [Int] = []
                    for round in 0..<20 {
                        var events: [LeadEvent] = []
                        for index in 0..<10 {
                            let lead = "O\(round)-\(index)"
                            events.append(try EventDecoder().decode(line: capturedEvent(lead: lead)))
                            if index % 3 == 0 {
                                events.append(
                                    try EventDecoder().decode(
                                        line:
                                            #"{"id":"\#(UUID().uuidString)","type":"lead.handed_off","lead":"\#(lead)","occurredAt":"2026-03-03T10:00:00Z","source":"crm","data":{"owner":"ann"}}"#
                                    ))
                            }
                        }
                        let receipt = try await ledger.append(events)
                        for (event, result) in zip(events, receipt.results) where event.type == .leadCaptured {
                            expected.append(Int(result.position))
                        }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    let expectedPositions = expected
                    let arrived = try await eventually(seconds: 90) { received.firstSeen.count >= expectedPositions.count }
                    #expect(arrived, "received \(received.firstSeen.count) of \(expectedPositions.count)")
                    #expect(received.firstSeen == expectedPositions, "every subscribed event, first seen in position order")
                    #expect(received.all.allSatisfy { $0.signatureVerified })
                    #expect(received.all.allSatisfy { $0.positions == $0.positions.sorted() })
                    #expect(received.all.contains { !$0.acknowledged }, "the receiver did fail some deliveries")
                    #expect(received.all.contains { $0.positions.count == 7 }, "a subscription that is behind gets full batches")
                    let state = try SubscriptionStore(ledger: ledger).state(subscription.id)
                    #expect(state.failures > 0)
                    #expect(state.parked.isEmpty)
                }
            }
        }
    }

    @Test("after the last retry a batch is parked with the response seen; redeliver sends it again before anything new")
    func parkedAndRedelivered() async throws {
        try await withTemporaryLedger { ledger, _ in
            var configuration = ServerConfiguration(port: 0)
            configuration.outbound = OutboundSettings(
                maxAttempts: 3, baseDelay: .milliseconds(5), maxDelay: .milliseconds(20), timeout: .seconds(2), batchLimit: 100,
                pollInterval: .milliseconds(50))
            let server = LedgerHTTPServer(ledger: ledger, configuration: configuration)
            let received = ReceivedDeliveries()
            let failing = Atomic<Bool>(true)
            try await withReceiver(received, behave: { failing.load(ordering: .relaxed) ? .fail : .succeed }) { port in
                let store = SubscriptionStore(ledger: ledger)
                let subscription = try store.add(url: "http://127.0.0.1:\(port)/hook", types: ["lead.captured"])
                received.secret.withLock { $0 = subscription.secret }
                try await withDeliveringServer(server) {
                    _ = try await ledger.append([Self.captured(1), Self.captured(2)])
                    #expect(try await eventually(seconds: 30) { try store.state(subscription.id).parked.count == 1 })
                    let parked = try store.state(subscription.id).parked[0]
                    #expect(parked.positions == [1, 2])
                    #expect(parked.attempts == 3)
                    #expect(parked.lastStatus == 500)
                    #expect(received.all.count == 3)
                    failing.store(false, ordering: .relaxed)
                    _ = try await ledger.append([Self.captured(3)])
                    #expect(try await eventually(seconds: 30) { received.all.last?.positions == [3] })
                    #expect(try store.redeliver(subscription.id) == 1)
                    #expect(try await eventually(seconds: 30) { received.all.last?.positions == [1, 2] && received.all.last?.acknowledged == true })
                    #expect(try store.state(subscription.id).parked.isEmpty)
                    #expect(try store.state(subscription.id).cursor == 3)
                }
            }
        }
    }

    @Test("`leadledger serve` killed with SIGKILL mid-delivery resumes from its stored cursor: no event is skipped, and at most one batch is sent again")
    func resumesAfterSIGKILL() async throws {
        try await withTemporaryLedger { ledger, path in
            let received = ReceivedDeliveries()
            try await withReceiver(received, behave: { .slow }) { port in
                let store = SubscriptionStore(ledger: ledger)
                _ = try await APIKeyStore(ledger: ledger).add(scope: .admin)
                let subscription = try store.add(url: "http://127.0.0.1:\(port)/hook", types: ["lead.captured"], from: 0)
                received.secret.withLock { $0 = subscription.secret }
                let total = 3_000
                for chunk in 0..<(total / 500) {
                    _ = try await ledger.append((0..<500).map { Self.captured(chunk * 500 + $0) })
                }
                let first = try ServeProcess(ledger: path)
                #expect(try await eventually(seconds: 60) { received.firstSeen.count >= 500 })
                kill(first.process.processIdentifier, SIGKILL)
                #expect(await first.waitForExit(seconds: 10))
                let seenBeforeKill = received.firstSeen.count
                let cursor = try store.state(subscription.id).cursor
                #expect(cursor > 0 && cursor <= UInt64(seenBeforeKill), "the stored cursor \(cursor) is at most what was acknowledged")
                let deliveriesBefore = received.all.count

                let second = try ServeProcess(ledger: path)
                defer { second.process.terminate() }
                #expect(try await eventually(seconds: 90) { received.firstSeen.count >= total })
                #expect(received.firstSeen == Array(1...total), "every event, in order")
                #expect(received.all.allSatisfy { $0.signatureVerified })
                let resent = received.all[deliveriesBefore...].first?.positions.first ?? 0
                #expect(resent == Int(cursor) + 1, "the restarted server resumed right after its stored cursor")
                second.process.terminate()
                #expect(await second.waitForExit(seconds: 10))
            }
        }
    }

    @Test("/v1/subscriptions: admin keys add, list, pause, resume, read parked, redeliver and remove; other keys get 403; bad bodies name the field")
    func httpManagement() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = testServer(ledger)
            let admin = try await server.keys.add(scope: .admin).secret
            let reader = try await server.keys.add(scope: .read).secret
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let auth = [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")]
                    var reply = try await connection.send(
                        .POST, "/v1/subscriptions", headers: auth,
                        body: Array(#"{"url":"https://hooks.example.com/x","types":["lead.rejected","definition.published"]}"#.utf8))
                    #expect(reply.status == 201, "\(reply.text)")
                    let id = try #require(try reply.json()["id"] as? String)
                    #expect((try reply.json()["secret"] as? String)?.hasPrefix("whsec_") == true)

                    for bad in [
                        (#"{"url":"ftp://x","types":["lead.rejected"]}"#, nil as String?),
                        (#"{"url":"https://x.example.com","types":["lead.nope"]}"#, "types[0]"),
                        (#"{"url":"https://x.example.com","types":["lead.rejected"],"from":null}"#, "from"),
                        (#"{"types":["lead.rejected"]}"#, "url"),
                    ] {
                        reply = try await connection.send(.POST, "/v1/subscriptions", headers: auth, body: Array(bad.0.utf8))
                        #expect(reply.status == 400, "\(bad.0)")
                        if let field = bad.1 {
                            #expect((try reply.json()["problems"] as? [[String: Any]])?.first?["field"] as? String == field)
                        }
                    }
                    reply = try await connection.send(.GET, "/v1/subscriptions", headers: [("Authorization", "Bearer \(reader)")])
                    #expect(reply.status == 403)

                    #expect(try await connection.send(.POST, "/v1/subscriptions/\(id)/pause", headers: auth).status == 204)
                    reply = try await connection.send(.GET, "/v1/subscriptions", headers: auth)
                    let listed = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [[String: Any]]
                    #expect(listed?.count == 1)
                    #expect(listed?.first?["paused"] as? Bool == true)
                    #expect(listed?.first?["secret"] == nil, "lists never show the secret")
                    #expect(try await connection.send(.POST, "/v1/subscriptions/\(id)/resume", headers: auth).status == 204)
                    #expect(try SubscriptionStore(ledger: ledger).subscription(id)?.paused == false)
                    reply = try await connection.send(.GET, "/v1/subscriptions/\(id)/parked", headers: auth)
                    #expect(reply.status == 200 && reply.text == "[]")
                    reply = try await connection.send(.POST, "/v1/subscriptions/\(id)/redeliver", headers: auth)
                    #expect(try reply.json()["requeued"] as? Int == 0)
                    #expect(try await connection.send(.DELETE, "/v1/subscriptions/\(id)", headers: auth).status == 204)
                    #expect(try await connection.send(.DELETE, "/v1/subscriptions/\(id)", headers: auth).status == 404)
                    #expect(try SubscriptionStore(ledger: ledger).list().isEmpty)
                }
            }
        }
    }
}

/// A small deterministic generator, so a failing run can be replayed.
struct SplitMix: Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
