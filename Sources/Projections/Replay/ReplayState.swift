import EventLog
import Foundation
import LeadModel

/// How an episode ended.
public enum EpisodeOutcome: UInt8, Sendable, Codable, CaseIterable {
    /// Still open at the end of the replay.
    case pending
    /// Sales accepted the lead.
    case accepted
    /// Sales rejected the lead.
    case rejected
    /// Closed without a decision, back to nurture.
    case recycled
}

/// One episode, from a hand-off to its decision: fixed-size, so the replay keeps millions in one array.
public struct Episode: Sendable, Hashable {
    /// The lead's dense number (the log's stream number).
    public var lead: UInt32
    /// The outcome.
    public var outcome: EpisodeOutcome = .pending
    /// Whether a later repair replaced this episode.
    var isVoid = false
    /// Whether the rejection reason was corrected.
    public var corrected = false
    /// Business time of the hand-off, µs.
    public var handedOffAt: Int64
    /// Business time of the decision or recycle, µs; 0 while pending.
    public var decidedAt: Int64 = 0
    /// Position of the hand-off event.
    public var handOffPosition: UInt64
    /// The definition version the hand-off named, or -1 when it named none.
    public var namedDefinition: Int32
    /// Owner, channel, campaign and source numbers in the state's interners (-1 when unknown).
    public var owner: Int32, channel: Int32, campaign: Int32, source: Int32
    /// The rejection reason after corrections (-1 when not rejected).
    public var reason: Int32 = -1
    /// The rejection reason as first given.
    public var originalReason: Int32 = -1
    /// The previous episode of the same lead, -1 for the first.
    var previous: Int32
    /// The rejection event's id, to apply corrections.
    var rejectionID: (UInt64, UInt64) = (0, 0)
    /// The lead's latest score at hand-off; NaN when unscored.
    public var scoreAtHandOff: Double

    public static func == (a: Episode, b: Episode) -> Bool {
        a.lead == b.lead && a.outcome == b.outcome && a.isVoid == b.isVoid && a.corrected == b.corrected
            && a.handedOffAt == b.handedOffAt && a.decidedAt == b.decidedAt && a.handOffPosition == b.handOffPosition
            && a.namedDefinition == b.namedDefinition && a.owner == b.owner && a.channel == b.channel
            && a.campaign == b.campaign && a.source == b.source && a.reason == b.reason
            && a.originalReason == b.originalReason && a.previous == b.previous && a.rejectionID == b.rejectionID
            && a.scoreAtHandOff.bitPattern == b.scoreAtHandOff.bitPattern
    }

    public func hash(into h: inout Hasher) {
        h.combine(lead)
        h.combine(handOffPosition)
        h.combine(outcome)
    }
}

/// What the replay knows of one lead, indexed by its dense number.
struct LeadState: Sendable {
    var lastOccurredAt: Int64 = .min
    var channel: Int32 = -1
    var campaign: Int32 = -1
    var openEpisode: Int32 = -1
    var lastEpisode: Int32 = -1
    var score: Double = .nan
    var won = false
    var converted = false
    var seen = false
    var outOfOrder = false
}

/// A published MQL definition.
public struct DefinitionInfo: Sendable, Hashable {
    /// Version.
    public var version: Int
    /// Name.
    public var name: String
    /// When it takes effect, µs.
    public var effectiveAt: Int64
    /// The rules.
    public var rules: MQLRule
    /// Why it was published.
    public var rationale: String?
    /// Position of the publishing event.
    public var position: UInt64
}

/// A published service level (`sla.published`), its limits in µs of business time.
public struct ServiceLevelInfo: Sendable, Hashable {
    /// Version.
    public var version: Int
    /// Name.
    public var name: String
    /// When it takes effect, µs.
    public var effectiveAt: Int64
    /// The first-touch limit in business µs, when set.
    public var firstTouchWithin: Int64?
    /// The decision limit in business µs, when set.
    public var decisionWithin: Int64?
    /// The working hours the limits count in.
    public var calendar: BusinessCalendar
    /// Position of the publishing event.
    public var position: UInt64

    /// Business hours as µs, rounded to the microsecond.
    static func micros(hours: Double?) -> Int64? {
        hours.map { Int64(($0 * 3_600_000_000).rounded()) }
    }
}

/// Where a replay stops.
public enum ReplayCut: Sendable, Hashable, Codable {
    /// Everything stored.
    case everything
    /// Only events the ledger had recorded by this knowledge time (µs): `recordedAt ≤ T`.
    case recordedBy(Int64)
    /// Only events that had occurred by this business time (µs): `occurredAt ≤ T`.
    case occurredBy(Int64)

    @inline(__always)
    func admits(recordedAt: Int64, occurredAt: Int64) -> Bool {
        switch self {
        case .everything: true
        case .recordedBy(let t): recordedAt <= t
        case .occurredBy(let t): occurredAt <= t
        }
    }

    /// The forms ``instant(parsing:)`` accepts, as error messages name them.
    public static let instantForms = "a time like 2026-03-02T14:05:00Z or a date like 2026-03-02"

