import ArgumentParser
import Foundation
import Ledger
import Projections

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Writes a table for a warehouse or BI tool: the episodes, the lead history (SCD type 2) or a daily snapshot.",
        discussion: """
            episodes  one row per episode: hand-off, owner, channel, campaign, source, definition,
                      outcome, decision time, reason (after corrections)
            history   the lead's states and attributes as validity intervals: lead, kind, name, value,
                      valid_from, valid_to (empty while the value holds)
            daily     per UTC day and channel: episodes open at the day's end, hand-offs, acceptances,
                      rejections and recycles that day

            The columns and their SQL types are listed in the README ("Warehouse export"); CSV has a
            header line and leaves null empty, JSON Lines writes every column. DuckDB reads both as is:
              leadledger export episodes --out episodes.csv
              duckdb -c "SELECT channel, count(*) FROM 'episodes.csv' GROUP BY ALL"
            """)

    @OptionGroup var options: LedgerOptions

    @Argument(help: "The table: episodes, history or daily.")
    var table: WarehouseTable

    @Option(help: "csv or jsonl.")
    var format: WarehouseFormat = .csv

    @Option(help: ArgumentHelp("Write to FILE (replaced only once the export is complete) instead of standard output.", valueName: "FILE"))
    var out: String?

    @Option(
        name: .customLong("as-of-recorded"),
        help: ArgumentHelp("Replay only what the ledger had recorded by then (knowledge time; RFC 3339 or YYYY-MM-DD).", valueName: "TIME"))
    var asOfRecorded: String?

    @Option(
        name: .customLong("as-of-occurred"),
        help: ArgumentHelp("Replay only what had happened by then (business time; RFC 3339 or YYYY-MM-DD).", valueName: "TIME"))
    var asOfOccurred: String?

    func validate() throws { _ = try cut() }

    func cut() throws -> ReplayCut {
        do throws(QueryInputError) { return try QueryInput.cut(asOfRecorded: asOfRecorded, asOfOccurred: asOfOccurred) } catch {
            switch error {
            case .notAnInstant(let field, let found):
                throw ValidationError("\(RangeOptions.option(field)): expected \(ReplayCut.instantForms), found \"\(found)\"")
            case .bothCuts, .notADay, .toBeforeFrom:
                throw ValidationError("give --as-of-recorded or --as-of-occurred, not both")
            }
        }
    }

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            let cut = try cut()
            let sink = try ExportSink(path: out)
            do {
                try WarehouseExport.write(table, format: format, log: ledger.log, cut: cut, reportAt: ledger.reportInstant(for: cut)) {
                    try sink.write($0)
                }
                try sink.finish()
            } catch {
                sink.abandon()
                throw error
            }
        }
    }
}

/// Where an export goes: standard output, or a file written beside its destination and moved
/// over it only when complete, so a failed export never leaves half a table under the name.
final class ExportSink {
    private let handle: FileHandle
    private let destination: String?
    private let temporary: String?
    private var buffer: [UInt8] = []

    init(path: String?) throws {
        guard let path else {
            (handle, destination, temporary) = (.standardOutput, nil, nil)
            return
        }
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).part").path
        guard FileManager.default.createFile(atPath: temporary, contents: nil), let handle = FileHandle(forWritingAtPath: temporary) else {
            throw CLIError(exitCode: .storage, "cannot create \(path): check that its directory exists and is writable")
        }
        (self.handle, self.destination, self.temporary) = (handle, path, temporary)
    }

    func write(_ line: String) throws {
        buffer.append(contentsOf: line.utf8)
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func finish() throws {
        try flush()
        guard let destination, let temporary else { return }
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, destination) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw CLIError(exitCode: .storage, "cannot write \(destination): \(reason)")
        }
    }

    func abandon() {
        guard let temporary else { return }
        try? handle.close()
        try? FileManager.default.removeItem(atPath: temporary)
    }
}

extension WarehouseTable: ExpressibleByArgument {}
extension WarehouseFormat: ExpressibleByArgument {}
