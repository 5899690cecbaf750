import Foundation
import LeadModel

/// Which hand-offs a funnel, service-level or profile report covers and how it groups them.
public struct CohortQuery: Sendable, Hashable, Codable {
    /// The cohort bucket.
    public var bucket: Bucket
    /// The grouping, if any.
    public var groupBy: Dimension?
    /// First business instant included (µs), if bounded.
    public var from: Int64?
    /// First business instant excluded (µs), if bounded.
    public var until: Int64?
    /// The report's instant (µs, business time): open episodes are censored, and deadlines judged, as of it.
    /// Callers pass the business-time cut when there is one, else now.
    public var at: Int64
    /// Only hand-offs of leads in this channel.
    public var channel: String?
    /// Only hand-offs to this owner.
    public var owner: String?
    /// Only episodes under this MQL definition version.
    public var definition: Int?

    /// Creates a query; by default weekly, ungrouped, unbounded.
    public init(
        bucket: Bucket = .week, groupBy: Dimension? = nil, from: Int64? = nil, until: Int64? = nil, at: Int64, channel: String? = nil,
        owner: String? = nil, definition: Int? = nil
    ) {
        self.bucket = bucket
        self.groupBy = groupBy
        self.from = from
        self.until = until
        self.at = at
        self.channel = channel
        self.owner = owner
        self.definition = definition
    }

    func includes(_ t: Int64) -> Bool { (from.map { t >= $0 } ?? true) && (until.map { t < $0 } ?? true) }

    /// The query's range and filters, as every analysis applies them.
    public var filter: EpisodeFilter {
        get { EpisodeFilter(from: from, until: until, channel: channel, owner: owner, definition: definition) }
        set { (from, until, channel, owner, definition) = (newValue.from, newValue.until, newValue.channel, newValue.owner, newValue.definition) }
    }
}

/// A rate with its 95 % Wilson interval; both `nil` when the denominator is 0.
public struct Rate: Sendable, Hashable, Codable {
    /// Successes.
    public var count: Int
    /// Trials.
    public var of: Int
    /// `count / of`.
    public var rate: Double?
    /// The 95 % Wilson interval.
    public var interval: Interval?

    /// The rate of `count` in `of`.
    public init(_ count: Int, of: Int) {
        self.count = count
        self.of = of
        rate = Statistics.rate(count, of: of)
        interval = Statistics.wilson(count, of: of)
    }

    enum CodingKeys: String, CodingKey { case count, of, rate, interval }

    /// Encodes every key, `null` included.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(count, forKey: .count)
        try c.encode(of, forKey: .of)
        try c.encode(rate, forKey: .rate)
        try c.encode(interval, forKey: .interval)
    }
}

/// Median and 90th percentile of durations, in hours.
public struct Durations: Sendable, Hashable, Codable {
    /// How many durations.
    public var count: Int
    /// Median, hours; `nil` when none.
    public var medianHours: Double?
    /// 90th percentile, hours; `nil` when none.
    public var p90Hours: Double?

    init(hours: [Double]) {
        var values = hours
        let q = Statistics.quantiles(selecting: &values, [0.5, 0.9])
        count = hours.count
        medianHours = q[0]
        p90Hours = q[1]
    }

    enum CodingKeys: String, CodingKey { case count, medianHours, p90Hours }

    /// Encodes every key, `null` included.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(count, forKey: .count)
        try c.encode(medianHours, forKey: .medianHours)
        try c.encode(p90Hours, forKey: .p90Hours)
    }
}

/// Time from hand-off to decision, naive and censoring-aware.
public struct TimeToDecision: Sendable, Hashable, Codable {
    /// Episodes decided (accepted or rejected).
    public var decided: Int
    /// Episodes counted as censored: still open at the report's instant, or recycled without a decision.
    public var censored: Int
    /// The median over decided episodes only, hours (biased low when many are still open).
    public var naiveMedianHours: Double?
    /// The Kaplan–Meier median, hours: `nil` when fewer than half are known to be decided by any time.
    public var kaplanMeierMedianHours: Double?

    enum CodingKeys: String, CodingKey { case decided, censored, naiveMedianHours, kaplanMeierMedianHours }

    /// Encodes every key, `null` included.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(decided, forKey: .decided)
        try c.encode(censored, forKey: .censored)
        try c.encode(naiveMedianHours, forKey: .naiveMedianHours)
        try c.encode(kaplanMeierMedianHours, forKey: .kaplanMeierMedianHours)
    }
}

/// A sum of amounts in one currency (amounts of different currencies are never added).
public struct CurrencyAmount: Sendable, Hashable, Codable {
    /// ISO 4217 code; `nil` for amounts whose conversion named no currency.
    public var currency: String?
    /// The sum.
    public var amount: Double
    /// How many amounts were summed.
    public var count: Int

