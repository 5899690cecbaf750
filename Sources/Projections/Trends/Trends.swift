import Foundation
import LeadModel

/// A dimension that trends and what-ifs can be grouped by.
public enum Dimension: String, Sendable, Codable, CaseIterable {
    /// The lead's channel at hand-off.
    case channel
    /// The owner the lead was handed to.
    case owner
    /// The episode's MQL definition version.
    case definition
    /// The system that sent the hand-off.
    case source
    /// The lead's campaign at hand-off.
    case campaign
}

/// Which hand-offs a trend covers and how it groups them.
public struct TrendsQuery: Sendable, Hashable, Codable {
    /// The cohort bucket.
    public var bucket: Bucket
    /// The grouping, if any.
    public var groupBy: Dimension?
    /// First business instant included (µs), if bounded.
    public var from: Int64?
    /// First business instant excluded (µs), if bounded.
    public var until: Int64?
    /// Report retired reason codes under their replacements.
    public var mapRetiredReasons: Bool
    /// Only hand-offs of leads in this channel.
    public var channel: String?
    /// Only hand-offs to this owner.
    public var owner: String?
    /// Only episodes under this MQL definition version.
    public var definition: Int?

    /// Creates a query; by default weekly, ungrouped, unbounded.
    public init(
        bucket: Bucket = .week, groupBy: Dimension? = nil, from: Int64? = nil, until: Int64? = nil, mapRetiredReasons: Bool = false,
        channel: String? = nil, owner: String? = nil, definition: Int? = nil
    ) {
        self.bucket = bucket
        self.groupBy = groupBy
        self.from = from
        self.until = until
        self.mapRetiredReasons = mapRetiredReasons
        self.channel = channel
        self.owner = owner
        self.definition = definition
    }

    /// The query's range and filters, as every analysis applies them.
    public var filter: EpisodeFilter {
        get { EpisodeFilter(from: from, until: until, channel: channel, owner: owner, definition: definition) }
        set { (from, until, channel, owner, definition) = (newValue.from, newValue.until, newValue.channel, newValue.owner, newValue.definition) }
    }
}

/// Rejections of one reason code.
public struct ReasonCount: Sendable, Hashable, Codable {
    /// The code (after corrections, and mapped when asked).
    public var code: String
    /// Its label, when defined.
    public var label: String?
    /// Its category, when defined.
    public var category: String?
    /// How many rejections.
    public var count: Int
}

/// Hours from hand-off to acceptance.
public struct TimeToAccept: Sendable, Hashable, Codable {
    /// Accepted episodes measured.
    public var count: Int
    /// Median, hours; `nil` when none.
    public var medianHours: Double?
    /// 90th percentile, hours; `nil` when none.
    public var p90Hours: Double?
}

/// The counters and rates of one cohort (and group).
public struct TrendRow: Sendable, Hashable, Codable {
    /// The bucket's first day, `YYYY-MM-DD`; `nil` on a total.
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
    /// `accepted / (accepted + rejected)`; `nil` when nothing was decided.
    public var acceptanceRate: Double?
    /// Its 95 % Wilson interval.
    public var acceptanceRateInterval: Interval?
    /// `rejected / (accepted + rejected)`; `nil` when nothing was decided.
    public var rejectionRate: Double?
    /// Its 95 % Wilson interval.
    public var rejectionRateInterval: Interval?
    /// Time from hand-off to acceptance.
    public var timeToAccept = TimeToAccept(count: 0)
    /// Rejections by reason code, most frequent first.
    public var rejectionsByReason: [ReasonCount] = []

    enum CodingKeys: String, CodingKey {
        case start, group, handedOff, accepted, rejected, recycled, pending, acceptanceRate, acceptanceRateInterval
        case rejectionRate, rejectionRateInterval, timeToAccept, rejectionsByReason
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
        try c.encode(acceptanceRate, forKey: .acceptanceRate)
        try c.encode(acceptanceRateInterval, forKey: .acceptanceRateInterval)
        try c.encode(rejectionRate, forKey: .rejectionRate)
        try c.encode(rejectionRateInterval, forKey: .rejectionRateInterval)
        try c.encode(timeToAccept, forKey: .timeToAccept)
        try c.encode(rejectionsByReason, forKey: .rejectionsByReason)
    }
}

