import Foundation
import LeadModel

/// Rejections under one definition in one window.
public struct ImpactSide: Sendable, Hashable, Codable {
    /// The definition version.
    public var definition: Int
    /// First day of the window, `YYYY-MM-DD`.
    public var windowStart: String
    /// Last day of the window, `YYYY-MM-DD`.
    public var windowEnd: String
    /// Hand-offs under the definition in the window.
    public var handedOff: Int
    /// Of which decided (accepted or rejected).
    public var decided: Int
    /// Of which rejected.
    public var rejected: Int
    /// `rejected / decided`; `nil` when nothing was decided.
    public var rejectionRate: Double?
    /// Its 95 % Wilson interval.
    public var rejectionRateInterval: Interval?
}

/// How one reason code's share of rejections moved.
public struct ReasonShift: Sendable, Hashable, Codable {
    /// The code.
    public var code: String
    /// Its label, when defined.
    public var label: String?
    /// Share of rejections before.
    public var beforeShare: Double
    /// Share of rejections after.
    public var afterShare: Double
    /// `afterShare − beforeShare`.
    public var change: Double
}

/// The effect of one change of the MQL definition.
public struct DefinitionChange: Sendable, Hashable, Codable {
    /// The version replaced.
    public var from: Int
    /// The version published.
    public var to: Int
    /// Its name.
    public var name: String
    /// When it took effect, RFC 3339.
    public var effectiveAt: String
    /// Why it was published, when said.
    public var rationale: String?
    /// What changed, in words.
    public var changes: [String]
    /// Episodes under the old version in the window before.
    public var before: ImpactSide
    /// Episodes under the new version in the window after.
    public var after: ImpactSide
    /// After minus before, with its interval and test; `nil` when a side has no decisions.
    public var difference: Statistics.TwoProportions?
    /// The codes whose share of rejections rose most.
    public var reasonsRising: [ReasonShift]
    /// The codes whose share of rejections fell most.
    public var reasonsFalling: [ReasonShift]
    /// The before/after with the drift of time taken out by the stayers (DESIGN §8.3); `nil` when
    /// the hand-offs were not judged against both definitions.
    public var timeAdjusted: TimeAdjustedImpact?
    /// The weekly rejection rate around the change, and its segmented regression.
    public var weeklySeries: InterruptedTimeSeries
    /// One chi-square test of the whole reason mix, before against after.
    public var reasonMix: Statistics.ChiSquareTest
    /// Whether hand-off volume or the channel mix moved beyond chance.
    public var population: PopulationShift
    /// The smallest difference the before/after could have detected.
    public var detectable: DetectableEffect
}

/// Hand-offs, decisions and rejections of one group of episodes.
public struct RejectionCounts: Sendable, Hashable, Codable {
    /// Hand-offs.
    public var handedOff: Int
    /// Of which decided.
    public var decided: Int
    /// Of which rejected.
    public var rejected: Int
    /// `rejected / decided`; `nil` when nothing was decided.
    public var rejectionRate: Double?

    init(handedOff: Int = 0, decided: Int = 0, rejected: Int = 0) {
        self.handedOff = handedOff
        self.decided = decided
        self.rejected = rejected
        rejectionRate = Statistics.rate(rejected, of: decided)
    }

    mutating func add(_ e: Episode) {
        handedOff += 1
        if e.outcome == .accepted || e.outcome == .rejected { decided += 1 }
        if e.outcome == .rejected { rejected += 1 }
        rejectionRate = Statistics.rate(rejected, of: decided)
    }
}

/// The before/after adjusted for the drift of time (DESIGN §8.3): the stayers — episodes whose lead
/// state at hand-off satisfies both definitions — changed only with time, so their change is taken
/// out of the plain one.
public struct TimeAdjustedImpact: Sendable, Hashable, Codable {
    /// The plain before side (episodes under the old version in the window before).
    public var before: RejectionCounts
    /// The plain after side.
    public var after: RejectionCounts
    /// The stayers among the before side.
    public var stayersBefore: RejectionCounts
    /// The stayers among the after side.
    public var stayersAfter: RejectionCounts
    /// The decided stayers each side needs for an estimate.
    public var minimumStayers: Int
    /// `(after − before) − (stayersAfter − stayersBefore)` with its 95 % interval; `nil` with too few stayers.
    public var estimate: Statistics.DifferenceInDifferences?
    /// Whether a side has fewer than ``minimumStayers`` decided stayers.
    public var tooFewStayers: Bool
    /// The reason there is no estimate, when there is none.
    public var note: String?
    /// How the interval is computed.
    public var method: String
}