    /// The instant (µs) of a cut given as text: an RFC 3339 time, or `YYYY-MM-DD` meaning the end
    /// of that UTC day (its last microsecond, so the whole day is included); `nil` for anything else.
    public static func instant(parsing text: String) -> Int64? {
        if let time = Timestamp(rfc3339: text) { return time.microseconds }
        if let start = Bucket.dayStart(text) { return start + Bucket.microsPerDay - 1 }
        return nil
    }
}

/// The folded state of the log: catalogs, interned dimensions, leads and episodes.
public struct ReplayState: Sendable {
    /// The cut this state was replayed under.
    public let cut: ReplayCut
    /// The last position folded.
    public internal(set) var position: UInt64 = 0
    /// The hash at that position.
    public internal(set) var headHash: String = String(repeating: "0", count: 64)
    /// Channels, owners, campaigns, sources and reason codes, by number.
    public internal(set) var channels = Interner(), owners = Interner(), campaigns = Interner(), sources = Interner(), reasons = Interner()
    /// Reason catalog by reason number.
    public internal(set) var reasonInfo: [Int32: ReasonCode] = [:]
    /// Published definitions, by version.
    public internal(set) var definitions: [Int: DefinitionInfo] = [:] {
        didSet {
            changes = definitions.values.sorted { ($0.effectiveAt, $0.version) < ($1.effectiveAt, $1.version) }.map {
                ($0.effectiveAt, $0.version)
            }
        }
    }
    /// Published service levels, by version.
    public internal(set) var serviceLevels: [Int: ServiceLevelInfo] = [:]
    /// The definitions in force order (`effectiveAt`, then version), to find one by bisection.
    private var changes: [(effectiveAt: Int64, version: Int)] = []
    /// Every episode (void ones included; read through ``liveEpisodes``).
    public internal(set) var episodes: [Episode] = []
    var leads: [LeadState] = []
    var outOfOrderLeads: [UInt32] = []
    var corrections: [UUIDKey: Int32] = [:]
    var voidCount = 0
    /// Lead ids by lead number, filled for the leads that the analyses need to name.
    var leadCount: Int { leads.count }

    init(cut: ReplayCut) { self.cut = cut }

    /// Episodes that stand (not replaced by a repair).
    public var liveEpisodes: LazyFilterSequence<[Episode]> { episodes.lazy.filter { !$0.isVoid } }

    /// Whether a lead won a deal.
    public func leadWon(_ lead: UInt32) -> Bool { Int(lead) < leads.count && leads[Int(lead)].won }

    /// The definition in force at a business time: greatest `effectiveAt ≤ t`, ties by version.
    public func definitionInForce(at t: Int64) -> Int? {
        var (low, high) = (0, changes.count)
        while low < high {
            let middle = (low + high) / 2
            if changes[middle].effectiveAt <= t { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : changes[low - 1].version
    }

    /// The definition of an episode: the one its hand-off named, else the one in force then.
    public func definition(of episode: Episode) -> Int? {
        episode.namedDefinition >= 0 ? Int(episode.namedDefinition) : definitionInForce(at: episode.handedOffAt)
    }

    /// The code a reason maps to when retired codes are mapped to their replacements.
    public func mappedReason(_ reason: Int32) -> String? {
        guard var code = reasons.name(reason) else { return nil }
        var seen: Set<String> = [code]
        while let number = reasons.lookup(code), let info = reasonInfo[number], info.retired, let next = info.replacedBy,
            seen.insert(next).inserted
        {
            code = next
        }
        return code
    }

    /// Takes in the state of the other half of a partitioned replay (its leads are disjoint from
    /// ours): interned numbers are remapped into ours, episode indices shifted past ours.
    mutating func absorb(_ other: ReplayState) {
        func remap(_ from: Interner, into to: inout Interner) -> [Int32] { from.names.map { to.intern($0) } }
        let channelMap = remap(other.channels, into: &channels), ownerMap = remap(other.owners, into: &owners)
        let campaignMap = remap(other.campaigns, into: &campaigns), sourceMap = remap(other.sources, into: &sources)
        let reasonMap = remap(other.reasons, into: &reasons)
        func map(_ table: [Int32], _ value: Int32) -> Int32 { value < 0 ? value : table[Int(value)] }

        let offset = Int32(episodes.count)
        episodes.reserveCapacity(episodes.count + other.episodes.count)
        for var e in other.episodes {
            e.owner = map(ownerMap, e.owner)
            e.channel = map(channelMap, e.channel)
            e.campaign = map(campaignMap, e.campaign)
            e.source = map(sourceMap, e.source)
            e.reason = map(reasonMap, e.reason)
            e.originalReason = map(reasonMap, e.originalReason)
            if e.previous >= 0 { e.previous += offset }
            episodes.append(e)
        }
        if leads.count < other.leads.count {
            leads.append(contentsOf: repeatElement(LeadState(), count: other.leads.count - leads.count))
        }
        for (number, lead) in other.leads.enumerated() where lead.seen {
            var moved = lead
            moved.channel = map(channelMap, lead.channel)
            moved.campaign = map(campaignMap, lead.campaign)
            if moved.openEpisode >= 0 { moved.openEpisode += offset }
            if moved.lastEpisode >= 0 { moved.lastEpisode += offset }
            leads[number] = moved
        }
        for (id, reason) in other.corrections { corrections[id] = map(reasonMap, reason) }
        voidCount += other.voidCount
    }
}
