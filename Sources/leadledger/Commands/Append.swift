import ArgumentParser
import Foundation
import LeadModel
import Ledger

struct Append: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append events (NDJSON or a JSON array) from a file or standard input, atomically.",
        discussion: """
            Every event is validated in order against the ledger; if any line is refused, nothing is
            appended and each refusal names its line, event id and field. Re-sending an event already
            stored is a duplicate, not an error.

            Examples:
              leadledger append events.ndjson
              cat events.ndjson | leadledger append --expected-version 00Q5e00000AbCdE=3 -
            """)

    @OptionGroup var options: LedgerOptions

    @Option(
        name: .customLong("expected-version"),
        help: ArgumentHelp("LEAD=N: the lead must hold N events before the batch (repeatable).", valueName: "LEAD=N"))
    var expectedVersions: [String] = []

    @Argument(help: "An NDJSON or JSON-array file, or - for standard input.")
    var file: String = "-"

    @Flag(help: "Print the receipt as JSON.")
    var json = false

    func run() async throws {
        try await runReporting {
            var expected: [String: Int] = [:]
            for item in expectedVersions {
                guard let eq = item.lastIndex(of: "="), let n = Int(item[item.index(after: eq)...]), n >= 0 else {
                    throw CLIError(exitCode: .usage, "--expected-version: expected LEAD=N, found \"\(item)\"")
                }
                expected[String(item[..<eq])] = n
            }
            let data: Data
            if file == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: file) else {
                    throw CLIError(exitCode: .refused, "cannot read \(file): no such file or not readable")
                }
                data = contents
            }
            let body = EventBody(decoding: data)
            if !body.problems.isEmpty {
                throw CLIError(
                    exitCode: .refused,
                    "the batch was refused; the ledger is unchanged\n  " + body.problems.map(\.message).joined(separator: "\n  "))
            }
            if body.events.isEmpty { throw CLIError(exitCode: .refused, "no events in \(file == "-" ? "standard input" : file)") }
            let ledger = try options.open(create: true)
            defer { ledger.close() }
            let receipt: LedgerReceipt
            do throws(LedgerError) {
                receipt = try await ledger.append(body, expectedVersions: expected)
            } catch {
                // Storage failures keep their own exit status; refusals are placed in the body's terms.
                if error.kind == .storage { throw error }
                throw CLIError(
                    exitCode: .refused,
                    "the batch was refused; the ledger is unchanged\n  " + body.problems(of: error).map(\.message).joined(separator: "\n  ")
                )
            }
            if json {
                try printJSON(receipt)
            } else {
                let first = receipt.results.filter { !$0.duplicate }.map(\.position).min()
                let last = receipt.results.filter { !$0.duplicate }.map(\.position).max()
                let span = first.map { " at positions \($0)–\(last!)" } ?? ""
                print(
                    "appended \(Format.count(receipt.appended)) events\(span), \(Format.count(receipt.duplicates)) duplicates; head \(receipt.head.position) \(receipt.head.hash.prefix(16))…"
                )
            }
        }
    }
}
