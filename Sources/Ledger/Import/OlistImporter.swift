import Foundation
import LeadModel

/// Imports the Olist marketing-funnel export (`olist_marketing_qualified_leads_dataset.csv` and
/// `olist_closed_deals_dataset.csv`) as ledger events.
///
/// Mapping (every event has `source` `olist`; times without an offset are read as UTC):
///
/// - Each MQL row becomes `lead.captured` (lead = `mql_id`, channel = `origin`, or `unknown` when
///   empty, campaign = `landing_page_id`, at `first_contact_date` 00:00:00Z) and `lead.handed_off`
///   one second later (owner = the `sdr_id` of the lead's closed deal when it has one, else
///   `unassigned`; no `definition`, so the ledger infers the one in force).
/// - Each closed-deal row becomes, at `won_date`: `lead.accepted` (by = `sdr_id`), a
///   `lead.attributes_observed` with `business_segment`, `lead_type`, `lead_behaviour_profile`,
///   `business_type` (strings; empty cells are left out) and `declared_monthly_revenue` (a number),
///   `lead.converted` (opportunity = `seller_id`, actor = `sr_id`) and `lead.closed` (won, actor = `sr_id`).
/// - Rows the ledger could not take as they are are mapped explicitly and counted in the report:
///   a closed deal whose `mql_id` is not among the MQLs is captured (channel `unknown`) and handed
///   off at its `won_date`; a `won_date` earlier than the hand-off is moved to the hand-off instant,
///   since a decision may not precede its episode; an empty `origin` becomes channel `unknown`.
///   A repeated `mql_id` in either file is skipped with its line number.
/// - Event ids are name-based (`DeterministicID`, namespace `olist`, key = `mql_id` and the event's
///   role), so importing the same files twice yields identical events and the ledger reports duplicates.
/// - Events come sorted by business time (ties: lead, then the lead's own order), so appending them
///   in that order validates: each hand-off precedes its decision.
public enum OlistImporter {
    /// The MQL file's standard name.
    public static let mqlFileName = "olist_marketing_qualified_leads_dataset.csv"
    /// The closed-deals file's standard name.
    public static let closedDealsFileName = "olist_closed_deals_dataset.csv"
    /// The `source` of every event this importer produces.
    public static let source = "olist"

