import Foundation
import LeadModel
import Projections

// MARK: Definition impact

struct NaiveImpactSide {
    var handedOff = 0, decided = 0, rejected = 0
    var rate: Double? { decided == 0 ? nil : Double(rejected) / Double(decided) }
}

struct NaiveChange {
    let from: Int, to: Int
    var before = NaiveImpactSide(), after = NaiveImpactSide()
    var difference: (value: Double, low: Double, high: Double, pValue: Double)?
}

extension NaiveLedger {
    func impact(windowDays: Int) -> [NaiveChange] {
        let versions = definitions.keys.sorted()
        let window = Int64(windowDays) * microsPerDay
        var out: [NaiveChange] = []
        for i in versions.indices.dropLast() {
            let v = versions[i], w = versions[i + 1]
            let e = definitions[w]!.effectiveAt
            var change = NaiveChange(from: v, to: w)
            for episode in episodes {
                let d = definition(of: episode)
                let decided = episode.outcome == .accepted || episode.outcome == .rejected
                let rejected = episode.outcome == .rejected
                if d == v, episode.handedOffAt >= e - window, episode.handedOffAt < e {
                    change.before.handedOff += 1
                    if decided { change.before.decided += 1 }
                    if rejected { change.before.rejected += 1 }
                }
                if d == w, episode.handedOffAt >= e, episode.handedOffAt < e + window {
                    change.after.handedOff += 1
                    if decided { change.after.decided += 1 }
                    if rejected { change.after.rejected += 1 }
                }
            }
            change.difference = Self.twoProportions(change.before, change.after)
            out.append(change)
        }
        return out
    }

    /// Unpooled Wald interval of p2 − p1 and the pooled z-test's two-sided p-value.
    static func twoProportions(_ a: NaiveImpactSide, _ b: NaiveImpactSide) -> (Double, Double, Double, Double)? {
        guard a.decided > 0, b.decided > 0 else { return nil }
        let n1 = Double(a.decided), n2 = Double(b.decided)
        let p1 = Double(a.rejected) / n1, p2 = Double(b.rejected) / n2
        let d = p2 - p1
        let se = sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        let p = (Double(a.rejected) + Double(b.rejected)) / (n1 + n2)
        let pooled = sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
        let pValue = pooled == 0 ? 1 : erfc(abs(d / pooled) / sqrt(2))
        return (d, d - Naive.z * se, d + Naive.z * se, pValue)
    }
}

extension Mismatches {
    mutating func compare(_ report: ImpactReport, _ naive: [NaiveChange]) {
        check(report.changes.count == naive.count, "changes \(report.changes.count) vs \(naive.count)")
        for (c, n) in zip(report.changes, naive) {
            let label = "\(n.from)→\(n.to)"
            check(c.from == n.from && c.to == n.to, "\(label) is \(c.from)→\(c.to)")
            check(c.before.handedOff == n.before.handedOff, "\(label) before.handedOff \(c.before.handedOff) vs \(n.before.handedOff)")
            check(c.before.decided == n.before.decided, "\(label) before.decided \(c.before.decided) vs \(n.before.decided)")
            check(c.before.rejected == n.before.rejected, "\(label) before.rejected \(c.before.rejected) vs \(n.before.rejected)")
            check(c.after.handedOff == n.after.handedOff, "\(label) after.handedOff \(c.after.handedOff) vs \(n.after.handedOff)")
            check(c.after.decided == n.after.decided, "\(label) after.decided \(c.after.decided) vs \(n.after.decided)")
            check(c.after.rejected == n.after.rejected, "\(label) after.rejected \(c.after.rejected) vs \(n.after.rejected)")
            close(c.before.rejectionRate, n.before.rate, "\(label) before rate")
            close(c.after.rejectionRate, n.after.rate, "\(label) after rate")
            close(c.difference?.difference, n.difference?.value, "\(label) difference")
            close(c.difference?.interval.low, n.difference?.low, "\(label) difference low")
            close(c.difference?.interval.high, n.difference?.high, "\(label) difference high")
            close(c.difference?.pValue, n.difference?.pValue, "\(label) p-value")
        }
    }
}

// MARK: What-if

struct NaiveSegment: Equatable {
    var leads = 0, episodes = 0, accepted = 0, rejected = 0, recycled = 0, pending = 0, won = 0
}

struct NaiveWhatIf {
    var both = NaiveSegment(), dropped = NaiveSegment()
    var added = 0
    var bothLeads: Set<String> = [], droppedLeads: Set<String> = [], addedLeads: Set<String> = []

    var observedRate: Double? {
        both.accepted + both.rejected == 0 ? nil : Double(both.rejected) / Double(both.accepted + both.rejected)
    }
    var low: Double? {
        let population = both.accepted + both.rejected + added
        return population == 0 ? nil : Double(both.rejected) / Double(population)
    }
    var high: Double? {
        let population = both.accepted + both.rejected + added
        return population == 0 ? nil : Double(both.rejected + added) / Double(population)
    }
}

