import EventLog
import Projections

extension Ledger {
    /// The episodes behind a report's figure (the drill-down from a cohort), a page at a time.
    public func episodes(_ query: EpisodeListQuery, cut: ReplayCut = .everything) throws -> EpisodeListReport {
        try Self.episodes(in: try replay(cut: cut), query, log: log)
    }

    /// Lists over a replayed state, naming the page's leads in one snapshot of `log`.
    static func episodes(in state: ReplayState, _ query: EpisodeListQuery, log: EventLog) throws -> EpisodeListReport {
        // Numbers first, names after: the snapshot is borrowed for one short read only.
        var numbers: [UInt32] = []
        var report = EpisodeList.compute(state, query) { number in
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
    /// The episodes behind a report's figure, as ``Ledger/episodes(_:cut:)`` lists them.
    public func episodes(_ query: EpisodeListQuery, cut: ReplayCut = .everything) throws -> EpisodeListReport {
        try Ledger.episodes(in: try state(cut: cut), query, log: ledger.log)
    }
}

extension CurrentReplay {
    /// Definition impact over the episodes `filter` passes (the dashboard's channel and owner).
    public func impact(windowDays: Int = 28, cut: ReplayCut = .everything, mapRetiredReasons: Bool = false, filter: EpisodeFilter) throws
        -> ImpactReport
    {
        DefinitionImpact.compute(try state(cut: cut), windowDays: windowDays, mapRetiredReasons: mapRetiredReasons, filter: filter)
    }
}
