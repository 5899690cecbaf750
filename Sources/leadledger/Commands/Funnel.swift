import ArgumentParser
import Foundation
import Ledger
import Projections

struct FunnelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "funnel",
        abstract: "The funnel from hand-off to revenue by cohort: stages, rates, velocity, amounts, recycling.",
        discussion: """
            Per hand-off cohort: handed off → accepted → converted → won, with 95 % Wilson intervals;
            hours from hand-off to decision (naive median beside the Kaplan–Meier median, which counts
            open episodes as censored at the report's instant), pipeline and won amounts per currency,
            and the recycle rate with re-MQLs within 30 and 90 days.

            Examples:
              leadledger funnel --bucket month
              leadledger funnel --by owner --from 2026-01-01 --format csv
              leadledger funnel --as-of-occurred 2026-06-30   # censored at the end of June
            """)

    @OptionGroup var options: LedgerOptions
    @OptionGroup var range: RangeOptions
    @OptionGroup var filters: FilterOptions

    @Option(help: "Cohort bucket: day, week (ISO, Monday) or month.")
    var bucket: Bucket = .week

    @Option(help: "Group by channel, owner, definition, source or campaign.")
    var by: Projections.Dimension?

    @Option(help: "Output: table, json or csv.")
    var format: OutputFormat = .table

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            let cut = try range.cut()
            var query = CohortQuery(bucket: bucket, groupBy: by, at: ledger.reportInstant(for: cut))
            query.filter = try filters.filter(range)
            let report = try await withReplayProgress("replaying") { [query] in try ledger.funnel(query, cut: cut) }
            switch format {
            case .json: try printJSON(report)
            case .csv: print(Self.csv(report), terminator: "")
            case .table: print(Self.table(report), terminator: "")
            }
        }
    }

    static func money(_ amounts: [CurrencyAmount]) -> String {
        amounts.isEmpty ? "–" : amounts.map { Format.amount($0.amount) + " " + ($0.currency ?? "?") }.joined(separator: ", ")
    }

    static func table(_ report: FunnelReport) -> String {
        let grouped = report.query.groupBy != nil
        var headers = [report.query.bucket.rawValue]
        if let by = report.query.groupBy { headers.append(by.rawValue) }
        headers += [
            "handed off", "accepted", "converted", "won", "accepted % (95% CI)", "converted of accepted", "won of converted",
            "decision h p50", "KM p50", "recycled", "re-MQL 90d", "pipeline", "won amount",
        ]
        let offset = grouped ? 2 : 1
        var table = TextTable(headers, rightAligned: Set((offset..<(offset + 11)).map { $0 }))
        for row in report.rows + [report.total] {
            var cells = [row.start ?? "total"]
            if grouped { cells.append(row.start == nil ? "" : row.group ?? "") }
            cells += [
                Format.count(row.handedOff), Format.count(row.accepted), Format.count(row.converted), Format.count(row.won),
                Format.rate(row.acceptedOfHandedOff.rate, row.acceptedOfHandedOff.interval),
                Format.percent(row.convertedOfAccepted.rate), Format.percent(row.wonOfConverted.rate),
                Format.hours(row.timeToDecision.naiveMedianHours), Format.hours(row.timeToDecision.kaplanMeierMedianHours),
                Format.count(row.recycled), Format.count(row.recycling.reMQLWithin90Days.count), money(row.pipeline),
                money(row.wonAmount),
            ]
            table.add(cells)
        }
        return table.render()
            + "open episodes censored at \(report.reportAt); as of position \(report.asOf.position), head \(report.asOf.headHash.prefix(16))… (\(report.asOf.cut))\n"
    }

    static func csv(_ report: FunnelReport) -> String {
        var csv = CSVWriter()
        csv.add([
            "start", "group", "handedOff", "accepted", "rejected", "recycled", "pending", "converted", "convertedAccepted", "won",
            "wonConverted", "acceptedOfHandedOff", "acceptedOfHandedOffLow", "acceptedOfHandedOffHigh", "convertedOfAccepted",
            "wonOfConverted", "decisionMedianHours", "decisionP90Hours", "kaplanMeierMedianHours", "acceptedToConvertedMedianHours",
            "convertedToClosedMedianHours", "recycleRate", "reMQLWithin30Days", "reMQLWithin90Days", "reMQLAcceptanceRate", "pipeline",
            "wonAmount",
        ])
        func amounts(_ list: [CurrencyAmount]) -> String { list.map { "\($0.currency ?? ""):\($0.amount)" }.joined(separator: ";") }
        for row in report.rows {
            csv.add([
                row.start ?? "", row.group ?? "", String(row.handedOff), String(row.accepted), String(row.rejected), String(row.recycled),
                String(row.pending), String(row.converted), String(row.convertedAccepted), String(row.won), String(row.wonConverted),
                Format.raw(row.acceptedOfHandedOff.rate), Format.raw(row.acceptedOfHandedOff.interval?.low),
                Format.raw(row.acceptedOfHandedOff.interval?.high), Format.raw(row.convertedOfAccepted.rate),
                Format.raw(row.wonOfConverted.rate), Format.raw(row.handOffToDecision.medianHours),
                Format.raw(row.handOffToDecision.p90Hours), Format.raw(row.timeToDecision.kaplanMeierMedianHours),
                Format.raw(row.acceptedToConverted.medianHours), Format.raw(row.convertedToClosed.medianHours),
                Format.raw(row.recycling.recycled.rate), String(row.recycling.reMQLWithin30Days.count),
                String(row.recycling.reMQLWithin90Days.count), Format.raw(row.recycling.reMQLAcceptance.rate), amounts(row.pipeline),
                amounts(row.wonAmount),
            ])
        }
        return csv.text
    }
}

