import Foundation
import LeadModel
import Projections

/// The feedback loop's charts: the funnel, service-level compliance by week and by owner. Inline
/// SVG like the other charts, each figure linking to the episodes behind it.
enum FeedbackCharts {
    private static let width = 1280.0
    private static let left = 52.0
    private static let right = 20.0
    private static let top = 26.0
    private static let bottom = 38.0

    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// Horizontal bars, handed off → accepted → converted → won, each with its count and its rate
    /// of the stage before; each bar lists its episodes.
    static func funnel(_ total: FunnelRow, link: ([(String, String)]) -> String) -> String {
        guard total.handedOff > 0 else { return empty("No hand-offs under these filters.") }
        // Each bar's drill-down selects exactly the episodes it counts.
        let stages: [(String, Int, Rate?, [(String, String)], String)] = [
            ("handed off", total.handedOff, nil, [], "#2f5db3"),
            ("accepted", total.accepted, total.acceptedOfHandedOff, [("outcome", "accepted")], "#1f7a4d"),
            ("converted (of accepted)", total.convertedAccepted, total.convertedOfAccepted, [("stage", "converted")], "#d9822b"),
            ("won (of converted)", total.wonConverted, total.wonOfConverted, [("stage", "won")], "#7b4bb3"),
        ]
        let labelWidth = 200.0, barHeight = 30.0, gap = 12.0
        let height = top + Double(stages.count) * (barHeight + gap)
        let plot = width - labelWidth - right - 440
        var svg =
            "<svg class=\"chart funnel\" role=\"img\" aria-label=\"Funnel from hand-off to won deal\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\">"
        for (index, (label, count, rate, selection, colour)) in stages.enumerated() {
            let y = top / 2 + Double(index) * (barHeight + gap)
            let barWidth = max(1, plot * Double(count) / Double(total.handedOff))
            let x = labelWidth + (plot - barWidth) / 2
            let rateText =
                rate.map { r in
                    "\(HTML.percent(r.rate)) of \(HTML.count(r.of))"
                        + (r.interval.map { " [\(HTML.percent($0.low)), \(HTML.percent($0.high))]" } ?? "")
                } ?? ""
            let bar =
                "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(barWidth))\" height=\"\(f(barHeight))\" rx=\"3\" fill=\"\(colour)\"><title>\(HTML.escape(label)): \(count) — list the episodes</title></rect>"
            svg += "<a href=\"\(HTML.escape(link(selection)))\">\(bar)</a>"
            svg +=
                "<text x=\"\(f(labelWidth - 10))\" y=\"\(f(y + barHeight / 2 + 4))\" text-anchor=\"end\" style=\"font-size:13px;fill:#1d2430\">\(HTML.escape(label))</text>"
            svg +=
                "<text x=\"\(f(labelWidth + plot + 12))\" y=\"\(f(y + barHeight / 2 + 4))\" style=\"font-size:13px;fill:#1d2430\"><tspan style=\"font-weight:600\">\(HTML.count(count))</tspan>  \(HTML.escape(rateText))</text>"
        }
        svg += "</svg>"
        func amounts(_ list: [CurrencyAmount]) -> String {
            list.isEmpty ? "–" : list.map { "\(money($0.amount)) \($0.currency ?? "(no currency)")" }.joined(separator: ", ")
        }
        let decision = total.timeToDecision
        let notes = [
            "Time to decision: Kaplan–Meier median \(hours(decision.kaplanMeierMedianHours)) (open episodes censored at the report's instant) beside the naive median of decided ones \(hours(decision.naiveMedianHours)); \(decision.censored) still open.",
            "Accepted → converted median \(hours(total.acceptedToConverted.medianHours)), converted → closed \(hours(total.convertedToClosed.medianHours)).",
            "Pipeline \(amounts(total.pipeline)); won \(amounts(total.wonAmount)) (currencies are never added together).",
            "Recycled \(HTML.percent(total.recycling.recycled.rate)); re-MQL within 30 days \(HTML.percent(total.recycling.reMQLWithin30Days.rate)), within 90 days \(HTML.percent(total.recycling.reMQLWithin90Days.rate)); their acceptance \(HTML.percent(total.recycling.reMQLAcceptance.rate)).",
        ]
        return svg + notes.map { "<p class=\"note\">\(HTML.escape($0))</p>" }.joined()
    }

    /// A whole amount with thousands separators; beyond what an integer holds, in plain digits.
    private static func money(_ amount: Double) -> String {
        guard let whole = Int64(exactly: amount.rounded()) else { return HTML.number(amount, digits: 0) }
        return HTML.count(whole)
    }

    private static func hours(_ value: Double?) -> String { value.map { "\(HTML.number($0)) h" } ?? "–" }

