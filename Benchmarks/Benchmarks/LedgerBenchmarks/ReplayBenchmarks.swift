import Benchmark
import EventLog
import Foundation
import LeadModel
import Projections

/// Replays of a 10M-event ledger: trends, the feedback loop's reports with trends in one pass,
/// what-if with four candidates, and one lead's audit.
func replayBenchmarks() {
    // The same trend on two lead partitions (the default) and on the calling thread only.
    let replays: [(name: String, maxDuration: Int, iterations: Int, replay: @Sendable (EventLog) throws -> ReplayState)] = [
        ("", 60, 3, { try ReplayEngine.replay($0) }),
        (
            ", one thread", 90, 7,
            { log in
                // With an observer the engine folds on the calling thread only.
                var none = NoObserver()
                return try ReplayEngine.replay(log, observer: &none)
            }
        ),
    ]
    for variant in replays {
        Benchmark(
            "replay: trends over 10M events (weekly, by channel), from scratch" + variant.name,
            configuration: .init(
                metrics: [.wallClock, .cpuTotal, .peakMemoryResident], warmupIterations: 0, scalingFactor: .one,
                maxDuration: .seconds(variant.maxDuration), maxIterations: variant.iterations)
        ) { benchmark in
            let fixture = try TenMillion.shared()
            benchmark.startMeasurement()
            let state = try variant.replay(fixture.log)
            blackHole(Trends.compute(state, TrendsQuery(bucket: .week, groupBy: .channel)))
        }
    }

    // The feedback loop's reports with trends, from the one replay they share, against trends alone above.
    Benchmark(
        "replay: trends + funnel + service levels + buyer profile over 10M events, one pass",
        configuration: .init(
            metrics: [.wallClock, .cpuTotal, .peakMemoryResident], warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(90),
            maxIterations: 3)
    ) { benchmark in
        let fixture = try TenMillion.shared()
        let at = Timestamp(rfc3339: "2026-01-05T00:00:00Z")!.microseconds
        benchmark.startMeasurement()
        blackHole(
            try FeedbackLoop.run(
                fixture.log,
                FeedbackLoopRequest(
                    trends: TrendsQuery(bucket: .week, groupBy: .channel), funnel: CohortQuery(bucket: .week, groupBy: .channel, at: at),
                    serviceLevels: CohortQuery(bucket: .week, at: at), profile: ProfileQuery())))
    }

    Benchmark(
        "what-if: 4 candidates over 1M leads and 10M events",
        configuration: .init(
            metrics: [.wallClock, .peakMemoryResident], warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(60),
            maxIterations: 2)
    ) { benchmark in
        let fixture = try TenMillion.shared()
        let candidates = [50, 60, 70, 80].map { threshold in
            CandidateDefinition(
                name: "score ≥ \(threshold)",
                rules: .all([
                    .comparison(RuleComparison(field: "score", .gte(.number(Double(threshold))))),
                    .not(.comparison(RuleComparison(field: "email_domain", .in([.string("gmail.com"), .string("yahoo.com")])))),
                    .comparison(RuleComparison(field: "country", .in([.string("US"), .string("CA"), .string("GB"), .string("DE")]))),
                ]))
        }
        benchmark.startMeasurement()
        blackHole(try WhatIf.run(fixture.log, WhatIfQuery(candidates: candidates)))
    }

    Benchmark(
        "audit: one lead in a 10M-event ledger",
        configuration: .init(
            metrics: [.wallClock], warmupIterations: 100, scalingFactor: .one, maxDuration: .seconds(20), maxIterations: 5_000)
    ) { benchmark in
        let fixture = try TenMillion.shared()
        try fixture.makeResident()
        let lead = "L\(Int.random(in: 0..<TenMillion.leads))"
        benchmark.startMeasurement()
        blackHole(try LeadAudit.build(fixture.log, lead: lead))
    }
}

/// A ledger of ~10M events over 1M leads, built once and kept in the temporary folder between runs.
final class TenMillion: @unchecked Sendable {
    static let leads = 1_000_000
    static let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-bench-10m-v3").path
    nonisolated(unsafe) private static var instance: TenMillion?
    let log: EventLog
    let events: UInt64

