import Foundation
import LeadModel

extension EpisodeOutcome {
    /// The outcome as reports and the API name it: `pending`, `accepted`, `rejected`, `recycled`.
    public var name: String {
        switch self {
        case .pending: "pending"
        case .accepted: "accepted"
        case .rejected: "rejected"
        case .recycled: "recycled"
        }
    }

    /// The outcome of a name as ``name`` spells it.
    public init?(name: String) {
        guard let outcome = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = outcome
    }
}

/// Where a page of the episode list resumes: just after the episode handed off at `handedOffAt`
/// by the hand-off stored at `position` (the list's order), so pages neither skip nor repeat an
/// episode while the ledger grows.
public struct EpisodeCursor: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Business time of the last hand-off listed, µs.
    public var handedOffAt: Int64
    /// Position of that hand-off.
    public var position: UInt64

    /// A cursor after one episode.
    public init(handedOffAt: Int64, position: UInt64) {
        self.handedOffAt = handedOffAt
        self.position = position
    }

    /// `MICROS:POSITION`, as the list hands it out in `next`.
    public var description: String { "\(handedOffAt):\(position)" }

    /// A cursor from its text; `nil` when it is not two integers `MICROS:POSITION`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let micros = Int64(parts[0]), let position = UInt64(parts[1]) else { return nil }
        self.init(handedOffAt: micros, position: position)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let cursor = Self(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a cursor: \(text)"))
        }
        self = cursor
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A stage of the funnel past acceptance, as its chart's bars count them.
public enum FunnelStage: String, Sendable, Hashable, Codable, CaseIterable {
    /// Accepted episodes that converted: the funnel's `convertedAccepted`, the bar "converted (of accepted)".
    case converted
    /// Converted episodes that were won: the funnel's `wonConverted`, the bar "won (of converted)".
    case won
}

/// The episodes behind a service-level figure: those judged against `limit`, optionally only with
/// `status`, optionally only those whose owner at the deadline is `owner` (as the per-owner
/// compliance counts them, which is not always the owner handed to).
public struct ServiceLevelSelection: Sendable, Hashable, Codable {
    /// The limit judged.
    public var limit: ServiceLevelLimit
    /// Only episodes with this status.
    public var status: ServiceLevelStatus?
    /// Only episodes whose owner at the deadline is this one (`"(none)"`: none known).
    public var owner: String?
    /// The report's instant, µs: open deadlines are judged as of it, as in the report linked from.
    public var at: Int64

    /// A selection.
    public init(limit: ServiceLevelLimit, status: ServiceLevelStatus? = nil, owner: String? = nil, at: Int64) {
        self.limit = limit
        self.status = status
        self.owner = owner
        self.at = at
    }
}

/// Which episodes to list: the filters, optionally one cohort cell (a bucket, and a group value
/// when grouped), an outcome or a rejection reason, a funnel stage or a service-level status, and a page.
public struct EpisodeListQuery: Sendable, Hashable, Codable {
    /// The most episodes one page holds.
    public static let maxLimit = 500

    /// The dashboard's filters.
    public var filter: EpisodeFilter
    /// The cohort's bucket.
    public var bucket: Bucket
    /// A day in the cohort (its first day, as reports name it); `nil` lists every cohort.
    public var cohort: Int64?
    /// The dimension `group` is a value of.
    public var groupBy: Dimension?
    /// The group's value, as grouped reports name it (`"(none)"` when the episode has none).
    public var group: String?
    /// Only episodes with this outcome.
    public var outcome: EpisodeOutcome?
    /// Only rejections with this reason code (after corrections).
    public var reason: String?
    /// Match `reason` against retired codes mapped to their replacements.
    public var mapRetiredReasons: Bool
    /// Only episodes that reached this funnel stage.
    public var stage: FunnelStage?
    /// Only episodes with this service-level status (or owner at the deadline).
    public var serviceLevel: ServiceLevelSelection?
    /// Resume after this episode.
    public var after: EpisodeCursor?
    /// At most this many episodes, 1 to ``maxLimit``.
    public var limit: Int

    /// A query; by default the first 100 episodes of everything, by hand-off time.
    public init(
        filter: EpisodeFilter = EpisodeFilter(), bucket: Bucket = .week, cohort: Int64? = nil, groupBy: Dimension? = nil,
        group: String? = nil, outcome: EpisodeOutcome? = nil, reason: String? = nil, mapRetiredReasons: Bool = false,
        stage: FunnelStage? = nil, serviceLevel: ServiceLevelSelection? = nil, after: EpisodeCursor? = nil, limit: Int = 100
    ) {
        self.filter = filter
        self.bucket = bucket
        self.cohort = cohort
        self.groupBy = groupBy
        self.group = group
        self.outcome = outcome
        self.reason = reason
        self.mapRetiredReasons = mapRetiredReasons
        self.stage = stage
        self.serviceLevel = serviceLevel
        self.after = after
        self.limit = limit
    }

