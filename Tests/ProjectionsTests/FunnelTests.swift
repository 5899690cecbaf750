import EventLog
import Foundation
import LeadModel
import Projections
import Testing

@Suite("Funnel, worked by hand")
struct FunnelTests {
    static let reportAt = at("2026-04-01T00:00:00Z")

    /// One weekly cohort (2026-03-02) of five episodes, and f4's re-MQL in the next week.
    static func ledger() async throws -> TestLedger {
        var f = EventFactory(seed: 13)
        var events = reasonCatalog(&f)
        let h = microsPerHour
        let f1 = at("2026-03-02T10:00:00Z"), f2 = at("2026-03-03T10:00:00Z"), f3 = at("2026-03-04T10:00:00Z")
        let f4 = at("2026-03-05T10:00:00Z"), f5 = at("2026-03-06T10:00:00Z")
        events += [
            f.captured("f1", f1 - h, channel: "email"), f.handedOff("f1", f1), f.accepted("f1", f1 + 2 * h),
            f.converted("f1", f1 + 26 * h, amount: 1000, currency: "EUR"), f.closed("f1", f1 + 100 * h, won: true, amount: 1200),
            f.captured("f2", f2 - h, channel: "email"), f.handedOff("f2", f2), f.accepted("f2", f2 + 4 * h),
            f.converted("f2", f2 + 10 * h, amount: 500, currency: "USD"), f.closed("f2", f2 + 50 * h, won: false, amount: nil),
            // A conversion without an acceptance: it counts as converted, not in convertedOfAccepted.
            f.captured("f3", f3 - h, channel: "paid"), f.handedOff("f3", f3), f.rejected("f3", f3 + 6 * h, reason: "FIT.SMALL"),
            f.converted("f3", f3 + 30 * h, amount: 300, currency: "EUR"),
            // Recycled after a day, handed off again nine days later, and accepted then.
            f.captured("f4", f4 - h, channel: "paid"), f.handedOff("f4", f4), f.recycled("f4", f4 + 24 * h),
            f.handedOff("f4", f4 + 10 * microsPerDay), f.accepted("f4", f4 + 10 * microsPerDay + h),
            f.captured("f5", f5 - h, channel: "paid"), f.handedOff("f5", f5),
            // A conversion before any hand-off belongs to no episode.
            f.captured("f6", f1 - h, channel: "email"), f.converted("f6", f1, amount: 99, currency: "EUR"),
        ]
        let ledger = try TestLedger()
        try await ledger.append(events, recordedAt: at("2026-04-01T00:00:00Z"))
        return ledger
    }

    @Test("stage counts, Wilson rates, velocity, amounts per currency and Kaplan–Meier beside the naive median")
    func cohort() async throws {
        let ledger = try await Self.ledger()
        let report = try feedbackLoop(ledger, FeedbackLoopRequest(funnel: CohortQuery(bucket: .week, at: Self.reportAt))).funnel!
        #expect(report.rows.map(\.start) == ["2026-03-02", "2026-03-09"])
        let row = report.rows[0]
        #expect([row.handedOff, row.accepted, row.rejected, row.recycled, row.pending] as [Int] == [5, 2, 1, 1, 1])
        #expect([row.converted, row.convertedAccepted, row.won, row.wonConverted] as [Int] == [3, 2, 1, 1])
        #expect(row.acceptedOfHandedOff.rate == 0.4)
        #expect(row.acceptedOfHandedOff.interval == Statistics.wilson(2, of: 5))
        #expect(row.convertedOfAccepted.rate == 1)
        #expect(row.wonOfConverted.count == 1 && row.wonOfConverted.of == 3)
        // Hand-off to decision: 2, 4, 6 hours.
        #expect(row.handOffToDecision.medianHours == 4)
        #expect(abs(row.handOffToDecision.p90Hours! - 5.6) < 1e-9)
        // Accepted to converted: 24 h (f1) and 6 h (f2); converted to closed: 74 h and 40 h.
        #expect(row.acceptedToConverted.medianHours == 15)
        #expect(row.convertedToClosed.medianHours == 57)
        // Kaplan–Meier: events at 2, 4, 6 h; f4 censored at its recycle (24 h), f5 still open.
        // S(2) = 4/5, S(4) = 0.6, S(6) = 0.4 ≤ ½: the median is 6 h where the naive one says 4 h.
        #expect(row.timeToDecision.decided == 3 && row.timeToDecision.censored == 2)
        #expect(row.timeToDecision.naiveMedianHours == 4)
        #expect(row.timeToDecision.kaplanMeierMedianHours == 6)
        // Two currencies, never added together; f6's conversion before any hand-off is nowhere.
        #expect(row.pipeline == [CurrencyAmount(currency: "EUR", amount: 1300, count: 2), CurrencyAmount(currency: "USD", amount: 500, count: 1)])
        #expect(row.wonAmount == [CurrencyAmount(currency: "EUR", amount: 1200, count: 1)])
        // Recycling: f4 recycled, re-MQL nine days later, accepted.
        #expect(row.recycling.recycled.count == 1 && row.recycling.recycled.of == 5)
        #expect(row.recycling.reMQLWithin30Days.count == 1 && row.recycling.reMQLWithin90Days.count == 1)
        #expect(row.recycling.reMQLAcceptance.rate == 1)
        let next = report.rows[1]
        #expect([next.handedOff, next.accepted] as [Int] == [1, 1])
        #expect(report.total.handedOff == 6)
        #expect(report.total.pipeline.map(\.amount) == [1300, 500])
    }

    @Test("grouped by channel, and computed in the same replay as trends")
    func groupedTogetherWithTrends() async throws {
        let ledger = try await Self.ledger()
        let reports = try feedbackLoop(
            ledger,
            FeedbackLoopRequest(
                trends: TrendsQuery(bucket: .month), funnel: CohortQuery(bucket: .month, groupBy: .channel, at: Self.reportAt)))
        let funnel = reports.funnel!
        #expect(funnel.rows.map(\.group) == ["email", "paid"])
        #expect(funnel.rows.map(\.handedOff) == [2, 4])
        #expect(funnel.rows[1].pipeline == [CurrencyAmount(currency: "EUR", amount: 300, count: 1)])
        // The trends of that same replay are the trends of a replay of their own.
        #expect(reports.trends == Trends.compute(try ReplayEngine.replay(ledger.log), TrendsQuery(bucket: .month)))
    }

    @Test("Kaplan–Meier: ties count events before censorings, and no median when survival never falls to one half")
    func kaplanMeier() {
        #expect(Statistics.kaplanMeierMedian([(1, true), (1, false), (2, true), (3, false)]) == 2)
        #expect(Statistics.kaplanMeierMedian([(1, false), (2, false), (3, true)]) == 3)
        #expect(Statistics.kaplanMeierMedian([(1, true), (2, false), (3, false), (4, false)]) == nil)
        #expect(Statistics.kaplanMeierMedian([]) == nil)
    }
}
