import EventLog
import Foundation
import LeadModel
import Projections
import Testing

/// An episode by what it means, not by where the replay keeps it.
struct EpisodeSummary: Hashable {
    let handOffPosition: UInt64
    let lead: UInt32
    let outcome: EpisodeOutcome
    let handedOffAt: Int64, decidedAt: Int64
    let owner: String?, channel: String?, campaign: String?, source: String?
    let reason: String?, originalReason: String?
    let corrected: Bool
    let definition: Int?
    let score: UInt64

    init(_ e: Episode, _ s: ReplayState) {
        handOffPosition = e.handOffPosition
        lead = e.lead
        outcome = e.outcome
        handedOffAt = e.handedOffAt
        decidedAt = e.decidedAt
        owner = s.owners.name(e.owner)
        channel = s.channels.name(e.channel)
        campaign = s.campaigns.name(e.campaign)
        source = s.sources.name(e.source)
        reason = s.reasons.name(e.reason)
        originalReason = s.reasons.name(e.originalReason)
        corrected = e.corrected
        definition = s.definition(of: e)
        score = e.scoreAtHandOff.bitPattern
    }
}

func summaries(_ s: ReplayState) -> [EpisodeSummary] {
    s.liveEpisodes.map { EpisodeSummary($0, s) }.sorted { $0.handOffPosition < $1.handOffPosition }
}

@Suite("Incremental replay")
struct IncrementalTests {
    @Test("replaying a prefix, appending the rest (late events for seen leads included) and catching up equals a full replay")
    func catchUpEqualsFullReplay() async throws {
        let g = try await sharedGeneratedLedger.value
        let events = g.stored.map(\.event)
        let ledger = try TestLedger(name: "incremental")
        // Uneven steps, so leads seen in one step get late events in the next.
        let n = events.count
        let cuts = [0, n * 4 / 10, n * 4 / 10 + 1, n * 7 / 10, n * 9 / 10, n]
        var state: ReplayState?
        var observer = OrderObserver()
        for (a, b) in zip(cuts, cuts.dropFirst()) {
            try await ledger.append(
                Array(events[a..<b]), batchSize: 5_000, firstRecordedAt: at("2030-01-01T00:00:00Z") + Int64(a) * microsPerSecond)
            if var s = state {
                try ledger.log.withSnapshot { try ReplayEngine.catchUp(&s, snapshot: $0, observer: &observer) }
                state = s
            } else {
                state = try ReplayEngine.replay(ledger.log, observer: &observer)
            }
            #expect(state?.position == UInt64(b))
        }
        let incremental = try #require(state)
        var fullObserver = OrderObserver()
        let full = try ReplayEngine.replay(ledger.log, observer: &fullObserver)
        #expect(summaries(incremental) == summaries(full))
        for query in allTrendQueries {
            let a = Trends.compute(incremental, query), b = Trends.compute(full, query)
            #expect(a.rows == b.rows && a.total == b.total, "\(query.bucket)/\(query.groupBy?.rawValue ?? "-")")
        }
        #expect(DefinitionImpact.compute(incremental).changes == DefinitionImpact.compute(full).changes)
        #expect(observer.seen == fullObserver.seen)
        #expect(incremental.headHash == full.headHash)
    }

    @Test("catching up with nothing new changes nothing; a late event for a seen lead repairs only what it touches")
    func smallCatchUp() async throws {
        var f = EventFactory(seed: 50)
        let ledger = try TestLedger()
        let t = at("2026-03-02T09:00:00Z")
        try await ledger.append(
            reasonCatalog(&f) + [
                f.captured("A", t, channel: "email"),
                f.handedOff("A", t + microsPerHour),
                f.captured("B", t, channel: "paid"),
                f.handedOff("B", t + microsPerHour),
                f.rejected("B", t + 2 * microsPerHour, reason: "FIT.SMALL"),
            ], recordedAt: at("2026-04-01T00:00:00Z"))
        var state = try ReplayEngine.replay(ledger.log)
        let before = summaries(state)
        var none = NoObserver()
        try ledger.log.withSnapshot { try ReplayEngine.catchUp(&state, snapshot: $0, observer: &none) }
        #expect(summaries(state) == before)
        // A's acceptance came before a channel change that was stored first; B's capture is re-dated.
        try await ledger.append(
            [
                f.captured("A", t + 30 * microsPerMinute, channel: "events"),
                f.accepted("A", t + 3 * microsPerHour),
                f.captured("B", t - microsPerHour, channel: "partner"),
            ], recordedAt: at("2026-04-02T00:00:00Z"))
        try ledger.log.withSnapshot { try ReplayEngine.catchUp(&state, snapshot: $0, observer: &none) }
        let after = summaries(state)
        #expect(after == summaries(try ReplayEngine.replay(ledger.log)))
        #expect(after.map(\.channel) == ["events", "paid"])
        #expect(after.map(\.outcome) == [.accepted, .rejected])
    }
}
