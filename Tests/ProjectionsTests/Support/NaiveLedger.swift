import Foundation
import LeadModel
import Projections

// A second, deliberately plain implementation of DESIGN §5, written from the contract's words:
// sort each lead's events, walk them, count. It shares nothing with the engine but the event
// types and the rule language's reference interpreter, so agreement between the two means something.

/// One episode as the contract defines it.
struct NaiveEpisode {
    let lead: String
    let handOffPosition: UInt64
    let handedOffAt: Int64
    var outcome: EpisodeOutcome = .pending
    var decidedAt: Int64?
    let owner: String
    let source: String
    let channel: String?
    let campaign: String?
    let namedDefinition: Int?
    let scoreAtHandOff: Double?
    /// The named version, else the one in force at hand-off.
    var definition: Int?
    var rejectionID: UUID?
    var originalReason: String?
    var reason: String?
}

struct NaiveReason {
    var label: String
    var category: String
    var retired = false
    var replacedBy: String?
}

struct NaiveDefinition {
    let version: Int
    let name: String
    let effectiveAt: Int64
    let rules: MQLRule
}

/// Whether a cut admits an event: the cut drops events before anything else happens.
func naiveAdmits(_ cut: ReplayCut, _ e: StoredEvent) -> Bool {
    switch cut {
    case .everything: true
    case .recordedBy(let t): e.recordedAt <= t
    case .occurredBy(let t): e.occurredAt <= t
    }
}

/// The ledger folded the plain way.
struct NaiveLedger {
    var episodes: [NaiveEpisode] = []
    var reasons: [String: NaiveReason] = [:]
    var definitions: [Int: NaiveDefinition] = [:]
    var wonLeads: Set<String> = []
    /// Each lead's admitted events in business order (occurredAt, then position).
    var leadEvents: [String: [StoredEvent]] = [:]

    init(_ stored: [StoredEvent], cut: ReplayCut = .everything) {
        let admitted = stored.filter { naiveAdmits(cut, $0) }.sorted { $0.position < $1.position }
        for e in admitted {
            switch e.event.payload {
            case .reasonDefined(let d):
                let old = reasons[d.code]
                reasons[d.code] = NaiveReason(
                    label: d.label, category: d.category, retired: old?.retired ?? false, replacedBy: old?.replacedBy)
            case .reasonRetired(let r):
                var info = reasons[r.code] ?? NaiveReason(label: r.code, category: "OTHER")
                info.retired = true
                info.replacedBy = r.replacedBy
                reasons[r.code] = info
            case .definitionPublished(let p):
                definitions[p.version] = NaiveDefinition(
                    version: p.version, name: p.name, effectiveAt: p.effectiveAt.microseconds, rules: p.rules)
            default:
                if let lead = e.event.lead { leadEvents[lead, default: []].append(e) }
            }
        }
        // The latest correction of each rejection, in its lead's business order.
        var corrections: [UUID: (occurredAt: Int64, position: UInt64, reason: String)] = [:]
        for lead in leadEvents.keys.sorted() {
            leadEvents[lead]!.sort { ($0.occurredAt, $0.position) < ($1.occurredAt, $1.position) }
            var channel: String?, campaign: String?, score: Double?
            var open: Int?
            for e in leadEvents[lead]! {
                switch e.event.payload {
                case .leadCaptured(let c):
                    channel = c.channel
                    if let value = c.campaign { campaign = value }
                case .leadScored(let s):
                    score = s.score
                case .handedOff(let h):
                    episodes.append(
                        NaiveEpisode(
                            lead: lead, handOffPosition: e.position, handedOffAt: e.occurredAt, owner: h.owner, source: e.event.source,
                            channel: channel, campaign: campaign, namedDefinition: h.definition, scoreAtHandOff: score,
                            definition: h.definition ?? definitionInForce(at: e.occurredAt)))
                    open = episodes.count - 1
                case .accepted:
                    guard let i = open else { break }
                    episodes[i].outcome = .accepted
                    episodes[i].decidedAt = e.occurredAt
                    open = nil
                case .rejected(let r):
                    guard let i = open else { break }
                    episodes[i].outcome = .rejected
                    episodes[i].decidedAt = e.occurredAt
                    episodes[i].rejectionID = e.event.id
                    episodes[i].originalReason = r.reason
                    open = nil
                case .recycled:
                    guard let i = open else { break }
                    episodes[i].outcome = .recycled
                    episodes[i].decidedAt = e.occurredAt
                    open = nil
                case .closed(let c):
                    if c.won { wonLeads.insert(lead) }
                case .rejectionCorrected(let c):
                    if let known = corrections[c.event], (known.occurredAt, known.position) > (e.occurredAt, e.position) { break }
                    corrections[c.event] = (e.occurredAt, e.position, c.reason)
                default:
                    break
                }
            }
        }
        for i in episodes.indices where episodes[i].outcome == .rejected {
            episodes[i].reason = episodes[i].rejectionID.flatMap { corrections[$0]?.reason } ?? episodes[i].originalReason
        }
    }

