import Foundation
import LeadModel

/// Imports a Salesforce `LeadHistory` export (`LeadId, Field, OldValue, NewValue, CreatedDate,
/// CreatedById`) as ledger events, following a `SalesforceMapping`.
///
/// Rows are grouped per lead and replayed in `CreatedDate` order (ties in file order). A lead's
/// first row captures it (channel from the mapped `LeadSource` change at that instant, else
/// `unknown`); status changes become hand-offs, decisions, recycles and conversions; mapped fields
/// become attributes and scores. A decision with no open episode (a status jumping straight to
/// Working) gets a hand-off inserted one second before it and is counted in the report; statuses and
/// fields the mapping does not know are listed as skipped with their line. Event ids are name-based
/// (namespace `salesforce-lead-history`, key = lead, time, field and value), so a second import of
/// the same export yields identical events.
public enum SalesforceLeadHistoryImporter {
    /// Imports the export at `url`.
    public static func importFile(_ url: URL, mapping: SalesforceMapping = .default) throws(ImportError) -> ImportResult {
        try importTable(CSVReader.read(url), mapping: mapping)
    }

    /// Imports an export already in memory; `fileName` names it in messages and the report.
    public static func importData(
        _ data: Data, fileName: String, mapping: SalesforceMapping = .default
    )
        throws(ImportError) -> ImportResult
    {
        try importTable(CSVReader.parse(data, file: fileName), mapping: mapping)
    }

    static func importTable(_ table: CSVTable, mapping: SalesforceMapping) throws(ImportError) -> ImportResult {
        let rules = try mapping.rules()
        let leadColumn = try table.column("LeadId")
        let fieldColumn = try table.column("Field")
        let valueColumn = try table.column("NewValue")
        let dateColumn = try table.column("CreatedDate")
        let byColumn = table.optionalColumn("CreatedById")
        var rows: [HistoryRow] = []
        rows.reserveCapacity(table.rows.count)
        for row in table.rows {
            rows.append(
                try HistoryRow(
                    table: table, row: row, lead: leadColumn, field: fieldColumn, value: valueColumn, time: dateColumn,
                    actor: byColumn, timeExample: rules.timeExample))
        }
        var replay = HistoryReplay(rules: rules, file: table.file, rowsRead: table.rows.count)
        return try replay.run(rows)
    }
}

extension HistoryRow {
    /// Reads one CSV row, refusing an empty lead or field and an unreadable time.
    init(
        table: CSVTable, row: CSVRow, lead: Int, field: Int, value: Int, time: Int, actor: Int?, timeExample: String
    ) throws(ImportError) {
        let leadText = row.fields[lead].trimmingCharacters(in: .whitespaces)
        guard !leadText.isEmpty, leadText.utf8.count <= EventDecoder.Limits.leadBytes else {
            throw ImportError(
                file: table.file, line: row.line, column: table.header[lead],
                message: leadText.isEmpty
                    ? "expected a lead id, found an empty cell"
                    : "expected a lead id of at most \(EventDecoder.Limits.leadBytes) bytes, found \(leadText.utf8.count) bytes")
        }
        let fieldText = row.fields[field].trimmingCharacters(in: .whitespaces)
        guard !fieldText.isEmpty else {
            throw ImportError(
                file: table.file, line: row.line, column: table.header[field],
                message: "expected a field name, found an empty cell")
        }
        guard let at = ImportDate.parse(row.fields[time]) else {
            throw ImportError(
                file: table.file, line: row.line, column: table.header[time],
                message: "expected a date like \(timeExample), found \"\(row.fields[time])\"")
        }
        let actorText = actor.map { row.fields[$0].trimmingCharacters(in: .whitespaces) } ?? ""
        self.init(
            lead: leadText, field: fieldText, value: row.fields[value].trimmingCharacters(in: .whitespacesAndNewlines),
            at: at, actor: actorText.isEmpty ? nil : actorText, line: row.line)
    }
}
