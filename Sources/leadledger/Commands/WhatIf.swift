import ArgumentParser
import Foundation
import LeadModel
import Ledger
import Projections

struct WhatIfCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "what-if",
        abstract: "What would have been handed off under candidate definitions, and which rejections avoided.",
        discussion: """
            A candidate file holds a definition as in definition.published: {"name": …, "rules": {…}}
            (version and effectiveAt optional). Several candidates are evaluated in one pass.
            Leads the candidate adds were never seen by sales: their outcome is unobserved and is
            never invented; the report gives bounds and a separately labelled estimate.

            Example:
              leadledger what-if --from 2025-01-01 --to 2025-12-31 stricter.json looser.json
            """)

    @OptionGroup var options: LedgerOptions
    @OptionGroup var range: RangeOptions

    @Option(name: .customLong("band-width"), help: "Score band width for the back-test and the estimate.")
    var bandWidth: Double = 10

    @Option(help: "Output: table, json or csv.")
    var format: OutputFormat = .table

    @Argument(help: "Candidate definition files (JSON).")
    var candidates: [String]

    func validate() throws {
        guard !candidates.isEmpty else { throw ValidationError("give at least one candidate definition file") }
    }

    func run() async throws {
        try await runReporting {
            let parsed = try candidates.enumerated().map { try Self.load($1, index: $0) }
            let (from, until) = try range.bounds()
            let query = WhatIfQuery(candidates: parsed, from: from, until: until, cut: try range.cut(), scoreBandWidth: bandWidth)
            do { try query.validate() } catch let error as WhatIfQueryError {
                let option = error.field == "bandWidth" ? "--band-width" : "CANDIDATE files"
                throw CLIError(exitCode: .usage, "\(option): \(error.message)")
            }
            let ledger = try options.openForReading()
            defer { ledger.close() }
            let report = try await withReplayProgress("replaying") { try ledger.whatIf(query) }
            switch format {
            case .json: try printJSON(report)
            case .csv: print(Self.csv(report), terminator: "")
            case .table: print(Self.text(report), terminator: "")
            }
        }
    }

    /// The candidate in the file at `path`, the `index`-th on the command line.
    static func load(_ path: String, index: Int) throws -> CandidateDefinition {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(exitCode: .refused, "cannot read candidate \(path): no such file or not readable")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch { throw CLIError(exitCode: .refused, "\(path): \(error)") }
        do throws(CandidateInputError) {
            return try CandidateDefinition(parsing: json, index: index)
        } catch {
            guard let rules = error.rules else {
                throw CLIError(exitCode: .refused, "\(path): field \"rules\": expected the definition's rules, found nothing")
            }
            throw CLIError(exitCode: .refused, "\(path): field \"rules\"\(rules.description.hasPrefix("/") ? "" : ": ")\(rules)")
        }
    }

    static func text(_ report: WhatIfReport) -> String {
        var out = "range: \(report.from ?? "beginning") … \(report.to ?? "end")\n\n"
        for c in report.candidates {
            out += "candidate “\(c.name)”\n"
            for line in c.changes { out += "  • \(line)\n" }
            var table = TextTable(
                ["segment", "leads", "episodes", "accepted", "rejected", "recycled", "pending", "won", "rejection rate (95% CI)"],
                rightAligned: Set(1...8))
            for (label, s) in [("both (kept)", c.both), ("dropped", c.dropped)] {
                table.add([
                    label, Format.count(s.leads), Format.count(s.episodes), Format.count(s.accepted), Format.count(s.rejected),
                    Format.count(s.recycled), Format.count(s.pending), Format.count(s.won),
                    Format.rate(s.rejectionRate, s.rejectionRateInterval),
                ])
            }
            table.add(["added (unobserved)", Format.count(c.added.leads), "–", "–", "–", "–", "–", "–", "unobserved"])
            out += table.render().split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
            out +=
                "  rejections avoided \(Format.count(c.rejectionsAvoided)), acceptances lost \(Format.count(c.acceptancesLost)), wins lost \(Format.count(c.winsLost))\n"
            out += "  observed rejection rate (kept leads): \(Format.rate(c.observedRejectionRate, c.observedRejectionRateInterval))\n"
            out +=
                "  whole candidate population, bounds: \(Format.percent(c.bounds.low)) (every added lead accepted) … \(Format.percent(c.bounds.high)) (every added lead rejected)\n"
            out += "  ESTIMATE (not observed): \(Format.percent(c.estimate.rejectionRate)) — \(c.estimate.method)\n\n"
        }
        var bands = TextTable(
            ["score band", "leads", "share of leads", "share of acceptances", "share of wins", "acceptance rate"], rightAligned: Set(1...5))
        for b in report.scoreBands {
            bands.add([
                b.band, Format.count(b.leads), Format.percent(b.shareOfLeads), Format.percent(b.shareOfAcceptances),
                Format.percent(b.shareOfWins), Format.percent(b.acceptanceRate),
            ])
        }
        return out + "score-band back-test of real hand-offs (score at hand-off)\n" + bands.render()
    }

    static func csv(_ report: WhatIfReport) -> String {
        var csv = CSVWriter()
        csv.add(["candidate", "segment", "leads", "episodes", "accepted", "rejected", "recycled", "pending", "won", "rejectionRate"])
        for c in report.candidates {
            for (label, s) in [("both", c.both), ("dropped", c.dropped)] {
                csv.add([
                    c.name, label, String(s.leads), String(s.episodes), String(s.accepted), String(s.rejected), String(s.recycled),
                    String(s.pending), String(s.won), Format.raw(s.rejectionRate),
                ])
            }
            csv.add([c.name, "added", String(c.added.leads), "", "", "", "", "", "", ""])
        }
        return csv.text
    }
}
