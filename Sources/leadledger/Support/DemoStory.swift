import Foundation
import LeadModel
import Ledger
import LedgerDemo
import Projections

/// What `leadledger demo` shows a new user: a year of history, then each analysis once.
struct DemoStory {
    let options: LedgerOptions
    let seed: UInt64
    let leads: Int

    func tell() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        let history = DemoHistory.generate(seed: seed, leads: leads)
        let ledger = try options.open(create: true)
        defer { ledger.close() }
        section("1. A year of hand-offs")
        let outcome = try await ledger.appendInBatches(history.events) { done, all in Progress(label: "appending", total: all).update(done)
        }
        Progress(label: "appending", total: 0).finish()
        let (appended, duplicates) = (outcome.appended, outcome.duplicates)
        let elapsed = clock.now - started
        print(
            "generated and appended \(Format.count(appended)) events for \(Format.count(leads)) leads (\(Format.count(duplicates)) were already there) in \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))"
        )
        print("ledger: \(ledger.path)")

        section("2. The monthly trend  (leadledger trends --bucket month)")
        print(TrendsCommand.table(try ledger.trends(TrendsQuery(bucket: .month))), terminator: "")

        section("3. What each change of the MQL definition did  (leadledger impact)")
        print(Impact.text(try ledger.impact()), terminator: "")

        section("4. What if marketing had required a score of 70 and a work e-mail?  (leadledger what-if candidate.json)")
        let candidate = CandidateDefinition(
            name: "score ≥ 70, no free mail",
            rules: .all([
                .comparison(RuleComparison(field: "score", .gte(.number(70)))),
                .not(
                    .comparison(
                        RuleComparison(field: "email_domain", .in([.string("gmail.com"), .string("yahoo.com"), .string("hotmail.com")])))),
            ]))
        print(WhatIfCommand.text(try ledger.whatIf(WhatIfQuery(candidates: [candidate]))), terminator: "")

        // Judged at the end of the history's year, so the figures do not depend on the day the demo runs.
        let end = history.story.end.microseconds
        let loop = try ledger.feedbackLoop(
            FeedbackLoopRequest(
                funnel: CohortQuery(bucket: .month, at: end),
                serviceLevels: CohortQuery(bucket: .month, from: history.story.serviceLevelEffectiveAt.microseconds, at: end),
                maximumBreaches: 5, profile: ProfileQuery(minimumDecided: 300)))
        section("5. From hand-off to revenue  (leadledger funnel --bucket month)")
        print(FunnelCommand.table(loop.funnel!), terminator: "")

        section("6. Did sales touch leads in time once the SLA took effect?  (leadledger sla --bucket month --from …)")
        print(ServiceLevelCommand.table(loop.serviceLevels!, loop.serviceLevels!.firstTouch), terminator: "")

        section("7. What the leads sales accepts look like  (leadledger profile --minimum 300)")
        var profile = loop.profile!
        // The values that stand out most (q < 0.01), strongest lift first: the full table has them all.
        profile.rows = Array(
            profile.rows.filter { ($0.acceptance.qValue ?? 1) < 0.01 }
                .sorted { abs(($0.acceptance.lift ?? 1) - 1) > abs(($1.acceptance.lift ?? 1) - 1) }.prefix(12))
        print(ProfileCommand.table(profile), terminator: "")

        if let lead = history.events.first(where: { $0.type == .leadRejectionCorrected })?.lead, let audit = try ledger.audit(lead: lead) {
            section("8. Why was lead \(lead) rejected?  (leadledger audit \(lead))")
            print(Audit.text(audit), terminator: "")
        }
        let report = try ledger.verify()
        section("9. The receipt  (leadledger verify)")
        print("\(Format.count(Int(report.records))) events intact; head hash \(report.head.hash)")
        print("\nNext: leadledger trends --by channel --ledger \(ledger.path)   ·   leadledger --help")
    }

    private func section(_ title: String) {
        print("\n\(title)\n" + String(repeating: "═", count: min(100, title.count)))
    }
}
