import Foundation
import LeadModel

/// Imports a HubSpot contact property-history export (`Record ID, Property, Value, Timestamp`, and
/// optionally `Source`) as ledger events, following a `HubSpotMapping`.
///
/// Rows are grouped per record and replayed in `Timestamp` order (ties in file order): a record's
/// first row captures it (channel from `hs_analytics_source` at that instant, else `unknown`);
/// `lifecyclestage` and `hs_lead_status` changes become hand-offs, decisions, conversions and wins;
/// `hubspotscore` becomes `lead.scored`; mapped properties become attributes. The row's `Source`,
/// when present, is the event's actor. A decision with no open episode gets a hand-off inserted one
/// second before it and is counted in the report; a conversion or win while an episode is open
/// accepts it first, also counted. Event ids are name-based (namespace `hubspot-property-history`).
public enum HubSpotHistoryImporter {
    /// Imports the export at `url`.
    public static func importFile(_ url: URL, mapping: HubSpotMapping = .default) throws(ImportError) -> ImportResult {
        try importTable(CSVReader.read(url), mapping: mapping)
    }

    /// Imports an export already in memory; `fileName` names it in messages and the report.
    public static func importData(
        _ data: Data, fileName: String, mapping: HubSpotMapping = .default
    )
        throws(ImportError) -> ImportResult
    {
        try importTable(CSVReader.parse(data, file: fileName), mapping: mapping)
    }

    static func importTable(_ table: CSVTable, mapping: HubSpotMapping) throws(ImportError) -> ImportResult {
        try mapping.rules().importTable(table)
    }
}
