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
    ///
    /// The analyses only read the state and the facts, so those asked together run side by side,
    /// one per core (`DispatchQueue.concurrentPerform`), each writing its own slot; `leadName` is
    /// called under a lock, from one thread at a time.
    public static func compute(
        _ state: ReplayState, _ facts: EpisodeFacts, _ request: FeedbackLoopRequest, leadName: (UInt32) -> String?
    ) -> FeedbackLoopReports {
        let trends = Slot<TrendsReport>(), funnel = Slot<FunnelReport>()
        let serviceLevels = Slot<ServiceLevelReport>(), decisionLevels = Slot<ServiceLevelReport>(), profile = Slot<BuyerProfileReport>()
        withoutActuallyEscaping(leadName) { leadName in
            let names = UncheckedNames(leadName)
            var jobs: [@Sendable () -> Void] = []
            if let query = request.trends { jobs.append { trends.value = Trends.compute(state, query) } }
            if let query = request.funnel { jobs.append { funnel.value = Funnel.compute(state, facts, query) } }
            if let query = request.serviceLevels {
                // The longest of the analyses: its two limits are judged on two cores.
                let maximum = request.maximumBreaches
                jobs.append {
                    serviceLevels.value = ServiceLevels.compute(
                        state, facts, query, maximumBreaches: maximum, leadName: names.call, limits: [.firstTouch])
                }
                jobs.append {
                    decisionLevels.value = ServiceLevels.compute(
                        state, facts, query, maximumBreaches: maximum, leadName: names.call, limits: [.decision])
                }
            }
            if let query = request.profile { jobs.append { profile.value = BuyerProfile.compute(state, facts, query) } }
            let work = jobs
            if work.count == 1 {
                work[0]()
            } else if work.count > 1 {
                DispatchQueue.concurrentPerform(iterations: work.count) { index in work[index]() }
            }
        }
        return FeedbackLoopReports(
            trends: trends.value, funnel: funnel.value,
            serviceLevels: serviceLevels.value.flatMap { first in decisionLevels.value.map { first.joined($0) } }, profile: profile.value)
    }

    /// One report, written by the one job that computes it and read after `concurrentPerform` returns.
    private final class Slot<Report>: @unchecked Sendable {
        var value: Report?
    }

    /// `leadName`, called by the two service-level jobs one at a time: a snapshot's read
    /// transaction may move between threads but not serve two at once.
    private final class UncheckedNames: @unchecked Sendable {
        private let name: (UInt32) -> String?
        private let lock = NSLock()
        init(_ name: @escaping (UInt32) -> String?) { self.name = name }
        func call(_ lead: UInt32) -> String? { lock.withLock { name(lead) } }
    }
}