    /// Whether listing needs the episode facts of the feedback loop's replay (conversions, touches, owner changes).
    public var needsFacts: Bool { stage != nil || serviceLevel != nil }
}

/// One episode as the drill-down lists it.
public struct EpisodeListRow: Sendable, Hashable, Codable {
    /// The lead's id.
    public var lead: String
    /// The episode's number among its lead's episodes, from 1, as the lead's audit numbers them.
    public var episode: Int
    /// Business time of the hand-off.
    public var handedOffAt: String
    /// Position of the hand-off event.
    public var position: UInt64
    /// The owner the lead was handed to.
    public var owner: String?
    /// The lead's channel at hand-off.
    public var channel: String?
    /// The lead's campaign at hand-off.
    public var campaign: String?
    /// The system that sent the hand-off.
    public var source: String?
    /// The episode's MQL definition version.
    public var definition: Int?
    /// `pending`, `accepted`, `rejected` or `recycled`.
    public var outcome: String
    /// Business time of the decision or recycle.
    public var decidedAt: String?
    /// Hours from hand-off to the decision or recycle.
    public var hoursToDecision: Double?
    /// The rejection reason after corrections.
    public var reason: String?
    /// Its label, when the catalog defines it.
    public var reasonLabel: String?
    /// Whether the rejection reason was corrected.
    public var corrected: Bool
    /// The lead's latest score at hand-off.
    public var scoreAtHandOff: Double?

    enum CodingKeys: String, CodingKey {
        case lead, episode, handedOffAt, position, owner, channel, campaign, source, definition, outcome, decidedAt, hoursToDecision
        case reason, reasonLabel, corrected, scoreAtHandOff
    }

    /// Encodes every key, `null` included, so the shape never changes.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(lead, forKey: .lead)
        try c.encode(episode, forKey: .episode)
        try c.encode(handedOffAt, forKey: .handedOffAt)
        try c.encode(position, forKey: .position)
        try c.encode(owner, forKey: .owner)
        try c.encode(channel, forKey: .channel)
        try c.encode(campaign, forKey: .campaign)
        try c.encode(source, forKey: .source)
        try c.encode(definition, forKey: .definition)
        try c.encode(outcome, forKey: .outcome)
        try c.encode(decidedAt, forKey: .decidedAt)
        try c.encode(hoursToDecision, forKey: .hoursToDecision)
        try c.encode(reason, forKey: .reason)
        try c.encode(reasonLabel, forKey: .reasonLabel)
        try c.encode(corrected, forKey: .corrected)
        try c.encode(scoreAtHandOff, forKey: .scoreAtHandOff)
    }
}

/// A page of the episodes of a cohort (or of everything the filters pass).
public struct EpisodeListReport: Sendable, Hashable, Codable {
    /// The replay behind it.
    public var asOf: ReplayStamp
    /// The cohort's first day, when one was asked for.
    public var cohort: String?
    /// The day after the cohort's last day.
    public var cohortEnd: String?
    /// Episodes matching the query, on every page.
    public var total: Int
    /// This page, by hand-off time (ties by position).
    public var episodes: [EpisodeListRow]
    /// The `after` of the next page; `null` on the last.
    public var next: String?

    enum CodingKeys: String, CodingKey { case asOf, cohort, cohortEnd, total, episodes, next }

    /// Encodes every key, `null` included, so the shape never changes.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(asOf, forKey: .asOf)
        try c.encode(cohort, forKey: .cohort)
        try c.encode(cohortEnd, forKey: .cohortEnd)
        try c.encode(total, forKey: .total)
        try c.encode(episodes, forKey: .episodes)
        try c.encode(next, forKey: .next)
    }
}