struct ServiceLevelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sla",
        abstract: "Service levels of hand-offs: met, breached, open and withdrawn per cohort and per owner.",
        discussion: """
            Each episode is held to the sla.published in force at its hand-off; deadlines count business
            hours in the policy's calendar (time zone, workdays, hours, holidays). Open deadlines are
            judged at the report's instant: the --as-of-occurred cut, else now.

            Examples:
              leadledger sla
              leadledger sla --limit decision --breaches 50
              leadledger sla --bucket month --format json
            """)

    @OptionGroup var options: LedgerOptions
    @OptionGroup var range: RangeOptions
    @OptionGroup var filters: FilterOptions

    @Option(help: "Cohort bucket: day, week (ISO, Monday) or month.")
    var bucket: Bucket = .week

    @Option(help: "Which limit the table shows: firstTouch or decision (json shows both).")
    var limit: ServiceLevelLimit = .firstTouch

    @Option(help: "How many breached episodes to list.")
    var breaches: Int = 20

    @Option(help: "Output: table, json or csv.")
    var format: OutputFormat = .table

    func validate() throws {
        guard (0...100_000).contains(breaches) else { throw ValidationError("--breaches: expected 0 to 100000, found \(breaches)") }
    }

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            let cut = try range.cut()
            var query = CohortQuery(bucket: bucket, at: ledger.reportInstant(for: cut))
            query.filter = try filters.filter(range)
            let report = try await withReplayProgress("replaying") { [query] in
                try ledger.serviceLevels(query, cut: cut, maximumBreaches: breaches)
            }
            let table = limit == .firstTouch ? report.firstTouch : report.decision
            switch format {
            case .json: try printJSON(report)
            case .csv: print(Self.csv(table), terminator: "")
            case .table: print(Self.table(report, table), terminator: "")
            }
        }
    }

    static func table(_ report: ServiceLevelReport, _ table: ServiceLevelTable) -> String {
        func render(_ title: String, _ rows: [ServiceLevelRow], key: (ServiceLevelRow) -> String) -> String {
            var text = TextTable(
                [title, "met", "breached", "open", "withdrawn", "compliance (95% CI)", "business h to touch p50"],
                rightAligned: Set(1...6))
            for row in rows + [table.total] {
                text.add([
                    row.start == nil && row.owner == nil ? "total" : key(row), Format.count(row.met), Format.count(row.breached),
                    Format.count(row.open), Format.count(row.withdrawn), Format.rate(row.compliance.rate, row.compliance.interval),
                    Format.hours(row.medianBusinessHoursToFirstTouch),
                ])
            }
            return text.render()
        }
        var out = "\(table.limit == .firstTouch ? "first touch" : "decision") service level, judged at \(report.reportAt)\n"
        if report.policies.isEmpty { out += "no sla.published in the ledger: nothing to judge\n" }
        for policy in report.policies {
            out +=
                "  v\(policy.version) \(policy.name): from \(policy.effectiveAt), first touch within \(policy.firstTouchWithin.map { Format.hours($0) } ?? "–") h, decision within \(policy.decisionWithin.map { Format.hours($0) } ?? "–") h (\(policy.timeZone))\n"
        }
        out += render(report.query.bucket.rawValue, table.byCohort) { $0.start ?? "" }
        out += render("owner", table.byOwner) { $0.owner ?? "" }
        if !table.breaches.isEmpty {
            var list = TextTable(["breached lead", "handed off", "owner", "deadline", "answered"], rightAligned: [])
            for breach in table.breaches {
                list.add([breach.lead, breach.handedOffAt, breach.owner, breach.deadline, breach.answeredAt ?? "–"])
            }
            out += list.render()
            if table.breachesTruncated { out += "… \(Format.count(table.total.breached)) breached in all\n" }
        }
        if report.withoutPolicy > 0 { out += "\(Format.count(report.withoutPolicy)) hand-offs before any service level\n" }
        return out + "as of position \(report.asOf.position), head \(report.asOf.headHash.prefix(16))… (\(report.asOf.cut))\n"
    }

    static func csv(_ table: ServiceLevelTable) -> String {
        var csv = CSVWriter()
        csv.add([
            "limit", "start", "owner", "met", "breached", "open", "withdrawn", "compliance", "complianceLow", "complianceHigh",
            "medianBusinessHoursToFirstTouch",
        ])
        for row in table.byCohort + table.byOwner {
            csv.add([
                table.limit.rawValue, row.start ?? "", row.owner ?? "", String(row.met), String(row.breached), String(row.open),
                String(row.withdrawn), Format.raw(row.compliance.rate), Format.raw(row.compliance.interval?.low),
                Format.raw(row.compliance.interval?.high), Format.raw(row.medianBusinessHoursToFirstTouch),
            ])
        }
        return csv.text
    }
}

