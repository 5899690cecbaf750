import ArgumentParser
import EventLog
import Foundation
import LeadModel
import Ledger
import Projections

/// Proposing, reviewing and publishing a definition.
enum ProposalCommands {
    static let all: [any ParsableCommand.Type] = [Propose.self, Review.self, Publish.self, ProposalsCommand.self, Suggest.self]

    /// The rules of a definition file ({"name": …, "rules": {…}}) or of a bare rule object.
    static func loadDefinition(_ path: String) throws -> (name: String?, rules: JSONValue, rationale: String?) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(exitCode: .refused, "cannot read \(path): no such file or not readable")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(data) } catch { throw CLIError(exitCode: .refused, "\(path): \(error)") }
        if let rules = json["rules"] {
            return (json["name"]?.stringValue, rules, json["rationale"]?.stringValue)
        }
        return (nil, json, nil)
    }

    /// An argument's instant: RFC 3339, or a day meaning its start (UTC).
    static func instant(_ text: String, option: String) throws -> Timestamp {
        if let timestamp = Timestamp(rfc3339: text) { return timestamp }
        if let day = try? QueryInput.day(text, field: option) { return Timestamp(microseconds: day) }
        throw ValidationError("\(option): expected \(ReplayCut.instantForms), found \"\(text)\"")
    }

    /// A refusal of the decoder (a proposal id, a role…) or of a proposal helper, as a CLI error.
    static func reporting<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let error as EventInputError {
            throw CLIError(exitCode: .refused, "refused; the ledger is unchanged: \(error)")
        } catch let error as ProposalError {
            throw CLIError(exitCode: .refused, error.description)
        } catch let error as PinnedReplayError {
            throw CLIError(exitCode: .refused, error.description)
        } catch let error as WhatIfQueryError {
            throw CLIError(exitCode: .usage, error.description)
        }
    }
}

struct Propose: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a candidate MQL definition up for review (definition.proposed), with its what-if as evidence.",
        discussion: """
            The file holds a definition as in definition.published ({"name": …, "rules": {…}}) or bare rules.
            Unless --no-evidence, the proposal carries a what-if of its rules pinned to the ledger's head
            position and hash: anyone can re-run it later (`leadledger proposals --recheck ID`) and get the
            same bytes, whatever was appended since.

            Example:
              leadledger propose q3-tightening stricter.json --rationale "too many students" --from 2026-01-01
            """)

    @OptionGroup var options: LedgerOptions
    @Argument(help: "The proposal's id (A-Z, a-z, 0-9, _ . : -).")
    var proposal: String
    @Argument(help: "The definition file (JSON).")
    var file: String
    @Option(help: "The name people see (default: the file's name member, else the id).")
    var name: String?
    @Option(help: "Why the change is proposed.")
    var rationale: String?
    @Option(help: "Who proposes it (stored as the event's actor).")
    var actor: String?
    @Option(help: "Evidence range: first day included (YYYY-MM-DD).")
    var from: String?
    @Option(help: "Evidence range: last day included (YYYY-MM-DD).")
    var to: String?
    @Option(name: .customLong("band-width"), help: "Score band width of the evidence's estimate.")
    var bandWidth: Double = 10
    @Flag(help: "Propose without evidence.")
    var noEvidence = false

    func run() async throws {
        try await runReporting {
            let definition = try ProposalCommands.loadDefinition(file)
            let ledger = try options.open(create: false)
            defer { ledger.close() }
            let title = name ?? definition.name ?? proposal
            let receipt = try await ProposalCommands.reporting {
                var evidence: ProposalEvidence?
                if !noEvidence {
                    let rules: MQLRule
                    do throws(RuleError) { rules = try RuleParser().parse(definition.rules) } catch {
                        throw CLIError(exitCode: .refused, "\(file): field \"rules\"\(error.pointer): expected \(error.expected), found \(error.found)")
                    }
                    evidence = try ledger.proposalEvidence(name: title, rules: rules, from: from, to: to, bandWidth: bandWidth)
                }
                return try await ledger.propose(
                    proposal: proposal, name: title, rules: definition.rules, rationale: rationale ?? definition.rationale, evidence: evidence,
                    actor: actor)
            }
            print("proposed \(proposal) at position \(receipt.head.position)")
        }
    }
}

struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Record one side's verdict on a proposal (definition.reviewed); a later review by the same role replaces it.",
        discussion: """
            Example:
              leadledger review q3-tightening --role sales --approve --note "fine for EMEA"
              leadledger review q3-tightening --role marketing --decline --note "cuts the webinar leads"
            """)

    @OptionGroup var options: LedgerOptions
    @Argument(help: "The proposal's id.")
    var proposal: String
    @Option(help: "The reviewing side, e.g. marketing or sales.")
    var role: String
    @Flag(help: "Approve, or decline.")
    var verdict: VerdictFlag
    @Option(help: "A note for the other side.")
    var note: String?
    @Option(help: "Who reviews (stored as the event's actor).")
    var actor: String?

    enum VerdictFlag: String, EnumerableFlag {
        case approve, decline
        var verdict: ReviewVerdict { self == .approve ? .approved : .declined }
    }

    func run() async throws {
        try await runReporting {
            let ledger = try options.open(create: false)
            defer { ledger.close() }
            let receipt = try await ProposalCommands.reporting {
                try await ledger.review(proposal: proposal, verdict: verdict.verdict, role: role, note: note, actor: actor)
            }
            print("\(role) \(verdict.verdict.rawValue) \(proposal) at position \(receipt.head.position)")
        }
    }
}

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish a proposal's rules as the next MQL definition (definition.published naming the proposal).",
        discussion: """
            When the ledger requires approval (init --require-approval marketing,sales), the proposal must be
            approved by each of those roles (their latest review); otherwise the publish is refused and the
            missing roles are named.

            Example:
              leadledger publish q3-tightening --effective-at 2026-07-01
            """)

    @OptionGroup var options: LedgerOptions
    @Argument(help: "The proposal's id.")
    var proposal: String
    @Option(help: "When the definition takes effect (RFC 3339, or a day meaning its start, UTC).")
    var effectiveAt: String
    @Option(help: "The version (default: one more than the latest).")
    var version: Int?
    @Option(help: "The name (default: the proposal's).")
    var name: String?
    @Option(help: "Who publishes (stored as the event's actor).")
    var actor: String?

    func run() async throws {
        try await runReporting {
            let effective = try ProposalCommands.instant(effectiveAt, option: "--effective-at")
            let ledger = try options.open(create: false)
            defer { ledger.close() }
            let receipt = try await ProposalCommands.reporting {
                try await ledger.publish(proposal: proposal, name: name, version: version, effectiveAt: effective, actor: actor)
            }
            print("published \(proposal) at position \(receipt.head.position), effective \(effective.rfc3339)")
        }
    }
}

struct ProposalsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proposals",
        abstract: "List proposals with their status (open, approved, declined, published), reviews per role and changes.",
        discussion: """
            Example:
              leadledger proposals
              leadledger proposals --recheck q3-tightening     # re-run its pinned evidence, compare byte for byte
            """)

    @OptionGroup var options: LedgerOptions
    @Option(help: "Output: table or json.")
    var format: OutputFormat = .table
    @Option(help: "Re-run this proposal's evidence over the records it was pinned to and compare.")
    var recheck: String?

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            if let recheck {
                let check = try await ProposalCommands.reporting { try ledger.recheckEvidence(proposal: recheck) }
                if format == .json { try printJSON(check) } else {
                    print("evidence of \(check.proposal), pinned to position \(check.position) (hash \(check.headHash))")
                    print("  the ledger's hash at that position: \(check.ledgerHash ?? "none")")
                    print("  re-run: \(check.identical ? "byte-identical to the stored report" : "DIFFERS from the stored report")")
                }
                if !check.identical { throw ExitCode(CLIError.Code.refused.rawValue) }
                return
            }
            let report = try ledger.proposals()
            switch format {
            case .json: try printJSON(report)
            case .table, .csv: print(Self.text(report), terminator: "")
            }
        }
    }

    static func text(_ report: ProposalsReport) -> String {
        var out = "approval before publishing: "
            + (report.requiredApprovals.isEmpty ? "not required" : report.requiredApprovals.joined(separator: ", ")) + "\n"
        out += "definition in force: " + (report.definitionInForce.map { "version \($0)" } ?? "none") + "\n"
        if report.proposals.isEmpty { return out + "no proposals\n" }
        var table = TextTable(["proposal", "name", "status", "reviews (latest per role)", "missing approvals", "evidence at"])
        for p in report.proposals {
            let status = p.status.rawValue + (p.publishedVersion.map { " (v\($0))" } ?? "")
            let reviews = p.verdicts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            let evidence: String
            if case .object(let members)? = p.evidence?.value, case .number(let position)? = members.first(where: { $0.key == "position" })?.value {
                evidence = "position \(Int64(position))"
            } else {
                evidence = "none"
            }
            table.add([p.proposal, p.name, status, reviews.isEmpty ? "none" : reviews, p.missingApprovals.joined(separator: ", "), evidence])
        }
        out += table.render()
        for p in report.proposals {
            out += "\n\(p.proposal) against version \(p.comparedWithVersion.map(String.init) ?? "none"):\n"
            for change in p.changes { out += "  • \(change)\n" }
        }
        return out
    }
}

