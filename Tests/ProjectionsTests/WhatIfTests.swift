import EventLog
import Foundation
import LeadModel
import Projections
import Testing

@Suite("What-if, worked by hand")
struct WhatIfTests {
    static let from = at("2026-03-01T00:00:00Z"), until = at("2026-04-01T00:00:00Z")
    static let usAndScore = CandidateDefinition(
        name: "US and score ≥ 60", rules: .all([field("score", .gte(.number(60))), field("country", .in([.string("US")]))]))
    static let scoreOnly = CandidateDefinition(name: "score ≥ 60", rules: field("score", .gte(.number(60))))
    static let noCountry = CandidateDefinition(name: "country unknown", rules: field("country", .exists(false)))

    static func ledger() async throws -> TestLedger {
        var f = EventFactory(seed: 30)
        let us: [String: AttributeValue] = ["country": .string("US")]
        let first = [
            // Qualifies in range after its score; handed off and rejected.
            f.captured("both1", at("2026-02-25T00:00:00Z"), channel: "email", attributes: us),
            f.scored("both1", at("2026-03-02T00:00:00Z"), 70),
            f.handedOff("both1", at("2026-03-03T00:00:00Z")),
            f.rejected("both1", at("2026-03-03T05:00:00Z"), reason: "FIT.SMALL"),
            // Qualifies, handed off, accepted, won.
            f.captured("both2", at("2026-03-02T00:00:00Z"), channel: "paid", attributes: us),
            f.scored("both2", at("2026-03-02T01:00:00Z"), 80),
            f.handedOff("both2", at("2026-03-03T00:00:00Z")),
            f.accepted("both2", at("2026-03-04T00:00:00Z")),
            f.converted("both2", at("2026-03-10T00:00:00Z")),
            f.closed("both2", at("2026-03-20T00:00:00Z"), won: true),
            // French: handed off and rejected; the US candidate drops it.
            f.captured("drop1", at("2026-03-01T00:00:00Z"), channel: "email", attributes: ["country": .string("FR")]),
            f.scored("drop1", at("2026-03-01T00:10:00Z"), 90),
            f.handedOff("drop1", at("2026-03-02T00:00:00Z")),
            f.rejected("drop1", at("2026-03-02T03:00:00Z"), reason: "FIT.SMALL"),
            // Qualified in February only, then lost its country; handed off in range, accepted, won.
            f.captured("drop2", at("2026-02-01T00:00:00Z"), channel: "email", attributes: us),
            f.scored("drop2", at("2026-02-10T00:00:00Z"), 75),
            f.observed("drop2", at("2026-02-20T00:00:00Z"), ["country": .null]),
            f.handedOff("drop2", at("2026-03-05T00:00:00Z")),
            f.accepted("drop2", at("2026-03-05T02:00:00Z")),
            f.closed("drop2", at("2026-03-25T00:00:00Z"), won: true),
            // Qualifies in range, never handed off.
            f.captured("add1", at("2026-03-10T00:00:00Z"), channel: "events", attributes: us),
            f.scored("add1", at("2026-03-11T00:00:00Z"), 65),
            // US with 70 in position order; but a back-fill below says it was French from 03-05.
            f.captured("nope", at("2026-03-01T00:00:00Z"), channel: "events", attributes: us),
            f.scored("nope", at("2026-03-10T00:00:00Z"), 70),
            // Everything after the range.
            f.captured("out", at("2026-04-01T00:00:00Z"), channel: "email", attributes: us),
            f.scored("out", at("2026-04-01T00:00:00Z"), 99),
            f.handedOff("out", at("2026-04-02T00:00:00Z")),
        ]
        let late = [f.observed("nope", at("2026-03-05T00:00:00Z"), ["country": .string("FR")])]
        let ledger = try TestLedger()
        try await ledger.append(first, recordedAt: at("2026-04-10T00:00:00Z"))
        try await ledger.append(late, recordedAt: at("2026-04-11T00:00:00Z"))
        return ledger
    }

