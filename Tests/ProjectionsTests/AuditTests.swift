import EventLog
import Foundation
import LeadModel
import Projections
import Testing

@Suite("Lead audit, worked by hand")
struct AuditTests {
    static let definition = MQLRule.all([
        field("score", .gte(.number(60))),
        field("country", .in([.string("US"), .string("CA")])),
        .not(field("email_domain", .in([.string("gmail.com")]))),
    ])

    @Test("a rejected-then-corrected lead: events in business order with late marks, verdicts at hand-off, reason and correction")
    func rejectedThenCorrected() async throws {
        var f = EventFactory(seed: 40)
        var catalog = reasonCatalog(&f)
        catalog.append(
            f.published(
                at("2026-01-01T00:00:00Z"), version: 1, effectiveAt: at("2026-01-01T00:00:00Z"), rules: Self.definition, name: "Spring"))
        catalog.append(
            f.published(at("2026-01-01T00:00:00Z"), version: 2, effectiveAt: at("2026-06-01T00:00:00Z"), rules: .all([]), name: "Later"))
        let captured = f.captured(
            "Z", at("2026-03-01T09:00:00Z"), channel: "email", campaign: "spring",
            attributes: ["country": .string("US"), "email_domain": .string("acme.com")])
        let low = f.scored("Z", at("2026-03-02T09:00:00Z"), 55)
        let handOff = f.handedOff("Z", at("2026-03-04T09:00:00Z"), owner: "rep:jsmith")
        let rejection = f.rejected("Z", at("2026-03-05T09:00:00Z"), reason: "FIT.SMALL", note: "12 employees", by: "rep:jsmith")
        let correction = f.corrected(
            "Z", at("2026-03-08T09:00:00Z"), rejection: rejection.id, reason: "BUDGET.NONE",
            note: "no budget this year", actor: "rep:lead")
        // The score of 03-03 reached the ledger only after the rejection.
        let lateScore = f.scored("Z", at("2026-03-03T09:00:00Z"), 72)
        let ledger = try TestLedger()
        try await ledger.append(catalog, recordedAt: at("2026-01-01T00:00:00Z"))
        try await ledger.append([captured, low, handOff, rejection], recordedAt: at("2026-03-06T00:00:00Z"))
        try await ledger.append([correction, lateScore], recordedAt: at("2026-03-09T00:00:00Z"))

        let audit = try #require(try LeadAudit.build(ledger.log, lead: "Z"))
        #expect(audit.lead == "Z")
        #expect(audit.head.position == 11)
        #expect(
            audit.events.map(\.type) == [
                "lead.captured", "lead.scored", "lead.scored", "lead.handed_off", "lead.rejected", "lead.rejection_corrected",
            ])
        #expect(audit.events.map(\.position) == [6, 7, 11, 8, 9, 10])
        #expect(audit.events.map(\.late) == [false, false, true, false, false, false])
        #expect(audit.events[2].recordedAt == "2026-03-09T00:00:00Z")
        #expect(audit.events[2].occurredAt == "2026-03-03T09:00:00Z")
        #expect(audit.events[4].actor == "rep:jsmith")
        #expect(audit.events[4].id == rejection.id.uuidString.lowercased())

