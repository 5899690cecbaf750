import EventLog
import Foundation
import LeadModel
import LedgerDemo
import Projections
import Testing

@testable import Ledger

private func temporaryLedger() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-proposals-\(UUID().uuidString)").path
}

private let stricter = try! JSONValue.parse(#"{"all":[{"field":"score","gte":70},{"field":"employees","gte":50}]}"#)

@Suite("Proposals, reviews and approval before publishing")
struct ProposalTests {
    @Test("with approval required, a publish naming an unapproved proposal is refused naming the missing roles, and the file stays byte-identical")
    func unapprovedPublishRefused() async throws {
        let path = temporaryLedger()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let ledger = try Ledger(path: path)
            try ledger.setRequiredApprovals(["sales", "marketing", "sales"])
            #expect(ledger.requiredApprovals == ["marketing", "sales"])
            #expect(throws: ApprovalSettingError.self) { try ledger.setRequiredApprovals(["Sales Team"]) }
            _ = try await ledger.propose(proposal: "q3", name: "Q3 tightening", rules: stricter, actor: "user:ana")
            _ = try await ledger.review(proposal: "q3", verdict: .approved, role: "marketing", actor: "user:ana")
            _ = try await ledger.review(proposal: "q3", verdict: .declined, role: "sales", note: "too strict", actor: "user:sam")
            ledger.close()
        }
        // A new process sees the setting: it lives in the ledger, not in the one that set it.
        let ledger = try Ledger(path: path)
        defer { ledger.close() }
        #expect(ledger.requiredApprovals == ["marketing", "sales"])
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        // The attack: publish what sales declined.
        do {
            _ = try await ledger.publish(proposal: "q3", effectiveAt: Timestamp(rfc3339: "2026-07-01T00:00:00Z")!)
            Issue.record("an unapproved proposal was published")
        } catch let error as LedgerError {
            #expect(error.kind == .invalid)
            #expect(error.problems.count == 1)
            #expect(error.problems.first?.field == "data.proposal")
            #expect(error.problems.first?.line == 1)
            #expect(error.problems.first?.message.contains("missing approvals: sales") == true)
            #expect(error.problems.first?.message.contains("sales: declined") == true)
        }
        // So is a publish naming no proposal, sent as a plain event.
        let bare = LeadEvent(
            id: UUID(), occurredAt: Timestamp(rfc3339: "2026-06-01T00:00:00Z")!, source: "revops", lead: nil,
            payload: .definitionPublished(try .init(version: 1, name: "bare", rulesJSON: stricter, effectiveAt: Timestamp(microseconds: 0))))
        await #expect(throws: LedgerError.self) { try await ledger.append([bare]) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")) == before)

        // Sales' later review replaces its refusal; now the publish goes through.
        _ = try await ledger.review(proposal: "q3", verdict: .approved, role: "sales", actor: "user:sam")
        let before2 = try ledger.proposals()
        #expect(before2.proposals.first?.status == .approved)
        #expect(before2.proposals.first?.reviews.map(\.superseded) == [false, true, false])
        _ = try await ledger.publish(proposal: "q3", effectiveAt: Timestamp(rfc3339: "2026-07-01T00:00:00Z")!)
        let report = try ledger.proposals()
        #expect(report.requiredApprovals == ["marketing", "sales"])
        #expect(report.proposals.map(\.status) == [.published])
        #expect(report.proposals.first?.publishedVersion == 1)
        #expect(report.proposals.first?.verdicts == ["marketing": "approved", "sales": "approved"])
        #expect(try ledger.verify().isIntact)
        // Published once: a second publish of it is refused.
        await #expect(throws: LedgerError.self) {
            try await ledger.publish(proposal: "q3", effectiveAt: Timestamp(rfc3339: "2026-08-01T00:00:00Z")!)
        }
    }

    @Test("proposals list their status, reviews per role and the diff against the definition in force")
    func listing() async throws {
        let path = temporaryLedger()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ledger = try Ledger(path: path)
        defer { ledger.close() }
        let inForce = try JSONValue.parse(#"{"all":[{"field":"score","gte":60}]}"#)
        _ = try await ledger.append([
            LeadEvent(
                id: UUID(), occurredAt: Timestamp(rfc3339: "2026-01-01T00:00:00Z")!, source: "revops", lead: nil,
                payload: .definitionPublished(.init(version: 1, name: "v1", rulesJSON: inForce, effectiveAt: Timestamp(microseconds: 0))))
        ])
        _ = try await ledger.propose(proposal: "open-one", name: "Open", rules: stricter)
        _ = try await ledger.propose(proposal: "declined-one", name: "Declined", rules: stricter)
        _ = try await ledger.review(proposal: "declined-one", verdict: .declined, role: "sales")
        _ = try await ledger.propose(proposal: "approved-one", name: "Approved", rules: stricter)
        _ = try await ledger.review(proposal: "approved-one", verdict: .approved, role: "marketing")
        let report = try ledger.proposals()
        #expect(report.definitionInForce == 1)
        #expect(report.proposals.map(\.proposal) == ["open-one", "declined-one", "approved-one"])
        #expect(report.proposals.map(\.status) == [.open, .declined, .approved])
        #expect(report.proposals[1].verdicts == ["sales": "declined"])
        let changes = report.proposals[0].changes.joined(separator: "\n")
        #expect(changes.contains("score") && changes.contains("70"), "\(changes)")
        #expect(changes.contains("employees"), "\(changes)")
        // Refusals through the helpers name the field.
        await #expect(throws: EventInputError.self) { try await ledger.review(proposal: "open-one", verdict: .approved, role: "Sales Team") }
        do {
            _ = try await ledger.review(proposal: "nobody", verdict: .approved, role: "sales")
            Issue.record("a review of an unknown proposal was stored")
        } catch let error as LedgerError {
            #expect(error.problems.first?.field == "data.proposal")
            #expect(error.problems.first?.message.contains("\"nobody\"") == true)
        }
        await #expect(throws: LedgerError.self) { try await ledger.propose(proposal: "open-one", name: "Again", rules: stricter) }
    }

    @Test("re-running a proposal's pinned evidence gives byte-identical JSON, whatever was appended since")
    func evidenceReruns() async throws {
        let path = temporaryLedger()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ledger = try Ledger(path: path)
        defer { ledger.close() }
        let history = DemoHistory.generate(seed: 14, leads: 600)
        let half = history.events.count / 2
        _ = try await ledger.append(Array(history.events[..<half]))
        let rules = try RuleParser().parse(stricter)
        let evidence = try ledger.proposalEvidence(name: "Q3", rules: rules, from: "2025-01-01", bandWidth: 10)
        let pinned = try ledger.head()
        #expect(evidence.position == pinned.position)
        #expect(evidence.headHash == pinned.hash)
        _ = try await ledger.propose(proposal: "q3", name: "Q3", rules: stricter, evidence: evidence)
        // The rest of the history arrives after the proposal: the evidence must not move.
        _ = try await ledger.append(Array(history.events[half...]))
        let check = try ledger.recheckEvidence(proposal: "q3")
        #expect(check.identical)
        #expect(check.stored == check.rerun)
        #expect(check.ledgerHash == pinned.hash)
        #expect(check.stored.utf8.count > 200)
        // Re-run at the head instead, the same query gives another report: the pin is what holds it.
        let atHead = try ledger.proposalEvidence(name: "Q3", rules: rules, from: "2025-01-01", bandWidth: 10)
        #expect(atHead.report.jsonBytes != evidence.report.jsonBytes)
        // The stored report is the what-if of those records, not a copy of something else.
        let direct = try WhatIf.run(
            ledger.log, WhatIfQuery(candidates: [CandidateDefinition(name: "Q3", rules: rules)], from: try QueryInput.day("2025-01-01", field: "from")),
            through: pinned.position)
        guard case .object(let members) = evidence.report, let whatIf = members.first(where: { $0.key == "whatIf" })?.value else {
            Issue.record("no what-if in the evidence")
            return
        }
        #expect(whatIf.jsonBytes == (try Ledger.json(direct)).jsonBytes)
        // A position past the head is refused, naming it.
        #expect(throws: PinnedReplayError.self) {
            try WhatIf.run(ledger.log, WhatIfQuery(candidates: [CandidateDefinition(name: "x", rules: rules)]), through: pinned.position * 10)
        }
    }

    @Test("proposals appended without the policy are folded into the tables by the next append, and verify checks them")
    func foldedFromRecords() async throws {
        let path = temporaryLedger()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let at = Timestamp(rfc3339: "2026-05-01T00:00:00Z")!
        let proposed = LeadEvent(
            id: UUID(), occurredAt: at, source: "revops", lead: nil,
            payload: .definitionProposed(try .init(proposal: "raw", name: "Raw", rulesJSON: stricter)))
        let reviewed = LeadEvent(
            id: UUID(), occurredAt: at, source: "revops", lead: nil,
            payload: .definitionReviewed(.init(proposal: "raw", verdict: .declined, role: "sales")))
        let raw = try EventLog(path: path)
        _ = try await raw.append(
            AppendBatch(records: [proposed, reviewed].map { NewRecord(id: $0.id, stream: CatalogStream.stream(of: $0), payload: $0.binary) }))
        raw.close()

        let ledger = try Ledger(path: path)
        defer { ledger.close() }
        #expect(try ledger.verify().isIntact)
        try ledger.setRequiredApprovals(["sales"])
        // The folded state knows the proposal and sales' decline.
        do {
            _ = try await ledger.publish(proposal: "raw", effectiveAt: at)
            Issue.record("a declined proposal was published")
        } catch let error as LedgerError {
            #expect(error.problems.first?.message.contains("missing approvals: sales") == true)
        }
        _ = try await ledger.review(proposal: "raw", verdict: .approved, role: "sales")
        _ = try await ledger.publish(proposal: "raw", effectiveAt: at)
        let record = try ledger.log.withPolicyTables(ValidationTables.names) { ValidationTables($0).proposal("raw") }
        #expect(record?.publishedVersion == 1)
        #expect(record?.reviews == ["sales": .approved])
        #expect(try ledger.verify().isIntact)
    }
}
