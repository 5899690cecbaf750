import EventLog
import Foundation
import LeadModel
import Projections
import Testing

/// A fresh ledger holding only `events`, in their original order.
func ledgerHolding(_ events: [StoredEvent]) async throws -> TestLedger {
    let ledger = try TestLedger(name: "cut")
    try await ledger.append(events.map(\.event), batchSize: 5_000, firstRecordedAt: at("2030-01-01T00:00:00Z"))
    return ledger
}

/// The figures of a replay that do not depend on positions or stream numbers.
func figures(
    _ log: EventLog, cut: ReplayCut, whatIf: WhatIfQuery
) throws -> (trends: [[TrendRow]], impact: [DefinitionChange], whatIf: [CandidateResult]) {
    let state = try ReplayEngine.replay(log, cut: cut)
    var query = whatIf
    query.cut = cut
    let report = try WhatIf.run(log, query)
    return (
        allTrendQueries.map { Trends.compute(state, $0).rows + [Trends.compute(state, $0).total] },
        DefinitionImpact.compute(state).changes,
        report.candidates.map {
            var c = $0
            c.estimate.addedRejections = 0  // a sum whose order follows stream numbers
            c.estimate.rejectionRate = nil
            return c
        }
    )
}

/// Checks that replaying `g` under `cut` gives the figures of a ledger holding only `admitted`, and
/// matches the plain implementation; what-if ranges over the given days of the generated history.
func expectCut(_ cut: ReplayCut, of g: GeneratedLedger, equalsLedgerOf admitted: [StoredEvent], whatIfDays days: Range<Int64>) async throws
{
    let smaller = try await ledgerHolding(admitted)
    let (from, until) = (g.base + days.lowerBound * microsPerDay, g.base + days.upperBound * microsPerDay)
    let range = WhatIfQuery(candidates: GeneratedLedger.candidates, from: from, until: until)
    let replayed = try figures(g.ledger.log, cut: cut, whatIf: range)
    let fresh = try figures(smaller.log, cut: .everything, whatIf: range)
    #expect(replayed.trends == fresh.trends)
    #expect(replayed.impact == fresh.impact)
    #expect(replayed.whatIf == fresh.whatIf)
    let m = try compareWithNaive(g.ledger.log, g.stored, cut: cut, whatIfRange: (from, until))
    #expect(m.items.isEmpty, "\(m.summary)")
}

@Suite("Knowledge-time and business-time cuts")
struct CutTests {
    @Test("a replay as of an earlier knowledge time gives the numbers of the ledger that held only what was recorded by then")
    func knowledgeTime() async throws {
        let g = try await sharedGeneratedLedger.value
        let t = g.batchTimes[g.batchTimes.count * 2 / 3]
        let admitted = g.stored.filter { $0.recordedAt <= t }
        #expect(admitted.count > 50_000 && admitted.count < g.stored.count)
        try await expectCut(.recordedBy(t), of: g, equalsLedgerOf: admitted, whatIfDays: 30..<200)
    }

    @Test("a replay as of an earlier business time gives the numbers of the ledger that held only what had happened by then")
    func businessTime() async throws {
        let g = try await sharedGeneratedLedger.value
        let t = g.base + 200 * microsPerDay + 12 * microsPerHour
        let admitted = g.stored.filter { $0.occurredAt <= t }
        #expect(admitted.count > 40_000 && admitted.count < g.stored.count)
        try await expectCut(.occurredBy(t), of: g, equalsLedgerOf: admitted, whatIfDays: 100..<300)
    }

    @Test("the report says which cut it was replayed under")
    func stamp() async throws {
        let g = try await sharedGeneratedLedger.value
        let state = try ReplayEngine.replay(g.ledger.log, cut: .occurredBy(at("2025-03-01T00:00:00Z")))
        let report = Trends.compute(state)
        #expect(report.asOf.cut == "occurredBy 2025-03-01T00:00:00Z")
        #expect(report.asOf.position == UInt64(g.stored.count))
        #expect(report.asOf.headHash == (try g.ledger.log.head()).hash)
    }

    @Test("a cut's instant: an RFC 3339 time as written, a day as its last microsecond, anything else nil")
    func instantParsing() {
        #expect(ReplayCut.instant(parsing: "2026-03-02T14:05:00Z") == at("2026-03-02T14:05:00Z"))
        #expect(ReplayCut.instant(parsing: "2026-03-02T16:05:00.5+02:00") == at("2026-03-02T14:05:00Z") + 500_000)
        #expect(ReplayCut.instant(parsing: "2026-03-02") == at("2026-03-03T00:00:00Z") - 1)
        #expect(ReplayCut.instant(parsing: "2028-02-29") == at("2028-03-01T00:00:00Z") - 1)
        for text in [
            "", "yesterday", "2026-3-2", "2026-13-01", "2026-02-29", "2026-04-31", "2026-02-31", "2026-03-02T25:00:00Z", "2026-03-02 14:05",
        ] {
            #expect(ReplayCut.instant(parsing: text) == nil, "\(text)")
        }
    }
}
