import Benchmark
import Foundation
import LeadModel

/// The rule language and the record codec: evaluations and decodes per second on one core.
func modelBenchmarks() {
    let config = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal], warmupIterations: 1, scalingFactor: .mega, maxDuration: .seconds(10),
        maxIterations: 10)

    Benchmark("rules: 10-rule definition, compiled evaluation", configuration: config) { benchmark in
        let fixture = RuleFixture()
        var hits = 0
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations { hits &+= fixture.definition.evaluate(fixture.facts[i & 1023]) ? 1 : 0 }
        benchmark.stopMeasurement()
        blackHole(hits)
    }

    Benchmark("codec: record view (type, occurredAt, lead, channel)", configuration: config) { benchmark in
        let records = CodecFixture.shared.records
        var sum = 0
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            records[i & 1023].withUnsafeBytes { bytes in
                let view = EventRecordView(bytes)
                sum &+=
                    Int(view.type.code) &+ Int(truncatingIfNeeded: view.occurredAt) &+ (view.lead?.count ?? 0) &+ (view.channel?.count ?? 0)
            }
        }
        benchmark.stopMeasurement()
        blackHole(sum)
    }

    Benchmark(
        "codec: full decode to LeadEvent",
        configuration: .init(
            metrics: [.wallClock, .throughput], warmupIterations: 1, scalingFactor: .kilo, maxDuration: .seconds(10), maxIterations: 10)
    ) { benchmark in
        let records = CodecFixture.shared.records
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations { blackHole(try LeadEvent(binary: records[i & 1023])) }
    }
}

struct RuleFixture {
    let definition: CompiledDefinition
    let facts: [LeadFacts]

    init() {
        let rules = try! RuleParser().parse(
            try! JSONValue.parse(
                Data(
                    """
                    {"all": [
                      {"field": "score", "gte": 60},
                      {"field": "country", "in": ["US", "CA", "GB", "DE", "FR"]},
                      {"not": {"field": "email_domain", "in": ["gmail.com", "yahoo.com", "hotmail.com"]}},
                      {"any": [{"field": "employees", "gte": 50}, {"field": "title", "contains": "VP"}]},
                      {"field": "industry", "ne": "education"},
                      {"field": "channel", "nin": ["affiliate"]},
                      {"field": "consent", "eq": true},
                      {"field": "title", "exists": true},
                      {"field": "campaign", "prefix": "2025"},
                      {"field": "employees", "lt": 100000}
                    ]}
                    """.utf8)))
        let table = FieldTable()
        definition = CompiledDefinition(rules, table: table)
        var rng = SplitMix(seed: 7)
        let countries = ["US", "CA", "GB", "BR", "IN", "DE"], domains = ["acme.com", "gmail.com", "corp.io"],
            titles = ["VP Sales", "Analyst", "CTO"]
        facts = (0..<1024).map { _ in
            var f = LeadFacts(table: table)
            f.set(field: "score", .number(Double(Int.random(in: 0...100, using: &rng))))
            f.set(field: "country", .string(countries.randomElement(using: &rng)!))
            f.set(field: "email_domain", .string(domains.randomElement(using: &rng)!))
            f.set(field: "employees", .number(Double(Int.random(in: 1...5000, using: &rng))))
            f.set(field: "title", .string(titles.randomElement(using: &rng)!))
            f.set(field: "industry", .string("software"))
            f.set(field: "channel", .string("paid_search"))
            f.set(field: "consent", .bool(Bool.random(using: &rng)))
            f.set(field: "campaign", .string("2025-spring"))
            return f
        }
    }
}

/// 1,024 encoded events of the common kinds.
final class CodecFixture: @unchecked Sendable {
    static let shared = CodecFixture()
    let records: [[UInt8]]

    private init() {
        var rng = SplitMix(seed: 3)
        let at = Timestamp(rfc3339: "2026-03-02T14:05:00Z")!
        records = (0..<1024).map { i in
            let payload: EventPayload
            switch i % 4 {
            case 0:
                payload = .leadCaptured(
                    .init(
                        channel: "paid_search", campaign: "2026-spring", attributes: ["country": .string("US"), "employees": .number(120)]))
            case 1: payload = .handedOff(.init(owner: "rep:alice", definition: 3))
            case 2: payload = .rejected(.init(reason: "FIT_COMPANY.TOO_SMALL", note: "12 employees", by: "rep:alice"))
            default: payload = .leadScored(.init(score: Double(Int.random(in: 0...100, using: &rng)), model: "v2"))
            }
            return LeadEvent(
                id: UUID(), occurredAt: at, source: "salesforce", actor: "rep:alice", lead: "00Q5e00000\(i)", correlationId: nil,
                payload: payload
            ).binary
        }
    }
}
