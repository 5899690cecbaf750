import Foundation
import LeadModel
import Projections

// The plain twin of the feedback loop (DESIGN §8.2), written from the contract's words: walk each
// lead's events in business order once more, note what became of each episode, then count. Business
// hours come from Foundation's Calendar, day by day; nothing is shared with the engine but the
// event types.

/// What became of one episode after its hand-off.
struct NaiveEpisodeFacts {
    var firstTouchAt: Int64?
    var convertedAt: Int64?
    var closedAt: Int64?
    var won = false
    var currency: String?
    var assignments: [(at: Int64, owner: String)] = []
    var attributes: [String: String] = [:]
}

struct NaivePolicy {
    let version: Int
    let effectiveAt: Int64
    let firstTouchWithin: Double?
    let decisionWithin: Double?
    let calendar: BusinessCalendar
}

/// The feedback loop folded the plain way, over a ``NaiveLedger``'s episodes.
struct NaiveFeedbackLoop {
    let ledger: NaiveLedger
    /// Facts by the hand-off's position.
    var facts: [UInt64: NaiveEpisodeFacts] = [:]
    /// Amounts: (hand-off position, currency, amount, won).
    var money: [(UInt64, String?, Double, Bool)] = []
    var policies: [NaivePolicy] = []
    /// The next episode of the same lead, by hand-off position.
    var next: [UInt64: NaiveEpisode] = [:]

    init(_ ledger: NaiveLedger, _ stored: [StoredEvent], cut: ReplayCut) {
        self.ledger = ledger
        for e in stored where naiveAdmits(cut, e) {
            if case .slaPublished(let p) = e.event.payload {
                policies.append(
                    NaivePolicy(
                        version: p.version, effectiveAt: p.effectiveAt.microseconds, firstTouchWithin: p.firstTouchWithin,
                        decisionWithin: p.decisionWithin, calendar: p.calendar))
            }
        }
        for events in ledger.leadEvents.values {
            var attributes: [String: String] = [:]
            var open: UInt64?
            var latest: UInt64?
            for e in events {
                switch e.event.payload {
                case .leadCaptured(let c):
                    for (k, v) in c.attributes ?? [:] { attributes[k] = Self.text(v) }
                case .attributesObserved(let o):
                    for (k, v) in o.attributes { attributes[k] = Self.text(v) }
                case .handedOff:
                    var fact = NaiveEpisodeFacts()
                    fact.attributes = attributes
                    facts[e.position] = fact
                    open = e.position
                    latest = e.position
                case .touched:
                    if let o = open, facts[o]!.firstTouchAt == nil { facts[o]!.firstTouchAt = e.occurredAt }
                case .accepted, .rejected:
                    if let o = open {
                        if facts[o]!.firstTouchAt == nil { facts[o]!.firstTouchAt = e.occurredAt }
                        open = nil
                    }
                case .recycled:
                    open = nil
                case .assigned(let a):
                    if let l = latest { facts[l]!.assignments.append((e.occurredAt, a.owner)) }
                case .converted(let c):
                    guard let l = latest else { break }
                    if facts[l]!.convertedAt == nil { facts[l]!.convertedAt = e.occurredAt }
                    facts[l]!.currency = c.currency
                    if let amount = c.amount { money.append((l, c.currency, amount, false)) }
                case .closed(let c):
                    guard let l = latest else { break }
                    if facts[l]!.closedAt == nil { facts[l]!.closedAt = e.occurredAt }
                    if c.won {
                        facts[l]!.won = true
                        if let amount = c.amount { money.append((l, facts[l]!.currency, amount, true)) }
                    }
                default:
                    break
                }
            }
        }
        let byLead = Dictionary(grouping: ledger.episodes, by: \.lead)
        for (_, list) in byLead {
            let ordered = list.sorted { ($0.handedOffAt, $0.handOffPosition) < ($1.handedOffAt, $1.handOffPosition) }
            for i in ordered.indices.dropLast() { next[ordered[i].handOffPosition] = ordered[i + 1] }
        }
    }

