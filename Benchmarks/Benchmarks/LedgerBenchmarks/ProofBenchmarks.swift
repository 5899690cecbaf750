import Benchmark
import EventLog
import Foundation
import LeadModel
import Ledger
import LedgerDemo

/// What the Merkle tree costs on append, and what a proof for one lead costs to make and carry.
func proofBenchmarks() {
    let bulk = Benchmark.Configuration(
        metrics: [.wallClock, .throughput], warmupIterations: 0, scalingFactor: .mega, maxDuration: .seconds(60), maxIterations: 2)

    // Beside "append 1M: EventLog (hash chain, id + lead indexes)", which keeps the tree.
    Benchmark("append 1M: EventLog without the Merkle tree", configuration: bulk) { benchmark in
        let batches = Workload.shared.records.chunked(10_000)
        let path = scratchDirectory("log-no-tree")
        defer { cleanUp(path) }
        var options = EventLog.Options()
        options.maintainsMerkleTree = false
        let log = try EventLog(path: path, options: options)
        benchmark.startMeasurement()
        for batch in batches { _ = try log.appendAndWait(AppendBatch(records: batch)) }
        benchmark.stopMeasurement()
        log.close()
    }

    // A ledger of PROOF_EVENTS events (default 1M) over 100,000 leads: one lead's proof, signed.
    let events = Int(ProcessInfo.processInfo.environment["PROOF_EVENTS"] ?? "") ?? 1_000_000
    let proof = Benchmark.Configuration(
        metrics: [.wallClock], warmupIterations: 1, scalingFactor: .one, maxDuration: .seconds(20), maxIterations: 50)
    Benchmark("proof: one lead's signed proof in a \(events)-event ledger", configuration: proof) { benchmark in
        let ledger = ProofLedger.shared(events: events)
        // Another lead each sample: a generator made here would start over and pick the same one.
        var rng = SplitMix(seed: ledger.nextSample())
        var bytes = 0
        benchmark.startMeasurement()
        let lead = "00Q\(String(Int.random(in: 0..<100_000, using: &rng), radix: 36))"
        let made = try ledger.log.proof(stream: lead, signedBy: ledger.key)
        benchmark.stopMeasurement()
        if let made { bytes = try JSONEncoder().encode(made).count }
        blackHole(bytes)
        if ProcessInfo.processInfo.environment["PROOF_PRINT"] != nil, let made {
            print("proof of \(lead): \(made.records.count) events, \(bytes) bytes, path length \(made.records.first?.path.count ?? 0)")
        }
    }
}

/// A ledger filled once per process for the proof benchmark.
final class ProofLedger: @unchecked Sendable {
    let log: EventLog
    let key = LedgerSigningKey()
    nonisolated(unsafe) private static var made: ProofLedger?
    private var samples: UInt64 = 7

    /// A seed for the next sample's lead (the benchmark runs its samples one after another).
    func nextSample() -> UInt64 {
        samples &+= 1
        return samples
    }

    private init(events: Int) throws {
        let path = scratchDirectory("proof")
        log = try EventLog(path: path)
        var rng = SplitMix(seed: 16)
        var batch: [NewRecord] = []
        for i in 0..<events {
            var payload = [UInt8](repeating: 0, count: 150)
            for j in 0..<150 { payload[j] = UInt8(truncatingIfNeeded: rng.next()) }
            let lead = Int.random(in: 0..<100_000, using: &rng)
            batch.append(NewRecord(id: UUID(), stream: "00Q\(String(lead, radix: 36))", payload: payload))
            if batch.count == 100_000 || i == events - 1 {
                _ = try log.appendAndWait(AppendBatch(records: batch))
                batch.removeAll(keepingCapacity: true)
            }
        }
    }

    static func shared(events: Int) -> ProofLedger {
        if let made { return made }
        let ledger = try! ProofLedger(events: events)
        made = ledger
        return ledger
    }
}

/// 200,000 `lead.attributes_observed` events over 20,000 leads, each with an e-mail, a name and a
/// country: two personal values to seal per event, the most any event of this shape asks.
struct PersonalWorkload: Sendable {
    let batches: [[LeadEvent]]
    static let shared = PersonalWorkload(count: 200_000, leads: 20_000)

