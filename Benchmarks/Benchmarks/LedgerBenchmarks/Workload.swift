import EventLog
import Foundation
import LeadModel

/// The bulk workload of the ledger-core benchmarks: pre-encoded ~150-byte records with random
/// UUID ids spread over 100,000 leads, generated once per process from a fixed seed.
struct Workload: Sendable {
    let records: [NewRecord]
    let leadNumbers: [UInt32]

    static let shared = Workload(count: 1_000_000, leads: 100_000)

    init(count: Int, leads: Int) {
        var rng = SplitMix(seed: 42)
        var records: [NewRecord] = []
        var numbers: [UInt32] = []
        records.reserveCapacity(count)
        numbers.reserveCapacity(count)
        for _ in 0..<count {
            let lead = Int.random(in: 0..<leads, using: &rng)
            var bytes = [UInt8](repeating: 0, count: 150)
            for i in 0..<150 { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
            records.append(NewRecord(id: UUID(), stream: "00Q\(String(lead, radix: 36))", payload: bytes))
            numbers.append(UInt32(lead + 1))
        }
        self.records = records
        self.leadNumbers = numbers
    }
}

typealias SplitMix = SplitMix64

/// A fresh directory under the system's temporary folder, removed by `cleanUp`.
func scratchDirectory(_ name: String) -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-bench-\(name)-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func cleanUp(_ path: String) { try? FileManager.default.removeItem(atPath: path) }
