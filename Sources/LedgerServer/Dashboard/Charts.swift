import Foundation
import LeadModel
import Projections

/// Inline SVG charts for the dashboard: no script, no external asset, readable without colour
/// thanks to the legends and labelled axes.
enum Charts {
    /// A vertical line at a definition change.
    struct Marker {
        var micros: Int64
        var label: String
    }

    private static let width = 1280.0
    private static let left = 52.0
    private static let right = 20.0
    private static let top = 26.0
    private static let bottom = 38.0

    private static let palette = ["#2f5db3", "#d9822b", "#7b4bb3", "#1f8a8a", "#c0392b", "#6b8e23", "#b3478a", "#8a8f99"]

    /// The x axis: bucket starts as µs, mapped across the plot area.
    private struct TimeAxis {
        let starts: [Int64]
        let first: Int64
        let last: Int64
        let plotWidth: Double

        init(starts: [Int64], bucket: Int64, plotWidth: Double) {
            self.starts = starts
            self.first = starts.first ?? 0
            self.last = (starts.last ?? 0) + bucket
            self.plotWidth = plotWidth
        }

        func x(_ micros: Int64) -> Double {
            guard last > first else { return left }
            return left + plotWidth * Double(micros - first) / Double(last - first)
        }

        func slot(_ index: Int) -> (x: Double, width: Double) {
            let start = x(starts[index])
            let end = index + 1 < starts.count ? x(starts[index + 1]) : x(last)
            return (start, end - start)
        }
    }

    private static func starts(_ rows: [TrendRow]) -> [Int64] {
        rows.map { row in row.start.flatMap { Bucket.dayStart($0) } ?? 0 }
    }

    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// Week labels under the plot, thinned so they do not overlap.
    private static func xLabels(_ rows: [TrendRow], axis: TimeAxis, baseline: Double) -> String {
        let every = max(1, Int((Double(rows.count) / 12).rounded(.up)))
        var out = ""
        for index in stride(from: 0, to: rows.count, by: every) {
            let slot = axis.slot(index)
            let x = slot.x + slot.width / 2
            out += "<line x1=\"\(f(x))\" y1=\"\(f(baseline))\" x2=\"\(f(x))\" y2=\"\(f(baseline + 4))\" stroke=\"#8a8f99\"/>"
            out += "<text x=\"\(f(x))\" y=\"\(f(baseline + 17))\" text-anchor=\"middle\">\(HTML.escape(rows[index].start ?? ""))</text>"
        }
        return out
    }

    private static func markerLines(_ markers: [Marker], axis: TimeAxis, height: Double) -> String {
        var out = ""
        for marker in markers where marker.micros >= axis.first && marker.micros <= axis.last {
            let x = axis.x(marker.micros)
            out +=
                "<g class=\"marker\"><line x1=\"\(f(x))\" y1=\"\(f(top - 8))\" x2=\"\(f(x))\" y2=\"\(f(height - bottom))\" stroke=\"#17202e\" stroke-dasharray=\"4 3\" stroke-width=\"1.2\"/>"
            out +=
                "<text x=\"\(f(x + 4))\" y=\"\(f(top - 12))\" style=\"fill:#17202e;font-weight:600\">\(HTML.escape(marker.label))</text></g>"
        }
        return out
    }

