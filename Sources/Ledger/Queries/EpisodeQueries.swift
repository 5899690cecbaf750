import EventLog
import Projections

extension Ledger {
    /// The episodes behind a report's figure (the drill-down from a cohort), a page at a time.
    public func episodes(_ query: EpisodeListQuery, cut: ReplayCut = .everything) throws -> EpisodeListReport {
        guard query.needsFacts else { return try Self.episodes(in: try replay(cut: cut), query, log: log) }
        let (state, facts) = try FeedbackLoop.replay(log, cut: cut, collectsAttributes: false)
        return try Self.episodes(in: state, query, facts: facts, log: log)
    }

    /// Lists over a replayed state (and its facts, for a funnel stage or a service level), naming
    /// the page's leads in one snapshot of `log`.
    static func episodes(in state: ReplayState, _ query: EpisodeListQuery, facts: EpisodeFacts? = nil, log: EventLog) throws
        -> EpisodeListReport
    {
        // Numbers first, names after: the snapshot is borrowed for one short read only.
        var numbers: [UInt32] = []
        var report = EpisodeList.compute(state, query, facts: facts) { number in
            numbers.append(number)
            return nil
        }
        let names = try log.withSnapshot { snapshot in try numbers.map { try snapshot.streamName($0) } }
        for index in report.episodes.indices {
            if let name = names[index] { report.episodes[index].lead = name }
        }
        return report
    }
}

extension CurrentReplay {
    /// The episodes behind a report's figure, as ``Ledger/episodes(_:cut:)`` lists them. A query
    /// that needs the episode facts is answered by ``CurrentFeedbackLoop/episodes(_:cut:)``.
    public func episodes(_ query: EpisodeListQuery, cut: ReplayCut = .everything) throws -> EpisodeListReport {
        guard query.needsFacts else { return try Ledger.episodes(in: try state(cut: cut), query, log: ledger.log) }
        return try ledger.episodes(query, cut: cut)
    }
}

extension CurrentFeedbackLoop {
    /// The episodes behind a report's figure, from the shared replay and its facts (a funnel stage
    /// or a service level needs them), as ``Ledger/episodes(_:cut:)`` lists them.
    public func episodes(_ query: EpisodeListQuery, cut: ReplayCut = .everything) throws -> EpisodeListReport {
        guard cut == .everything else { return try ledger.episodes(query, cut: cut) }
        let (state, facts) = try current()
        return try Ledger.episodes(in: state, query, facts: facts, log: ledger.log)
    }
}

extension CurrentReplay {
    /// Definition impact over the episodes `filter` passes (the dashboard's channel and owner).
    public func impact(
        windowDays: Int = 28, cut: ReplayCut = .everything, mapRetiredReasons: Bool = false, filter: EpisodeFilter
    ) throws
        -> ImpactReport
    {
        let state = try state(cut: cut)
        return DefinitionImpact.compute(
            state, windowDays: windowDays, mapRetiredReasons: mapRetiredReasons, filter: filter,
            stayers: try stayers(state, cut: cut, windowDays: windowDays))
    }
}
