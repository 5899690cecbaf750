import ArgumentParser
import Foundation
import LeadModel
import Ledger
import Projections

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import the exports users have: Olist's funnel CSVs, Salesforce LeadHistory, HubSpot property history.",
        discussion: """
            Imports are idempotent: event ids derive from the source rows, so importing a file again
            appends nothing. Rows that need an explicit mapping (a decision with no hand-off, a deal
            with no MQL…) are mapped and counted in the report, never dropped silently.

            Examples:
              leadledger import olist ../shared/datasets/olist-marketing-funnel
              leadledger import salesforce --mapping sf-mapping.json LeadHistory.csv
              leadledger import hubspot contacts-history.csv
            """)

    enum Kind: String, ExpressibleByArgument, CaseIterable { case olist, salesforce, hubspot }

    @OptionGroup var options: LedgerOptions

    @Argument(help: "olist, salesforce or hubspot.")
    var kind: Kind

    @Option(
        help: ArgumentHelp("A JSON mapping of statuses and fields to events and reason codes (salesforce, hubspot).", valueName: "FILE"))
    var mapping: String?

    @Argument(help: "Files or, for olist, the folder holding both CSVs.")
    var paths: [String]

    @Flag(help: "Print the import report as JSON.")
    var json = false

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("give the file(s) to import") }
        if kind == .olist, mapping != nil { throw ValidationError("--mapping applies to salesforce and hubspot imports") }
    }

    func run() async throws {
        try await runReporting {
            for path in paths where !FileManager.default.fileExists(atPath: path) {
                throw CLIError(exitCode: .refused, "cannot import \(path): no such file or folder")
            }
            let results: [ImportResult]
            do {
                results = try importAll()
            } catch let error as ImportError {
                throw CLIError(exitCode: .refused, "\(error.description); nothing was appended")
            }
            let ledger = try options.open(create: true)
            defer { ledger.close() }
            var total = 0
            let outcome = try await ledger.importEvents(results, starterTaxonomyWhenMissing: kind != .olist) { done, all in
                total = all
                Progress(label: "appending", total: all).update(done)
            }
            Progress(label: "appending", total: total).finish()
            if json {
                try printJSON(outcome)
                return
            }
            if outcome.starterTaxonomyCodes > 0 {
                FileHandle.standardError.write(
                    Data("the ledger had no reason codes: loaded the starter taxonomy (\(outcome.starterTaxonomyCodes) codes) first\n".utf8)
                )
            }
            for report in outcome.reports { print(Self.summary(report), terminator: "") }
            print(Self.summary(outcome))
        }
    }

    private func importAll() throws -> [ImportResult] {
        switch kind {
        case .olist:
            if paths.count == 1 {
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: paths[0], isDirectory: &isDirectory)
                if isDirectory.boolValue { return [try OlistImporter.importDirectory(URL(fileURLWithPath: paths[0]))] }
                return [try OlistImporter.importFiles(mqls: URL(fileURLWithPath: paths[0]), closedDeals: nil)]
            }
            let deals = paths.first { $0.contains("closed_deals") }
            guard let mqls = paths.first(where: { $0 != deals }) else {
                throw CLIError(exitCode: .usage, "olist: give the MQL file and the closed-deals file, or their folder")
            }
            return [try OlistImporter.importFiles(mqls: URL(fileURLWithPath: mqls), closedDeals: deals.map { URL(fileURLWithPath: $0) })]
        case .salesforce:
            let map = try mapping.map { try SalesforceMapping.load(from: URL(fileURLWithPath: $0)) } ?? .default
            return try paths.map { try SalesforceLeadHistoryImporter.importFile(URL(fileURLWithPath: $0), mapping: map) }
        case .hubspot:
            let map = try mapping.map { try HubSpotMapping.load(from: URL(fileURLWithPath: $0)) } ?? .default
            return try paths.map { try HubSpotHistoryImporter.importFile(URL(fileURLWithPath: $0), mapping: map) }
        }
    }

    static func summary(_ report: ImportReport) -> String {
        var out =
            "imported \(report.format): " + report.files.map { "\($0.file) (\(Format.count($0.rows)) rows)" }.joined(separator: ", ") + "\n"
        var table = TextTable(["event type", "events"], rightAligned: [1])
        for (type, count) in report.eventsByType.sorted(by: { $0.key < $1.key }) { table.add([type, Format.count(count)]) }
        out += table.render()
        for special in report.specialMappings {
            out += "mapped explicitly: \(Format.count(special.count)) × \(special.kind): \(special.reason)"
            if let first = special.examples.first { out += " (e.g. \(first))" }
            out += "\n"
        }
        if !report.skipped.isEmpty {
            out +=
                "skipped \(report.skipped.count) rows:\n"
                + report.skipped.prefix(10).map { "  \($0.file) line \($0.line): \($0.reason)\n" }.joined()
        }
        return out
    }

    /// The closing line: what was appended, and whether the import was atomic or resumable.
    static func summary(_ outcome: ImportOutcome) -> String {
        let counts = "appended \(Format.count(outcome.appended)) events, \(Format.count(outcome.duplicates)) already in the ledger"
        switch outcome.delivery {
        case .atomic:
            return counts + ", in one atomic batch"
        case .resumable:
            return counts + ", in \(outcome.batches) batches of up to \(Format.count(Ledger.importBatchLimit)) events: "
                + "if interrupted, run the same import again to append the rest"
        }
    }
}
