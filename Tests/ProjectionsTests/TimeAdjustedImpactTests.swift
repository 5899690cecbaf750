import EventLog
import Foundation
import LeadModel
import Projections
import Testing

@Suite("Definition impact adjusted for time, worked by hand")
struct TimeAdjustedImpactTests {
    @Test("the difference in differences and its interval from four disjoint groups")
    func differenceInDifferences() throws {
        // Before: stayers 30/100 rejected, the rest 50/100 → before 80/200 = .40.
        // After: stayers 40/100, the rest 20/50 → after 60/150 = .40.
        // DiD = (.40 − .40) − (.40 − .30) = −.10.
        // As disjoint groups: before's gap p − s = (1 − w)(q − s) = .5 · (.5 − .3) = .10 (w = 100/200);
        // after's = (1/3) · (.4 − .4) = 0; DiD = 0 − .10.
        // Variance = (1/3)²(.4·.6/50 + .4·.6/100) + (1/2)²(.5·.5/100 + .3·.7/100)
        //          = (1/9)(.0048 + .0024) + .25(.0025 + .0021) = .0008 + .00115 = .00195; SE = .0441588.
        let d = try #require(
            Statistics.differenceInDifferences(
                stayersBefore: (30, 100), restBefore: (50, 100), stayersAfter: (40, 100), restAfter: (20, 50)))
        #expect(abs(d.difference - -0.10) < 1e-12)
        #expect(abs(d.standardError - 0.00195.squareRoot()) < 1e-12)
        #expect(abs(d.interval.low - -0.18654966609036422) < 1e-9)
        #expect(abs(d.interval.high - -0.013450333909635778) < 1e-9)
        // z = −.1/.0441588 = −2.2646; two-sided p = .02354.
        #expect(abs(d.pValue - 0.023540058261177936) < 1e-9)
        // No decided stayers on a side: no estimate.
        #expect(
            Statistics.differenceInDifferences(stayersBefore: (0, 0), restBefore: (5, 10), stayersAfter: (1, 2), restAfter: (0, 0)) == nil)
    }

    @Test("chi-square of a 2 × 3 table, and sparse categories pooled until the pool is not sparse")
    func chiSquare() {
        // Rows of 60 and 60 over A, B, C = (10, 20, 30) and (20, 20, 20): column totals 30, 40, 50,
        // expected 15, 20, 25 in each row. χ² = 2·25/15 + 0 + 2·25/25 = 5.3333, df 2,
        // p = exp(−χ²/2) = exp(−8/3) = .0694835 (the df-2 tail is exact).
        let plain = Statistics.chiSquare(["A": 10, "B": 20, "C": 30], ["A": 20, "B": 20, "C": 20])
        #expect(abs(plain.statistic! - 16.0 / 3) < 1e-12)
        #expect(plain.degreesOfFreedom == 2)
        #expect(abs(plain.pValue! - exp(-8.0 / 3)) < 1e-12)
        #expect(plain.pooled.isEmpty)
        #expect(plain.categories == ["C", "B", "A"])
        // Add D = (1, 2): rows 61 and 62, N = 123; D's expected 61·3/123 = 1.49 < 5, so it is pooled;
        // the pool (3) is still sparse, so the smallest other category, A (30), joins it:
        // cells C (30, 20), B (20, 20), pooled (11, 22). Expected row 1: 24.797, 19.837, 16.366;
        // row 2: 25.203, 20.163, 16.634. χ² = 5.65891, df 2, p = exp(−χ²/2) = .0590450.
        let pooled = Statistics.chiSquare(["A": 10, "B": 20, "C": 30, "D": 1], ["A": 20, "B": 20, "C": 20, "D": 2])
        #expect(pooled.pooled == ["A", "D"])
        #expect(pooled.categories == ["C", "B", Statistics.ChiSquareTest.pooledLabel])
        #expect(abs(pooled.statistic! - 5.65891062929667) < 1e-9)
        #expect(abs(pooled.pValue! - 0.05904500586202079) < 1e-9)
        // Everything sparse: no statistic, and the reason said.
        let thin = Statistics.chiSquare(["A": 1, "B": 1], ["A": 2])
        #expect(thin.statistic == nil && thin.pValue == nil)
        #expect(thin.note?.contains("fewer than two categories") == true)
    }

    @Test("segmented regression of six weeks, worked by hand")
    func segmentedRegression() throws {
        // Before (t = −3, −2, −1): .30, .33, .34 → line through mean (−2, .32333), slope
        // ((−1)(−.02333) + (1)(.01667))/2 = .02, level at t = 0: .32333 + 2·.02 = .36333;
        // residuals −1/300, 2/300, −1/300, RSS = 6/90000. After (t = 0, 1, 2): .20, .21, .22 exactly,
        // level .20, slope .01. So b2 = .20 − .36333 = −.16333, b3 = .01 − .02 = −.01.
        // s² = RSS/(6 − 4) = 3.333e−5. Var(b2) = s²(1/3 + 2²/2) + s²(1/3 + 1²/2) = s²·19/6,
        // SE = .0102740; Var(b3) = s²(1/2 + 1/2), SE = .0057735; t(.975, 2) = 4.302653.
        let weeks: [(t: Double, y: Double, weight: Double)] = [
            (-3, 0.30, 1), (-2, 0.33, 1), (-1, 0.34, 1), (0, 0.20, 1), (1, 0.21, 1), (2, 0.22, 1),
        ]
        let fit = try #require(Statistics.segmentedRegression(weeks))
        #expect(fit.degreesOfFreedom == 2)
        #expect(abs(fit.levelAtChange - 0.36333333333333) < 1e-9)
        #expect(abs(fit.slopeBefore.estimate - 0.02) < 1e-12)
        #expect(abs(fit.levelChange.estimate - -0.16333333333333) < 1e-9)
        #expect(abs(fit.slopeChange.estimate - -0.01) < 1e-12)
        #expect(abs(fit.levelChange.standardError - 0.010274023338281629) < 1e-9)
        #expect(abs(fit.slopeChange.standardError - 0.005773502691896258) < 1e-9)
        #expect(abs(fit.levelChange.interval.high - (-0.16333333333333 + 4.302652729749462 * 0.010274023338281629)) < 1e-8)
        // Weights scale the fit, not the estimates, when they are equal.
        let heavier = try #require(Statistics.segmentedRegression(weeks.map { ($0.t, $0.y, 7.0) }))
        #expect(abs(heavier.levelChange.estimate - fit.levelChange.estimate) < 1e-12)
        #expect(abs(heavier.levelChange.standardError - fit.levelChange.standardError) < 1e-12)
        // One week after the change cannot give a slope: no fit.
        #expect(Statistics.segmentedRegression(Array(weeks.prefix(4))) == nil)
    }

    @Test("the minimum detectable effect at power 80 % and alpha 0.05")
    func detectable() throws {
        // p = .5, 100 and 100: (1.959964 + 0.841621)·√(.25·(1/100 + 1/100)) = 2.801585·.0707107 = .198102.
        #expect(abs(try #require(Statistics.minimumDetectableDifference(rate: 0.5, 100, 100)) - 0.19810199057996727) < 1e-12)
        // Four times the sample halves it.
        let quadrupled = try #require(Statistics.minimumDetectableDifference(rate: 0.5, 400, 400))
        #expect(abs(quadrupled - 0.19810199057996727 / 2) < 1e-12)
        #expect(Statistics.minimumDetectableDifference(rate: 0, 100, 100) == nil)
        #expect(Statistics.minimumDetectableDifference(rate: 0.3, 0, 100) == nil)
    }

    @Test("the distribution functions agree with printed tables")
    func distributions() {
        #expect(abs(Statistics.chiSquareUpperTail(3.841458820694124, degreesOfFreedom: 1) - 0.05) < 1e-12)
        #expect(abs(Statistics.chiSquareUpperTail(16.0 / 3, degreesOfFreedom: 2) - exp(-8.0 / 3)) < 1e-12)
        #expect(abs(Statistics.studentTQuantile(0.975, degreesOfFreedom: 2) - 4.302652729749462) < 1e-9)
        #expect(abs(Statistics.studentTQuantile(0.975, degreesOfFreedom: 10) - 2.228138851986274) < 1e-9)
        // 0 of 10 over equal spans: 2 · (1/2)^10.
        #expect(abs(Statistics.poissonRatesTest(10, over: 1, 0, over: 1) - 0.001953125) < 1e-12)
        #expect(Statistics.poissonRatesTest(10, over: 1, 10, over: 1) == 1)
        // 3 of 30 when the second span is a quarter of the whole: 2 · P(Bin(30, .25) ≤ 3) = .0748987.
        #expect(abs(Statistics.poissonRatesTest(27, over: 3, 3, over: 1) - 0.07489865144760172) < 1e-9)
    }

    /// v1 (score ≥ 50) until 2026-03-01, then v2 (score ≥ 60): before, two leads scored 55 and 65
    /// and one scored 45 at hand-off then 70 after it; after, leads scored 62 and 80, one named v1.
    @Test("stayers are judged on the lead's state at hand-off, a late score re-placed in business order")
    func stayersByHand() async throws {
        var f = EventFactory(seed: 141)
        let change = at("2026-03-01T00:00:00Z")
        var events = [
            f.published(
                at("2025-12-01T00:00:00Z"), version: 1, effectiveAt: at("2026-01-01T00:00:00Z"),
                rules: try rules(#"{"field": "score", "gte": 50}"#)),
            f.published(at("2026-02-01T00:00:00Z"), version: 2, effectiveAt: change, rules: try rules(#"{"field": "score", "gte": 60}"#)),
            f.reasonDefined(at("2025-12-01T00:00:00Z"), "FIT.SMALL", label: "Too small", category: "fit"),
        ]
        func lead(_ name: String, _ t: Int64, score: Double, rejected: Bool, definition: Int? = nil) {
            events.append(f.captured(name, t - 2 * microsPerHour, channel: "web"))
            events.append(f.scored(name, t - microsPerHour, score))
            events.append(f.handedOff(name, t, definition: definition))
            events.append(rejected ? f.rejected(name, t + microsPerHour, reason: "FIT.SMALL") : f.accepted(name, t + microsPerHour))
        }
        lead("B55", change - 10 * microsPerDay, score: 55, rejected: true)  // satisfies v1 only
        lead("B65", change - 9 * microsPerDay, score: 65, rejected: false)  // a stayer
        lead("B45", change - 8 * microsPerDay, score: 45, rejected: true)  // neither at hand-off…
        events.append(f.scored("B45", change - 7 * microsPerDay, 70))  // …70 only after it: still not a stayer
        lead("A62", change + 2 * microsPerDay, score: 62, rejected: true)  // a stayer
        lead("A80", change + 3 * microsPerDay, score: 80, rejected: false)  // a stayer
        lead("A58", change + 4 * microsPerDay, score: 58, rejected: true, definition: 1)  // under v1: not in the after side
        let ledger = try TestLedger(name: "stayers")
        try await ledger.append(events, recordedAt: at("2026-04-01T00:00:00Z"))
        // A score recorded late, dated before B55's hand-off: B55 was a stayer all along.
        try await ledger.append(
            [f.scored("B55", change - 10 * microsPerDay - 30 * microsPerMinute, 61)], recordedAt: at("2026-04-02T00:00:00Z"))

        let state = try ReplayEngine.replay(ledger.log)
        let stayers = try Stayers.judge(ledger.log, cut: .everything, definitions: state.definitions, windowDays: 28)
        let report = DefinitionImpact.compute(state, windowDays: 28, stayers: stayers, minimumStayers: 1)
        let adjusted = try #require(report.changes.first?.timeAdjusted)
        #expect([adjusted.before.decided, adjusted.before.rejected] as [Int] == [3, 2])
        #expect([adjusted.stayersBefore.decided, adjusted.stayersBefore.rejected] as [Int] == [2, 1])  // B55 (61 at hand-off), B65
        #expect([adjusted.after.decided, adjusted.after.rejected] as [Int] == [2, 1])
        #expect([adjusted.stayersAfter.decided, adjusted.stayersAfter.rejected] as [Int] == [2, 1])
        // (1/2 − 2/3) − (1/2 − 1/2) = −1/6.
        #expect(abs(try #require(adjusted.estimate).difference - -1.0 / 6) < 1e-12)
        // Before the late score arrived, B55 did not satisfy v2.
        let earlier = try ReplayEngine.replay(ledger.log, cut: .recordedBy(at("2026-04-01T00:00:00Z")))
        let earlierStayers = try Stayers.judge(
            ledger.log, cut: .recordedBy(at("2026-04-01T00:00:00Z")), definitions: earlier.definitions, windowDays: 28)
        let before = try #require(
            DefinitionImpact.compute(earlier, windowDays: 28, stayers: earlierStayers, minimumStayers: 1).changes.first?.timeAdjusted)
        #expect([before.stayersBefore.decided, before.stayersBefore.rejected] as [Int] == [1, 0])
        // With the default minimum, these few stayers give no number, and say why.
        let strict = try #require(DefinitionImpact.compute(state, windowDays: 28, stayers: stayers).changes.first?.timeAdjusted)
        #expect(strict.tooFewStayers && strict.estimate == nil)
        #expect(strict.note == "too few stayers: 2 decided before and 2 after; at least 30 needed on each side")
        // Without verdicts there is no time-adjusted figure at all (never a made-up one).
        #expect(DefinitionImpact.compute(state, windowDays: 28).changes.first?.timeAdjusted == nil)
    }
}

// MARK: Simulations with known truth

/// Many independent experiments in one ledger, one after another in business time: experiment k
/// publishes v(2k+1) = "fit ≥ 40" 28 days before its change and v(2k+2) = `after` at it, with hand-offs
/// in the 28 days on each side. A lead's chance of rejection is `rejection(fit)`, plus `drift` after the
/// change for everyone (sales becoming stricter). The true effect of the definition is then the
/// rejection rate of the after population minus that of the before population at a fixed time.
struct ImpactSimulation {
    let runs: Int
    let beforeLeads: Int, afterLeads: Int
    let afterRule: String
    /// Fit of a lead handed off before (under v1) and after (under v2): uniform on these ranges.
    let beforeFit: ClosedRange<Double>, afterFit: ClosedRange<Double>
    let rejection: @Sendable (Double) -> Double
    let drift: Double
    let seed: UInt64

    static let start = at("2001-01-01T00:00:00Z")
    static func change(_ k: Int) -> Int64 { start + Int64(k) * 56 * microsPerDay + 28 * microsPerDay }

    func ledger() async throws -> TestLedger {
        var rng = SplitMix64(seed: seed)
        var f = EventFactory(seed: seed)
        var events = [f.reasonDefined(Self.start - microsPerDay, "FIT.SMALL", label: "Too small", category: "fit")]
        let before = try rules(#"{"field": "fit", "gte": 40}"#), after = try rules(afterRule)
        for k in 0..<runs {
            let at = Self.change(k)
            events.append(f.published(Self.start - microsPerDay, version: 2 * k + 1, effectiveAt: at - 28 * microsPerDay, rules: before))
            events.append(f.published(Self.start - microsPerDay, version: 2 * k + 2, effectiveAt: at, rules: after))
            for (count, fitRange, side) in [(beforeLeads, beforeFit, -1), (afterLeads, afterFit, 1)] {
                for i in 0..<count {
                    let name = "S\(k)-\(side)-\(i)"
                    let offset = Int64.random(in: 0..<(28 * microsPerDay - 2 * microsPerHour), using: &rng)
                    let t = side < 0 ? at - 28 * microsPerDay + offset : at + offset
                    let fit = Double.random(in: fitRange, using: &rng)
                    let p = rejection(fit) + (side > 0 ? drift : 0)
                    events.append(f.captured(name, t, channel: "web", attributes: ["fit": .number(fit)]))
                    events.append(f.handedOff(name, t + microsPerMinute))
                    events.append(
                        Double.random(in: 0..<1, using: &rng) < p
                            ? f.rejected(name, t + microsPerHour, reason: "FIT.SMALL") : f.accepted(name, t + microsPerHour))
                }
            }
        }
        let ledger = try TestLedger(name: "simulation")
        try await ledger.append(events, batchSize: 20_000, firstRecordedAt: at("2030-01-01T00:00:00Z"))
        return ledger
    }

    /// Each experiment's change, as the report gives it.
    func report(_ ledger: TestLedger) throws -> [DefinitionChange] {
        let state = try ReplayEngine.replay(ledger.log)
        let stayers = try Stayers.judge(ledger.log, cut: .everything, definitions: state.definitions, windowDays: 28)
        let report = DefinitionImpact.compute(state, windowDays: 28, stayers: stayers, seriesWeeks: 4)
        // Changes 2k+1 → 2k+2 are the experiments; the others join one experiment to the next.
        return report.changes.filter { $0.from % 2 == 1 }
    }
}

@Suite("Definition impact adjusted for time, against a known truth")
struct ImpactSimulationTests {
    @Test("sales stricter for everyone at the change: the adjusted interval covers the true effect, the plain one is biased")
    func knownTruth() async throws {
        // Rejection 0.7 − 0.006·(fit − 40): before (fit 40…100) averages p(70) = .52, after
        // (fit 60…100) p(80) = .46; the definition's true effect is −.06. Sales also rejects 8
        // points more of everyone after the change, so the plain before/after expects +.02.
        let simulation = ImpactSimulation(
            runs: 200, beforeLeads: 600, afterLeads: 400, afterRule: #"{"field": "fit", "gte": 60}"#, beforeFit: 40...100,
            afterFit: 60...100, rejection: { 0.7 - 0.006 * ($0 - 40) }, drift: 0.08, seed: 0x5EED_0014)
        let changes = try simulation.report(try await simulation.ledger())
        #expect(changes.count == 200)
        let truth = -0.06
        let adjusted = changes.compactMap { $0.timeAdjusted?.estimate }
        #expect(adjusted.count == 200)
        let covered = adjusted.filter { $0.interval.low <= truth && truth <= $0.interval.high }.count
        #expect(covered >= 186, "the adjusted interval covered the true effect in \(covered) of 200 runs")
        let meanAdjusted = adjusted.map(\.difference).reduce(0, +) / Double(adjusted.count)
        #expect(abs(meanAdjusted - truth) < 0.005, "mean adjusted estimate \(meanAdjusted)")
        // The plain difference carries the drift: its mean sits near −.06 + .08, and its interval
        // rarely covers the truth.
        let plain = changes.compactMap(\.difference)
        let meanPlain = plain.map(\.difference).reduce(0, +) / Double(plain.count)
        #expect(abs(meanPlain - 0.02) < 0.01, "mean plain difference \(meanPlain)")
        let plainCovered = plain.filter { $0.interval.low <= truth && truth <= $0.interval.high }.count
        #expect(plainCovered < 100, "the plain interval covered the true effect in \(plainCovered) of 200 runs")
        // The stricter definition hands off fewer leads a day: the volume warning says so.
        #expect(changes.allSatisfy { $0.population.warning?.contains("volume") == true })
        // Every run has four full weeks on each side for its series, and a fit.
        #expect(changes.allSatisfy { $0.weeklySeries.weeksBefore == 4 && $0.weeklySeries.weeksAfter == 4 && $0.weeklySeries.fit != nil })
    }

    @Test("nothing changes: the adjusted intervals cover zero at about the nominal rate")
    func null() async throws {
        // The definition changes who is handed off, but rejection does not depend on fit and sales
        // does not change: every effect is zero. 300 before, 300 after so the after side holds a rest group.
        let simulation = ImpactSimulation(
            runs: 200, beforeLeads: 300, afterLeads: 300, afterRule: #"{"field": "fit", "gte": 60}"#, beforeFit: 40...100,
            afterFit: 50...100, rejection: { _ in 0.4 }, drift: 0, seed: 0x5EED_0000)
        let changes = try simulation.report(try await simulation.ledger())
        let adjusted = changes.compactMap { $0.timeAdjusted?.estimate }
        #expect(adjusted.count == 200)
        let covered = adjusted.filter { $0.interval.low <= 0 && 0 <= $0.interval.high }.count
        // 95 % of 200 is 190 with a binomial SD of about 3: a band of ±3 SD.
        #expect((181...199).contains(covered), "the adjusted interval covered zero in \(covered) of 200 runs")
        let levelCovered = changes.compactMap(\.weeklySeries.fit).filter {
            $0.levelChange.interval.low <= 0 && 0 <= $0.levelChange.interval.high
        }.count
        #expect(levelCovered >= 176, "the level change's interval covered zero in \(levelCovered) of 200 runs")
        // And the reason mix has one code, so nothing to test: said, not invented.
        #expect(changes.allSatisfy { $0.reasonMix.statistic == nil && $0.reasonMix.note != nil })
    }
}
