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
}

/// How every change of the MQL definition moved rejection rates.
public struct ImpactReport: Sendable, Hashable, Codable {
    /// The replay behind it.
    public var asOf: ReplayStamp
    /// The window on each side of a change, days.
    public var windowDays: Int
    /// One entry per change, in version order.
    public var changes: [DefinitionChange]
}

/// Computes definition impact.
public enum DefinitionImpact {
    /// For each change v→v+1 (consecutive published versions): rejections of episodes under v in the
    /// `windowDays` before v+1's `effectiveAt`, against those under v+1 in the window after.
    public static func compute(
        _ state: ReplayState, windowDays: Int = 28, mapRetiredReasons: Bool = false, topReasons: Int = 3,
        filter: EpisodeFilter = EpisodeFilter()
    ) -> ImpactReport {
        let matcher = filter.matcher(state)
        let versions = state.definitions.keys.sorted()
        let window = Int64(windowDays) * 86_400_000_000
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
        for e in state.liveEpisodes where matcher.admits(e) {
            guard let version = state.definition(of: e) else { continue }
            if let index = changeFrom[version], let at = state.definitions[pairs[index].1]?.effectiveAt,
                e.handedOffAt >= at - window, e.handedOffAt < at
            {
                befores[index].add(e)
            }
            if let index = changeTo[version], let at = state.definitions[version]?.effectiveAt,
                e.handedOffAt >= at, e.handedOffAt < at + window
            {
                afters[index].add(e)
            }
        }
        var changes: [DefinitionChange] = []
        for (index, (old, new)) in pairs.enumerated() {
            guard let oldInfo = state.definitions[old], let newInfo = state.definitions[new] else { continue }
            let at = newInfo.effectiveAt
            let (before, after) = (befores[index], afters[index])
            let b = before.finish(state, mapRetired: mapRetiredReasons), a = after.finish(state, mapRetired: mapRetiredReasons)
            let shifts = reasonShifts(before: b.rejectionsByReason, after: a.rejectionsByReason, state: state)
            changes.append(
                DefinitionChange(
                    from: old, to: new, name: newInfo.name,
                    effectiveAt: Timestamp(microseconds: at).rfc3339, rationale: newInfo.rationale,
                    changes: DefinitionDiff.describeChanges(from: oldInfo.rules, to: newInfo.rules),
                    before: side(old, b, from: at - window, to: at),
                    after: side(new, a, from: at, to: at + window),
                    difference: Statistics.twoProportions(b.rejected, b.accepted + b.rejected, a.rejected, a.accepted + a.rejected),
                    reasonsRising: Array(shifts.filter { $0.change > 0 }.sorted { $0.change > $1.change }.prefix(topReasons)),
                    reasonsFalling: Array(shifts.filter { $0.change < 0 }.sorted { $0.change < $1.change }.prefix(topReasons))))
        }
        return ImpactReport(asOf: ReplayStamp(state), windowDays: windowDays, changes: changes)
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