/// Which replay a report came from.
public struct ReplayStamp: Sendable, Hashable, Codable {
    /// The last position replayed.
    public var position: UInt64
    /// The hash at that position: the receipt of exactly what was replayed.
    public var headHash: String
    /// `everything`, `recordedBy …` or `occurredBy …`.
    public var cut: String

    init(_ state: ReplayState) {
        position = state.position
        headHash = state.headHash
        switch state.cut {
        case .everything: cut = "everything"
        case .recordedBy(let t): cut = "recordedBy " + Timestamp(microseconds: t).rfc3339
        case .occurredBy(let t): cut = "occurredBy " + Timestamp(microseconds: t).rfc3339
        }
    }
}

/// Acceptance and rejection trends.
public struct TrendsReport: Sendable, Hashable, Codable {
    /// The replay behind it.
    public var asOf: ReplayStamp
    /// What was asked.
    public var query: TrendsQuery
    /// One row per cohort (and group), by start then group.
    public var rows: [TrendRow]
    /// All cohorts of the range together.
    public var total: TrendRow
}

/// Counts episodes into rows; shared by trends, impact and the what-if outcome segments.
struct RowAccumulator {
    var row = TrendRow()
    var hoursToAccept: [Double] = []
    /// Rejections by reason number + 1 (slot 0 counts rejections without a reason).
    var reasons: [Int] = []

    mutating func add(_ e: Episode) {
        row.handedOff += 1
        switch e.outcome {
        case .pending: row.pending += 1
        case .accepted:
            row.accepted += 1
            hoursToAccept.append(Double(e.decidedAt - e.handedOffAt) / 3_600_000_000)
        case .rejected:
            row.rejected += 1
            let slot = Int(e.reason) + 1
            if slot >= reasons.count { reasons.append(contentsOf: repeatElement(0, count: slot + 1 - reasons.count)) }
            reasons[slot] += 1
        case .recycled: row.recycled += 1
        }
    }

    func finish(_ state: ReplayState, mapRetired: Bool) -> TrendRow {
        var row = self.row
        let decided = row.accepted + row.rejected
        row.acceptanceRate = Statistics.rate(row.accepted, of: decided)
        row.acceptanceRateInterval = Statistics.wilson(row.accepted, of: decided)
        row.rejectionRate = Statistics.rate(row.rejected, of: decided)
        row.rejectionRateInterval = Statistics.wilson(row.rejected, of: decided)
        var hours = hoursToAccept
        let quantiles = Statistics.quantiles(selecting: &hours, [0.5, 0.9])
        row.timeToAccept = TimeToAccept(count: hours.count, medianHours: quantiles[0], p90Hours: quantiles[1])
        row.rejectionsByReason = ReasonTally.counts(reasons, state: state, mapRetired: mapRetired)
        return row
    }
}

/// Turns reason numbers into codes with labels, mapping retired codes when asked.
enum ReasonTally {
    /// `reasons[n + 1]` counts reason number `n`; `reasons[0]` the rejections without a reason.
    static func counts(_ reasons: [Int], state: ReplayState, mapRetired: Bool) -> [ReasonCount] {
        var byCode: [String: Int] = [:]
        for (slot, count) in reasons.enumerated() where count > 0 {
            let reason = Int32(slot - 1)
            let code = (mapRetired ? state.mappedReason(reason) : state.reasons.name(reason)) ?? "(none)"
            byCode[code, default: 0] += count
        }
        return byCode.map { code, count in
            let info = state.reasons.lookup(code).flatMap { state.reasonInfo[$0] }
            return ReasonCount(code: code, label: info?.label, category: info?.category, count: count)
        }.sorted { ($0.count, $1.code) > ($1.count, $0.code) }
    }
}

extension ReplayState {
    /// The value of a dimension for an episode, as a number: its interned string, or the version.
    func dimensionKey(_ dimension: Dimension, of e: Episode) -> Int32 {
        switch dimension {
        case .channel: e.channel
        case .owner: e.owner
        case .campaign: e.campaign
        case .source: e.source
        case .definition: definition(of: e).map { Int32(clamping: $0) } ?? -1
        }
    }