    init(count: Int, leads: Int) {
        var rng = SplitMix(seed: 86)
        var events: [LeadEvent] = []
        events.reserveCapacity(count)
        for i in 0..<count {
            let lead = Int.random(in: 0..<leads, using: &rng)
            events.append(
                LeadEvent(
                    id: UUID(), occurredAt: Timestamp(microseconds: 1_767_225_600_000_000 + Int64(i) * 1_000_000), source: "hubspot",
                    lead: "00Q\(String(lead, radix: 36))",
                    payload: .attributesObserved(
                        .init(attributes: [
                            "email": .string("person.\(lead).\(i)@example.com"), "name": .string("Person \(lead) \(i)"),
                            "country": .string(i % 2 == 0 ? "US" : "DE"),
                        ]))))
        }
        batches = events.chunked(10_000)
    }
}

/// The personal-data and Merkle costs on the ledger's own append path (validation included).
///
/// Both sides append the same events in the same batches with the same durability, each into a
/// ledger created and opened before the measurement; only the personal-attribute setting and the
/// tree differ. The CPU time (whole process) is kept beside the wall clock: on a shared machine the
/// wall clock stretches CPU work by the load, the CPU time much less.
func personalAppendBenchmarks() {
    let config = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal], warmupIterations: 0, scalingFactor: .one, maxDuration: .seconds(60), maxIterations: 3)
    for (name, personal, tree) in [
        ("sealed personal values + Merkle tree", true, true),
        ("no sealing, no Merkle tree", false, false),
    ] {
        Benchmark("ledger append 200K with personal values: \(name)", configuration: config) { benchmark in
            try measureAppend(PersonalWorkload.shared.batches, personal: personal, tree: tree, benchmark)
        }
    }
    // The demo mix also apart: what sealing alone and the tree alone cost.
    for (name, personal, tree) in [
        ("sealed personal values + Merkle tree", true, true),
        ("sealed personal values only", true, false),
        ("Merkle tree only", false, true),
        ("no sealing, no Merkle tree", false, false),
    ] {
        Benchmark("ledger append demo mix with personal values: \(name)", configuration: config) { benchmark in
            try measureAppend(DemoMixWorkload.shared.batches, personal: personal, tree: tree, benchmark)
        }
    }
}

/// The demo's history of a pipeline (captures, scores, hand-offs, decisions, touches, conversions),
/// each capture carrying an e-mail address and a name: the mix a CRM sends, where only the event
/// that first describes a person holds personal values.
struct DemoMixWorkload: Sendable {
    let batches: [[LeadEvent]]
    static let shared = DemoMixWorkload(leads: 50_000)

    init(leads: Int) {
        var events = DemoHistory.generate(seed: 86, leads: leads).events
        for index in events.indices {
            guard case .leadCaptured(var captured) = events[index].payload else { continue }
            var attributes = captured.attributes ?? [:]
            attributes["email"] = .string("person.\(events[index].lead ?? "")@example.com")
            attributes["name"] = .string("Person \(events[index].lead ?? "")")
            captured.attributes = attributes
            events[index].payload = .leadCaptured(captured)
        }
        batches = events.chunked(10_000)
    }
}

/// Appends `batches` through a ledger created before the measurement, with personal attributes
/// sealed (the default setting) or none, and the Merkle tree kept or not.
private func measureAppend(_ batches: [[LeadEvent]], personal: Bool, tree: Bool, _ benchmark: Benchmark) throws {
    let path = scratchDirectory("personal")
    defer { cleanUp(path) }
    var options = Ledger.Options()
    options.maintainsMerkleTree = tree
    if !personal {
        let setup = try Ledger(path: path, options: options)
        try setup.setPersonalAttributes([])
        setup.close()
    }
    let ledger = try Ledger(path: path, options: options)
    benchmark.startMeasurement()
    for batch in batches { _ = try ledger.appendAndWait(batch) }
    benchmark.stopMeasurement()
    ledger.close()
}