    /// The published definition with the greatest effectiveAt ≤ t, ties to the greater version.
    func definitionInForce(at t: Int64) -> Int? {
        var best: NaiveDefinition?
        for d in definitions.values.sorted(by: { $0.version < $1.version }) where d.effectiveAt <= t {
            if best == nil || d.effectiveAt >= best!.effectiveAt { best = d }
        }
        return best?.version
    }

    func definition(of e: NaiveEpisode) -> Int? { e.definition }

    /// A retired code's replacement, following chains.
    func mapped(_ code: String) -> String {
        var code = code
        var seen: Set<String> = [code]
        while let info = reasons[code], info.retired, let next = info.replacedBy, !seen.contains(next) {
            seen.insert(next)
            code = next
        }
        return code
    }

    func dimension(_ d: Projections.Dimension, _ e: NaiveEpisode) -> String {
        switch d {
        case .channel: e.channel ?? "(none)"
        case .campaign: e.campaign ?? "(none)"
        case .owner: e.owner
        case .source: e.source
        case .definition: definition(of: e).map(String.init) ?? "(none)"
        }
    }
}

// MARK: Statistics, from the formulas in the brief

enum Naive {
    static let z = 1.959963984540054

    static func wilson(_ x: Int, _ n: Int) -> (low: Double, high: Double)? {
        guard n > 0 else { return nil }
        let nn = Double(n), p = Double(x) / nn
        let centre = p + z * z / (2 * nn)
        let spread = z * sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn))
        let scale = 1 + z * z / nn
        return (max(0, (centre - spread) / scale), min(1, (centre + spread) / scale))
    }

    /// Linear interpolation between closest ranks: h = (n−1)q.
    static func quantile(_ values: [Double], _ q: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let x = values.sorted()
        let h = Double(x.count - 1) * q
        let f = Int(floor(h))
        if f + 1 >= x.count { return x[f] }
        return x[f] + (h - Double(f)) * (x[f + 1] - x[f])
    }

    static let utc: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        c.firstWeekday = 2
        c.minimumDaysInFirstWeek = 4
        return c
    }()

    /// The bucket's first day as `YYYY-MM-DD`, through Foundation's calendar rather than day arithmetic.
    static func bucketStart(_ bucket: Bucket, _ micros: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(micros.dividedRoundingDown(by: microsPerSecond)))
        let start: Date
        switch bucket {
        case .day: start = utc.startOfDay(for: date)
        case .week: start = utc.dateInterval(of: .weekOfYear, for: date)!.start
        case .month: start = utc.dateInterval(of: .month, for: date)!.start
        }
        let c = utc.dateComponents([.year, .month, .day], from: start)
        return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
    }
}

extension Int64 {
    func dividedRoundingDown(by d: Int64) -> Int64 { self >= 0 ? self / d : -((-self + d - 1) / d) }
}

// MARK: Trends

struct NaiveRow {
    var start: String?
    var group: String?
    var handedOff = 0, accepted = 0, rejected = 0, recycled = 0, pending = 0
    var hours: [Double] = []
    var reasons: [String: Int] = [:]

    mutating func add(_ e: NaiveEpisode, _ ledger: NaiveLedger, mapRetired: Bool) {
        handedOff += 1
        switch e.outcome {
        case .pending: pending += 1
        case .recycled: recycled += 1
        case .accepted:
            accepted += 1
            hours.append(Double(e.decidedAt! - e.handedOffAt) / Double(microsPerHour))
        case .rejected:
            rejected += 1
            let code = e.reason ?? "(none)"
            reasons[mapRetired ? ledger.mapped(code) : code, default: 0] += 1
        }
    }
}

extension NaiveLedger {
    func trends(_ q: TrendsQuery) -> (rows: [NaiveRow], total: NaiveRow) {
        var cells: [String: NaiveRow] = [:]
        var total = NaiveRow()
        var startCache: [Int64: String] = [:]
        for e in episodes {
            if let from = q.from, e.handedOffAt < from { continue }
            if let until = q.until, e.handedOffAt >= until { continue }
            let day = e.handedOffAt.dividedRoundingDown(by: microsPerDay)
            let start: String
            if let cached = startCache[day] {
                start = cached
            } else {
                start = Naive.bucketStart(q.bucket, e.handedOffAt)
                startCache[day] = start
            }
            let group = q.groupBy.map { dimension($0, e) }
            let key = start + "\u{0}" + (group ?? "")
            cells[key, default: NaiveRow(start: start, group: group)].add(e, self, mapRetired: q.mapRetiredReasons)
            total.add(e, self, mapRetired: q.mapRetiredReasons)
        }
        let rows = cells.values.sorted { ($0.start!, $0.group ?? "") < ($1.start!, $1.group ?? "") }
        return (rows, total)
    }