/// Lists the episodes behind a report's figure: the drill-down from a cohort to its episodes.
public enum EpisodeList {
    /// The page of `query` over a replayed state; `leadName` names a lead by its dense number
    /// (the log's stream names), asked only for the episodes on the page. A query that
    /// ``EpisodeListQuery/needsFacts`` takes the facts observed in the same replay; without them
    /// it lists no episode.
    public static func compute(
        _ state: ReplayState, _ query: EpisodeListQuery, facts: EpisodeFacts? = nil, leadName: (UInt32) throws -> String?
    ) rethrows -> EpisodeListReport {
        let matcher = query.filter.matcher(state)
        // The same rules as the funnel's bars and the service-level tables, so a list counts what its figure counts.
        var evaluator = facts.map { ServiceLevels.Evaluator(state, $0) }
        let deadlineOwner: Int32? = query.serviceLevel?.owner.map { name in
            name == "(none)" ? -1 : evaluator?.ownerNumber(name) ?? .min
        }
        func passes(_ number: Int, _ e: Episode) -> Bool {
            guard query.needsFacts else { return true }
            guard let facts, number < facts.facts.count else { return false }
            let fact = facts.facts[number]
            switch query.stage {
            case .converted?: if !(fact.convertedAt != .min && e.outcome == .accepted) { return false }
            case .won?: if !(fact.won && fact.convertedAt != .min) { return false }
            case nil: break
            }
            guard let selection = query.serviceLevel else { return true }
            var matched = false
            _ = evaluator?.evaluate(number, at: selection.at) { level in
                guard level.limit == selection.limit else { return }
                if let status = selection.status, level.status != status { return }
                if let deadlineOwner, level.ownerNumber != deadlineOwner { return }
                matched = true
            }
            return matched
        }
        let cohortStart = query.cohort.map { query.bucket.start(of: $0) }
        let cohortEnd = cohortStart.map { start in
            let (next, overflow) = start.addingReportingOverflow(query.bucket.longestSpan)
            return overflow ? Int64.max : query.bucket.start(of: next)
        }
        let limit = min(max(query.limit, 1), EpisodeListQuery.maxLimit)
        var groupKey: Int32?
        if let dimension = query.groupBy, let group = query.group {
            switch dimension {
            case .definition: groupKey = group == "(none)" ? -1 : Int32(group) ?? Int32.min
            case .channel: groupKey = group == "(none)" ? -1 : state.channels.lookup(group) ?? .min
            case .owner: groupKey = group == "(none)" ? -1 : state.owners.lookup(group) ?? .min
            case .campaign: groupKey = group == "(none)" ? -1 : state.campaigns.lookup(group) ?? .min
            case .source: groupKey = group == "(none)" ? -1 : state.sources.lookup(group) ?? .min
            }
        }
        var total = 0
        var page: [Int] = []
        for (index, e) in state.episodes.enumerated() where !e.isVoid && matcher.admits(e) {
            if let cohortStart, let cohortEnd, e.handedOffAt < cohortStart || e.handedOffAt >= cohortEnd { continue }
            if let dimension = query.groupBy, let groupKey, state.dimensionKey(dimension, of: e) != groupKey { continue }
            if let outcome = query.outcome, e.outcome != outcome { continue }
            if let reason = query.reason {
                guard e.outcome == .rejected else { continue }
                let code = query.mapRetiredReasons ? state.mappedReason(e.reason) : state.reasons.name(e.reason)
                if code != reason { continue }
            }
            if !passes(index, e) { continue }
            total += 1
            if let after = query.after, (e.handedOffAt, e.handOffPosition) <= (after.handedOffAt, after.position) { continue }
            page.append(index)
        }
        // One past the page tells whether there is a next page.
        page.sort { a, b in
            let (x, y) = (state.episodes[a], state.episodes[b])
            return (x.handedOffAt, x.handOffPosition) < (y.handedOffAt, y.handOffPosition)
        }
        let hasMore = page.count > limit
        var rows: [EpisodeListRow] = []
        rows.reserveCapacity(min(page.count, limit))
        for index in page.prefix(limit) {
            let e = state.episodes[index]
            var number = 1
            var previous = e.previous
            while previous >= 0 {
                number += 1
                previous = state.episodes[Int(previous)].previous
            }
            let reasonInfo = e.reason >= 0 ? state.reasonInfo[e.reason] : nil
            let decided = e.outcome != .pending
            rows.append(
                EpisodeListRow(
                    lead: try leadName(e.lead) ?? "#\(e.lead)", episode: number,
                    handedOffAt: Timestamp(microseconds: e.handedOffAt).rfc3339, position: e.handOffPosition,
                    owner: state.owners.name(e.owner), channel: state.channels.name(e.channel), campaign: state.campaigns.name(e.campaign),
                    source: state.sources.name(e.source), definition: state.definition(of: e), outcome: e.outcome.name,
                    decidedAt: decided ? Timestamp(microseconds: e.decidedAt).rfc3339 : nil,
                    hoursToDecision: decided ? Double(e.decidedAt - e.handedOffAt) / 3_600_000_000 : nil,
                    reason: state.reasons.name(e.reason), reasonLabel: reasonInfo?.label, corrected: e.corrected,
                    scoreAtHandOff: e.scoreAtHandOff.isNaN ? nil : e.scoreAtHandOff))
        }
        let last = page.prefix(limit).last.map { state.episodes[$0] }
        return EpisodeListReport(
            asOf: ReplayStamp(state), cohort: cohortStart.map(Bucket.dayString), cohortEnd: cohortEnd.map(Bucket.dayString),
            total: total, episodes: rows,
            next: hasMore ? last.map { EpisodeCursor(handedOffAt: $0.handedOffAt, position: $0.handOffPosition).description } : nil)
    }
}

extension Bucket {
    /// A span that reaches into the next bucket from any bucket's start, and not past it.
    var longestSpan: Int64 {
        switch self {
        case .day: Self.microsPerDay
        case .week: 7 * Self.microsPerDay
        case .month: 31 * Self.microsPerDay
        }
    }
}
