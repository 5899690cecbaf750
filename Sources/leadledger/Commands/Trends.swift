import ArgumentParser
import Foundation
import Ledger
import Projections

struct TrendsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trends",
        abstract: "Acceptance and rejection trends by cohort (day, ISO week or month of hand-off).",
        discussion: """
            Rates are accepted (or rejected) over decided episodes, with 95 % Wilson intervals.

            Examples:
              leadledger trends --bucket week --by channel
              leadledger trends --by definition --from 2025-01-01 --to 2025-06-30 --format csv
              leadledger trends --as-of-recorded 2025-06-01   # what the ledger knew on 1 June
            """)

    @OptionGroup var options: LedgerOptions
    @OptionGroup var range: RangeOptions
    @OptionGroup var filters: FilterOptions

    @Option(help: "Cohort bucket: day, week (ISO, Monday) or month.")
    var bucket: Bucket = .week

    @Option(help: "Group by channel, owner, definition, source or campaign.")
    var by: Projections.Dimension?

    @Flag(name: .customLong("map-retired"), help: "Report retired reason codes under their replacements.")
    var mapRetired = false

    @Option(help: "Output: table, json or csv.")
    var format: OutputFormat = .table

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            var query = TrendsQuery(bucket: bucket, groupBy: by, mapRetiredReasons: mapRetired)
            query.filter = try filters.filter(range)
            let cut = try range.cut()
            let report = try await withReplayProgress("replaying") { [query] in try ledger.trends(query, cut: cut) }
            switch format {
            case .json: try printJSON(report)
            case .csv: print(Self.csv(report), terminator: "")
            case .table: print(Self.table(report), terminator: "")
            }
        }
    }

    static func table(_ report: TrendsReport) -> String {
        let grouped = report.query.groupBy != nil
        var headers = [report.query.bucket.rawValue]
        if let by = report.query.groupBy { headers.append(by.rawValue) }
        headers += [
            "handed off", "accepted", "rejected", "recycled", "pending", "acceptance (95% CI)", "rejection (95% CI)", "accept h p50", "p90",
            "top rejection reason",
        ]
        let offset = grouped ? 2 : 1
        var table = TextTable(headers, rightAligned: Set((offset..<(offset + 9)).map { $0 }))
        for row in report.rows + [report.total] {
            var cells = [row.start ?? "total"]
            if grouped { cells.append(row.start == nil ? "" : row.group ?? "") }
            cells += [
                Format.count(row.handedOff), Format.count(row.accepted), Format.count(row.rejected), Format.count(row.recycled),
                Format.count(row.pending), Format.rate(row.acceptanceRate, row.acceptanceRateInterval),
                Format.rate(row.rejectionRate, row.rejectionRateInterval), Format.hours(row.timeToAccept.medianHours),
                Format.hours(row.timeToAccept.p90Hours),
                row.rejectionsByReason.first.map { "\($0.code) (\(Format.count($0.count)))" } ?? "–",
            ]
            table.add(cells)
        }
        return table.render() + "as of position \(report.asOf.position), head \(report.asOf.headHash.prefix(16))… (\(report.asOf.cut))\n"
    }

    static func csv(_ report: TrendsReport) -> String {
        var csv = CSVWriter()
        csv.add([
            "start", "group", "handedOff", "accepted", "rejected", "recycled", "pending", "acceptanceRate", "acceptanceRateLow",
            "acceptanceRateHigh", "rejectionRate", "rejectionRateLow", "rejectionRateHigh", "timeToAcceptMedianHours",
            "timeToAcceptP90Hours",
        ])
        for row in report.rows {
            csv.add([
                row.start ?? "", row.group ?? "", String(row.handedOff), String(row.accepted), String(row.rejected), String(row.recycled),
                String(row.pending), Format.raw(row.acceptanceRate), Format.raw(row.acceptanceRateInterval?.low),
                Format.raw(row.acceptanceRateInterval?.high), Format.raw(row.rejectionRate), Format.raw(row.rejectionRateInterval?.low),
                Format.raw(row.rejectionRateInterval?.high), Format.raw(row.timeToAccept.medianHours),
                Format.raw(row.timeToAccept.p90Hours),
            ])
        }
        return csv.text
    }
}

extension Bucket: ExpressibleByArgument {}
extension Projections.Dimension: ExpressibleByArgument {}