/// One week of the interrupted time series.
public struct SeriesWeek: Sendable, Hashable, Codable {
    /// Weeks from the change: −1 is the week ending at it, 0 the week starting at it.
    public var offset: Int
    /// First day of the week, `YYYY-MM-DD` (weeks are counted from the change's instant).
    public var start: String
    /// Decided episodes.
    public var decided: Int
    /// Of which rejected.
    public var rejected: Int
    /// `rejected / decided`; `nil` when nothing was decided (then the week is not fitted).
    public var rejectionRate: Double?
}

/// The weekly rejection rate around a change (episodes under the old version before it, under the
/// new one after), with a segmented regression: the jump at the change and the change of trend.
public struct InterruptedTimeSeries: Sendable, Hashable, Codable {
    /// Weeks looked at on each side.
    public var weeksPerSide: Int
    /// Weeks with decisions before the change, used in the fit.
    public var weeksBefore: Int
    /// Weeks with decisions from the change on, used in the fit.
    public var weeksAfter: Int
    /// The weeks, in order.
    public var weeks: [SeriesWeek]
    /// The fit; `nil` with too few weeks.
    public var fit: Statistics.SegmentedRegression?
    /// The reason there is no fit, when there is none.
    public var note: String?
    /// How the fit is made.
    public var method: String
}

/// Whether the change moved who was handed off: volume per day, and the channel mix.
public struct PopulationShift: Sendable, Hashable, Codable {
    /// Hand-offs in the before window.
    public var handedOffBefore: Int
    /// Hand-offs in the after window.
    public var handedOffAfter: Int
    /// Days of the before window the ledger covers.
    public var daysBefore: Double
    /// Days of the after window the ledger covers (less than the window while it is still running).
    public var daysAfter: Double
    /// The two-sided p-value of the volume test; `nil` when a side covers no time.
    public var volumePValue: Double?
    /// The chi-square test of the channel mix of hand-offs, before against after.
    public var channelMix: Statistics.ChiSquareTest
    /// Set when volume or channel mix moved beyond chance.
    public var warning: String?
    /// How the two tests are made.
    public var method: String
}

/// The smallest rejection-rate difference the before/after could have detected.
public struct DetectableEffect: Sendable, Hashable, Codable {
    /// Decided episodes before.
    public var beforeDecided: Int
    /// Decided episodes after.
    public var afterDecided: Int
    /// The common rate the formula assumes: rejections of both sides over decisions of both sides.
    public var baselineRate: Double?
    /// The difference, in rate (0.05 = 5 points); `nil` when a side is empty or the baseline is 0 or 1.
    public var difference: Double?
    /// How it is computed.
    public var method: String
}

/// How every change of the MQL definition moved rejection rates.
public struct ImpactReport: Sendable, Hashable, Codable {
    /// The replay behind it.
    public var asOf: ReplayStamp
    /// The window on each side of a change, days.
    public var windowDays: Int
    /// Weeks on each side of a change in the interrupted time series.
    public var seriesWeeks: Int
    /// Decided stayers each side needs for a time-adjusted estimate.
    public var minimumStayers: Int
    /// One entry per change, in version order.
    public var changes: [DefinitionChange]
}

/// Computes definition impact.
public enum DefinitionImpact {
    /// How the time-adjusted interval is computed, as reports state it.
    public static let differenceMethod =
        "difference in differences; 95% normal-approximation interval from four disjoint groups (stayers and the rest, before and after) with binomial variances"
    /// How the weekly series is fitted, as reports state it.
    public static let seriesMethod =
        "segmented regression of weekly rejection rates (weeks counted from the change), weighted least squares with weights = decided episodes per week; 95% intervals from Student's t with weeks − 4 degrees of freedom"
    /// How volume and channel mix are tested, as reports state it.
    public static let populationMethod =
        "volume: exact conditional test of two Poisson rates (hand-offs per day covered); channel mix: chi-square test of hand-offs by channel; a warning when either p-value is below 0.025 (0.05 split over the two tests)"
    /// How the detectable effect is computed, as reports state it.
    public static let detectableMethod =
        "two-sided two-proportion test, alpha 0.05, power 0.8: (1.960 + 0.842) · √(p(1 − p)(1/n_before + 1/n_after)), p = both sides' rejections over their decisions"