    /// An attribute's value as the profile writes it; nil for null (unknown).
    static func text(_ value: AttributeValue) -> String? {
        switch value {
        case .null: nil
        case .bool(let b): b ? "true" : "false"
        case .number(let n): n.rounded() == n && abs(n) < 1e15 ? String(Int64(n)) : "\(n)"
        case .string(let s): s
        }
    }
}

// MARK: Business hours with Foundation's Calendar

struct NaiveCalendar {
    let calendar: BusinessCalendar
    let gregorian: Calendar

    init(_ calendar: BusinessCalendar) {
        self.calendar = calendar
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: calendar.timeZone)!
        gregorian = c
    }

    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
    static func date(_ micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }

    /// The working interval of the local day holding `t`, and the start of the next local day.
    func workingDay(containing t: Int64) -> (open: Int64, close: Int64, nextDay: Int64) {
        let day = gregorian.startOfDay(for: Self.date(t))
        let parts = gregorian.dateComponents([.year, .month, .day, .weekday], from: day)
        let nextDay = gregorian.date(byAdding: .day, value: 1, to: day)!
        let iso = parts.weekday! == 1 ? 7 : parts.weekday! - 1
        let text = String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
        guard calendar.workdays.contains(iso), !calendar.holidays.contains(text) else {
            return (Self.micros(day), Self.micros(day), Self.micros(nextDay))
        }
        func at(_ minute: Int) -> Int64 {
            if minute == 1440 { return Self.micros(nextDay) }
            var c = DateComponents()
            (c.year, c.month, c.day, c.hour, c.minute) = (parts.year, parts.month, parts.day, minute / 60, minute % 60)
            return Self.micros(gregorian.date(from: c)!)
        }
        return (at(calendar.startMinute), at(calendar.endMinute), Self.micros(nextDay))
    }

    /// Working µs between two instants, summed day by day.
    func elapsed(_ from: Int64, _ to: Int64) -> Int64 {
        var total: Int64 = 0
        var t = from
        while t < to {
            let day = workingDay(containing: t)
            let a = max(t, day.open), b = min(to, day.close)
            if b > a { total += b - a }
            t = day.nextDay
        }
        return total
    }

    /// The first instant by which `amount` working µs have elapsed since `from`.
    func deadline(_ from: Int64, _ amount: Int64) -> Int64 {
        var left = amount
        var t = from
        if left == 0 { return from }
        while true {
            let day = workingDay(containing: t)
            let a = max(t, day.open)
            if day.close > a {
                if day.close - a >= left { return a + left }
                left -= day.close - a
            }
            t = day.nextDay
        }
    }
}

// MARK: Funnel

struct NaiveFunnelRow {
    var start: String?
    var group: String?
    var handedOff = 0, accepted = 0, rejected = 0, recycled = 0, pending = 0
    var converted = 0, convertedAccepted = 0, won = 0, wonConverted = 0
    var decision: [Double] = [], acceptedToConverted: [Double] = [], convertedToClosed: [Double] = []
    var survival: [(Double, Bool)] = []
    var pipeline: [String: (Double, Int)] = [:], wonAmount: [String: (Double, Int)] = [:]
    var reMQL30 = 0, reMQL90 = 0, reMQLDecided = 0, reMQLAccepted = 0
}

