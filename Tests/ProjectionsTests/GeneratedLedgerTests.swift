import EventLog
import Foundation
import LeadModel
import Projections
import Testing

/// Records, per lead, the positions an observer was shown, starting over when the lead is reset.
struct OrderObserver: ReplayObserver {
    var seen: [UInt32: [UInt64]] = [:]
    mutating func resetLead(_ lead: UInt32) { seen[lead] = [] }
    mutating func observe(lead: UInt32, event: EventRecordView, position: UInt64) { seen[lead, default: []].append(position) }
}

/// Every trends query the comparisons run: each bucket, ungrouped and by each dimension.
let allTrendQueries: [TrendsQuery] = Bucket.allCases.flatMap { bucket in
    ([nil] + Projections.Dimension.allCases.map(Optional.some)).enumerated().map { i, group in
        TrendsQuery(bucket: bucket, groupBy: group, mapRetiredReasons: i % 2 == 1)
    }
}

/// Compares the engine with the plain implementation on trends, impact and what-if.
func compareWithNaive(_ log: EventLog, _ stored: [StoredEvent], cut: ReplayCut, whatIfRange: (Int64, Int64)) throws -> Mismatches {
    let state = try ReplayEngine.replay(log, cut: cut)
    let naive = NaiveLedger(stored, cut: cut)
    var m = Mismatches()
    m.check(
        state.liveEpisodes.count { _ in true } == naive.episodes.count,
        "episodes \(state.liveEpisodes.count { _ in true }) vs \(naive.episodes.count)")
    for query in allTrendQueries {
        m.compare(
            Trends.compute(state, query), naive.trends(query), naive,
            "\(query.bucket)/\(query.groupBy?.rawValue ?? "-")\(query.mapRetiredReasons ? "/mapped" : "")")
    }
    let (from, until) = whatIfRange
    let ranged = TrendsQuery(bucket: .week, groupBy: .definition, from: from, until: until, mapRetiredReasons: true)
    m.compare(Trends.compute(state, ranged), naive.trends(ranged), naive, "ranged")
    for days in [7, 28] {
        m.compare(DefinitionImpact.compute(state, windowDays: days), naive.impact(windowDays: days))
        // Few stayers per change in this ledger: a low minimum makes the estimate itself compared.
        let stayers = try Stayers.judge(log, cut: cut, definitions: state.definitions, windowDays: days)
        m.compare(
            DefinitionImpact.compute(state, windowDays: days, stayers: stayers, minimumStayers: 5),
            naive.adjustedImpact(windowDays: days, minimumStayers: 5))
    }
    let candidates = GeneratedLedger.candidates
    let report = try WhatIf.run(log, WhatIfQuery(candidates: candidates, from: from, until: until, cut: cut))
    for (result, candidate) in zip(report.candidates, candidates) {
        m.compare(result, naive.whatIf(candidate.rules, from: from, until: until))
    }
    return m
}

@Suite("A generated ledger of 100,000 events against a plain implementation")
struct GeneratedLedgerTests {
    @Test("the generated ledger has the shape the comparison needs")
    func shape() async throws {
        let g = try await sharedGeneratedLedger.value
        #expect(g.stored.count >= 100_000)
        // Late: a lead event stored after an event of the same lead that happened later.
        var latest: [String: Int64] = [:]
        var late: [EventType: Int] = [:]
        for e in g.stored {
            guard let lead = e.event.lead else { continue }
            if let l = latest[lead], e.occurredAt < l { late[e.event.type, default: 0] += 1 }
            latest[lead] = max(latest[lead] ?? .min, e.occurredAt)
        }
        #expect(late[.leadAttributesObserved, default: 0] + late[.leadScored, default: 0] + late[.leadCaptured, default: 0] > 1_000)
        #expect(late[.leadAccepted, default: 0] + late[.leadRejected, default: 0] + late[.leadRecycled, default: 0] > 50)
        #expect(late[.leadHandedOff, default: 0] > 20)
        let naive = NaiveLedger(g.stored)
        let byLead = Dictionary(grouping: naive.episodes, by: \.lead)
        #expect(byLead.count > 9_000)
        #expect(byLead.values.count { $0.count > 1 } > 1_000)
        #expect(naive.episodes.count { $0.outcome == .pending } > 500)
        #expect(naive.episodes.count { $0.outcome == .recycled } > 500)
        #expect(naive.episodes.count { $0.reason != $0.originalReason } > 100)
        #expect(Set(naive.episodes.compactMap { naive.definition(of: $0) }).count == 6)
    }

    @Test("trends (every bucket and grouping), impact and what-if equal the plain implementation exactly")
    func everything() async throws {
        let g = try await sharedGeneratedLedger.value
        let m = try compareWithNaive(
            g.ledger.log, g.stored, cut: .everything, whatIfRange: (g.base + 60 * microsPerDay, g.base + 240 * microsPerDay))
        #expect(m.items.isEmpty, "\(m.summary)")
    }

    @Test("an observer sees each lead's events in business-time order, once the replay is done")
    func observerOrder() async throws {
        let g = try await sharedGeneratedLedger.value
        var observer = OrderObserver()
        _ = try ReplayEngine.replay(g.ledger.log, observer: &observer)
        var expected: [UInt32: [UInt64]] = [:]
        for e in g.stored where e.event.lead != nil { expected[e.streamNumber, default: []].append(e.position) }
        let byPosition = Dictionary(uniqueKeysWithValues: g.stored.map { ($0.position, $0.occurredAt) })
        var wrong = 0
        for (lead, positions) in expected {
            let sorted = positions.sorted { (byPosition[$0]!, $0) < (byPosition[$1]!, $1) }
            if observer.seen[lead] != sorted { wrong += 1 }
        }
        #expect(wrong == 0)
    }
}