        #expect(audit.episodes.count == 1)
        let e = audit.episodes[0]
        #expect(e.number == 1)
        #expect(e.owner == "rep:jsmith")
        #expect(e.definition == 1 && e.definitionName == "Spring" && e.definitionBasis == "in force at hand-off")
        // In business time the late score (72) came before the hand-off, so every rule held.
        #expect(e.qualified == true)
        #expect(e.verdicts.map(\.pointer) == ["/all/0", "/all/1", "/all/2/not"])
        #expect(e.verdicts.map(\.passed) == [true, true, false])
        #expect(e.verdicts.map(\.seen) == ["72", "\"US\"", "\"acme.com\""])
        #expect(e.verdicts[0].rule == "score ≥ 60")
        // Sales could not have known the 72 at hand-off: it was recorded later.
        #expect(e.learnedAfterHandOff == [11])
        #expect(e.outcome == "rejected")
        #expect(e.decidedAt == "2026-03-05T09:00:00Z")
        #expect(e.decisionPosition == 9)
        #expect(e.decidedBy == "rep:jsmith")
        #expect(e.reason?.code == "FIT.SMALL" && e.reason?.label == "Company too small" && e.reason?.category == "FIT")
        #expect(e.note == "12 employees")
        #expect(e.corrections.count == 1)
        #expect(e.corrections.first?.reason.code == "BUDGET.NONE")
        #expect(e.corrections.first?.reason.label == "No budget")
        #expect(e.corrections.first?.note == "no budget this year")
        #expect(e.corrections.first?.actor == "rep:lead")
        #expect(e.corrections.first?.position == 10)
    }

    @Test("a hand-off that names a version is audited under it, and an unknown lead has no audit")
    func namedDefinition() async throws {
        var f = EventFactory(seed: 41)
        let ledger = try TestLedger()
        try await ledger.append(
            [
                f.published(
                    at("2026-01-01T00:00:00Z"), version: 1, effectiveAt: at("2026-01-01T00:00:00Z"), rules: Self.definition, name: "Spring"),
                f.published(
                    at("2026-01-01T00:00:00Z"), version: 2, effectiveAt: at("2026-02-01T00:00:00Z"),
                    rules: field("score", .gte(.number(10))), name: "Loose"),
                f.captured("Y", at("2026-03-01T09:00:00Z"), channel: "email"),
                f.scored("Y", at("2026-03-01T10:00:00Z"), 30),
                f.handedOff("Y", at("2026-03-02T09:00:00Z"), definition: 1),
                f.recycled("Y", at("2026-03-03T09:00:00Z"), note: "nurture"),
                f.handedOff("Y", at("2026-03-04T09:00:00Z")),
            ], recordedAt: at("2026-04-01T00:00:00Z"))
        let audit = try #require(try LeadAudit.build(ledger.log, lead: "Y"))
        #expect(audit.episodes.map(\.definition) == [1, 2])
        #expect(audit.episodes.map(\.definitionBasis) == ["named by the hand-off", "in force at hand-off"])
        #expect(audit.episodes.map(\.qualified) == [false, true])
        // Country was never observed: the verdict says it was missing.
        #expect(audit.episodes[0].verdicts[1].seen == "missing")
        #expect(audit.episodes.map(\.outcome) == ["recycled", "pending"])
        #expect(audit.episodes[0].note == "nurture")
        #expect(audit.events.allSatisfy { !$0.late })
        #expect(try LeadAudit.build(ledger.log, lead: "nobody") == nil)
    }

    @Test("a correction dated before its rejection still belongs to the rejection's episode")
    func correctionBeforeRejection() async throws {
        var f = EventFactory(seed: 42)
        let t = at("2026-03-02T09:00:00Z")
        let rejection = f.rejected("X", t + microsPerHour, reason: "FIT.SMALL")
        let ledger = try TestLedger()
        try await ledger.append(
            reasonCatalog(&f) + [
                f.captured("X", t, channel: "email"),
                f.handedOff("X", t),
                rejection,
                // The CRM's clock ran a minute behind the ledger of rejections: same correction, earlier stamp.
                f.corrected("X", t + microsPerHour - microsPerMinute, rejection: rejection.id, reason: "TIMING.LATER"),
            ], recordedAt: at("2026-04-01T00:00:00Z"))
        // Trends apply it (see TrendsTests.corrections); the audit must show it too.
        let state = try ReplayEngine.replay(ledger.log)
        #expect(Trends.compute(state).total.rejectionsByReason.map(\.code) == ["TIMING.LATER"])
        let audit = try #require(try LeadAudit.build(ledger.log, lead: "X"))
        #expect(audit.episodes.first?.corrections.map(\.reason.code) == ["TIMING.LATER"])
    }
}
