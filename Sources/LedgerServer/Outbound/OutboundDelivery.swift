import AsyncHTTPClient
import EventLog
import Foundation
import LeadModel
import Ledger
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// How outbound deliveries are paced.
public struct OutboundSettings: Sendable {
    /// Attempts of one batch before it is parked.
    public var maxAttempts: Int
    /// The first retry's delay; each retry doubles it, up to `maxDelay`, and jitter takes it
    /// anywhere from half to all of that, so that receivers coming back are not hit in step.
    public var baseDelay: Duration
    /// The longest delay between two attempts.
    public var maxDelay: Duration
    /// How long one attempt may take.
    public var timeout: Duration
    /// The most events one delivery carries (a subscription that is behind gets full batches).
    public var batchLimit: Int
    /// How often subscriptions added, paused or removed by another process are noticed.
    public var pollInterval: Duration

    /// Eight attempts from 1 s to 5 min apart, 10 s per attempt, 100 events per batch.
    public init(
        maxAttempts: Int = 8, baseDelay: Duration = .seconds(1), maxDelay: Duration = .seconds(300), timeout: Duration = .seconds(10),
        batchLimit: Int = 100, pollInterval: Duration = .seconds(1)
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.timeout = timeout
        self.batchLimit = max(1, batchLimit)
        self.pollInterval = pollInterval
    }

    /// The delay before attempt `attempt + 1` after `attempt` failures: exponential, capped, jittered.
    func delay(after attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let base = Double(baseDelay.components.seconds) + Double(baseDelay.components.attoseconds) / 1e18
        let cap = Double(maxDelay.components.seconds) + Double(maxDelay.components.attoseconds) / 1e18
        let seconds = min(cap, base * Double(1 << exponent)) * Double.random(in: 0.5...1.0)
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}

/// Delivers each subscription's events in the server's process: at least once, in position order
/// per subscription, batched when behind, signed with Standard Webhooks, retried with back-off and
/// parked after the last attempt. The cursor moves in the same write transaction that records a
/// delivery, after the receiver acknowledged it, so a crash re-sends rather than skips.
final class OutboundDelivery: Service, Sendable {
    let ledger: Ledger
    let store: SubscriptionStore
    let metrics: ServerMetrics
    let settings: OutboundSettings
    let logger: Logger
    let stopping = StopSignal()
    private let running = Mutex<Set<String>>([])

    init(ledger: Ledger, metrics: ServerMetrics, settings: OutboundSettings, logger: Logger) {
        self.ledger = ledger
        self.store = SubscriptionStore(ledger: ledger)
        self.metrics = metrics
        self.settings = settings
        self.logger = logger
    }

