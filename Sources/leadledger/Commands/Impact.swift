import ArgumentParser
import Foundation
import Ledger
import Projections

struct Impact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "How each change of the MQL definition moved the rejection rate.",
        discussion: """
            For each change v→v+1: the rejection rate of episodes under v in the window before the
            change against those under v+1 in the window after, the difference with its 95 % interval,
            a two-proportion z-test p-value, and the reason codes whose share moved most.

            Example:
              leadledger impact --window 28
            """)

    @OptionGroup var options: LedgerOptions
    @OptionGroup var range: RangeOptions

    @Option(help: "Days on each side of a change.")
    var window: Int = 28

    @Flag(name: .customLong("map-retired"), help: "Report retired reason codes under their replacements.")
    var mapRetired = false

    @Option(help: "Output: table, json or csv.")
    var format: OutputFormat = .table

    func validate() throws {
        guard window > 0 else { throw ValidationError("--window must be a positive number of days, found \(window)") }
    }

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            let (days, cut, mapped) = (window, try range.cut(), mapRetired)
            let report = try await withReplayProgress("replaying") {
                try ledger.impact(windowDays: days, cut: cut, mapRetiredReasons: mapped)
            }
            switch format {
            case .json: try printJSON(report)
            case .csv: print(Self.csv(report), terminator: "")
            case .table: print(Self.text(report), terminator: "")
            }
        }
    }

    static func text(_ report: ImpactReport) -> String {
        guard !report.changes.isEmpty else { return "no definition change yet: publish at least two definitions\n" }
        var out = ""
        for change in report.changes {
            out += "v\(change.from) → v\(change.to) “\(change.name)”, effective \(change.effectiveAt)\n"
            if let rationale = change.rationale { out += "  why: \(rationale)\n" }
            for line in change.changes { out += "  • \(line)\n" }
            var table = TextTable(
                ["", "window", "handed off", "decided", "rejected", "rejection rate (95% CI)"], rightAligned: [2, 3, 4, 5])
            for (label, side) in [("before", change.before), ("after", change.after)] {
                table.add([
                    "\(label) (v\(side.definition))", "\(side.windowStart) … \(side.windowEnd)", Format.count(side.handedOff),
                    Format.count(side.decided), Format.count(side.rejected), Format.rate(side.rejectionRate, side.rejectionRateInterval),
                ])
            }
            out += table.render().split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
            if let d = change.difference {
                out +=
                    "  difference \(Format.points(d.difference)) (95% CI \(Format.points(d.interval.low)) … \(Format.points(d.interval.high))), z = \(String(format: "%.2f", d.z)), \(Format.pValue(d.pValue))\n"
            } else {
                out += "  difference: not enough decided episodes on one side\n"
            }
            let rising = change.reasonsRising.map { "\($0.code) \(Format.points($0.change))" }
            let falling = change.reasonsFalling.map { "\($0.code) \(Format.points($0.change))" }
            if !rising.isEmpty { out += "  reasons rising: \(rising.joined(separator: ", "))\n" }
            if !falling.isEmpty { out += "  reasons falling: \(falling.joined(separator: ", "))\n" }
            out += "\n"
        }
        return out + "window \(report.windowDays) days; as of position \(report.asOf.position), head \(report.asOf.headHash.prefix(16))…\n"
    }

    static func csv(_ report: ImpactReport) -> String {
        var csv = CSVWriter()
        csv.add([
            "from", "to", "name", "effectiveAt", "beforeDecided", "beforeRejected", "beforeRate", "afterDecided", "afterRejected",
            "afterRate", "difference", "differenceLow", "differenceHigh", "pValue",
        ])
        for c in report.changes {
            csv.add([
                String(c.from), String(c.to), c.name, c.effectiveAt, String(c.before.decided), String(c.before.rejected),
                Format.raw(c.before.rejectionRate), String(c.after.decided), String(c.after.rejected), Format.raw(c.after.rejectionRate),
                Format.raw(c.difference?.difference), Format.raw(c.difference?.interval.low), Format.raw(c.difference?.interval.high),
                Format.raw(c.difference?.pValue),
            ])
        }
        return csv.text
    }
}