    /// Acceptance and rejection rates per bucket, each with its 95 % Wilson band, and a dashed
    /// line at each definition change.
    ///
    /// Each bucket's column links to `link(row)` when given: the list of that cohort's episodes.
    static func rates(_ rows: [TrendRow], bucketMicros: Int64, markers: [Marker], link: ((TrendRow) -> String)? = nil) -> String {
        let height = 330.0
        guard !rows.isEmpty else { return empty("No hand-offs yet: the trend appears once leads are handed off.") }
        let axis = TimeAxis(starts: starts(rows), bucket: bucketMicros, plotWidth: width - left - right)
        let plotHeight = height - top - bottom
        func y(_ rate: Double) -> Double { top + plotHeight * (1 - rate) }

        var svg =
            "<svg class=\"chart rates\" role=\"img\" aria-label=\"Acceptance and rejection rate by week with 95% Wilson intervals\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\">"
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(tick)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(tick)))\" stroke=\"#e3e7ee\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(tick) + 4))\" text-anchor=\"end\">\(Int(tick * 100)) %</text>"
        }
        svg += xLabels(rows, axis: axis, baseline: height - bottom)

        let series: [(String, (TrendRow) -> (Double?, Interval?))] = [
            ("#1f7a4d", { ($0.acceptanceRate, $0.acceptanceRateInterval) }),
            ("#b3261e", { ($0.rejectionRate, $0.rejectionRateInterval) }),
        ]
        for (colour, value) in series {
            // Runs of buckets that have decisions; a bucket without any breaks the line and band.
            var runs: [[(x: Double, rate: Double, band: Interval?)]] = [[]]
            for (index, row) in rows.enumerated() {
                let (rate, band) = value(row)
                guard let rate else {
                    if !(runs.last?.isEmpty ?? true) { runs.append([]) }
                    continue
                }
                let slot = axis.slot(index)
                runs[runs.count - 1].append((slot.x + slot.width / 2, rate, band))
            }
            for run in runs where !run.isEmpty {
                let bands = run.compactMap { point in point.band.map { (point.x, $0) } }
                if bands.count == run.count {
                    let upper = bands.map { "\(f($0.0)),\(f(y($0.1.high)))" }
                    let lower = bands.reversed().map { "\(f($0.0)),\(f(y($0.1.low)))" }
                    let points =
                        bands.count == 1
                        ? [
                            "\(f(bands[0].0 - 3)),\(f(y(bands[0].1.high)))", "\(f(bands[0].0 + 3)),\(f(y(bands[0].1.high)))",
                            "\(f(bands[0].0 + 3)),\(f(y(bands[0].1.low)))", "\(f(bands[0].0 - 3)),\(f(y(bands[0].1.low)))",
                        ]
                        : upper + lower
                    svg += "<polygon class=\"band\" points=\"\(points.joined(separator: " "))\" fill=\"\(colour)\" fill-opacity=\"0.14\"/>"
                }
                svg +=
                    "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(run.map { "\(f($0.x)),\(f(y($0.rate)))" }.joined(separator: " "))\"/>"
                for point in run {
                    svg += "<circle cx=\"\(f(point.x))\" cy=\"\(f(y(point.rate)))\" r=\"2.6\" fill=\"\(colour)\"/>"
                }
            }
        }
        if let link {
            for (index, row) in rows.enumerated() {
                let slot = axis.slot(index)
                svg += hitArea(
                    href: link(row), x: slot.x, y: top, width: slot.width, height: plotHeight,
                    title: "\(row.start ?? ""): \(row.handedOff) hand-offs, \(row.accepted) accepted, \(row.rejected) rejected — list them")
            }
        }
        svg += markerLines(markers, axis: axis, height: height)
        svg += "</svg>"
        return svg
            + legend([("#1f7a4d", "acceptance rate"), ("#b3261e", "rejection rate")])
            + "<p class=\"note\">Shaded: 95 % Wilson interval. Dashed: MQL definition changes. Rates use decided hand-offs of each weekly cohort.</p>"
    }

    /// Rejections per bucket, stacked by reason code (after corrections); the rarest codes share one colour.
    ///
    /// Each bar segment links to `link(row, code)` when given (`code` nil for the rarest codes together).
    static func reasons(
        _ rows: [TrendRow], bucketMicros: Int64, markers: [Marker], link: ((TrendRow, String?) -> String)? = nil
    ) -> String {
        let height = 300.0
        var totals: [String: Int] = [:]
        var labels: [String: String] = [:]
        for row in rows {
            for reason in row.rejectionsByReason {
                totals[reason.code, default: 0] += reason.count
                if let label = reason.label { labels[reason.code] = label }
            }
        }
        guard !rows.isEmpty, !totals.isEmpty else { return empty("No rejections recorded yet.") }
        let ranked = totals.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map(\.key)
        let shown = Array(ranked.prefix(palette.count - 1))
        let keys = shown + (ranked.count > shown.count ? ["other"] : [])
        let axis = TimeAxis(starts: starts(rows), bucket: bucketMicros, plotWidth: width - left - right)
        let plotHeight = height - top - bottom
        let peak = max(1, rows.map { $0.rejectionsByReason.reduce(0) { $0 + $1.count } }.max() ?? 1)
        let scale = niceCeiling(peak)
        func y(_ count: Double) -> Double { top + plotHeight * (1 - count / Double(scale)) }

        var svg =
            "<svg class=\"chart reasons\" role=\"img\" aria-label=\"Rejections by reason per week, stacked\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"100%\">"
        for step in 0...4 {
            let value = Double(scale) * Double(step) / 4
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y(value)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(value)))\" stroke=\"#e3e7ee\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y(value) + 4))\" text-anchor=\"end\">\(Int(value))</text>"
        }
        svg += xLabels(rows, axis: axis, baseline: height - bottom)
        for (index, row) in rows.enumerated() {
            var counts: [String: Int] = [:]
            for reason in row.rejectionsByReason {
                counts[shown.contains(reason.code) ? reason.code : "other", default: 0] += reason.count
            }
            let slot = axis.slot(index)
            let barWidth = max(1, slot.width * 0.78)
            let x = slot.x + (slot.width - barWidth) / 2
            var base = 0.0
            for (keyIndex, key) in keys.enumerated() {
                guard let count = counts[key], count > 0 else { continue }
                let y0 = y(base)
                let y1 = y(base + Double(count))
                let bar =
                    "<rect x=\"\(f(x))\" y=\"\(f(y1))\" width=\"\(f(barWidth))\" height=\"\(f(y0 - y1))\" fill=\"\(palette[keyIndex])\"><title>\(HTML.escape(row.start ?? "")) \(HTML.escape(key)): \(count)</title></rect>"
                if let link {
                    svg += "<a href=\"\(HTML.escape(link(row, key == "other" ? nil : key)))\">\(bar)</a>"
                } else {
                    svg += bar
                }
                base += Double(count)
            }
        }
        svg += markerLines(markers, axis: axis, height: height)
        svg += "</svg>"
        let entries = keys.enumerated().map { index, key in
            (palette[index], key == "other" ? "other codes" : labels[key].map { "\(key) — \($0)" } ?? key)
        }
        return svg + legend(entries)
    }

    /// An invisible, clickable area over a cohort's column, shaded on hover.
    static func hitArea(href: String, x: Double, y: Double, width: Double, height: Double, title: String) -> String {
        "<a class=\"drill\" href=\"\(HTML.escape(href))\"><rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"#2f5db3\" fill-opacity=\"0\" pointer-events=\"all\"><title>\(HTML.escape(title))</title></rect></a>"
    }

    private static func niceCeiling(_ value: Int) -> Int {
        var magnitude = 1
        while magnitude * 10 < value { magnitude *= 10 }
        for step in [1, 2, 4, 5, 10] where step * magnitude >= value { return step * magnitude }
        return value
    }

    private static func legend(_ entries: [(String, String)]) -> String {
        "<div class=\"legend\">" + entries.map { "<span><i style=\"background:\($0.0)\"></i>\(HTML.escape($0.1))</span>" }.joined()
            + "</div>"
    }

    private static func empty(_ message: String) -> String {
        "<svg class=\"chart empty\" viewBox=\"0 0 \(Int(width)) 60\" width=\"100%\"><text x=\"\(Int(width / 2))\" y=\"34\" text-anchor=\"middle\">\(HTML.escape(message))</text></svg>"
    }
}