extension NaiveLedger {
    /// Whether the candidate holds at some moment in [from, until): the lead's first event with an
    /// empty state, then right after each captured, attributes_observed or scored event.
    func qualifies(_ lead: String, _ rule: MQLRule, from: Int64?, until: Int64?) -> Bool {
        func inRange(_ t: Int64) -> Bool { (from.map { t >= $0 } ?? true) && (until.map { t < $0 } ?? true) }
        guard let events = leadEvents[lead], let first = events.first else { return false }
        var facts: [String: AttributeValue] = [:]
        if inRange(first.occurredAt), rule.evaluateNaively(on: facts) { return true }
        func apply(_ attributes: [String: AttributeValue]?) {
            for (k, v) in attributes ?? [:] { facts[k] = v == .null ? nil : v }
        }
        for e in events {
            switch e.event.payload {
            case .leadCaptured(let c):
                facts["channel"] = .string(c.channel)
                if let campaign = c.campaign { facts["campaign"] = .string(campaign) }
                apply(c.attributes)
            case .attributesObserved(let a): apply(a.attributes)
            case .leadScored(let s): facts["score"] = .number(s.score)
            default: continue
            }
            if inRange(e.occurredAt), rule.evaluateNaively(on: facts) { return true }
        }
        return false
    }

    func whatIf(_ rule: MQLRule, from: Int64?, until: Int64?) -> NaiveWhatIf {
        var real: [String: [NaiveEpisode]] = [:]
        for e in episodes where (from.map { e.handedOffAt >= $0 } ?? true) && (until.map { e.handedOffAt < $0 } ?? true) {
            real[e.lead, default: []].append(e)
        }
        var out = NaiveWhatIf()
        for lead in leadEvents.keys {
            let q = qualifies(lead, rule, from: from, until: until)
            if let episodes = real[lead] {
                var segment = q ? out.both : out.dropped
                segment.leads += 1
                if wonLeads.contains(lead) { segment.won += 1 }
                for e in episodes {
                    segment.episodes += 1
                    switch e.outcome {
                    case .accepted: segment.accepted += 1
                    case .rejected: segment.rejected += 1
                    case .recycled: segment.recycled += 1
                    case .pending: segment.pending += 1
                    }
                }
                if q {
                    out.both = segment
                    out.bothLeads.insert(lead)
                } else {
                    out.dropped = segment
                    out.droppedLeads.insert(lead)
                }
            } else if q {
                out.added += 1
                out.addedLeads.insert(lead)
            }
        }
        return out
    }
}

extension NaiveSegment {
    init(_ s: ObservedSegment) {
        self.init(
            leads: s.leads, episodes: s.episodes, accepted: s.accepted, rejected: s.rejected, recycled: s.recycled, pending: s.pending,
            won: s.won)
    }
}

extension Mismatches {
    mutating func compare(_ result: CandidateResult, _ naive: NaiveWhatIf) {
        let label = result.name
        check(NaiveSegment(result.both) == naive.both, "\(label) both \(NaiveSegment(result.both)) vs \(naive.both)")
        check(NaiveSegment(result.dropped) == naive.dropped, "\(label) dropped \(NaiveSegment(result.dropped)) vs \(naive.dropped)")
        check(result.added.leads == naive.added, "\(label) added \(result.added.leads) vs \(naive.added)")
        check(result.added.outcome == "unobserved", "\(label) added outcome \(result.added.outcome)")
        check(result.rejectionsAvoided == naive.dropped.rejected, "\(label) rejectionsAvoided")
        check(result.acceptancesLost == naive.dropped.accepted, "\(label) acceptancesLost")
        check(result.winsLost == naive.dropped.won, "\(label) winsLost")
        close(result.observedRejectionRate, naive.observedRate, "\(label) observed rate")
        close(result.bounds.low, naive.low, "\(label) low bound")
        close(result.bounds.high, naive.high, "\(label) high bound")
    }
}

// MARK: Definition impact adjusted for time

struct NaiveAdjusted {
    let from: Int, to: Int
    var before = NaiveImpactSide(), after = NaiveImpactSide()
    var stayersBefore = NaiveImpactSide(), stayersAfter = NaiveImpactSide()
    /// The difference in differences, its interval; nil below the minimum of decided stayers.
    var estimate: (value: Double, low: Double, high: Double)?
}

extension NaiveLedger {
    /// The lead's rule-visible state just before the event at `position`, from its events in business order.
    func stateAtHandOff(_ lead: String, position: UInt64) -> [String: AttributeValue] {
        var facts: [String: AttributeValue] = [:]
        for e in leadEvents[lead] ?? [] {
            if e.position == position { break }
            switch e.event.payload {
            case .leadCaptured(let c):
                facts["channel"] = .string(c.channel)
                if let campaign = c.campaign { facts["campaign"] = .string(campaign) }
                for (k, v) in c.attributes ?? [:] { facts[k] = v == .null ? nil : v }
            case .attributesObserved(let a):
                for (k, v) in a.attributes { facts[k] = v == .null ? nil : v }
            case .leadScored(let s): facts["score"] = .number(s.score)
            default: continue
            }
        }
        return facts
    }