    /// Imports the MQL file and, when given, the closed-deals file; `mqls` may also be a directory
    /// holding both by their standard names (then a closed-deals file there is optional).
    public static func importFiles(mqls: URL, closedDeals: URL?) throws(ImportError) -> ImportResult {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: mqls.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return try importDirectory(mqls)
        }
        let mqlTable = try CSVReader.read(mqls)
        let closedTable = try closedDeals.map { (url) throws(ImportError) in try CSVReader.read(url) }
        return try importTables(mqls: mqlTable, closedDeals: closedTable)
    }

    /// Imports a directory holding the MQL file and, optionally, the closed-deals file by their standard names.
    public static func importDirectory(_ directory: URL) throws(ImportError) -> ImportResult {
        let mqls = directory.appendingPathComponent(mqlFileName)
        guard FileManager.default.fileExists(atPath: mqls.path) else {
            throw ImportError(
                file: directory.lastPathComponent, message: "expected \(mqlFileName) in this directory, found none")
        }
        let closed = directory.appendingPathComponent(closedDealsFileName)
        let closedURL = FileManager.default.fileExists(atPath: closed.path) ? closed : nil
        return try importFiles(mqls: mqls, closedDeals: closedURL)
    }

    /// Imports CSV contents already in memory; the names are used in messages and the report.
    public static func importData(
        mqls: Data, mqlFileName: String = mqlFileName, closedDeals: Data?,
        closedDealsFileName: String = closedDealsFileName
    ) throws(ImportError) -> ImportResult {
        let mqlTable = try CSVReader.parse(mqls, file: mqlFileName)
        let closedTable = try closedDeals.map { (data) throws(ImportError) in
            try CSVReader.parse(data, file: closedDealsFileName)
        }
        return try importTables(mqls: mqlTable, closedDeals: closedTable)
    }

    private struct MQL {
        var id: String
        var line: Int
        var firstContact: Timestamp
        var channel: String
        var campaign: String?
    }

    private struct Deal {
        var mql: String
        var line: Int
        var seller: String
        var sdr: String
        var sr: String?
        var won: Timestamp
        var attributes: [String: AttributeValue]
    }

    static func importTables(mqls: CSVTable, closedDeals: CSVTable?) throws(ImportError) -> ImportResult {
        var report = ReportBuilder(format: "olist")
        report.read(file: mqls.file, rows: mqls.rows.count)
        if let closedDeals { report.read(file: closedDeals.file, rows: closedDeals.rows.count) }

        let leads = try readMQLs(mqls, report: &report)
        var deals: [Deal] = []
        var dealByLead: [String: Int] = [:]
        if let closedDeals {
            for deal in try readDeals(closedDeals) {
                if let first = dealByLead[deal.mql] {
                    report.skip(
                        file: closedDeals.file, line: deal.line,
                        reason: "mql_id \(deal.mql) already has a closed deal on line \(deals[first].line)")
                    continue
                }
                dealByLead[deal.mql] = deals.count
                deals.append(deal)
            }
        }

        var pending: [PendingEvent] = []
        pending.reserveCapacity(leads.count * 2 + deals.count * 4)
        func add(_ lead: String, _ role: String, _ at: Timestamp, actor: String? = nil, _ payload: EventPayload) {
            let event = LeadEvent(
                id: DeterministicID.make(namespace: source, key: "\(lead)|\(role)"), occurredAt: at, source: source,
                actor: actor, lead: lead, payload: payload)
            pending.append(PendingEvent(event: event, sequence: pending.count))
        }

        var handOffAt: [String: Timestamp] = [:]
        for lead in leads {
            let owner = dealByLead[lead.id].map { deals[$0].sdr } ?? "unassigned"
            let handOff = lead.firstContact.adding(seconds: 1)
            handOffAt[lead.id] = handOff
            add(
                lead.id, "captured", lead.firstContact,
                .leadCaptured(EventPayload.LeadCaptured(channel: lead.channel, campaign: lead.campaign)))
            add(lead.id, "handed_off", handOff, .handedOff(EventPayload.HandedOff(owner: owner)))
        }

        if let closedDeals {
            for deal in deals {
                var decisionAt = deal.won
                if let handOff = handOffAt[deal.mql] {
                    if deal.won < handOff {
                        decisionAt = handOff
                        report.special(
                            "won_before_first_contact",
                            "won_date is earlier than the MQL's first contact: the deal's events are placed at the hand-off instant",
                            file: closedDeals.file, line: deal.line)
                    }
                } else {
                    report.special(
                        "closed_deal_without_mql",
                        "the closed deal's mql_id is not among the MQLs: the lead is captured (channel unknown) and handed off at won_date",
                        file: closedDeals.file, line: deal.line)
                    add(deal.mql, "captured", deal.won, .leadCaptured(EventPayload.LeadCaptured(channel: "unknown")))
                    add(deal.mql, "handed_off", deal.won, .handedOff(EventPayload.HandedOff(owner: deal.sdr)))
                }
                add(
                    deal.mql, "accepted", decisionAt, actor: deal.sdr,
                    .accepted(EventPayload.Accepted(by: deal.sdr)))
                if !deal.attributes.isEmpty {
                    add(
                        deal.mql, "attributes", decisionAt,
                        .attributesObserved(EventPayload.AttributesObserved(attributes: deal.attributes)))
                }
                add(
                    deal.mql, "converted", decisionAt, actor: deal.sr,
                    .converted(EventPayload.Converted(opportunity: deal.seller)))
                add(deal.mql, "closed", decisionAt, actor: deal.sr, .closed(EventPayload.Closed(won: true)))
            }
        }

        let events = PendingEvent.sorted(pending)
        return ImportResult(events: events, report: report.finish(events: events))
    }

    private static func readMQLs(_ table: CSVTable, report: inout ReportBuilder) throws(ImportError) -> [MQL] {
        let idColumn = try table.column("mql_id")
        let dateColumn = try table.column("first_contact_date")
        let pageColumn = try table.column("landing_page_id")
        let originColumn = try table.column("origin")
        var seen: [String: Int] = [:]
        var leads: [MQL] = []
        leads.reserveCapacity(table.rows.count)
        for row in table.rows {
            let id = try leadID(row, idColumn, table)
            guard let date = ImportDate.parse(row.fields[dateColumn]) else {
                throw ImportError(
                    file: table.file, line: row.line, column: table.header[dateColumn],
                    message: "expected a date like 2018-02-01, found \"\(row.fields[dateColumn])\"")
            }
            if let first = seen[id] {
                report.skip(file: table.file, line: row.line, reason: "mql_id \(id) already appeared on line \(first)")
                continue
            }
            seen[id] = row.line
            var channel = row.fields[originColumn].trimmingCharacters(in: .whitespaces)
            if channel.isEmpty {
                channel = "unknown"
                report.special(
                    "empty_origin", "origin is empty: the lead is captured with channel unknown",
                    file: table.file, line: row.line)
            }
            let page = row.fields[pageColumn].trimmingCharacters(in: .whitespaces)
            leads.append(
                MQL(id: id, line: row.line, firstContact: date, channel: channel, campaign: page.isEmpty ? nil : page))
        }
        return leads
    }

    private static func readDeals(_ table: CSVTable) throws(ImportError) -> [Deal] {
        let idColumn = try table.column("mql_id")
        let sellerColumn = try table.column("seller_id")
        let sdrColumn = try table.column("sdr_id")
        let wonColumn = try table.column("won_date")
        let srColumn = table.optionalColumn("sr_id")
        let textAttributes = ["business_segment", "lead_type", "lead_behaviour_profile", "business_type"]
            .compactMap { name in table.optionalColumn(name).map { (name, $0) } }
        let revenueColumn = table.optionalColumn("declared_monthly_revenue")
        var deals: [Deal] = []
        deals.reserveCapacity(table.rows.count)
        for row in table.rows {
            let id = try leadID(row, idColumn, table)
            guard let won = ImportDate.parse(row.fields[wonColumn]) else {
                throw ImportError(
                    file: table.file, line: row.line, column: table.header[wonColumn],
                    message: "expected a date like 2018-02-26 19:58:54, found \"\(row.fields[wonColumn])\"")
            }
            let seller = try nonEmpty(row, sellerColumn, table)
            let sdr = try nonEmpty(row, sdrColumn, table)
            let sr = srColumn.map { row.fields[$0].trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
            var attributes: [String: AttributeValue] = [:]
            for (name, column) in textAttributes {
                let value = row.fields[column].trimmingCharacters(in: .whitespaces)
                if !value.isEmpty { attributes[name] = .string(value) }
            }
            if let revenueColumn {
                let text = row.fields[revenueColumn].trimmingCharacters(in: .whitespaces)
                if !text.isEmpty {
                    guard let value = Double(text), value.isFinite else {
                        throw ImportError(
                            file: table.file, line: row.line, column: table.header[revenueColumn],
                            message: "expected a number like 1500.0, found \"\(row.fields[revenueColumn])\"")
                    }
                    attributes["declared_monthly_revenue"] = .number(value)
                }
            }
            deals.append(
                Deal(mql: id, line: row.line, seller: seller, sdr: sdr, sr: sr, won: won, attributes: attributes))
        }
        return deals
    }

    private static func leadID(_ row: CSVRow, _ column: Int, _ table: CSVTable) throws(ImportError) -> String {
        let id = try nonEmpty(row, column, table)
        guard id.utf8.count <= EventDecoder.Limits.leadBytes else {
            throw ImportError(
                file: table.file, line: row.line, column: table.header[column],
                message: "expected a lead id of at most \(EventDecoder.Limits.leadBytes) bytes, found \(id.utf8.count) bytes")
        }
        return id
    }

    private static func nonEmpty(_ row: CSVRow, _ column: Int, _ table: CSVTable) throws(ImportError) -> String {
        let value = row.fields[column].trimmingCharacters(in: .whitespaces)
        guard !value.isEmpty else {
            throw ImportError(
                file: table.file, line: row.line, column: table.header[column], message: "expected an id, found an empty cell")
        }
        return value
    }
}