    /// For each change v→v+1 (consecutive published versions): rejections of episodes under v in the
    /// `windowDays` before v+1's `effectiveAt`, against those under v+1 in the window after; beside it
    /// the time-adjusted difference when `stayers` judged the change's hand-offs, the weekly series
    /// over `seriesWeeks` weeks on each side, the reason-mix and population tests and the detectable effect.
    public static func compute(
        _ state: ReplayState, windowDays: Int = 28, mapRetiredReasons: Bool = false, topReasons: Int = 3,
        filter: EpisodeFilter = EpisodeFilter(), stayers: Stayers? = nil, seriesWeeks: Int = 8, minimumStayers: Int = 30
    ) -> ImpactReport {
        let matcher = filter.matcher(state)
        let versions = state.definitions.keys.sorted()
        let window = Int64(windowDays) * 86_400_000_000
        let week: Int64 = 7 * 86_400_000_000
        let weeks = max(1, min(seriesWeeks, 520))
        let seriesSpan = Int64(weeks) * week
        let pairs = Array(zip(versions, versions.dropFirst()))
        // One pass: each episode's definition is found once, then counted in the window before the
        // change that replaced its version and the window after the change that published it.
        var changeFrom: [Int: Int] = [:], changeTo: [Int: Int] = [:]
        for (index, (old, new)) in pairs.enumerated() {
            changeFrom[old] = index
            changeTo[new] = index
        }
        var befores = [RowAccumulator](repeating: RowAccumulator(), count: pairs.count)
        var afters = befores
        var extras = [ChangeAccumulator](repeating: ChangeAccumulator(weeks: weeks), count: pairs.count)
        // The span of business time the ledger covers, for the share of a window it has seen.
        var (first, last) = (Int64.max, Int64.min)
        for e in state.liveEpisodes {
            first = min(first, e.handedOffAt)
            last = max(last, e.handedOffAt)
        }
        for e in state.liveEpisodes where matcher.admits(e) {
            guard let version = state.definition(of: e) else { continue }
            if let index = changeFrom[version], let at = state.definitions[pairs[index].1]?.effectiveAt {
                if e.handedOffAt >= at - window, e.handedOffAt < at {
                    befores[index].add(e)
                    extras[index].channelsBefore[e.channel, default: 0] += 1
                    if stayers?.isStayer(handOffPosition: e.handOffPosition, change: pairs[index].0) == true {
                        extras[index].stayersBefore.add(e)
                    }
                }
                if e.handedOffAt >= at - seriesSpan, e.handedOffAt < at {
                    extras[index].addToSeries(e, offset: Int(Bucket.floorDiv(e.handedOffAt - at, week)))
                }
            }
            if let index = changeTo[version], let at = state.definitions[version]?.effectiveAt {
                if e.handedOffAt >= at, e.handedOffAt < at + window {
                    afters[index].add(e)
                    extras[index].channelsAfter[e.channel, default: 0] += 1
                    if stayers?.isStayer(handOffPosition: e.handOffPosition, change: pairs[index].0) == true {
                        extras[index].stayersAfter.add(e)
                    }
                }
                if e.handedOffAt >= at, e.handedOffAt < at + seriesSpan {
                    extras[index].addToSeries(e, offset: Int((e.handedOffAt - at) / week))
                }
            }
        }
        var changes: [DefinitionChange] = []
        for (index, (old, new)) in pairs.enumerated() {
            guard let oldInfo = state.definitions[old], let newInfo = state.definitions[new] else { continue }
            let at = newInfo.effectiveAt
            let (before, after) = (befores[index], afters[index])
            let b = before.finish(state, mapRetired: mapRetiredReasons), a = after.finish(state, mapRetired: mapRetiredReasons)
            let shifts = reasonShifts(before: b.rejectionsByReason, after: a.rejectionsByReason, state: state)
            let extra = extras[index]
            let beforeCounts = RejectionCounts(handedOff: b.handedOff, decided: b.accepted + b.rejected, rejected: b.rejected)
            let afterCounts = RejectionCounts(handedOff: a.handedOff, decided: a.accepted + a.rejected, rejected: a.rejected)
            let judged = stayers?.judged.contains(old) == true
            let covered = (
                before: days(max(at - window, first), at), after: last == .min ? 0 : days(at, min(at + window, last + 1))
            )
            changes.append(
                DefinitionChange(
                    from: old, to: new, name: newInfo.name,
                    effectiveAt: Timestamp(microseconds: at).rfc3339, rationale: newInfo.rationale,
                    changes: DefinitionDiff.describeChanges(from: oldInfo.rules, to: newInfo.rules),
                    before: side(old, b, from: at - window, to: at),
                    after: side(new, a, from: at, to: at + window),
                    difference: Statistics.twoProportions(b.rejected, b.accepted + b.rejected, a.rejected, a.accepted + a.rejected),
                    reasonsRising: Array(shifts.filter { $0.change > 0 }.sorted { $0.change > $1.change }.prefix(topReasons)),
                    reasonsFalling: Array(shifts.filter { $0.change < 0 }.sorted { $0.change < $1.change }.prefix(topReasons)),
                    timeAdjusted: judged
                        ? timeAdjusted(
                            before: beforeCounts, after: afterCounts, stayersBefore: extra.stayersBefore, stayersAfter: extra.stayersAfter,
                            minimumStayers: minimumStayers) : nil,
                    weeklySeries: extra.series(at: at, weeks: weeks),
                    reasonMix: Statistics.chiSquare(
                        Dictionary(b.rejectionsByReason.map { ($0.code, $0.count) }, uniquingKeysWith: +),
                        Dictionary(a.rejectionsByReason.map { ($0.code, $0.count) }, uniquingKeysWith: +)),
                    population: population(extra, state: state, handedOff: (b.handedOff, a.handedOff), days: covered),
                    detectable: detectable(beforeCounts, afterCounts)))
        }
        return ImpactReport(
            asOf: ReplayStamp(state), windowDays: windowDays, seriesWeeks: weeks, minimumStayers: minimumStayers, changes: changes)
    }

