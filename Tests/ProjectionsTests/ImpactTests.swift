import EventLog
import Foundation
import LeadModel
import Projections
import Testing

@Suite("Definition impact, worked by hand")
struct ImpactTests {
    /// v1 from 2026-01-01, v2 from 2026-03-01, v3 from 2026-06-01; 28-day windows around v2:
    /// before = v1 hand-offs in [02-01, 03-01), after = v2 hand-offs in [03-01, 03-29).
    static func ledger() async throws -> TestLedger {
        var f = EventFactory(seed: 20)
        var events = reasonCatalog(&f)
        let v1 = try rules(#"{"field": "score", "gte": 50}"#)
        let v2 = try rules(#"{"all": [{"field": "score", "gte": 60}, {"field": "country", "in": ["US"]}]}"#)
        events.append(f.published(at("2025-12-20T00:00:00Z"), version: 1, effectiveAt: at("2026-01-01T00:00:00Z"), rules: v1))
        events.append(f.published(at("2026-02-15T00:00:00Z"), version: 2, effectiveAt: at("2026-03-01T00:00:00Z"), rules: v2))
        events.append(f.published(at("2026-05-15T00:00:00Z"), version: 3, effectiveAt: at("2026-06-01T00:00:00Z"), rules: v1))
        var n = 0
        func episode(_ t: Int64, _ outcome: String, definition: Int? = nil) {
            n += 1
            let lead = "I\(n)"
            events.append(f.captured(lead, t - microsPerHour, channel: "email"))
            events.append(f.handedOff(lead, t, definition: definition))
            switch outcome {
            case "accepted": events.append(f.accepted(lead, t + microsPerHour))
            case "pending": break
            default: events.append(f.rejected(lead, t + microsPerHour, reason: outcome))
            }
        }
        let before = at("2026-02-01T00:00:00Z"), after = at("2026-03-01T00:00:00Z")
        // Before: 10 accepted, 6 FIT.SMALL, 4 TIMING.LATER, 1 pending (not decided).
        for i in 0..<10 { episode(before + Int64(i) * microsPerDay, "accepted") }
        for i in 0..<6 { episode(before + Int64(i) * microsPerDay + microsPerHour, "FIT.SMALL") }
        for i in 0..<4 { episode(before + Int64(i) * microsPerDay + 2 * microsPerHour, "TIMING.LATER") }
        episode(before + 3 * microsPerHour, "pending")
        // Outside the windows, or under another version: none of these count.
        episode(before - microsPerSecond, "FIT.SMALL")  // a second before the window
        episode(before + microsPerDay, "FIT.SMALL", definition: 2)  // names v2, but before v2 took effect
        episode(after + 28 * microsPerDay, "FIT.SMALL")  // the first instant after the window
        episode(after + microsPerDay, "FIT.SMALL", definition: 1)  // after the change, under v1
        // After: 16 accepted, 1 FIT.SMALL, 3 TIMING.LATER; the last one at the window's final second.
        for i in 0..<16 { episode(after + Int64(i) * microsPerDay, "accepted") }
        episode(after, "FIT.SMALL")
        for i in 0..<2 { episode(after + Int64(i) * microsPerDay + microsPerHour, "TIMING.LATER") }
        episode(after + 28 * microsPerDay - microsPerSecond, "TIMING.LATER")
        let ledger = try TestLedger()
        try await ledger.append(events, recordedAt: at("2026-07-01T00:00:00Z"))
        return ledger
    }

    @Test("before and after counts, the difference with its Wald interval and the pooled z-test p-value")
    func impact() async throws {
        let ledger = try await Self.ledger()
        let report = DefinitionImpact.compute(try ReplayEngine.replay(ledger.log), windowDays: 28)
        #expect(report.changes.map { "\($0.from)→\($0.to)" } == ["1→2", "2→3"])
        let change = report.changes[0]
        #expect(change.effectiveAt == "2026-03-01T00:00:00Z")
        #expect([change.before.handedOff, change.before.decided, change.before.rejected] as [Int] as [Int] == [21, 20, 10])
        #expect([change.after.handedOff, change.after.decided, change.after.rejected] as [Int] as [Int] == [20, 20, 4])
        #expect(change.before.windowStart == "2026-02-01" && change.before.windowEnd == "2026-02-28")
        #expect(change.after.windowStart == "2026-03-01" && change.after.windowEnd == "2026-03-28")
        #expect(change.before.rejectionRate == 0.5)
        #expect(change.after.rejectionRate == 0.2)
        let difference = try #require(change.difference)
        #expect(abs(difference.difference - -0.3) < 1e-12)
        // Unpooled SE √(.5·.5/20 + .2·.8/20) = √.0205; pooled p = 14/40, SE √(.35·.65·(2/20)).
        #expect(abs(difference.interval.low - (-0.3 - 1.959963984540054 * 0.0205.squareRoot())) < 1e-12)
        #expect(abs(difference.interval.high - (-0.3 + 1.959963984540054 * 0.0205.squareRoot())) < 1e-12)
        #expect(abs(difference.z - -1.9889806323953874) < 1e-9)
        // The textbook two-proportion test: 10/20 vs 4/20 gives z ≈ −1.989, two-sided p ≈ 0.0467.
        #expect(abs(difference.pValue - 0.046703340749330684) < 1e-9)
        // Shares: FIT.SMALL 6/10 → 1/4, TIMING.LATER 4/10 → 3/4.
        #expect(change.reasonsRising.map(\.code) == ["TIMING.LATER"])
        #expect(abs(change.reasonsRising[0].change - 0.35) < 1e-12)
        #expect(change.reasonsFalling.map(\.code) == ["FIT.SMALL"])
        #expect(abs(change.reasonsFalling[0].change - -0.35) < 1e-12)
        // Nothing was handed off under v3: no difference to report.
        #expect(report.changes[1].after.handedOff == 0)
        #expect(report.changes[1].difference == nil)
    }

    @Test("the impact agrees with the plain computation for every window width")
    func impactAgreesWithNaive() async throws {
        let ledger = try await Self.ledger()
        let state = try ReplayEngine.replay(ledger.log)
        let naive = NaiveLedger(try ledger.storedEvents())
        for days in [1, 7, 28, 90] {
            var m = Mismatches()
            m.compare(DefinitionImpact.compute(state, windowDays: days), naive.impact(windowDays: days))
            #expect(m.items.isEmpty, "window \(days): \(m.summary)")
        }
    }

    @Test("a known two-proportion test: 45/100 vs 30/100")
    func twoProportions() throws {
        let result = try #require(Statistics.twoProportions(45, 100, 30, 100))
        // Pooled p = .375, SE = √(.375·.625·.02) = .0684653…, z = −.15/.0684653 = −2.19089; p = .028459.
        #expect(abs(result.z - -2.1908902300206647) < 1e-12)
        #expect(abs(result.pValue - 0.02845973691631057) < 1e-12)
        #expect(Statistics.twoProportions(1, 0, 1, 2) == nil)
        // Identical proportions of 0: no spread, no evidence.
        #expect(Statistics.twoProportions(0, 10, 0, 10)?.pValue == 1)
    }
}