    func run() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                while !stopping.isSet {
                    let subscriptions = (try? store.list()) ?? []
                    for subscription in subscriptions where running.withLock({ $0.insert(subscription.id).inserted }) {
                        group.addTask {
                            await self.deliver(subscription.id, client: client)
                            _ = self.running.withLock { $0.remove(subscription.id) }
                        }
                    }
                    await pause(settings.pollInterval)
                }
                await group.waitForAll()
            }
        } onGracefulShutdown: {
            self.stopping.set()
        }
        try? await client.shutdown()
    }

    /// Sleeps for `duration`, or less when the server stops.
    func pause(_ duration: Duration) async {
        let stopping = self.stopping
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: duration) }
            group.addTask { await stopping.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    /// One batch to send: the events' records and the cursor to store once it is acknowledged.
    struct Batch {
        var records: [StoredRecord]
        var through: UInt64
        var redelivery: Bool
    }

    /// The next batch of subscription `subscription`, or nil when there is nothing to send (the
    /// cursor then passes over the events of other types it scanned).
    func nextBatch(_ subscription: Subscription, _ state: SubscriptionState) throws -> Batch? {
        if let parked = state.redeliveries.first {
            let records = try parked.positions.compactMap { try ledger.log.record(at: $0) }
            return Batch(records: records, through: state.cursor, redelivery: true)
        }
        let (scanned, head) = try ledger.records(after: state.cursor, limit: settings.batchLimit * 10)
        metrics.outboundLag(subscription.id).set(Double(head.position &- min(state.cursor, head.position)))
        guard let last = scanned.last else { return nil }
        let types = Set(subscription.types)
        var matching: [StoredRecord] = []
        for record in scanned {
            guard let event = try? LeadEvent(binary: record.payload), types.contains(event.type.rawValue) else { continue }
            matching.append(record)
            if matching.count == settings.batchLimit { return Batch(records: matching, through: record.position, redelivery: false) }
        }
        if matching.isEmpty {
            try store.updateState(subscription.id) { $0.cursor = max($0.cursor, last.position) }
            return nil
        }
        return Batch(records: matching, through: last.position, redelivery: false)
    }

    /// Delivers one subscription until it is removed or the server stops.
    func deliver(_ id: String, client: HTTPClient) async {
        var attempts = 0
        while !stopping.isSet {
            do {
                guard let subscription = try store.subscription(id) else { return }
                if subscription.paused {
                    await pause(settings.pollInterval)
                    continue
                }
                let state = try store.state(id)
                guard let batch = try nextBatch(subscription, state) else {
                    if try store.state(id).cursor == state.cursor {
                        _ = await LedgerHTTPServer.nextRecord(
                            ledger, from: state.cursor + 1, within: settings.pollInterval, stopping: stopping)
                    }
                    continue
                }
                let outcome = await send(batch, subscription, client: client)
                if case .delivered(let status) = outcome {
                    attempts = 0
                    try store.updateState(id) { state in
                        if batch.redelivery {
                            state.redeliveries.removeFirst()
                        } else {
                            state.cursor = max(state.cursor, batch.through)
                        }
                        state.delivered += batch.records.count
                        state.lastStatus = status
                    }
                    metrics.outboundDelivered(id).increment(by: Int64(batch.records.count))
                    continue
                }
                attempts += 1
                metrics.outboundFailures(id).increment()
                let (status, response) = outcome.failure
                let park = attempts >= settings.maxAttempts
                try store.updateState(id) { state in
                    state.failures += 1
                    state.lastStatus = status
                    guard park else { return }
                    let parked = ParkedDelivery(
                        positions: batch.records.map(\.position), attempts: attempts, lastStatus: status, lastResponse: response,
                        parkedAt: Date().formatted(.iso8601))
                    if batch.redelivery {
                        state.redeliveries.removeFirst()
                    } else {
                        state.cursor = max(state.cursor, batch.through)
                    }
                    state.parked.append(parked)
                }
                if park {
                    logger.warning("outbound \(id): parked \(batch.records.count) events after \(attempts) attempts: \(response)")
                    attempts = 0
                } else {
                    await pause(settings.delay(after: attempts))
                }
            } catch {
                logger.error("outbound \(id): \(error)")
                await pause(settings.pollInterval)
            }
        }
    }

    enum Outcome {
        case delivered(Int)
        case failed(Int?, String)

        var failure: (Int?, String) {
            if case .failed(let status, let response) = self { return (status, response) }
            return (nil, "")
        }
    }

    /// POSTs the batch as a JSON array of stored events, signed; a 2xx is an acknowledgement.
    func send(_ batch: Batch, _ subscription: Subscription, client: HTTPClient) async -> Outcome {
        var body: [UInt8] = [UInt8(ascii: "[")]
        for (index, record) in batch.records.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            guard let json = try? LedgerHTTPServer.eventJSON(record) else { return .failed(nil, "event at \(record.position) cannot be read") }
            json.write(to: &body)
        }
        body.append(UInt8(ascii: "]"))
        let first = batch.records.first?.position ?? 0
        let last = batch.records.last?.position ?? 0
        let messageID = "\(subscription.id)-\(first)-\(last)"
        let timestamp = Int64(Date().timeIntervalSince1970)
        guard let signature = StandardWebhooks.sign(id: messageID, timestamp: timestamp, body: Data(body), secret: subscription.secret) else {
            return .failed(nil, "the subscription's secret is not a whsec_ secret")
        }
        var request = HTTPClientRequest(url: subscription.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "leadledger")
        request.headers.add(name: "webhook-id", value: messageID)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: signature)
        request.body = .bytes(ByteBuffer(bytes: body))
        let timeout = TimeAmount.nanoseconds(
            Int64(settings.timeout.components.seconds) * 1_000_000_000 + settings.timeout.components.attoseconds / 1_000_000_000)
        do {
            let response = try await client.execute(request, timeout: timeout)
            let text = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
            let status = Int(response.status.code)
            return (200..<300).contains(status) ? .delivered(status) : .failed(status, String(text.prefix(512)))
        } catch {
            return .failed(nil, "\(error)")
        }
    }
}
