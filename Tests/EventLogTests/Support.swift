import EventLog
import Foundation

func temporaryLedgerPath(_ name: String = "log") -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-\(name)-\(UUID().uuidString)").path
}

/// A clock that reads what the test sets.
final class ManualClock: LogClock, @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(_ start: Int64) { value = start }
    func now() -> Int64 { lock.withLock { value } }
    func set(_ v: Int64) { lock.withLock { value = v } }
}

/// A deterministic generator (SplitMix64), so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
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

func record(_ text: String, id: UUID = UUID(), stream: String? = "lead-1") -> NewRecord {
    NewRecord(id: id, stream: stream, payload: Array(text.utf8))
}

/// The id the crash child gives record `index` of batch `batch`.
func crashTestID(batch: Int, index: Int) -> UUID {
    var bytes = [UInt8](repeating: 0, count: 16)
    withUnsafeBytes(of: UInt64(batch).bigEndian) { bytes.replaceSubrange(0..<8, with: $0) }
    withUnsafeBytes(of: UInt64(index).bigEndian) { bytes.replaceSubrange(8..<16, with: $0) }
    return UUID(
        uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        ))
}

/// Where `swift build` put the package's executables: next to the test bundle.
func productsDirectory() -> URL {
    URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
}
