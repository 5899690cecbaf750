import Foundation
import Ledger
import Prometheus

/// The server's Prometheus metrics: appends, duplicates, refusals by kind, batch sizes, commit
/// latency, and the ledger's size and map usage (read at scrape time).
public final class ServerMetrics: Sendable {
    /// The registry `/metrics` renders.
    public let registry: PrometheusCollectorRegistry
    let appended: Counter
    let duplicates: Counter
    let batchSize: ValueHistogram
    let commitLatency: DurationHistogram
    let refusals: [String: Counter]
    let requests: Counter
    let headPosition: Gauge
    let records: Gauge
    let mapSize: Gauge
    let mapUsed: Gauge
    let mapUsage: Gauge
    let fileSize: Gauge
    let readers: Gauge
    let analysesRunning: Gauge
    let analysesWaiting: Gauge
    let analysesRefused: Counter
    let streamsOpen: Gauge

    /// Registers every metric in a new registry.
    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        appended = registry.makeCounter(descriptor: Self.name("events_appended", "total", "Events appended (new, durable)."))
        duplicates = registry.makeCounter(
            descriptor: Self.name("events_duplicate", "total", "Events re-sent with an id already stored and identical content."))
        batchSize = registry.makeValueHistogram(
            descriptor: Self.name("append_batch", "events", "Events per accepted POST /v1/events request."),
            buckets: [1, 2, 5, 10, 50, 100, 500, 1_000, 10_000, 100_000])
        commitLatency = registry.makeDurationHistogram(
            descriptor: Self.name(
                "append_duration", "seconds", "Time from handing a batch to the ledger until it is durable (group commit included)."),
            buckets: [
                .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
            ])
        var refusals: [String: Counter] = [:]
        for kind in [
            "invalid", "conflict", "expectedVersionMismatch", "storage", "closed", "malformed", "unauthorized",
            "forbidden", "tooLarge", "unsupportedMediaType",
        ] {
            refusals[kind] = registry.makeCounter(
                descriptor: Self.name("append_refusals", "total", "Refused append requests by kind."), labels: [("kind", kind)])
        }
        self.refusals = refusals
        requests = registry.makeCounter(descriptor: Self.name("append_requests", "total", "POST /v1/events requests received."))
        headPosition = registry.makeGauge(descriptor: Self.name("head", "position", "The last position in the log."))
        records = registry.makeGauge(descriptor: Self.name("stored", "records", "Records stored."))
        mapSize = registry.makeGauge(descriptor: Self.name("map_size", "bytes", "The LMDB map size: the most the file may grow to."))
        mapUsed = registry.makeGauge(descriptor: Self.name("map_used", "bytes", "Bytes of the map in use."))
        mapUsage = registry.makeGauge(descriptor: Self.name("map_usage", "ratio", "Used bytes over the map size."))
        fileSize = registry.makeGauge(descriptor: Self.name("file_size", "bytes", "The data file's size on disk."))
        readers = registry.makeGauge(descriptor: Self.name("reader_slots", "used", "LMDB reader slots in use."))
        analysesRunning = registry.makeGauge(descriptor: Self.name("analyses_running", "", "Analyses running on the analysis threads."))
        analysesWaiting = registry.makeGauge(descriptor: Self.name("analyses_waiting", "", "Analyses waiting for a free slot."))
        analysesRefused = registry.makeCounter(
            descriptor: Self.name(
                "analyses_refused", "total", "Analyses refused with 503 because every slot and place in the queue was taken."))
        streamsOpen = registry.makeGauge(descriptor: Self.name("streams_open", "", "Event streams open."))
    }

    /// Events of the ledger a subscription has not reached yet (head − cursor).
    func outboundLag(_ subscription: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.name("outbound_lag", "events", "Positions between the ledger's head and a subscription's cursor."),
            labels: [("subscription", subscription)])
    }

    /// Failed delivery attempts of a subscription.
    func outboundFailures(_ subscription: String) -> Counter {
        registry.makeCounter(
            descriptor: Self.name("outbound_failures", "total", "Failed delivery attempts (no 2xx) per subscription."),
            labels: [("subscription", subscription)])
    }

    /// Events delivered and acknowledged per subscription.
    func outboundDelivered(_ subscription: String) -> Counter {
        registry.makeCounter(
            descriptor: Self.name("outbound_delivered", "total", "Events delivered and acknowledged per subscription."),
            labels: [("subscription", subscription)])
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "leadledger", metricName: metric, unitName: unit, helpText: help)
    }

    func refused(_ kind: String) { refusals[kind]?.increment() }

    func refused(_ kind: LedgerError.Kind) { refused(kind.rawValue) }

    func accepted(_ receipt: LedgerReceipt, latency: Duration) {
        appended.increment(by: Int64(receipt.appended))
        duplicates.increment(by: Int64(receipt.duplicates))
        batchSize.record(Double(receipt.results.count))
        commitLatency.record(latency)
    }

    /// The exposition text, with the ledger's and the server's gauges read now.
    func render(ledger: Ledger, analyses: (running: Int, waiting: Int), streams: Int) -> [UInt8] {
        analysesRunning.set(Double(analyses.running))
        analysesWaiting.set(Double(analyses.waiting))
        streamsOpen.set(Double(streams))
        if let stats = try? ledger.statistics() {
            headPosition.set(Double(stats.head.position))
            records.set(Double(stats.records))
            mapSize.set(Double(stats.mapSize))
            mapUsed.set(Double(stats.usedBytes))
            mapUsage.set(stats.mapSize > 0 ? Double(stats.usedBytes) / Double(stats.mapSize) : 0)
            fileSize.set(Double(stats.fileSize))
            readers.set(Double(stats.readers))
        }
        return registry.emitToBuffer()
    }
}
