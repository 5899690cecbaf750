import LeadModel

/// What an importer produced: the events to append, in an order that validates, and its report.
public struct ImportResult: Sendable {
    /// The events, sorted by business time with a stable tie-break that keeps each lead's story in order.
    public var events: [LeadEvent]
    /// What was read, produced, mapped specially and skipped.
    public var report: ImportReport

    /// Creates a result.
    public init(events: [LeadEvent], report: ImportReport) {
        self.events = events
        self.report = report
    }
}

/// An account of one import: nothing read is dropped without a line here saying so.
public struct ImportReport: Sendable, Codable, Hashable {
    /// Rows read from one file.
    public struct FileRows: Sendable, Codable, Hashable {
        /// The file's name.
        public var file: String
        /// Data rows read (the header excluded).
        public var rows: Int
        /// Creates a file entry.
        public init(file: String, rows: Int) {
            self.file = file
            self.rows = rows
        }
    }

    /// One place in the input: a file and a line.
    public struct RowReference: Sendable, Codable, Hashable, CustomStringConvertible {
        /// The file's name.
        public var file: String
        /// The 1-based physical line.
        public var line: Int
        /// Creates a reference.
        public init(file: String, line: Int) {
            self.file = file
            self.line = line
        }
        /// `file line N`.
        public var description: String { "\(file) line \(line)" }
    }

    /// Rows that did not fit the ledger's rules as they were and were mapped by an explicit rule.
    public struct SpecialMapping: Sendable, Codable, Hashable {
        /// A stable identifier of the rule, e.g. `closed_deal_without_mql`.
        public var kind: String
        /// What was done and why, in one sentence.
        public var reason: String
        /// How many rows it applied to.
        public var count: Int
        /// The first few rows it applied to, to look at.
        public var examples: [RowReference]
        /// Creates an entry.
        public init(kind: String, reason: String, count: Int, examples: [RowReference]) {
            self.kind = kind
            self.reason = reason
            self.count = count
            self.examples = examples
        }
    }

    /// A row that produced no event, and why.
    public struct SkippedRow: Sendable, Codable, Hashable {
        /// The file's name.
        public var file: String
        /// The 1-based physical line.
        public var line: Int
        /// Why it produced no event.
        public var reason: String
        /// Creates an entry.
        public init(file: String, line: Int, reason: String) {
            self.file = file
            self.line = line
            self.reason = reason
        }
    }

    /// The kind of export, e.g. `olist`, `salesforce-lead-history`, `hubspot-property-history`.
    public var format: String
    /// Rows read, per file, in the order the files were read.
    public var files: [FileRows]
    /// Events produced, by wire type name.
    public var eventsByType: [String: Int]
    /// Events produced in all.
    public var eventCount: Int
    /// Rows mapped by an explicit rule, one entry per rule, in the order first met.
    public var specialMappings: [SpecialMapping]
    /// Rows that produced no event, in file order.
    public var skipped: [SkippedRow]

    /// Creates a report.
    public init(
        format: String, files: [FileRows], eventsByType: [String: Int], eventCount: Int,
        specialMappings: [SpecialMapping], skipped: [SkippedRow]
    ) {
        self.format = format
        self.files = files
        self.eventsByType = eventsByType
        self.eventCount = eventCount
        self.specialMappings = specialMappings
        self.skipped = skipped
    }

    /// How many events of `type` were produced.
    public func count(of type: EventType) -> Int { eventsByType[type.rawValue] ?? 0 }

    /// How many rows the explicit rule `kind` applied to.
    public func specialCount(_ kind: String) -> Int {
        specialMappings.first { $0.kind == kind }?.count ?? 0
    }

    /// The report as lines of text for a terminal.
    public var summaryLines: [String] {
        var lines: [String] = []
        for file in files { lines.append("read \(file.rows) rows from \(file.file)") }
        lines.append("produced \(eventCount) events")
        for type in EventType.allCases {
            if let count = eventsByType[type.rawValue] { lines.append("  \(type.rawValue): \(count)") }
        }
        for mapping in specialMappings {
            let examples = mapping.examples.map(\.description).joined(separator: ", ")
            lines.append("mapped specially (\(mapping.kind)): \(mapping.count) rows: \(mapping.reason) (e.g. \(examples))")
        }
        if !skipped.isEmpty {
            lines.append("skipped \(skipped.count) rows:")
            for row in skipped.prefix(20) { lines.append("  \(row.file) line \(row.line): \(row.reason)") }
            if skipped.count > 20 { lines.append("  … and \(skipped.count - 20) more (see the JSON report)") }
        }
        return lines
    }
}

/// Collects a report while an importer works.
struct ReportBuilder {
    private static let exampleLimit = 5
    let format: String
    private var files: [ImportReport.FileRows] = []
    private var special: [ImportReport.SpecialMapping] = []
    private var specialIndex: [String: Int] = [:]
    private var skipped: [ImportReport.SkippedRow] = []

    init(format: String) { self.format = format }

    mutating func read(file: String, rows: Int) {
        files.append(ImportReport.FileRows(file: file, rows: rows))
    }

    mutating func special(_ kind: String, _ reason: String, file: String, line: Int) {
        let reference = ImportReport.RowReference(file: file, line: line)
        if let index = specialIndex[kind] {
            special[index].count += 1
            if special[index].examples.count < Self.exampleLimit { special[index].examples.append(reference) }
        } else {
            specialIndex[kind] = special.count
            special.append(ImportReport.SpecialMapping(kind: kind, reason: reason, count: 1, examples: [reference]))
        }
    }

    mutating func skip(file: String, line: Int, reason: String) {
        skipped.append(ImportReport.SkippedRow(file: file, line: line, reason: reason))
    }

    func finish(events: [LeadEvent]) -> ImportReport {
        var byType: [String: Int] = [:]
        for event in events { byType[event.type.rawValue, default: 0] += 1 }
        let sortedSkips = skipped.sorted { ($0.file, $0.line) < ($1.file, $1.line) }
        return ImportReport(
            format: format, files: files, eventsByType: byType, eventCount: events.count,
            specialMappings: special, skipped: sortedSkips)
    }
}

/// An event with what it takes to sort a whole import into an order that validates.
struct PendingEvent {
    var event: LeadEvent
    /// The position within its lead's own story, which is already in a valid order.
    var sequence: Int

    /// Sorts by business time, then lead, then the lead's own order: a lead's events never swap.
    static func sorted(_ pending: [PendingEvent]) -> [LeadEvent] {
        pending.sorted { a, b in
            if a.event.occurredAt.microseconds != b.event.occurredAt.microseconds {
                return a.event.occurredAt.microseconds < b.event.occurredAt.microseconds
            }
            let leadA = a.event.lead ?? "", leadB = b.event.lead ?? ""
            if leadA != leadB { return leadA < leadB }
            return a.sequence < b.sequence
        }.map(\.event)
    }
}