extension NaiveFeedbackLoop {
    func funnel(_ q: CohortQuery) -> (rows: [NaiveFunnelRow], total: NaiveFunnelRow) {
        let h = Double(microsPerHour)
        var cells: [String: NaiveFunnelRow] = [:]
        var total = NaiveFunnelRow()
        var keyOf: [UInt64: String] = [:]
        func add(_ e: NaiveEpisode, _ r: inout NaiveFunnelRow) {
            let f = facts[e.handOffPosition]!
            r.handedOff += 1
            switch e.outcome {
            case .pending:
                r.pending += 1
                r.survival.append((Double(max(0, q.at - e.handedOffAt)) / h, false))
            case .recycled:
                r.recycled += 1
                r.survival.append((Double(e.decidedAt! - e.handedOffAt) / h, false))
            case .accepted, .rejected:
                if e.outcome == .accepted { r.accepted += 1 } else { r.rejected += 1 }
                r.decision.append(Double(e.decidedAt! - e.handedOffAt) / h)
                r.survival.append((Double(e.decidedAt! - e.handedOffAt) / h, true))
            }
            if let c = f.convertedAt {
                r.converted += 1
                if e.outcome == .accepted {
                    r.convertedAccepted += 1
                    if c >= e.decidedAt! { r.acceptedToConverted.append(Double(c - e.decidedAt!) / h) }
                }
                if let closed = f.closedAt, closed >= c { r.convertedToClosed.append(Double(closed - c) / h) }
            }
            if f.won {
                r.won += 1
                if f.convertedAt != nil { r.wonConverted += 1 }
            }
            if e.outcome == .recycled, let n = next[e.handOffPosition] {
                let gap = n.handedOffAt - e.decidedAt!
                if gap <= 90 * microsPerDay {
                    r.reMQL90 += 1
                    if gap <= 30 * microsPerDay { r.reMQL30 += 1 }
                    if n.outcome == .accepted || n.outcome == .rejected {
                        r.reMQLDecided += 1
                        if n.outcome == .accepted { r.reMQLAccepted += 1 }
                    }
                }
            }
        }
        for e in ledger.episodes {
            if let from = q.from, e.handedOffAt < from { continue }
            if let until = q.until, e.handedOffAt >= until { continue }
            let start = Naive.bucketStart(q.bucket, e.handedOffAt)
            let group = q.groupBy.map { ledger.dimension($0, e) }
            let key = start + "\u{0}" + (group ?? "")
            keyOf[e.handOffPosition] = key
            add(e, &cells[key, default: NaiveFunnelRow(start: start, group: group)])
            add(e, &total)
        }
        for (position, currency, amount, won) in money {
            guard let key = keyOf[position] else { continue }
            let c = currency ?? "\u{0}"
            if won {
                cells[key]!.wonAmount[c, default: (0, 0)].0 += amount
                cells[key]!.wonAmount[c, default: (0, 0)].1 += 1
                total.wonAmount[c, default: (0, 0)].0 += amount
                total.wonAmount[c, default: (0, 0)].1 += 1
            } else {
                cells[key]!.pipeline[c, default: (0, 0)].0 += amount
                cells[key]!.pipeline[c, default: (0, 0)].1 += 1
                total.pipeline[c, default: (0, 0)].0 += amount
                total.pipeline[c, default: (0, 0)].1 += 1
            }
        }
        return (cells.values.sorted { ($0.start!, $0.group ?? "") < ($1.start!, $1.group ?? "") }, total)
    }

    /// Kaplan–Meier from its definition: S(t) = Π over event times tᵢ ≤ t of (1 − dᵢ/nᵢ), nᵢ counting
    /// everyone still under observation at tᵢ (censored at tᵢ included); the median is the first tᵢ with S ≤ ½.
    static func kaplanMeierMedian(_ observations: [(Double, Bool)]) -> Double? {
        let times = Set(observations.filter(\.1).map(\.0)).sorted()
        let all = observations.map(\.0).sorted()
        var eventsAt: [Double: Int] = [:]
        for o in observations where o.1 { eventsAt[o.0, default: 0] += 1 }
        var s = 1.0
        for t in times {
            // Everyone whose time is t or later: past the first index holding t.
            var low = 0, high = all.count
            while low < high {
                let mid = (low + high) / 2
                if all[mid] < t { low = mid + 1 } else { high = mid }
            }
            let atRisk = all.count - low
            let events = eventsAt[t]!
            s *= 1 - Double(events) / Double(atRisk)
            if s <= 0.5 { return t }
        }
        return nil
    }
}

// MARK: Service levels

struct NaiveSLARow {
    var met = 0, breached = 0, open = 0, withdrawn = 0
    var hours: [Double] = []
}

struct NaiveBreach: Equatable {
    let lead: String
    let handOffPosition: UInt64
    let owner: String
    let deadline: Int64
    let answeredAt: Int64?
}