    nonisolated(unsafe) private var resident = false

    /// Reads every record once, as a server does on its first replay, so that an audit measures the
    /// ledger's work rather than the disk's: the page cache then holds the whole file.
    func makeResident() throws {
        if resident { return }
        var bytes = 0
        try log.withSnapshot { snapshot in
            try snapshot.scan { view in
                bytes &+= view.bytes.count
                return true
            }
        }
        blackHole(bytes)
        resident = true
    }

    static func shared() throws -> TenMillion {
        if let instance { return instance }
        let made = try TenMillion()
        instance = made
        return made
    }

    private init() throws {
        let complete = Self.path + "/complete"
        if !FileManager.default.fileExists(atPath: complete) {
            try? FileManager.default.removeItem(atPath: Self.path)
            let log = try EventLog(path: Self.path, options: .init(durability: .noMetaSync))
            try Self.fill(log, leads: Self.leads)
            log.close()
            _ = FileManager.default.createFile(atPath: complete, contents: Data())
        }
        log = try EventLog(path: Self.path, options: .init(createIfMissing: false))
        events = try log.head().position
    }

    /// Appends the catalog, then `leads` leads of about ten events each, then a few late events.
    static func fill(_ log: EventLog, leads: Int) throws {
        var rng = SplitMix(seed: 10_000_000)
        let start = Timestamp(rfc3339: "2025-01-06T00:00:00Z")!.microseconds
        let hour: Int64 = 3_600_000_000
        var catalog = StarterTaxonomy.events(source: "leadledger", occurredAt: Timestamp(microseconds: start), idSeed: "bench")
        for version in 1...4 {
            let rules = MQLRule.comparison(RuleComparison(field: "score", .gte(.number(Double(40 + version * 5)))))
            catalog.append(
                LeadEvent(
                    id: UUID(), occurredAt: Timestamp(microseconds: start), source: "hubspot", actor: "mops", lead: nil, correlationId: nil,
                    payload: .definitionPublished(
                        .init(
                            version: version, name: "v\(version)", rules: rules,
                            effectiveAt: Timestamp(microseconds: start + Int64(version - 1) * 13 * 7 * 24 * hour)))))
        }
        // Service levels: New York office hours from the start, a stricter one in Paris from mid-year.
        for (version, zone, touch, decision, weeks) in [(1, "America/New_York", 8.0, 24.0, 0), (2, "Europe/Paris", 4.0, 16.0, 26)] {
            catalog.append(
                LeadEvent(
                    id: UUID(), occurredAt: Timestamp(microseconds: start), source: "revops", actor: "revops", lead: nil, correlationId: nil,
                    payload: .slaPublished(
                        .init(
                            version: version, name: "sla v\(version)", effectiveAt: Timestamp(microseconds: start + Int64(weeks) * 7 * 24 * hour),
                            firstTouchWithin: touch, decisionWithin: decision,
                            calendar: BusinessCalendar(
                                timeZone: zone, workdays: [1, 2, 3, 4, 5], startMinute: 540, endMinute: 1020,
                                holidays: ["2025-07-04", "2025-12-25"])))))
        }
        _ = try log.appendAndWait(
            AppendBatch(records: catalog.map { NewRecord(id: $0.id, stream: CatalogStream.stream(of: $0), payload: $0.binary) }))
        let channels = ["paid_search", "organic_search", "email", "social", "referral", "webinar", "events", "partner"]
        let countries = ["US", "CA", "GB", "DE", "BR", "IN"], domains = ["acme.com", "gmail.com", "corp.io", "yahoo.com", "example.org"]
        let reasons = ["FIT_COMPANY.TOO_SMALL", "DATA.INVALID_EMAIL", "INTENT_TIMING.NO_BUDGET", "UNREACHABLE.NO_RESPONSE"]
        var late: [LeadEvent] = []
        let chunk = 10_000
        for first in stride(from: 0, to: leads, by: chunk) {
            var events: [LeadEvent] = []
            for n in first..<(first + chunk) {
                let lead = "L\(n)"
                var t = start + Int64.random(in: 0..<(52 * 7 * 24), using: &rng) * hour
                func add(_ payload: EventPayload, after hours: Int64 = 1) {
                    t += hours * hour
                    events.append(
                        LeadEvent(
                            id: UUID(), occurredAt: Timestamp(microseconds: t), source: "hubspot", actor: nil, lead: lead,
                            correlationId: nil, payload: payload))
                }
                add(
                    .leadCaptured(
                        .init(
                            channel: channels.randomElement(using: &rng)!, campaign: "c\(n % 40)",
                            attributes: [
                                "country": .string(countries.randomElement(using: &rng)!),
                                "email_domain": .string(domains.randomElement(using: &rng)!),
                                "employees": .number(Double(Int.random(in: 1...5000, using: &rng))),
                            ])))
                add(.leadScored(.init(score: Double(Int.random(in: 0...100, using: &rng)))), after: 2)
                add(.attributesObserved(.init(attributes: ["title": .string(Bool.random(using: &rng) ? "VP Sales" : "Analyst")])), after: 3)
                add(.leadScored(.init(score: Double(Int.random(in: 0...100, using: &rng)))), after: 6)
                add(.attributesObserved(.init(attributes: ["employees": .number(Double(Int.random(in: 1...5000, using: &rng)))])), after: 4)
                add(.leadScored(.init(score: Double(Int.random(in: 0...100, using: &rng)))), after: 6)
                let episodes = Int.random(in: 0..<5, using: &rng) == 0 ? 2 : 1
                for e in 0..<episodes {
                    add(.leadScored(.init(score: Double(Int.random(in: 0...100, using: &rng)))), after: 5)
                    add(.handedOff(.init(owner: "rep:\(n % 11)", definition: Int.random(in: 1...4, using: &rng))), after: 1)
                    let roll = Int.random(in: 0..<100, using: &rng)
                    if roll % 10 == 0 { add(.assigned(.init(owner: "rep:\((n + 1) % 11)")), after: 0) }
                    if roll % 5 != 0 { add(.touched(.init(activity: roll % 2 == 0 ? .call : .email)), after: Int64(n % 7)) }
                    if e + 1 < episodes {
                        add(.recycled(.init(reason: nil, note: nil)), after: 20)
                    } else if roll < 60 {
                        add(.accepted(.init(by: "rep:\(n % 11)", auto: nil)), after: Int64.random(in: 1...72, using: &rng))
                        if roll < 21 {
                            let amount = Double(100 * (n % 500 + 1))
                            add(.converted(.init(opportunity: "o\(n)", amount: amount, currency: roll % 2 == 0 ? "USD" : "EUR")), after: 24 * 7)
                            if roll < 7 { add(.closed(.init(won: roll % 3 != 0, amount: amount)), after: 24 * 30) }
                        }
                    } else if roll < 95 {
                        add(
                            .rejected(.init(reason: reasons.randomElement(using: &rng)!, note: nil, by: "rep:\(n % 11)")),
                            after: Int64.random(in: 1...72, using: &rng))
                    }
                }
                if Int.random(in: 0..<100, using: &rng) == 0 {
                    late.append(
                        LeadEvent(
                            id: UUID(), occurredAt: Timestamp(microseconds: t - 48 * hour), source: "hubspot", actor: nil, lead: lead,
                            correlationId: nil,
                            payload: .attributesObserved(.init(attributes: ["country": .string("US")]))))
                }
            }
            events.sort { $0.occurredAt.microseconds < $1.occurredAt.microseconds }
            _ = try log.appendAndWait(AppendBatch(records: events.map { NewRecord(id: $0.id, stream: $0.lead, payload: $0.binary) }))
        }
        _ = try log.appendAndWait(AppendBatch(records: late.map { NewRecord(id: $0.id, stream: $0.lead, payload: $0.binary) }))
    }
}