    /// Reason counts sorted by count descending, then code ascending, with catalog labels.
    func reasonList(_ counts: [String: Int]) -> [String] {
        let sorted: [(code: String, count: Int)] = counts.map { ($0.key, $0.value) }.sorted { a, b in
            a.count != b.count ? a.count > b.count : a.code < b.code
        }
        return sorted.map { entry -> String in
            let info = reasons[entry.code]
            return "\(entry.code)|\(info?.label ?? "nil")|\(info?.category ?? "nil")|\(entry.count)"
        }
    }
}

// MARK: Comparisons

/// Collects mismatches, so one failed expectation names the first few instead of flooding the log.
struct Mismatches {
    var items: [String] = []
    mutating func check(_ ok: Bool, _ what: @autoclosure () -> String) { if !ok { items.append(what()) } }
    mutating func close(_ a: Double?, _ b: Double?, _ what: @autoclosure () -> String, tolerance: Double = 1e-12) {
        switch (a, b) {
        case (nil, nil): break
        case (let x?, let y?): check(abs(x - y) <= tolerance * max(1, abs(y)), what() + ": \(x) vs \(y)")
        default: items.append(what() + ": \(String(describing: a)) vs \(String(describing: b))")
        }
    }
    var summary: String { "\(items.count) mismatches, first: " + items.prefix(8).joined(separator: " | ") }
}

extension Mismatches {
    mutating func compare(_ row: TrendRow, _ naive: NaiveRow, _ ledger: NaiveLedger, _ label: String) {
        check(row.handedOff == naive.handedOff, "\(label) handedOff \(row.handedOff) vs \(naive.handedOff)")
        check(row.accepted == naive.accepted, "\(label) accepted \(row.accepted) vs \(naive.accepted)")
        check(row.rejected == naive.rejected, "\(label) rejected \(row.rejected) vs \(naive.rejected)")
        check(row.recycled == naive.recycled, "\(label) recycled \(row.recycled) vs \(naive.recycled)")
        check(row.pending == naive.pending, "\(label) pending \(row.pending) vs \(naive.pending)")
        let decided = naive.accepted + naive.rejected
        close(row.acceptanceRate, decided == 0 ? nil : Double(naive.accepted) / Double(decided), "\(label) acceptanceRate")
        close(row.rejectionRate, decided == 0 ? nil : Double(naive.rejected) / Double(decided), "\(label) rejectionRate")
        let aw = Naive.wilson(naive.accepted, decided), rw = Naive.wilson(naive.rejected, decided)
        close(row.acceptanceRateInterval?.low, aw?.low, "\(label) acceptance low")
        close(row.acceptanceRateInterval?.high, aw?.high, "\(label) acceptance high")
        close(row.rejectionRateInterval?.low, rw?.low, "\(label) rejection low")
        close(row.rejectionRateInterval?.high, rw?.high, "\(label) rejection high")
        check(row.timeToAccept.count == naive.hours.count, "\(label) timeToAccept.count")
        close(row.timeToAccept.medianHours, Naive.quantile(naive.hours, 0.5), "\(label) median")
        close(row.timeToAccept.p90Hours, Naive.quantile(naive.hours, 0.9), "\(label) p90")
        let expected = ledger.reasonList(naive.reasons)
        check(rendered(row.rejectionsByReason) == expected, "\(label) reasons \(rendered(row.rejectionsByReason)) vs \(expected)")
    }

    mutating func compare(_ report: TrendsReport, _ naive: (rows: [NaiveRow], total: NaiveRow), _ ledger: NaiveLedger, _ label: String) {
        check(report.rows.count == naive.rows.count, "\(label) rows \(report.rows.count) vs \(naive.rows.count)")
        for (row, expected) in zip(report.rows, naive.rows) {
            let name = "\(label) \(expected.start!)/\(expected.group ?? "-")"
            check(row.start == expected.start && row.group == expected.group, "\(name) is \(row.start ?? "nil")/\(row.group ?? "-")")
            compare(row, expected, ledger, name)
        }
        compare(report.total, naive.total, ledger, "\(label) total")
    }
}

/// A reason tally as `code|label|category|count`, so lists compare in one expectation.
func rendered(_ reasons: [ReasonCount]) -> [String] {
    reasons.map { "\($0.code)|\($0.label ?? "nil")|\($0.category ?? "nil")|\($0.count)" }
}