struct NaiveSLATable {
    var cohorts: [String: NaiveSLARow] = [:]
    var owners: [String: NaiveSLARow] = [:]
    var total = NaiveSLARow()
    var breaches: [NaiveBreach] = []
}

extension NaiveFeedbackLoop {
    func serviceLevels(_ q: CohortQuery) -> (withoutPolicy: Int, firstTouch: NaiveSLATable, decision: NaiveSLATable) {
        var withoutPolicy = 0
        var tables = [NaiveSLATable(), NaiveSLATable()]
        let clocks = policies.map { NaiveCalendar($0.calendar) }
        for e in ledger.episodes {
            if let from = q.from, e.handedOffAt < from { continue }
            if let until = q.until, e.handedOffAt >= until { continue }
            var chosen: Int?
            for (i, p) in policies.enumerated() where p.effectiveAt <= e.handedOffAt {
                if chosen == nil || (p.effectiveAt, p.version) > (policies[chosen!].effectiveAt, policies[chosen!].version) { chosen = i }
            }
            guard let index = chosen else {
                withoutPolicy += 1
                continue
            }
            let policy = policies[index], clock = clocks[index]
            let f = facts[e.handOffPosition]!
            let decidedAt = e.outcome == .accepted || e.outcome == .rejected ? e.decidedAt : nil
            let recycledAt = e.outcome == .recycled ? e.decidedAt : nil
            let hours = f.firstTouchAt.map { Double(clock.elapsed(e.handedOffAt, $0)) / Double(microsPerHour) }
            for (slot, within, answered) in [(0, policy.firstTouchWithin, f.firstTouchAt), (1, policy.decisionWithin, decidedAt)] {
                guard let within else { continue }
                let deadline = clock.deadline(e.handedOffAt, Int64((within * Double(microsPerHour)).rounded()))
                var status: ServiceLevelStatus
                if let answered {
                    status = answered <= deadline ? .met : .breached
                } else if let recycledAt, recycledAt < deadline {
                    status = .withdrawn
                } else if recycledAt != nil || deadline <= q.at {
                    status = .breached
                } else {
                    status = .open
                }
                var owner = e.owner
                for a in f.assignments where a.at <= deadline { owner = a.owner }
                func count(_ r: inout NaiveSLARow) {
                    switch status {
                    case .met: r.met += 1
                    case .breached: r.breached += 1
                    case .open: r.open += 1
                    case .withdrawn: r.withdrawn += 1
                    }
                    if let hours { r.hours.append(hours) }
                }
                count(&tables[slot].cohorts[Naive.bucketStart(q.bucket, e.handedOffAt), default: NaiveSLARow()])
                count(&tables[slot].owners[owner, default: NaiveSLARow()])
                count(&tables[slot].total)
                if status == .breached {
                    tables[slot].breaches.append(
                        NaiveBreach(lead: e.lead, handOffPosition: e.handOffPosition, owner: owner, deadline: deadline, answeredAt: answered))
                }
            }
        }
        for i in 0..<2 {
            tables[i].breaches.sort { ($0.deadline, $0.handOffPosition) < ($1.deadline, $1.handOffPosition) }
        }
        return (withoutPolicy, tables[0], tables[1])
    }
}

// MARK: Buyer profile

struct NaiveProfileRow {
    let field: String
    let value: String
    var decided = 0, accepted = 0, won = 0
}

