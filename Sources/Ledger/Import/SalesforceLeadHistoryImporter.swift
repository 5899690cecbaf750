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
        try mapping.rules().importTable(table)
    }
}