    /// Days between two instants, 0 when the second is not later.
    private static func days(_ from: Int64, _ to: Int64) -> Double {
        to > from ? Double(to - from) / 86_400_000_000 : 0
    }

    static func timeAdjusted(
        before: RejectionCounts, after: RejectionCounts, stayersBefore: RejectionCounts, stayersAfter: RejectionCounts, minimumStayers: Int
    ) -> TimeAdjustedImpact {
        let tooFew = stayersBefore.decided < minimumStayers || stayersAfter.decided < minimumStayers
        let estimate =
            tooFew
            ? nil
            : Statistics.differenceInDifferences(
                stayersBefore: (stayersBefore.rejected, stayersBefore.decided),
                restBefore: (before.rejected - stayersBefore.rejected, before.decided - stayersBefore.decided),
                stayersAfter: (stayersAfter.rejected, stayersAfter.decided),
                restAfter: (after.rejected - stayersAfter.rejected, after.decided - stayersAfter.decided))
        return TimeAdjustedImpact(
            before: before, after: after, stayersBefore: stayersBefore, stayersAfter: stayersAfter, minimumStayers: minimumStayers,
            estimate: estimate, tooFewStayers: tooFew,
            note: tooFew
                ? "too few stayers: \(stayersBefore.decided) decided before and \(stayersAfter.decided) after; at least \(minimumStayers) needed on each side"
                : nil,
            method: differenceMethod)
    }

    static func population(
        _ extra: ChangeAccumulator, state: ReplayState, handedOff: (before: Int, after: Int), days: (before: Double, after: Double)
    ) -> PopulationShift {
        func named(_ counts: [Int32: Int]) -> [String: Int] {
            var out: [String: Int] = [:]
            for (number, count) in counts { out[state.channels.name(number) ?? "(unknown)", default: 0] += count }
            return out
        }
        let volume =
            days.before > 0 && days.after > 0
            ? Statistics.poissonRatesTest(handedOff.before, over: days.before, handedOff.after, over: days.after) : nil
        let mix = Statistics.chiSquare(named(extra.channelsBefore), named(extra.channelsAfter))
        var warnings: [String] = []
        if let p = volume, p < 0.025 {
            let perDay = (Double(handedOff.before) / days.before, Double(handedOff.after) / days.after)
            warnings.append(
                "hand-off volume moved from \(String(format: "%.1f", perDay.0)) to \(String(format: "%.1f", perDay.1)) a day (p = \(String(format: "%.2g", p)))"
            )
        }
        if let p = mix.pValue, p < 0.025 {
            warnings.append("the channel mix of hand-offs moved (chi-square p = \(String(format: "%.2g", p)))")
        }
        return PopulationShift(
            handedOffBefore: handedOff.before, handedOffAfter: handedOff.after, daysBefore: days.before, daysAfter: days.after,
            volumePValue: volume, channelMix: mix,
            warning: warnings.isEmpty
                ? nil
                : warnings.joined(separator: "; ")
                    + ": the before and after compare different populations, trust the time-adjusted figure more",
            method: populationMethod)
    }