extension NaiveFeedbackLoop {
    func profile(minimum: Int) -> (decided: Int, accepted: Int, won: Int, rows: [NaiveProfileRow]) {
        var rows: [String: NaiveProfileRow] = [:]
        var decided = 0, accepted = 0, won = 0
        for e in ledger.episodes where e.outcome == .accepted || e.outcome == .rejected {
            let f = facts[e.handOffPosition]!
            decided += 1
            if e.outcome == .accepted { accepted += 1 }
            if f.won { won += 1 }
            var values: [(String, String)] = [("channel", e.channel ?? "(none)"), ("campaign", e.campaign ?? "(none)")]
            if let score = e.scoreAtHandOff {
                let low = (score / 10).rounded(.down) * 10
                func t(_ x: Double) -> String { x.rounded() == x ? String(Int64(x)) : "\(x)" }
                values.append(("scoreBand", "\(t(low))–\(t(low + 10))"))
            } else {
                values.append(("scoreBand", "unscored"))
            }
            for (k, v) in f.attributes { values.append(("attributes." + k, v)) }
            for (field, value) in values {
                let key = field + "\u{0}" + value
                rows[key, default: NaiveProfileRow(field: field, value: value)].decided += 1
                if e.outcome == .accepted { rows[key]!.accepted += 1 }
                if f.won { rows[key]!.won += 1 }
            }
        }
        let kept = Self.banded(Array(rows.values)).filter { $0.decided >= minimum }.sorted { ($0.field, $0.value) < ($1.field, $1.value) }
        return (decided, accepted, won, kept)
    }

    /// An attribute whose values are all numbers, more than five of them, in at most five bands: a
    /// value goes to band ⌊5 · (decided episodes with a smaller value) / (decided episodes with a
    /// value)⌋, labelled by its smallest and largest value.
    static func banded(_ rows: [NaiveProfileRow]) -> [NaiveProfileRow] {
        var out = rows.filter { !$0.field.hasPrefix("attributes.") }
        for field in Set(rows.map(\.field)).filter({ $0.hasPrefix("attributes.") }) {
            let values = rows.filter { $0.field == field }
            let numbers = values.compactMap { row in Double(row.value).flatMap { $0.isFinite ? (number: $0, row: row) : nil } }
            guard numbers.count == values.count, numbers.count > 5 else {
                out += values
                continue
            }
            let sorted = numbers.sorted { ($0.number, $0.row.value) < ($1.number, $1.row.value) }
            let total = sorted.reduce(0) { $0 + $1.row.decided }
            var bands: [Int: (low: Double, high: Double, row: NaiveProfileRow)] = [:]
            var smaller = 0
            for (number, row) in sorted {
                let band = min(4, 5 * smaller / total)
                smaller += row.decided
                var entry = bands[band] ?? (number, number, NaiveProfileRow(field: field, value: ""))
                entry.high = number
                entry.row.decided += row.decided
                entry.row.accepted += row.accepted
                entry.row.won += row.won
                bands[band] = entry
            }
            func t(_ x: Double) -> String { x.rounded() == x && abs(x) < 1e15 ? String(Int64(x)) : "\(x)" }
            for (_, entry) in bands {
                var row = entry.row
                row = NaiveProfileRow(
                    field: field, value: entry.low == entry.high ? t(entry.low) : "\(t(entry.low))–\(t(entry.high))",
                    decided: row.decided, accepted: row.accepted, won: row.won)
                out.append(row)
            }
        }
        return out
    }

    /// The pooled two-proportion z-test of `x/n` against the rest `(X − x)/(N − n)`, two-sided.
    static func pValue(_ x: Int, _ n: Int, _ total: Int, _ of: Int) -> Double? {
        let restX = total - x, restN = of - n
        guard n > 0, restN > 0 else { return nil }
        let p = Double(total) / Double(of)
        let se = sqrt(p * (1 - p) * (1 / Double(n) + 1 / Double(restN)))
        guard se > 0 else { return 1 }
        let z = (Double(x) / Double(n) - Double(restX) / Double(restN)) / se
        return erfc(abs(z) / sqrt(2))
    }

    /// Benjamini–Hochberg: q₍ᵢ₎ = min over j ≥ i of p₍ⱼ₎ · m / j.
    static func qValues(_ p: [Double?]) -> [Double?] {
        let tested = p.compactMap { $0 }.sorted()
        let m = Double(tested.count)
        return p.map { value in
            guard let value else { return nil }
            var best = 1.0
            for (j, pj) in tested.enumerated() where pj >= value { best = min(best, pj * m / Double(j + 1)) }
            return best
        }
    }
}