    /// Compliance per weekly cohort for each limit, with its 95 % Wilson band; each week links to its episodes.
    static func complianceByWeek(_ report: ServiceLevelReport, bucketMicros: Int64, link: (String) -> String) -> String {
        let series: [(String, String, ServiceLevelTable)] = [
            ("#2f5db3", "first touch", report.firstTouch), ("#d9822b", "decision", report.decision),
        ]
        var starts = Set<String>()
        for (_, _, table) in series { for row in table.byCohort { if let start = row.start { starts.insert(start) } } }
        let weeks = starts.sorted()
        guard !weeks.isEmpty else { return empty("No hand-off under a published service level yet.") }
        let height = 300.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let first = Bucket.dayStart(weeks[0]) ?? 0
        let last = (Bucket.dayStart(weeks[weeks.count - 1]) ?? 0) + bucketMicros
        func x(_ start: String) -> Double {
            let t = Bucket.dayStart(start) ?? first
            return left + plotWidth * (Double(t - first) + Double(bucketMicros) / 2) / Double(max(1, last - first))
        }
        func y(_ rate: Double) -> Double { top + plotHeight * (1 - rate) }
        var svg =
            "<svg class=\"chart compliance\" role=\"img\" aria-label=\"Service-level compliance by week with 95% Wilson intervals\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\">"
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(tick)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(tick)))\" stroke=\"#e3e7ee\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(tick) + 4))\" text-anchor=\"end\">\(Int(tick * 100)) %</text>"
        }
        let every = max(1, Int((Double(weeks.count) / 12).rounded(.up)))
        for index in stride(from: 0, to: weeks.count, by: every) {
            svg += "<text x=\"\(f(x(weeks[index])))\" y=\"\(f(height - bottom + 17))\" text-anchor=\"middle\">\(HTML.escape(weeks[index]))</text>"
        }
        for (colour, _, table) in series {
            let points = table.byCohort.compactMap { row -> (Double, Double, Interval?)? in
                guard let start = row.start, let rate = row.compliance.rate else { return nil }
                return (x(start), rate, row.compliance.interval)
            }.sorted { $0.0 < $1.0 }
            guard !points.isEmpty else { continue }
            let bands = points.compactMap { p in p.2.map { (p.0, $0) } }
            if bands.count > 1 {
                let outline = bands.map { "\(f($0.0)),\(f(y($0.1.high)))" } + bands.reversed().map { "\(f($0.0)),\(f(y($0.1.low)))" }
                svg += "<polygon points=\"\(outline.joined(separator: " "))\" fill=\"\(colour)\" fill-opacity=\"0.12\"/>"
            }
            svg +=
                "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.map { "\(f($0.0)),\(f(y($0.1)))" }.joined(separator: " "))\"/>"
            for point in points { svg += "<circle cx=\"\(f(point.0))\" cy=\"\(f(y(point.1)))\" r=\"2.6\" fill=\"\(colour)\"/>" }
        }
        let slot = plotWidth * Double(bucketMicros) / Double(max(1, last - first))
        for week in weeks {
            let counts = series.map { _, label, table -> String in
                let row = table.byCohort.first { $0.start == week }
                return "\(label) \(row?.met ?? 0) met, \(row?.breached ?? 0) breached, \(row?.open ?? 0) open"
            }
            svg += Charts.hitArea(
                href: link(week), x: x(week) - slot / 2, y: top, width: slot, height: plotHeight,
                title: "\(week): \(counts.joined(separator: "; ")) — list the episodes")
        }
        svg += "</svg>"
        return svg + legend(series.map { ($0.0, "\($0.1) compliance") })
            + "<p class=\"note\">Compliance = met / (met + breached), shaded: 95 % Wilson interval. Open and withdrawn episodes count in neither. Judged at \(HTML.escape(report.reportAt)).</p>"
    }

    /// First-touch compliance per owner at the deadline, as bars with their interval; each links to the owner's episodes.
    static func complianceByOwner(_ report: ServiceLevelReport, link: (String) -> String) -> String {
        let rows = report.firstTouch.byOwner.filter { $0.met + $0.breached > 0 }.sorted { ($0.compliance.rate ?? 0) > ($1.compliance.rate ?? 0) }
        guard !rows.isEmpty else { return empty("No first-touch deadline has passed under these filters.") }
        let labelWidth = 160.0, barHeight = 20.0, gap = 8.0
        let plot = width - labelWidth - right - 470
        let height = top + Double(rows.count) * (barHeight + gap) + 10
        var svg =
            "<svg class=\"chart owners\" role=\"img\" aria-label=\"First-touch compliance by owner\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\">"
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            let x = labelWidth + plot * tick
            svg += "<line x1=\"\(f(x))\" y1=\"\(f(top - 8))\" x2=\"\(f(x))\" y2=\"\(f(height - 6))\" stroke=\"#e3e7ee\"/>"
            svg += "<text x=\"\(f(x))\" y=\"\(f(top - 12))\" text-anchor=\"middle\">\(Int(tick * 100)) %</text>"
        }
        for (index, row) in rows.enumerated() {
            let y = top + Double(index) * (barHeight + gap)
            let rate = row.compliance.rate ?? 0
            let owner = row.owner ?? "(none)"
            let bar =
                "<rect x=\"\(f(labelWidth))\" y=\"\(f(y))\" width=\"\(f(max(1, plot * rate)))\" height=\"\(f(barHeight))\" fill=\"\(rate >= 0.9 ? "#1f7a4d" : rate >= 0.7 ? "#d9822b" : "#b3261e")\"><title>\(HTML.escape(owner)): \(row.met) met, \(row.breached) breached — list the episodes \(HTML.escape(owner)) answered for at the deadline</title></rect>"
            svg += "<a href=\"\(HTML.escape(link(owner)))\">\(bar)</a>"
            if let interval = row.compliance.interval {
                let (x0, x1) = (labelWidth + plot * interval.low, labelWidth + plot * interval.high)
                svg +=
                    "<line x1=\"\(f(x0))\" y1=\"\(f(y + barHeight / 2))\" x2=\"\(f(x1))\" y2=\"\(f(y + barHeight / 2))\" stroke=\"#17202e\" stroke-width=\"1.2\"/>"
                svg += "<line x1=\"\(f(x0))\" y1=\"\(f(y + 5))\" x2=\"\(f(x0))\" y2=\"\(f(y + barHeight - 5))\" stroke=\"#17202e\"/>"
                svg += "<line x1=\"\(f(x1))\" y1=\"\(f(y + 5))\" x2=\"\(f(x1))\" y2=\"\(f(y + barHeight - 5))\" stroke=\"#17202e\"/>"
            }
            svg +=
                "<text x=\"\(f(labelWidth - 8))\" y=\"\(f(y + barHeight / 2 + 4))\" text-anchor=\"end\" style=\"font-size:12px;fill:#1d2430\">\(HTML.escape(owner))</text>"
            let median = row.medianBusinessHoursToFirstTouch.map { ", median \(HTML.number($0)) business h to first touch" } ?? ""
            svg +=
                "<text x=\"\(f(labelWidth + plot + 10))\" y=\"\(f(y + barHeight / 2 + 4))\" style=\"font-size:12px;fill:#1d2430\">\(HTML.percent(row.compliance.rate)) (\(row.met)/\(row.met + row.breached))\(HTML.escape(median))</text>"
        }
        svg += "</svg>"
        return svg
            + "<p class=\"note\">Responsibility lies with the owner at the deadline. Whiskers: 95 % Wilson interval. Green from 90 %, amber from 70 %.</p>"
    }

    private static func legend(_ entries: [(String, String)]) -> String {
        "<div class=\"legend\">" + entries.map { "<span><i style=\"background:\($0.0)\"></i>\(HTML.escape($0.1))</span>" }.joined()
            + "</div>"
    }

    private static func empty(_ message: String) -> String {
        "<svg class=\"chart empty\" viewBox=\"0 0 \(Int(width)) 60\" width=\"100%\"><text x=\"\(Int(width / 2))\" y=\"34\" text-anchor=\"middle\">\(HTML.escape(message))</text></svg>"
    }
}