struct ProfileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "The buyer profile: acceptance and win rates per value held at hand-off, with lift and q-values.",
        discussion: """
            For each attribute value at hand-off, channel, campaign and score band held by at least
            --minimum decided episodes: acceptance and win rates with 95 % Wilson intervals, lift
            against all decided episodes, a two-proportion p-value against the rest and its
            Benjamini–Hochberg q-value over every value of the report.

            Examples:
              leadledger profile
              leadledger profile --minimum 100 --by-definition --format csv
            """)

    @OptionGroup var options: LedgerOptions
    @OptionGroup var range: RangeOptions
    @OptionGroup var filters: FilterOptions

    @Option(help: "The fewest decided episodes a value needs to be reported.")
    var minimum: Int = ProfileQuery.defaultMinimumDecided

    @Option(name: .customLong("band-width"), help: "Width of the score bands.")
    var bandWidth: Double = 10

    @Flag(name: .customLong("by-definition"), help: "Profile each MQL definition version apart.")
    var byDefinition = false

    @Option(help: "Row order: field (by attribute, then value), acceptance-lift or win-lift (most telling first).")
    var sort: ProfileOrder = .field

    @Option(help: "Output: table, json or csv.")
    var format: OutputFormat = .table

    func validate() throws {
        guard minimum >= 1 else { throw ValidationError("--minimum: expected at least 1, found \(minimum)") }
        guard bandWidth.isFinite, (0.001...1_000_000).contains(bandWidth) else {
            throw ValidationError("--band-width: expected 0.001 to 1000000, found \(bandWidth)")
        }
    }

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            let cut = try range.cut()
            var query = ProfileQuery(minimumDecided: minimum, scoreBandWidth: bandWidth, byDefinition: byDefinition)
            query.filter = try filters.filter(range)
            var report = try await withReplayProgress("replaying") { [query] in try ledger.buyerProfile(query, cut: cut) }
            report.rows = sort.ordered(report.rows)
            switch format {
            case .json: try printJSON(report)
            case .csv: print(Self.csv(report), terminator: "")
            case .table: print(Self.table(report), terminator: "")
            }
        }
    }

    static func table(_ report: BuyerProfileReport) -> String {
        var out = ""
        for baseline in report.baselines {
            out +=
                "\(baseline.definition.map { "definition \($0 < 0 ? "(none)" : String($0)): " } ?? "")\(Format.count(baseline.decided)) decided, accepted \(Format.rate(baseline.acceptance.rate, baseline.acceptance.interval)), won \(Format.rate(baseline.win.rate, baseline.win.interval))\n"
        }
        var headers = report.query.byDefinition ? ["definition"] : []
        headers += ["field", "value", "decided", "accepted (95% CI)", "lift", "q", "won (95% CI)", "lift", "q"]
        let offset = report.query.byDefinition ? 3 : 2
        var table = TextTable(headers, rightAligned: Set((offset..<(offset + 7)).map { $0 }))
        func lift(_ value: Double?) -> String { value.map { String(format: "%.2f×", $0) } ?? "–" }
        func q(_ value: Double?) -> String { value.map { $0 < 0.001 ? "<0.001" : String(format: "%.3f", $0) } ?? "–" }
        for row in report.rows {
            var cells = report.query.byDefinition ? [row.definition.map { $0 < 0 ? "(none)" : String($0) } ?? ""] : []
            cells += [
                row.field, row.value, Format.count(row.decided), Format.rate(row.acceptance.rate.rate, row.acceptance.rate.interval),
                lift(row.acceptance.lift), q(row.acceptance.qValue), Format.rate(row.win.rate.rate, row.win.rate.interval),
                lift(row.win.lift), q(row.win.qValue),
            ]
            table.add(cells)
        }
        return out + table.render()
            + "\(report.valuesTested) values with at least \(report.query.minimumDecided) decided episodes; as of position \(report.asOf.position) (\(report.asOf.cut))\n"
    }

    static func csv(_ report: BuyerProfileReport) -> String {
        var csv = CSVWriter()
        csv.add([
            "definition", "field", "value", "decided", "accepted", "acceptanceRate", "acceptanceLow", "acceptanceHigh", "acceptanceLift",
            "acceptancePValue", "acceptanceQValue", "won", "winRate", "winLow", "winHigh", "winLift", "winPValue", "winQValue",
        ])
        for row in report.rows {
            csv.add([
                row.definition.map(String.init) ?? "", row.field, row.value, String(row.decided), String(row.acceptance.rate.count),
                Format.raw(row.acceptance.rate.rate), Format.raw(row.acceptance.rate.interval?.low),
                Format.raw(row.acceptance.rate.interval?.high), Format.raw(row.acceptance.lift), Format.raw(row.acceptance.pValue),
                Format.raw(row.acceptance.qValue), String(row.win.rate.count), Format.raw(row.win.rate.rate),
                Format.raw(row.win.rate.interval?.low), Format.raw(row.win.rate.interval?.high), Format.raw(row.win.lift),
                Format.raw(row.win.pValue), Format.raw(row.win.qValue),
            ])
        }
        return csv.text
    }
}

extension ServiceLevelLimit: ExpressibleByArgument {}

/// How `leadledger profile` orders its rows. The report's own order (field, then value) is stable
/// for diffs; the lift orders put the values that set buyers apart first, highest lift first, with
/// rows that have no lift last and the field order breaking ties.
enum ProfileOrder: String, CaseIterable, ExpressibleByArgument {
    case field
    case acceptanceLift = "acceptance-lift"
    case winLift = "win-lift"

    func ordered(_ rows: [ProfileRow]) -> [ProfileRow] {
        let lift: (ProfileRow) -> Double?
        switch self {
        case .field: return rows
        case .acceptanceLift: lift = { $0.acceptance.lift }
        case .winLift: lift = { $0.win.lift }
        }
        let indexed = rows.enumerated().map { (offset: $0.offset, row: $0.element, lift: lift($0.element) ?? -.infinity) }
        return indexed.sorted { ($0.lift, -$0.offset) > ($1.lift, -$1.offset) }.map(\.row)
    }
}