    /// A sum of `count` amounts in `currency`.
    public init(currency: String?, amount: Double, count: Int) {
        self.currency = currency
        self.amount = amount
        self.count = count
    }

    enum CodingKeys: String, CodingKey { case currency, amount, count }

    /// Encodes every key, `null` included.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(currency, forKey: .currency)
        try c.encode(amount, forKey: .amount)
        try c.encode(count, forKey: .count)
    }
}

/// Recycled episodes and what became of their leads.
public struct RecyclingFigures: Sendable, Hashable, Codable {
    /// Recycled episodes of all handed off: the recycle rate.
    public var recycled: Rate
    /// Recycled episodes whose lead was handed off again within 30 days of the recycle.
    public var reMQLWithin30Days: Rate
    /// Likewise within 90 days.
    public var reMQLWithin90Days: Rate
    /// Acceptance of those re-MQLs (within 90 days) among the decided ones.
    public var reMQLAcceptance: Rate
}

/// The stages of one cohort (and group).
public struct FunnelRow: Sendable, Hashable, Codable {
    /// The bucket's first day, `YYYY-MM-DD`; `nil` on the total.
    public var start: String?
    /// The group's value when grouped (`"(none)"` when the episode has none).
    public var group: String?
    /// Episodes opened by a hand-off.
    public var handedOff = 0
    /// Accepted.
    public var accepted = 0
    /// Rejected.
    public var rejected = 0
    /// Recycled without a decision.
    public var recycled = 0
    /// Still open at the end of the replay.
    public var pending = 0
    /// Episodes with a conversion at or after the hand-off and before the next.
    public var converted = 0
    /// Converted episodes that were also accepted.
    public var convertedAccepted = 0
    /// Episodes with a won close.
    public var won = 0
    /// Won episodes that were also converted.
    public var wonConverted = 0
    /// `accepted / handedOff`.
    public var acceptedOfHandedOff = Rate(0, of: 0)
    /// `convertedAccepted / accepted`.
    public var convertedOfAccepted = Rate(0, of: 0)
    /// `wonConverted / converted`.
    public var wonOfConverted = Rate(0, of: 0)
    /// Hours from hand-off to decision (accepted or rejected).
    public var handOffToDecision = Durations(hours: [])
    /// Hours from acceptance to a conversion at or after it.
    public var acceptedToConverted = Durations(hours: [])
    /// Hours from conversion to a close at or after it.
    public var convertedToClosed = Durations(hours: [])
    /// Time to decision, naive beside Kaplan–Meier.
    public var timeToDecision = TimeToDecision(decided: 0, censored: 0)
    /// Conversion amounts by currency.
    public var pipeline: [CurrencyAmount] = []
    /// Won amounts by currency (the currency of the episode's conversion).
    public var wonAmount: [CurrencyAmount] = []
    /// Recycle rate and re-MQLs.
    public var recycling = RecyclingFigures(
        recycled: Rate(0, of: 0), reMQLWithin30Days: Rate(0, of: 0), reMQLWithin90Days: Rate(0, of: 0), reMQLAcceptance: Rate(0, of: 0))

    enum CodingKeys: String, CodingKey {
        case start, group, handedOff, accepted, rejected, recycled, pending, converted, convertedAccepted, won, wonConverted
        case acceptedOfHandedOff, convertedOfAccepted, wonOfConverted, handOffToDecision, acceptedToConverted, convertedToClosed
        case timeToDecision, pipeline, wonAmount, recycling
    }

    /// Encodes every key, `null` included, so the shape never changes.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(start, forKey: .start)
        try c.encode(group, forKey: .group)
        try c.encode(handedOff, forKey: .handedOff)
        try c.encode(accepted, forKey: .accepted)
        try c.encode(rejected, forKey: .rejected)
        try c.encode(recycled, forKey: .recycled)
        try c.encode(pending, forKey: .pending)
        try c.encode(converted, forKey: .converted)
        try c.encode(convertedAccepted, forKey: .convertedAccepted)
        try c.encode(won, forKey: .won)
        try c.encode(wonConverted, forKey: .wonConverted)
        try c.encode(acceptedOfHandedOff, forKey: .acceptedOfHandedOff)
        try c.encode(convertedOfAccepted, forKey: .convertedOfAccepted)
        try c.encode(wonOfConverted, forKey: .wonOfConverted)
        try c.encode(handOffToDecision, forKey: .handOffToDecision)
        try c.encode(acceptedToConverted, forKey: .acceptedToConverted)
        try c.encode(convertedToClosed, forKey: .convertedToClosed)
        try c.encode(timeToDecision, forKey: .timeToDecision)
        try c.encode(pipeline, forKey: .pipeline)
        try c.encode(wonAmount, forKey: .wonAmount)
        try c.encode(recycling, forKey: .recycling)
    }
}

