import Foundation
import Projections

/// An aligned text table: numbers right-aligned, text left-aligned.
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []
    var rightAligned: Set<Int> = []

    init(_ headers: [String], rightAligned: Set<Int> = []) {
        self.headers = headers
        self.rightAligned = rightAligned
    }

    mutating func add(_ row: [String]) { rows.append(row) }

    func render() -> String {
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var out = [line(headers), widths.map { String(repeating: "─", count: $0) }.joined(separator: "  ")]
        out += rows.map(line)
        return out.joined(separator: "\n") + "\n"
    }
}

/// CSV with RFC 4180 quoting.
struct CSVWriter {
    var lines: [String] = []
    mutating func add(_ cells: [String]) {
        lines.append(
            cells.map { cell in
                cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
                    ? "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : cell
            }.joined(separator: ","))
    }
    var text: String { lines.joined(separator: "\n") + "\n" }
}

enum Format {
    /// `62.1%`.
    static func percent(_ value: Double?) -> String {
        guard let value else { return "–" }
        return String(format: "%.1f%%", value * 100)
    }

    /// `62.1% (58.3–65.8)`.
    static func rate(_ value: Double?, _ interval: Interval?) -> String {
        guard let value, let interval else { return "–" }
        return String(format: "%.1f%% (%.1f–%.1f)", value * 100, interval.low * 100, interval.high * 100)
    }

    /// Hours with one decimal.
    static func hours(_ value: Double?) -> String {
        guard let value else { return "–" }
        return String(format: "%.1f", value)
    }

    /// `12,345`.
    static func count(_ n: Int) -> String {
        let digits = String(n)
        var out = ""
        for (i, c) in digits.reversed().enumerated() {
            if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    /// An amount rounded to whole units and grouped like a count: `1,250,000`. Sums too large for a
    /// whole number (a ledger can hold amounts from before the range check) fall back to `1.2e+20`.
    static func amount(_ value: Double) -> String {
        let rounded = value.rounded()
        guard rounded.isFinite, abs(rounded) < 9.0e18 else { return String(format: "%.3g", value) }
        return count(Int(rounded))
    }

    /// A raw number for CSV: empty when absent.
    static func raw(_ value: Double?) -> String { value.map { String($0) } ?? "" }

    /// `p < 0.001` or `p = 0.042`.
    static func pValue(_ p: Double) -> String { p < 0.001 ? "p < 0.001" : String(format: "p = %.3f", p) }

    /// `+3.2 pts`.
    static func points(_ value: Double) -> String { String(format: "%+.1f pts", value * 100) }
}

/// A one-line progress indicator on standard error, shown only when it is a terminal.
struct Progress {
    let label: String
    let total: Int
    let enabled = isatty(STDERR_FILENO) == 1

    func update(_ done: Int) {
        guard enabled else { return }
        let width = 30
        let filled = total <= 0 ? width : width * min(max(done, 0), total) / total
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardError.write(Data("\r\(label) \(bar) \(Format.count(done))/\(Format.count(total))".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}

/// Runs a replaying call with a progress bar on standard error when it is a terminal.
func withReplayProgress<T: Sendable>(_ label: String, _ body: @Sendable () throws -> T) async throws -> T {
    guard isatty(STDERR_FILENO) == 1 else { return try body() }
    let progress = ReplayProgress()
    let drawing = Task {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(150))
            let (done, total) = progress.fraction
            if total > 0 { Progress(label: label, total: Int(total)).update(Int(min(done, total))) }
        }
    }
    defer {
        drawing.cancel()
        Progress(label: label, total: 0).finish()
    }
    return try ReplayProgress.$current.withValue(progress) { try body() }
}