struct Suggest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Search for MQL definitions that lower the observed rejection rate under constraints.",
        discussion: """
            Candidates move the thresholds of the definition in force and exclude the values the buyer
            profile finds least accepted. They are fitted on the earlier period (chosen by their figures
            there) and judged on the later one, which played no part in choosing them: a candidate that
            only fits noise of the earlier period shows it there. Each is reported like a what-if
            candidate: observed figures, bounds for leads it would add (unobserved), the labelled estimate.

            Example:
              leadledger suggest --min-handoffs-per-month 100 --max-lost-wins 10
              leadledger suggest --split 2026-04-01 --format json
            """)

    @OptionGroup var options: LedgerOptions
    @Option(help: "Hand off at least N leads a month (kept plus added leads).")
    var minHandoffsPerMonth: Double?
    @Option(help: "Lose at most PCT percent of the wins.")
    var maxLostWins: Double?
    @Option(help: "First day of the later (judging) period; default: the middle of the hand-offs.")
    var split: String?
    @Option(help: "How many suggestions to show.")
    var limit: Int = 5
    @Option(help: "Output: table or json.")
    var format: OutputFormat = .table

    func validate() throws {
        if let minHandoffsPerMonth, !(minHandoffsPerMonth >= 0 && minHandoffsPerMonth.isFinite) {
            throw ValidationError("--min-handoffs-per-month: expected a number of leads of at least 0")
        }
        if let maxLostWins, !(0...100).contains(maxLostWins) { throw ValidationError("--max-lost-wins: expected a percentage from 0 to 100") }
        guard (1...63).contains(limit) else { throw ValidationError("--limit: expected 1 to 63") }
    }

    func run() async throws {
        try await runReporting {
            var splitDay: Int64?
            if let split {
                do { splitDay = try QueryInput.day(split, field: "split") } catch {
                    throw ValidationError("--split: expected a date like 2026-03-02, found \"\(split)\"")
                }
            }
            let ledger = try options.openForReading()
            defer { ledger.close() }
            let query = SuggestionQuery(
                minimumHandOffsPerMonth: minHandoffsPerMonth, maximumLostWinsPercent: maxLostWins, split: splitDay, limit: limit)
            let report: SuggestionReport
            do { report = try await withReplayProgress("searching") { try ledger.suggest(query) } } catch let error as SuggestionError {
                throw CLIError(exitCode: .refused, error.description)
            }
            switch format {
            case .json: try printJSON(report)
            case .table, .csv: print(Self.text(report), terminator: "")
            }
        }
    }

    static func text(_ report: SuggestionReport) -> String {
        var out = "fitted on \(report.fittedFrom) … \(report.fittedTo), judged on \(report.judgedFrom) … \(report.judgedTo) (split \(report.judgedFrom))\n"
        out += "constraints: at least \(report.minimumHandOffsPerMonth.map { Format.count(Int($0)) } ?? "any number of") hand-offs a month, "
            + "at most \(report.maximumLostWinsPercent.map { "\($0)%" } ?? "any share") of wins lost\n"
        out += "\(report.candidatesTried) candidates tried against version \(report.currentVersion.map(String.init) ?? "none")\n\n"
        var table = TextTable(
            ["candidate", "fitted: rejection rate", "judged: rejection rate", "judged: bounds", "judged: ESTIMATE", "hand-offs/month", "wins lost", "beats current"],
            rightAligned: Set(1...6))
        for s in [report.current].compactMap({ $0 }) + report.suggestions {
            let j = s.judged.whatIf
            table.add([
                s.name, Format.percent(s.fitted.whatIf.observedRejectionRate), Format.rate(j.observedRejectionRate, j.observedRejectionRateInterval),
                "\(Format.percent(j.bounds.low)) … \(Format.percent(j.bounds.high))", Format.percent(j.estimate.rejectionRate),
                Format.count(Int(s.judged.handOffsPerMonth.rounded())), Format.percent(s.judged.lostWinsShare),
                s.name == "current definition" ? "–" : (s.beatsCurrent ? "yes" : "no"),
            ])
        }
        out += table.render()
        for s in report.suggestions {
            out += "\n\(s.name): \(s.rules.value.jsonText)\n  \(s.derivation); changes: \(s.judged.whatIf.changes.joined(separator: "; "))\n"
        }
        return out + "\n" + report.method + "\n"
    }
}
