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

            Beside it, adjusted for time: the stayers (episodes whose lead state at hand-off satisfies
            both versions) give the drift of time alone, and the difference in differences takes it
            out, with its 95 % interval and the four rates behind it ("too few stayers" below
            --minimum-stayers decided on a side); an interrupted time series of the weekly rejection
            rate (level and slope change); a chi-square test of the whole reason mix; a warning when
            hand-off volume or the channel mix moved beyond chance; and the smallest difference the
            before/after could detect (power 80 %, alpha 0.05).

            Example:
              leadledger impact --window 28
            """)

    @OptionGroup var options: LedgerOptions
    @OptionGroup var range: RangeOptions

    @Option(help: "Days on each side of a change.")
    var window: Int = 28

    @Option(name: .customLong("series-weeks"), help: "Weeks on each side of a change in the weekly series.")
    var seriesWeeks: Int = 8

    @Option(name: .customLong("minimum-stayers"), help: "Decided stayers each side needs for a time-adjusted figure.")
    var minimumStayers: Int = 30

    @Flag(name: .customLong("map-retired"), help: "Report retired reason codes under their replacements.")
    var mapRetired = false

    @Option(help: "Output: table, json or csv.")
    var format: OutputFormat = .table

    func validate() throws {
        guard (1...3650).contains(window) else {
            throw ValidationError("--window must be a number of days from 1 to 3650, found \(window)")
        }
        guard (1...520).contains(seriesWeeks) else { throw ValidationError("--series-weeks must be from 1 to 520, found \(seriesWeeks)") }
        guard minimumStayers >= 1 else { throw ValidationError("--minimum-stayers must be at least 1, found \(minimumStayers)") }
    }

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            let (days, cut, mapped, weeks, stayers) = (window, try range.cut(), mapRetired, seriesWeeks, minimumStayers)
            let report = try await withReplayProgress("replaying") {
                try ledger.impact(windowDays: days, cut: cut, mapRetiredReasons: mapped, seriesWeeks: weeks, minimumStayers: stayers)
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
            out += adjustedText(change)
            out += "\n"
        }
        return out + "window \(report.windowDays) days; as of position \(report.asOf.position), head \(report.asOf.headHash.prefix(16))…\n"
    }

    /// The time-adjusted figures of one change, indented under its before/after.
    static func adjustedText(_ change: DefinitionChange) -> String {
        var out = ""
        func interval(_ i: Interval) -> String { "95% CI \(Format.points(i.low)) … \(Format.points(i.high))" }
        func rate(_ c: RejectionCounts) -> String {
            "\(Format.percent(c.rejectionRate)) (\(Format.count(c.rejected))/\(Format.count(c.decided)))"
        }
        if let adjusted = change.timeAdjusted {
            out +=
                "  stayers (satisfy v\(change.from) and v\(change.to)): before \(rate(adjusted.stayersBefore)), after \(rate(adjusted.stayersAfter))\n"
            if let e = adjusted.estimate {
                out += "  time-adjusted difference \(Format.points(e.difference)) (\(interval(e.interval))), \(Format.pValue(e.pValue))\n"
            } else {
                out += "  time-adjusted difference: \(adjusted.note ?? "not available")\n"
            }
        }
        let series = change.weeklySeries
        out += "  weekly series (\(series.weeksBefore) weeks before, \(series.weeksAfter) after, of \(series.weeksPerSide) each side): "
        if let fit = series.fit {
            out += "level change \(Format.points(fit.levelChange.estimate)) (\(interval(fit.levelChange.interval))), "
            out += "slope change \(Format.points(fit.slopeChange.estimate))/week (\(interval(fit.slopeChange.interval)))\n"
        } else {
            out += "\(series.note ?? "no fit")\n"
        }
        let mix = change.reasonMix
        if let statistic = mix.statistic, let p = mix.pValue {
            out += "  reason mix: chi-square \(String(format: "%.2f", statistic)), df \(mix.degreesOfFreedom), \(Format.pValue(p))"
            out += mix.pooled.isEmpty ? "\n" : " (pooled as sparse: \(mix.pooled.joined(separator: ", ")))\n"
        } else {
            out += "  reason mix: not tested, \(mix.note ?? "too few rejections")\n"
        }
        if let warning = change.population.warning { out += "  warning: \(warning)\n" }
        let d = change.detectable
        if let difference = d.difference {
            out +=
                "  detectable: \(String(format: "%.1f", difference * 100)) pts at power 80% (alpha 0.05) with \(Format.count(d.beforeDecided)) and \(Format.count(d.afterDecided)) decided\n"
        }
        return out
    }

    static func csv(_ report: ImpactReport) -> String {
        var csv = CSVWriter()
        csv.add([
            "from", "to", "name", "effectiveAt", "beforeDecided", "beforeRejected", "beforeRate", "afterDecided", "afterRejected",
            "afterRate", "difference", "differenceLow", "differenceHigh", "pValue", "stayersBeforeDecided", "stayersBeforeRejected",
            "stayersAfterDecided", "stayersAfterRejected", "timeAdjustedDifference", "timeAdjustedLow", "timeAdjustedHigh", "tooFewStayers",
            "seriesWeeksBefore", "seriesWeeksAfter", "levelChange", "levelChangeLow", "levelChangeHigh", "slopeChange", "slopeChangeLow",
            "slopeChangeHigh", "reasonMixChiSquare", "reasonMixDF", "reasonMixPValue", "volumePValue", "channelMixPValue", "warning",
            "detectableDifference",
        ])
        for c in report.changes {
            csv.add([
                String(c.from), String(c.to), c.name, c.effectiveAt, String(c.before.decided), String(c.before.rejected),
                Format.raw(c.before.rejectionRate), String(c.after.decided), String(c.after.rejected), Format.raw(c.after.rejectionRate),
                Format.raw(c.difference?.difference), Format.raw(c.difference?.interval.low), Format.raw(c.difference?.interval.high),
                Format.raw(c.difference?.pValue),
                c.timeAdjusted.map { String($0.stayersBefore.decided) } ?? "",
                c.timeAdjusted.map { String($0.stayersBefore.rejected) } ?? "",
                c.timeAdjusted.map { String($0.stayersAfter.decided) } ?? "", c.timeAdjusted.map { String($0.stayersAfter.rejected) } ?? "",
                Format.raw(c.timeAdjusted?.estimate?.difference), Format.raw(c.timeAdjusted?.estimate?.interval.low),
                Format.raw(c.timeAdjusted?.estimate?.interval.high), c.timeAdjusted.map { String($0.tooFewStayers) } ?? "",
                String(c.weeklySeries.weeksBefore), String(c.weeklySeries.weeksAfter),
                Format.raw(c.weeklySeries.fit?.levelChange.estimate), Format.raw(c.weeklySeries.fit?.levelChange.interval.low),
                Format.raw(c.weeklySeries.fit?.levelChange.interval.high), Format.raw(c.weeklySeries.fit?.slopeChange.estimate),
                Format.raw(c.weeklySeries.fit?.slopeChange.interval.low), Format.raw(c.weeklySeries.fit?.slopeChange.interval.high),
                Format.raw(c.reasonMix.statistic), c.reasonMix.statistic == nil ? "" : String(c.reasonMix.degreesOfFreedom),
                Format.raw(c.reasonMix.pValue), Format.raw(c.population.volumePValue), Format.raw(c.population.channelMix.pValue),
                c.population.warning ?? "", Format.raw(c.detectable.difference),
            ])
        }
        return csv.text
    }
}