/// The funnel from hand-off to revenue, per hand-off cohort (DESIGN §8.2).
public struct FunnelReport: Sendable, Hashable, Codable {
    /// The replay behind it.
    public var asOf: ReplayStamp
    /// What was asked.
    public var query: CohortQuery
    /// The report's instant, RFC 3339: open episodes are censored there.
    public var reportAt: String
    /// One row per cohort (and group), by start then group.
    public var rows: [FunnelRow]
    /// All cohorts of the range together.
    public var total: FunnelRow
}

/// Counts one row of the funnel.
struct FunnelAccumulator {
    var row = FunnelRow()
    var decision: [Double] = [], acceptedToConverted: [Double] = [], convertedToClosed: [Double] = []
    /// Hand-off to decision or censoring, hours, with whether a decision ended it.
    var survival: [(hours: Double, decided: Bool)] = []
    var pipeline: [Int32: (amount: Double, count: Int)] = [:], wonAmount: [Int32: (amount: Double, count: Int)] = [:]
    var reMQL30 = 0, reMQL90 = 0, reMQLDecided = 0, reMQLAccepted = 0

    static let microsPerHour = 3_600_000_000.0

    mutating func add(_ e: Episode, _ fact: EpisodeFacts.Fact, at: Int64) {
        row.handedOff += 1
        switch e.outcome {
        case .pending:
            row.pending += 1
            survival.append((Double(max(0, at - e.handedOffAt)) / Self.microsPerHour, false))
        case .accepted, .rejected:
            if e.outcome == .accepted { row.accepted += 1 } else { row.rejected += 1 }
            let hours = Double(e.decidedAt - e.handedOffAt) / Self.microsPerHour
            decision.append(hours)
            survival.append((hours, true))
        case .recycled:
            row.recycled += 1
            survival.append((Double(e.decidedAt - e.handedOffAt) / Self.microsPerHour, false))
        }
        if fact.convertedAt != .min {
            row.converted += 1
            if e.outcome == .accepted {
                row.convertedAccepted += 1
                if fact.convertedAt >= e.decidedAt {
                    acceptedToConverted.append(Double(fact.convertedAt - e.decidedAt) / Self.microsPerHour)
                }
            }
            if fact.closedAt != .min, fact.closedAt >= fact.convertedAt {
                convertedToClosed.append(Double(fact.closedAt - fact.convertedAt) / Self.microsPerHour)
            }
        }
        if fact.won {
            row.won += 1
            if fact.convertedAt != .min { row.wonConverted += 1 }
        }
    }

    mutating func addMoney(_ entry: EpisodeFacts.Money) {
        if entry.won {
            wonAmount[entry.currency, default: (0, 0)].amount += entry.amount
            wonAmount[entry.currency, default: (0, 0)].count += 1
        } else {
            pipeline[entry.currency, default: (0, 0)].amount += entry.amount
            pipeline[entry.currency, default: (0, 0)].count += 1
        }
    }

    /// A re-MQL `gap` µs after the recycle (at most ``Recycling/longWindow``).
    mutating func addReMQL(gap: Int64, next: Episode) {
        reMQL90 += 1
        if gap <= Recycling.shortWindow { reMQL30 += 1 }
        if next.outcome == .accepted || next.outcome == .rejected {
            reMQLDecided += 1
            if next.outcome == .accepted { reMQLAccepted += 1 }
        }
    }

    func finish(currencies: Interner) -> FunnelRow {
        var row = self.row
        row.acceptedOfHandedOff = Rate(row.accepted, of: row.handedOff)
        row.convertedOfAccepted = Rate(row.convertedAccepted, of: row.accepted)
        row.wonOfConverted = Rate(row.wonConverted, of: row.converted)
        row.handOffToDecision = Durations(hours: decision)
        row.acceptedToConverted = Durations(hours: acceptedToConverted)
        row.convertedToClosed = Durations(hours: convertedToClosed)
        var naive = decision
        row.timeToDecision = TimeToDecision(
            decided: decision.count, censored: survival.count - decision.count,
            naiveMedianHours: Statistics.quantiles(selecting: &naive, [0.5])[0],
            kaplanMeierMedianHours: Statistics.kaplanMeierMedian(survival))
        func amounts(_ sums: [Int32: (amount: Double, count: Int)]) -> [CurrencyAmount] {
            sums.map { CurrencyAmount(currency: currencies.name($0.key), amount: $0.value.amount, count: $0.value.count) }
                .sorted { ($0.currency ?? "") < ($1.currency ?? "") }
        }
        row.pipeline = amounts(pipeline)
        row.wonAmount = amounts(wonAmount)
        row.recycling = RecyclingFigures(
            recycled: Rate(row.recycled, of: row.handedOff), reMQLWithin30Days: Rate(reMQL30, of: row.recycled),
            reMQLWithin90Days: Rate(reMQL90, of: row.recycled), reMQLAcceptance: Rate(reMQLAccepted, of: reMQLDecided))
        return row
    }
}