    static func detectable(_ before: RejectionCounts, _ after: RejectionCounts) -> DetectableEffect {
        let baseline = Statistics.rate(before.rejected + after.rejected, of: before.decided + after.decided)
        return DetectableEffect(
            beforeDecided: before.decided, afterDecided: after.decided, baselineRate: baseline,
            difference: baseline.flatMap { Statistics.minimumDetectableDifference(rate: $0, before.decided, after.decided) },
            method: detectableMethod)
    }

    /// What one change gathers beyond the before/after rows.
    struct ChangeAccumulator {
        var stayersBefore = RejectionCounts(), stayersAfter = RejectionCounts()
        var channelsBefore: [Int32: Int] = [:], channelsAfter: [Int32: Int] = [:]
        /// Per week offset + weeks: decided and rejected.
        var decided: [Int], rejected: [Int]
        let weeks: Int

        init(weeks: Int) {
            self.weeks = weeks
            decided = [Int](repeating: 0, count: 2 * weeks)
            rejected = decided
        }

        mutating func addToSeries(_ e: Episode, offset: Int) {
            let slot = offset + weeks
            guard slot >= 0, slot < decided.count, e.outcome == .accepted || e.outcome == .rejected else { return }
            decided[slot] += 1
            if e.outcome == .rejected { rejected[slot] += 1 }
        }

        func series(at: Int64, weeks: Int) -> InterruptedTimeSeries {
            let week: Int64 = 7 * 86_400_000_000
            let points = (0..<2 * weeks).map { slot in
                SeriesWeek(
                    offset: slot - weeks, start: Bucket.dayString(at + Int64(slot - weeks) * week), decided: decided[slot],
                    rejected: rejected[slot], rejectionRate: Statistics.rate(rejected[slot], of: decided[slot]))
            }
            let used = points.filter { $0.decided > 0 }
            let (usedBefore, usedAfter) = (used.filter { $0.offset < 0 }.count, used.filter { $0.offset >= 0 }.count)
            let minimumPerSide = 3
            var fit: Statistics.SegmentedRegression?
            var note: String?
            if usedBefore < minimumPerSide || usedAfter < minimumPerSide {
                note =
                    "too few weeks with decisions: \(usedBefore) before and \(usedAfter) after; at least \(minimumPerSide) needed on each side"
            } else {
                fit = Statistics.segmentedRegression(used.map { (Double($0.offset), $0.rejectionRate ?? 0, Double($0.decided)) })
                if fit == nil { note = "the weekly rates admit no fit" }
            }
            return InterruptedTimeSeries(
                weeksPerSide: weeks, weeksBefore: usedBefore, weeksAfter: usedAfter, weeks: points, fit: fit, note: note,
                method: DefinitionImpact.seriesMethod)
        }
    }

    private static func side(_ version: Int, _ row: TrendRow, from: Int64, to: Int64) -> ImpactSide {
        ImpactSide(
            definition: version, windowStart: Bucket.dayString(from), windowEnd: Bucket.dayString(to - 1),
            handedOff: row.handedOff, decided: row.accepted + row.rejected, rejected: row.rejected,
            rejectionRate: row.rejectionRate, rejectionRateInterval: row.rejectionRateInterval)
    }

    private static func reasonShifts(before: [ReasonCount], after: [ReasonCount], state: ReplayState) -> [ReasonShift] {
        let totalBefore = before.reduce(0) { $0 + $1.count }, totalAfter = after.reduce(0) { $0 + $1.count }
        var codes: [String: (label: String?, b: Int, a: Int)] = [:]
        for r in before { codes[r.code, default: (r.label, 0, 0)].b += r.count }
        for r in after { codes[r.code, default: (r.label, 0, 0)].a += r.count }
        return codes.map { code, v in
            let bs = totalBefore == 0 ? 0 : Double(v.b) / Double(totalBefore)
            let afs = totalAfter == 0 ? 0 : Double(v.a) / Double(totalAfter)
            return ReasonShift(code: code, label: v.label, beforeShare: bs, afterShare: afs, change: afs - bs)
        }.sorted { $0.code < $1.code }
    }
}
