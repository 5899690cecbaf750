import Foundation
import LeadModel

/// How an export is written: CSV with a header line (RFC 4180 quoting, empty for null) or JSON Lines
/// (one object per row, every column present, `null` for null). Both read as is in DuckDB, Spark,
/// BigQuery and pandas.
public enum WarehouseFormat: String, Sendable, CaseIterable, Codable {
    /// Comma-separated values with a header line.
    case csv
    /// One JSON object per line.
    case jsonl
}

/// A column of an exported table, with the SQL type a warehouse gives it.
public struct WarehouseColumn: Sendable, Hashable {
    /// The column's name, snake case.
    public var name: String
    /// Its SQL type as DuckDB names it: `VARCHAR`, `BIGINT`, `DOUBLE`, `BOOLEAN`, `DATE`, `TIMESTAMPTZ`.
    public var type: String
    /// What it holds.
    public var meaning: String

    init(_ name: String, _ type: String, _ meaning: String) {
        self.name = name
        self.type = type
        self.meaning = meaning
    }
}

/// One cell of an exported row.
public enum WarehouseValue: Sendable, Hashable {
    /// No value.
    case null
    /// Text.
    case text(String)
    /// An integer.
    case integer(Int64)
    /// A real number; not finite is written as null.
    case real(Double)
    /// A boolean.
    case bool(Bool)
    /// An instant (µs), written in RFC 3339, UTC.
    case instant(Int64)
    /// A day (any µs inside it), written `YYYY-MM-DD`.
    case day(Int64)

    /// The value as text; nil for null.
    var text: String? {
        switch self {
        case .null: nil
        case .text(let text): text
        case .integer(let value): String(value)
        // Always with a decimal point, so a column of whole numbers still reads as DOUBLE.
        case .real(let value): value.isFinite ? String(value) : nil
        case .bool(let value): value ? "true" : "false"
        case .instant(let micros): Timestamp(microseconds: micros).rfc3339
        case .day(let micros): Bucket.dayString(micros)
        }
    }

    /// The value as JSON text; reals keep their decimal point, as in CSV.
    var jsonText: String {
        switch self {
        case .null: "null"
        case .integer, .real, .bool: text ?? "null"
        case .text, .instant, .day: text.map { JSONValue.string($0).jsonText } ?? "null"
        }
    }
}

/// Writes rows of one table in one format to a sink, a line at a time.
public struct WarehouseWriter {
    /// The table's columns.
    public let columns: [WarehouseColumn]
    /// The format.
    public let format: WarehouseFormat
    private let sink: (String) throws -> Void
    /// Each column's `"name":`, written once.
    private let keys: [String]

    /// A writer that hands each line (with its newline) to `sink`; CSV starts with the header.
    public init(columns: [WarehouseColumn], format: WarehouseFormat, sink: @escaping (String) throws -> Void) throws {
        self.columns = columns
        self.format = format
        self.sink = sink
        keys = columns.map { JSONValue.string($0.name).jsonText + ":" }
        if format == .csv { try sink(columns.map { Self.csvField($0.name) }.joined(separator: ",") + "\n") }
    }

    /// Writes one row; `values` follow the columns.
    public func write(_ values: [WarehouseValue]) throws {
        precondition(values.count == columns.count, "a row has one value per column")
        switch format {
        case .csv:
            try sink(values.map { $0.text.map(Self.csvField) ?? "" }.joined(separator: ",") + "\n")
        case .jsonl:
            try sink("{" + zip(keys, values).map { $0 + $1.jsonText }.joined(separator: ",") + "}\n")
        }
    }

    /// A CSV field, quoted when it holds a comma, a quote, a line break or edge spaces; an empty
    /// string is quoted too, so that it stays apart from null.
    static func csvField(_ text: String) -> String {
        let needsQuotes =
            text.isEmpty || text.first == " " || text.last == " "
            || text.utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 }
        guard needsQuotes else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
