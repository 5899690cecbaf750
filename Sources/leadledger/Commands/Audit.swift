import ArgumentParser
import Foundation
import Ledger
import Projections

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Why a lead was handed off, accepted or rejected: by whom, under which definition, and what was known.",
        discussion: """
            Example:
              leadledger audit 00Q5e00000AbCdE
            """)

    @OptionGroup var options: LedgerOptions

    @Argument(help: "The lead id, as the source CRM knows it.")
    var lead: String

    @Option(help: "Output: table or json.")
    var format: OutputFormat = .table

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            guard let audit = try ledger.audit(lead: lead) else {
                throw CLIError(exitCode: .refused, "no events for lead \"\(lead)\" in \(ledger.path)")
            }
            if format == .table { print(Self.text(audit), terminator: "") } else { try printJSON(audit) }
        }
    }

    static func text(_ audit: LeadAudit) -> String {
        let episodes = audit.episodes.count == 1 ? "1 episode" : "\(audit.episodes.count) episodes"
        var out = "lead \(audit.lead): \(audit.events.count) events, \(episodes)\n\n"
        var events = TextTable(["position", "occurred", "recorded", "type", "source", "actor", "data"], rightAligned: [0])
        for e in audit.events {
            let data = (try? String(decoding: JSONEncoder.sorted.encode(e.data), as: UTF8.self)) ?? ""
            events.add([
                String(e.position) + (e.late ? "*" : ""), e.occurredAt, e.recordedAt, e.type, e.source, e.actor ?? "",
                String(data.prefix(70)),
            ])
        }
        out += events.render()
        if audit.events.contains(where: \.late) { out += "* appended after later events of this lead (a back-fill)\n" }
        for ep in audit.episodes {
            out += "\nepisode \(ep.number): handed off \(ep.handedOffAt) to \(ep.owner) (position \(ep.handOffPosition))\n"
            if let v = ep.definition {
                out +=
                    "  definition v\(v) “\(ep.definitionName ?? "")”, \(ep.definitionBasis ?? ""); lead \(ep.qualified == true ? "qualified" : "did NOT qualify") on what was known at hand-off\n"
                for verdict in ep.verdicts { out += "    \(verdict.passed ? "✓" : "✗") \(verdict.rule)   saw \(verdict.seen)\n" }
            } else {
                out += "  no definition published at hand-off\n"
            }
            if !ep.learnedAfterHandOff.isEmpty {
                out +=
                    "  learned only after the hand-off: events at positions \(ep.learnedAfterHandOff.map(String.init).joined(separator: ", "))\n"
            }
            out += "  outcome: \(ep.outcome)"
            if let at = ep.decidedAt { out += " at \(at)" }
            if let by = ep.decidedBy { out += " by \(by)" }
            out += "\n"
            if let r = ep.reason {
                out +=
                    "  reason: \(r.code) — \(r.label ?? "?") [\(r.category ?? "?")]\(r.retired ? " (retired\(r.replacedBy.map { ", replaced by \($0)" } ?? ""))" : "")\n"
            }
            if let note = ep.note { out += "  note: \(note)\n" }
            for c in ep.corrections {
                out +=
                    "  corrected at \(c.occurredAt) (position \(c.position))\(c.actor.map { " by \($0)" } ?? ""): \(c.reason.code) — \(c.reason.label ?? "?")\(c.note.map { "; \($0)" } ?? "")\n"
            }
        }
        return out + "\nhead \(audit.head.position) \(audit.head.hash.prefix(16))…\n"
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