    @Test("both, dropped and added, with observed rates and honest bounds, for three candidates in one pass")
    func threeCandidates() async throws {
        let ledger = try await Self.ledger()
        let report = try WhatIf.run(
            ledger.log, WhatIfQuery(candidates: [Self.usAndScore, Self.scoreOnly, Self.noCountry], from: Self.from, until: Self.until))
        #expect(report.candidates.map(\.name) == ["US and score ≥ 60", "score ≥ 60", "country unknown"])
        #expect(report.from == "2026-03-01" && report.to == "2026-03-31")

        // US and score ≥ 60: both = both1 (rejected), both2 (accepted, won); dropped = drop1 (rejected),
        // drop2 (accepted, won); added = add1. `nope` was French when it reached 70, `out` is out of range.
        let c = report.candidates[0]
        #expect(NaiveSegment(c.both) == NaiveSegment(leads: 2, episodes: 2, accepted: 1, rejected: 1, won: 1))
        #expect(NaiveSegment(c.dropped) == NaiveSegment(leads: 2, episodes: 2, accepted: 1, rejected: 1, won: 1))
        #expect(c.added.leads == 1 && c.added.outcome == "unobserved")
        #expect([c.rejectionsAvoided, c.acceptancesLost, c.winsLost] as [Int] == [1, 1, 1])
        #expect(c.observedRejectionRate == 0.5)
        // Observed 1 rejected of 2 decided; with 1 added lead: 1/3 … 2/3.
        #expect(c.bounds.low == 1.0 / 3)
        #expect(c.bounds.high == 2.0 / 3)
        #expect(c.estimate.kind == "estimate")

        // score ≥ 60: drop2's state changes all happened in February, so no moment in range qualifies it.
        // both = both1, both2, drop1; dropped = drop2; added = add1, nope.
        let s = report.candidates[1]
        #expect(NaiveSegment(s.both) == NaiveSegment(leads: 3, episodes: 3, accepted: 1, rejected: 2, won: 1))
        #expect(NaiveSegment(s.dropped) == NaiveSegment(leads: 1, episodes: 1, accepted: 1, won: 1))
        #expect(s.added.leads == 2)
        #expect(s.observedRejectionRate == 2.0 / 3)
        #expect(s.bounds.low == 2.0 / 5)
        #expect(s.bounds.high == 4.0 / 5)

        // country unknown: true on the empty state at a lead's first event, when that is in range:
        // drop1 (03-01), both2 (03-02), add1 (03-10), nope (03-01).
        let u = report.candidates[2]
        #expect(NaiveSegment(u.both) == NaiveSegment(leads: 2, episodes: 2, accepted: 1, rejected: 1, won: 1))
        #expect(NaiveSegment(u.dropped) == NaiveSegment(leads: 2, episodes: 2, accepted: 1, rejected: 1, won: 1))
        #expect(u.added.leads == 2)
        #expect(u.bounds.low == 0.25)
        #expect(u.bounds.high == 0.75)
    }

    @Test("as the ledger knew it before the back-fill, the late-French lead counted as added")
    func knowledgeCut() async throws {
        let ledger = try await Self.ledger()
        let report = try WhatIf.run(
            ledger.log,
            WhatIfQuery(
                candidates: [Self.usAndScore], from: Self.from, until: Self.until, cut: .recordedBy(at("2026-04-10T00:00:00Z"))))
        #expect(report.candidates[0].added.leads == 2)
        #expect(report.asOf.cut == "recordedBy 2026-04-10T00:00:00Z")
    }

    @Test("the hand-worked case agrees with the plain computation")
    func agreesWithNaive() async throws {
        let ledger = try await Self.ledger()
        let candidates = [Self.usAndScore, Self.scoreOnly, Self.noCountry]
        let naive = NaiveLedger(try ledger.storedEvents())
        for (from, until) in [(Self.from, Self.until), (nil, nil), (at("2026-02-01T00:00:00Z"), at("2026-03-02T00:00:00Z"))]
            as [(Int64?, Int64?)]
        {
            let report = try WhatIf.run(ledger.log, WhatIfQuery(candidates: candidates, from: from, until: until))
            var m = Mismatches()
            for (result, candidate) in zip(report.candidates, candidates) {
                m.compare(result, naive.whatIf(candidate.rules, from: from, until: until))
            }
            #expect(m.items.isEmpty, "\(m.summary)")
        }
    }
}