    /// DESIGN §8.3 from its words: the stayers of each change are its windows' episodes whose state at
    /// hand-off satisfies both versions; the estimate is (after − before) − (stayersAfter − stayersBefore).
    /// Its variance is written as that of a weighted sum of four disjoint groups' rates: after's rest
    /// (weight nRest/n), after's stayers (nStayers/n − 1), and the negatives of before's.
    func adjustedImpact(windowDays: Int, minimumStayers: Int = 30) -> [NaiveAdjusted] {
        let versions = definitions.keys.sorted()
        let window = Int64(windowDays) * microsPerDay
        var out: [NaiveAdjusted] = []
        for i in versions.indices.dropLast() {
            let v = versions[i], w = versions[i + 1]
            let e = definitions[w]!.effectiveAt
            var change = NaiveAdjusted(from: v, to: w)
            for episode in episodes {
                let d = definition(of: episode)
                let inBefore = d == v && episode.handedOffAt >= e - window && episode.handedOffAt < e
                let inAfter = d == w && episode.handedOffAt >= e && episode.handedOffAt < e + window
                guard inBefore || inAfter else { continue }
                let facts = stateAtHandOff(episode.lead, position: episode.handOffPosition)
                let stays = definitions[v]!.rules.evaluateNaively(on: facts) && definitions[w]!.rules.evaluateNaively(on: facts)
                func count(_ side: inout NaiveImpactSide) {
                    side.handedOff += 1
                    if episode.outcome == .accepted || episode.outcome == .rejected { side.decided += 1 }
                    if episode.outcome == .rejected { side.rejected += 1 }
                }
                if inBefore {
                    count(&change.before)
                    if stays { count(&change.stayersBefore) }
                } else {
                    count(&change.after)
                    if stays { count(&change.stayersAfter) }
                }
            }
            if change.stayersBefore.decided >= minimumStayers, change.stayersAfter.decided >= minimumStayers {
                let (b, a, sb, sa) = (change.before, change.after, change.stayersBefore, change.stayersAfter)
                let value = (a.rate! - b.rate!) - (sa.rate! - sb.rate!)
                func group(_ rejected: Int, _ decided: Int, weight: Double) -> Double {
                    guard decided > 0 else { return 0 }
                    let r = Double(rejected) / Double(decided)
                    return weight * weight * r * (1 - r) / Double(decided)
                }
                let variance =
                    group(a.rejected - sa.rejected, a.decided - sa.decided, weight: Double(a.decided - sa.decided) / Double(a.decided))
                    + group(sa.rejected, sa.decided, weight: Double(sa.decided) / Double(a.decided) - 1)
                    + group(b.rejected - sb.rejected, b.decided - sb.decided, weight: -Double(b.decided - sb.decided) / Double(b.decided))
                    + group(sb.rejected, sb.decided, weight: 1 - Double(sb.decided) / Double(b.decided))
                change.estimate = (value, value - Naive.z * variance.squareRoot(), value + Naive.z * variance.squareRoot())
            }
            out.append(change)
        }
        return out
    }
}

extension Mismatches {
    mutating func compare(_ report: ImpactReport, _ naive: [NaiveAdjusted]) {
        check(report.changes.count == naive.count, "changes \(report.changes.count) vs \(naive.count)")
        for (c, n) in zip(report.changes, naive) {
            let label = "\(n.from)→\(n.to) adjusted"
            guard let adjusted = c.timeAdjusted else {
                check(false, "\(label) missing")
                continue
            }
            for (name, mine, theirs) in [
                ("before", adjusted.before, n.before), ("after", adjusted.after, n.after),
                ("stayersBefore", adjusted.stayersBefore, n.stayersBefore), ("stayersAfter", adjusted.stayersAfter, n.stayersAfter),
            ] {
                check(
                    [mine.handedOff, mine.decided, mine.rejected] == [theirs.handedOff, theirs.decided, theirs.rejected],
                    "\(label) \(name) \([mine.handedOff, mine.decided, mine.rejected]) vs \([theirs.handedOff, theirs.decided, theirs.rejected])"
                )
            }
            check(
                (adjusted.estimate == nil) == (n.estimate == nil),
                "\(label) estimate present \(adjusted.estimate != nil) vs \(n.estimate != nil)")
            check(adjusted.tooFewStayers == (n.estimate == nil), "\(label) tooFewStayers \(adjusted.tooFewStayers)")
            close(adjusted.estimate?.difference, n.estimate?.value, "\(label) difference", tolerance: 1e-12)
            close(adjusted.estimate?.interval.low, n.estimate?.low, "\(label) low", tolerance: 1e-12)
            close(adjusted.estimate?.interval.high, n.estimate?.high, "\(label) high", tolerance: 1e-12)
        }
    }
}
