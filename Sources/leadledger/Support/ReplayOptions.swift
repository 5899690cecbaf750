import ArgumentParser
import Foundation
import Projections

/// `--from`, `--to`, `--as-of-recorded`, `--as-of-occurred`: which history a report covers.
struct RangeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("First hand-off day included (YYYY-MM-DD).", valueName: "DATE"))
    var from: String?

    @Option(help: ArgumentHelp("Last hand-off day included (YYYY-MM-DD).", valueName: "DATE"))
    var to: String?

    @Option(name: .customLong("as-of-recorded"), help: ArgumentHelp("Replay only what the ledger had recorded by then (knowledge time; RFC 3339 or YYYY-MM-DD).", valueName: "TIME"))
    var asOfRecorded: String?

    @Option(name: .customLong("as-of-occurred"), help: ArgumentHelp("Replay only what had happened by then (business time; RFC 3339 or YYYY-MM-DD).", valueName: "TIME"))
    var asOfOccurred: String?

    func validate() throws {
        if asOfRecorded != nil && asOfOccurred != nil {
            throw ValidationError("give --as-of-recorded or --as-of-occurred, not both")
        }
        _ = try bounds()
        _ = try cut()
    }

    /// `from` inclusive and `until` exclusive, in µs.
    func bounds() throws -> (from: Int64?, until: Int64?) {
        let start = try from.map { try Self.day($0, option: "--from") }
        let end = try to.map { try Self.day($0, option: "--to") + 86_400_000_000 }
        if let start, let end, end <= start { throw ValidationError("--to \(to!) is before --from \(from!)") }
        return (start, end)
    }

    func cut() throws -> ReplayCut {
        if let asOfRecorded { return .recordedBy(try Self.instant(asOfRecorded, option: "--as-of-recorded")) }
        if let asOfOccurred { return .occurredBy(try Self.instant(asOfOccurred, option: "--as-of-occurred")) }
        return .everything
    }

    static func day(_ text: String, option: String) throws -> Int64 {
        guard let start = Bucket.dayStart(text) else { throw ValidationError("\(option): expected a date like 2026-03-02, found \"\(text)\"") }
        return start
    }

    /// An RFC 3339 instant, or the end of a `YYYY-MM-DD` day.
    static func instant(_ text: String, option: String) throws -> Int64 {
        guard let instant = ReplayCut.instant(parsing: text) else {
            throw ValidationError("\(option): expected \(ReplayCut.instantForms), found \"\(text)\"")
        }
        return instant
    }
}