    /// The reported value of a dimension key.
    func dimensionName(_ dimension: Dimension, _ key: Int32) -> String {
        guard key >= 0 else { return "(none)" }
        switch dimension {
        case .channel: return channels.name(key) ?? "(none)"
        case .owner: return owners.name(key) ?? "(none)"
        case .campaign: return campaigns.name(key) ?? "(none)"
        case .source: return sources.name(key) ?? "(none)"
        case .definition: return String(key)
        }
    }

    /// The value of a dimension for an episode, as reported.
    func dimensionValue(_ dimension: Dimension, of e: Episode) -> String {
        dimensionName(dimension, dimensionKey(dimension, of: e))
    }
}

/// Computes acceptance and rejection trends.
public enum Trends {
    /// The trend of `query` over a replayed state.
    public static func compute(_ state: ReplayState, _ query: TrendsQuery = TrendsQuery()) -> TrendsReport {
        var cells = CellIndex(bucket: query.bucket, groupsAreVersions: query.groupBy == .definition)
        var rows: [RowAccumulator] = []
        var total = RowAccumulator()
        let matcher = query.filter.matcher(state)
        for e in state.liveEpisodes where matcher.admits(e) {
            let cell = cells.cell(at: e.handedOffAt, group: query.groupBy.map { state.dimensionKey($0, of: e) } ?? -1)
            if cell == rows.count { rows.append(RowAccumulator()) }
            rows[cell].add(e)
            total.add(e)
        }
        let report = zip(cells.keys, rows).map { key, acc -> (start: Int64, group: String?, row: TrendRow) in
            var row = acc.finish(state, mapRetired: query.mapRetiredReasons)
            row.start = Bucket.dayString(key.start)
            row.group = query.groupBy.map { state.dimensionName($0, key.group) }
            return (key.start, row.group, row)
        }
        .sorted { ($0.start, $0.group ?? "") < ($1.start, $1.group ?? "") }
        .map(\.row)
        return TrendsReport(
            asOf: ReplayStamp(state), query: query, rows: report, total: total.finish(state, mapRetired: query.mapRetiredReasons))
    }
}

/// Numbers the (bucket, group) cells of a trend in order of first use, without hashing per episode:
/// a bucket is looked up once per run of episodes on the same day, and a cell is a slot in its
/// bucket's table of groups.
struct CellIndex {
    /// Each cell's bucket start and group key, by cell number.
    private(set) var keys: [(start: Int64, group: Int32)] = []
    private let bucket: Bucket
    /// Whether group keys are definition versions (any integer) rather than interned numbers.
    private let groupsAreVersions: Bool
    /// The day of the last lookup, its bucket's start and the bucket's number.
    private var day: Int64 = .min, start: Int64 = 0, number = 0
    private var numbers: [Int64: Int] = [:]
    /// Per bucket number, the cell of each group column (-1 while the cell has none).
    private var tables: [[Int32]] = []
    /// Grouping by definition: the versions met so far, by column.
    private var versions: [Int32] = []

    init(bucket: Bucket, groupsAreVersions: Bool) {
        self.bucket = bucket
        self.groupsAreVersions = groupsAreVersions
    }

    /// The number of the cell of an episode handed off at `t` with group key `group`; a new cell
    /// gets the next number, `keys.count` before the call.
    mutating func cell(at t: Int64, group: Int32) -> Int {
        let day = Bucket.floorDiv(t, Bucket.microsPerDay)
        if day != self.day {
            self.day = day
            start = bucket.start(of: day * Bucket.microsPerDay)
            if let known = numbers[start] {
                number = known
            } else {
                number = tables.count
                numbers[start] = number
                tables.append([])
            }
        }
        let column: Int
        if groupsAreVersions {
            if let known = versions.firstIndex(of: group) {
                column = known
            } else {
                column = versions.count
                versions.append(group)
            }
        } else {
            column = Int(group) + 1
        }
        if column >= tables[number].count { tables[number].append(contentsOf: repeatElement(-1, count: column + 1 - tables[number].count)) }
        let cell = tables[number][column]
        if cell >= 0 { return Int(cell) }
        tables[number][column] = Int32(keys.count)
        keys.append((start, group))
        return keys.count - 1
    }
}