extension Statistics {
    /// The Kaplan–Meier median of durations, each either an event (`decided`) or censored there: the
    /// smallest time at which the estimated survival falls to one half or below; `nil` when it never
    /// does. At equal times, events count before censorings (the usual convention).
    public static func kaplanMeierMedian(_ observations: [(hours: Double, decided: Bool)]) -> Double? {
        // Two plain arrays of Double sort several times faster than the tuples with a comparator
        // (the sort was a sixth of the funnel's time); walking both at once gives the same steps.
        var decided: [Double] = [], censored: [Double] = []
        decided.reserveCapacity(observations.count)
        for observation in observations {
            if observation.decided { decided.append(observation.hours) } else { censored.append(observation.hours) }
        }
        decided.sort()
        censored.sort()
        var atRisk = observations.count
        var survival = 1.0
        var (d, c) = (0, 0)
        while d < decided.count {
            let time = c < censored.count ? min(decided[d], censored[c]) : decided[d]
            var events = 0
            while d < decided.count, decided[d] == time {
                events += 1
                d += 1
            }
            var leaving = events
            while c < censored.count, censored[c] == time {
                leaving += 1
                c += 1
            }
            if events > 0 {
                survival *= 1 - Double(events) / Double(atRisk)
                if survival <= 0.5 { return time }
            }
            atRisk -= leaving
        }
        return nil
    }
}

/// Computes the funnel.
public enum Funnel {
    /// The funnel of `query` over a replay and the facts observed in it.
    public static func compute(_ state: ReplayState, _ facts: EpisodeFacts, _ query: CohortQuery) -> FunnelReport {
        precondition(facts.count == state.episodes.count, "the facts were not observed in this replay")
        var cells = CellIndex(bucket: query.bucket, groupsAreVersions: query.groupBy == .definition)
        var rows: [FunnelAccumulator] = []
        var total = FunnelAccumulator()
        // Each counted episode's cell, for the amounts and the re-MQLs found afterwards.
        var cellOf = [Int32](repeating: -1, count: state.episodes.count)
        var nextOf = [Int32](repeating: -1, count: state.episodes.count)
        let matcher = query.filter.matcher(state)
        for (number, e) in state.episodes.enumerated() where !e.isVoid {
            if e.previous >= 0 { nextOf[Int(e.previous)] = Int32(number) }
            guard matcher.admits(e) else { continue }
            let cell = cells.cell(at: e.handedOffAt, group: query.groupBy.map { state.dimensionKey($0, of: e) } ?? -1)
            if cell == rows.count { rows.append(FunnelAccumulator()) }
            rows[cell].add(e, facts.facts[number], at: query.at)
            total.add(e, facts.facts[number], at: query.at)
            cellOf[number] = Int32(cell)
        }
        for entry in facts.money where cellOf[Int(entry.episode)] >= 0 {
            rows[Int(cellOf[Int(entry.episode)])].addMoney(entry)
            total.addMoney(entry)
        }
        for (number, e) in state.episodes.enumerated() where cellOf[number] >= 0 && e.outcome == .recycled && nextOf[number] >= 0 {
            let next = state.episodes[Int(nextOf[number])]
            let gap = next.handedOffAt - e.decidedAt
            guard gap <= Recycling.longWindow else { continue }
            rows[Int(cellOf[number])].addReMQL(gap: gap, next: next)
            total.addReMQL(gap: gap, next: next)
        }
        let report = zip(cells.keys, rows).map { key, acc -> (start: Int64, group: String?, row: FunnelRow) in
            var row = acc.finish(currencies: facts.currencies)
            row.start = Bucket.dayString(key.start)
            row.group = query.groupBy.map { state.dimensionName($0, key.group) }
            return (key.start, row.group, row)
        }
        .sorted { ($0.start, $0.group ?? "") < ($1.start, $1.group ?? "") }
        .map(\.row)
        return FunnelReport(
            asOf: ReplayStamp(state), query: query, reportAt: Timestamp(microseconds: query.at).rfc3339, rows: report,
            total: total.finish(currencies: facts.currencies))
    }
}

/// The windows of re-MQL after a recycle.
public enum Recycling {
    /// 30 days, µs: a re-MQL at most this long after the recycle counts in `reMQLWithin30Days`.
    public static let shortWindow: Int64 = 30 * Bucket.microsPerDay
    /// 90 days, µs.
    public static let longWindow: Int64 = 90 * Bucket.microsPerDay
}
