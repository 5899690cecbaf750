import EventLog
import Foundation
import LeadModel

/// Which analyses of the feedback loop to compute together.
public struct FeedbackLoopRequest: Sendable, Hashable {
    /// Trends, when wanted.
    public var trends: TrendsQuery?
    /// The funnel, when wanted.
    public var funnel: CohortQuery?
    /// Service levels, when wanted.
    public var serviceLevels: CohortQuery?
    /// The most breaches the service-level report lists.
    public var maximumBreaches: Int
    /// The buyer profile, when wanted.
    public var profile: ProfileQuery?

    /// Asks for the analyses given.
    public init(
        trends: TrendsQuery? = nil, funnel: CohortQuery? = nil, serviceLevels: CohortQuery? = nil,
        maximumBreaches: Int = ServiceLevels.defaultMaximumBreaches, profile: ProfileQuery? = nil
    ) {
        self.trends = trends
        self.funnel = funnel
        self.serviceLevels = serviceLevels
        self.maximumBreaches = maximumBreaches
        self.profile = profile
    }
}

/// The analyses a ``FeedbackLoopRequest`` asked for, from one replay.
public struct FeedbackLoopReports: Sendable, Hashable {
    /// Trends.
    public var trends: TrendsReport?
    /// The funnel.
    public var funnel: FunnelReport?
    /// Service levels.
    public var serviceLevels: ServiceLevelReport?
    /// The buyer profile.
    public var profile: BuyerProfileReport?
}

/// The feedback loop from hand-off to revenue: trends, funnel, service levels and buyer profile
/// computed from one pass over the log.
public enum FeedbackLoop {
    /// The report instant of a replay under `cut`: the business-time cut when there is one, else `now` (µs).
    public static func reportInstant(for cut: ReplayCut, now: Int64) -> Int64 {
        if case .occurredBy(let t) = cut { return t }
        return now
    }

    /// Now, µs since the epoch.
    public static var now: Int64 { Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) }

    /// Replays the log once under `cut`, observing the episode facts; attributes at hand-off are kept
    /// only when `collectsAttributes` (the profile needs them).
    public static func replay(_ log: EventLog, cut: ReplayCut = .everything, collectsAttributes: Bool) throws -> (
        state: ReplayState, facts: EpisodeFacts
    ) {
        let (state, facts) = try ReplayEngine.replay(log, cut: cut) { EpisodeFacts(collectsAttributes: collectsAttributes) }
        return (state, facts)
    }

    /// Every analysis asked for, from one replay of the log under `cut`.
    public static func run(_ log: EventLog, cut: ReplayCut = .everything, _ request: FeedbackLoopRequest) throws -> FeedbackLoopReports {
        let (state, facts) = try replay(log, cut: cut, collectsAttributes: request.profile != nil)
        return try log.withSnapshot { snapshot in
            compute(state, facts, request, leadName: { try? snapshot.streamName($0) })
        }
    }

    /// Every analysis asked for, over one replay and its facts.
    public static func compute(
        _ state: ReplayState, _ facts: EpisodeFacts, _ request: FeedbackLoopRequest, leadName: (UInt32) -> String?
    ) -> FeedbackLoopReports {
        FeedbackLoopReports(
            trends: request.trends.map { Trends.compute(state, $0) },
            funnel: request.funnel.map { Funnel.compute(state, facts, $0) },
            serviceLevels: request.serviceLevels.map {
                ServiceLevels.compute(state, facts, $0, maximumBreaches: request.maximumBreaches, leadName: leadName)
            },
            profile: request.profile.map { BuyerProfile.compute(state, facts, $0) })
    }
}
