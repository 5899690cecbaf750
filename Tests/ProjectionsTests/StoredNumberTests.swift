import EventLog
import Foundation
import LeadModel
import Projections
import Testing

/// Ledgers written before scores were range-checked may hold any finite number; every analysis must
/// read them without trapping.
@Suite("Numbers stored before they were range-checked")
struct StoredNumberTests {
    static func ledger() async throws -> TestLedger {
        var f = EventFactory(seed: 44)
        let ledger = try TestLedger(name: "stored-numbers")
        let t = at("2026-03-02T00:00:00Z")
        var events: [LeadEvent] = []
        for (i, score) in [1e20, -1e300, 1.7e308, .leastNonzeroMagnitude, 65].enumerated() {
            let lead = "L\(i)"
            events += [
                f.captured(lead, t, channel: "email"),
                f.scored(lead, t + 1, score),
                f.handedOff(lead, t + 2),
                i % 2 == 0 ? f.rejected(lead, t + 3, reason: "FIT.SMALL") : f.accepted(lead, t + 3),
            ]
        }
        events.append(f.lead("L0", t + 4, .converted(.init(opportunity: "o", amount: 1e300, currency: "EUR"))))
        events.append(f.lead("L0", t + 5, .closed(.init(won: true, amount: -1e300))))
        try await ledger.append(events, recordedAt: t)
        return ledger
    }

    @Test("what-if bands enormous and tiny scores into the outermost bands instead of trapping")
    func whatIfBandsAnyScore() async throws {
        let ledger = try await Self.ledger()
        let candidate = CandidateDefinition(name: "score ≥ 60", rules: field("score", .gte(.number(60))))
        let report = try WhatIf.run(ledger.log, WhatIfQuery(candidates: [candidate]))
        #expect(report.candidates[0].both.leads == 3, "1e20, 1.7e308 and 65 qualify")
        #expect(report.candidates[0].dropped.leads == 2)
        #expect(report.scoreBands.map(\.leads).reduce(0, +) == 5)
        #expect(report.scoreBands.first?.band == "-10995116277760–-10995116277750", "the lowest band holds -1e300")
        #expect(report.scoreBands.contains { $0.band == "60–70" && $0.leads == 1 })

        let wide = try WhatIf.run(ledger.log, WhatIfQuery(candidates: [candidate], scoreBandWidth: 1_000_000))
        #expect(wide.candidates[0].estimate.method.hasSuffix("(width 1000000)"))
    }

    @Test("a band width or a candidate count the analysis cannot hold is refused, naming the part")
    func queryLimits() async throws {
        let ledger = try await Self.ledger()
        let candidate = CandidateDefinition(name: "any", rules: .all([]))
        for width in [1e300, 0, -5, .nan, .infinity, 1e-9] {
            #expect(throws: WhatIfQueryError.self) {
                try WhatIf.run(ledger.log, WhatIfQuery(candidates: [candidate], scoreBandWidth: width))
            }
        }
        do {
            _ = try WhatIf.run(ledger.log, WhatIfQuery(candidates: Array(repeating: candidate, count: 65)))
            Issue.record("65 candidates were accepted")
        } catch let error as WhatIfQueryError {
            #expect(error.field == "candidates")
            #expect(error.message.contains("at most 64"))
        }
    }

    @Test("trends and audit read enormous scores and amounts")
    func otherAnalyses() async throws {
        let ledger = try await Self.ledger()
        let trends = Trends.compute(try ReplayEngine.replay(ledger.log), TrendsQuery())
        #expect(trends.total.handedOff == 5)
        let audit = try #require(try LeadAudit.build(ledger.log, lead: "L0"))
        #expect(audit.events.count == 6)
    }
}