/// The buyer profile as a table: the values that set accepted and won leads apart.
struct ProfileView {
    struct Row {
        let field, value, decided, acceptance, acceptanceLift, win, winLift, q: String
        let significant: Bool
    }
    let baseline: String
    let rows: [Row]
    let valuesTested: String
    let shown: String

    init(_ report: BuyerProfileReport, limit: Int = 20) {
        baseline = report.baselines.first.map { b in
            "\(HTML.count(b.decided)) decided episodes: \(HTML.percent(b.acceptance.rate)) accepted, \(HTML.percent(b.win.rate)) won"
        } ?? "no decided episode"
        // The strongest signals first: the smallest q-value, then the largest departure of the lift from 1.
        let ranked = report.rows.sorted { a, b in
            let (qa, qb) = (a.acceptance.qValue ?? 1, b.acceptance.qValue ?? 1)
            if qa != qb { return qa < qb }
            return abs((a.acceptance.lift ?? 1) - 1) > abs((b.acceptance.lift ?? 1) - 1)
        }
        rows = ranked.prefix(limit).map { row in
            Row(
                field: row.field, value: row.value, decided: HTML.count(row.decided), acceptance: HTML.percent(row.acceptance.rate.rate),
                acceptanceLift: row.acceptance.lift.map { "×\(HTML.number($0, digits: 2))" } ?? "–", win: HTML.percent(row.win.rate.rate),
                winLift: row.win.lift.map { "×\(HTML.number($0, digits: 2))" } ?? "–",
                q: row.acceptance.qValue.map { String(format: "%.2g", $0) } ?? "–", significant: (row.acceptance.qValue ?? 1) < 0.05)
        }
        valuesTested = HTML.count(report.valuesTested)
        shown = "\(rows.count)"
    }
}
