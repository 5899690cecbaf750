import Foundation
import LeadModel
import Testing

@testable import LedgerDemo

@Suite("Demo history")
struct DemoHistoryTests {
    /// A smaller history shared by the heavier checks, so the suite stays fast in debug builds.
    static let small = DemoHistory.generate(seed: 7, leads: 3_000)

    @Test("the same seed gives the same events with the same ids; another seed gives others")
    func deterministic() {
        let again = DemoHistory.generate(seed: 7, leads: 3_000)
        #expect(again.events == Self.small.events)
        #expect(again.story == Self.small.story)
        let other = DemoHistory.generate(seed: 8, leads: 3_000)
        #expect(other.events != Self.small.events)
        #expect(Set(Self.small.events.map(\.id)).count == Self.small.events.count)
    }

    @Test("every event passes validation in append order against an empty ledger")
    func validates() {
        let state = InMemoryLedgerState()
        let result = BatchValidator.validate(Self.small.events.map { (line: nil, event: $0) }, against: state)
        switch result {
        case .success(let changes):
            #expect(!changes.isEmpty)
        case .failure(let refusal):
            Issue.record("\(refusal.issues.count) refusals, first: \(refusal.issues.first.map(\.description) ?? "")")
        }
    }

    @Test("the taxonomy comes first, then definition v1, before any lead event")
    func preamble() {
        let events = Self.small.events
        let firstLead = events.firstIndex { $0.lead != nil }!
        let defined = events[..<firstLead].filter { $0.type == .reasonDefined }.count
        #expect(defined == StarterTaxonomy.reasons.count)
        #expect(events[..<firstLead].contains { if case .definitionPublished(let d) = $0.payload { d.version == 1 } else { false } })
    }

    @Test("a full-size history has 50,000+ leads and four definition changes that move the rejection rate")
    func fullSize() {
        let history = DemoHistory.generate(seed: 42)
        let story = history.story
        #expect(story.leads == 60_000)
        let captured = Set(history.events.lazy.filter { $0.type == .leadCaptured }.compactMap(\.lead))
        #expect(captured.count >= 50_000)
        let versions = history.events.compactMap { event -> Int? in
            if case .definitionPublished(let d) = event.payload { return d.version }
            return nil
        }
        #expect(versions == [1, 2, 3, 4, 5])
        let rates = story.definitions.map { $0.rejectionRate ?? -1 }
        // v2 and v3 tighten (fewer rejections), v4 loosens for webinar leads (more), v5 drops free mail (fewer).
        #expect(rates[1] < rates[0] - 0.03)
        #expect(rates[2] < rates[1] - 0.03)
        #expect(rates[3] > rates[2] + 0.03)
        #expect(rates[4] < rates[3] - 0.03)
        #expect(story.definitions.allSatisfy { !$0.rationale.isEmpty && $0.handOffs > 500 })
    }

    @Test("it plants late events, a correction, re-MQL episodes, a retired code and pending episodes")
    func plantedCases() throws {
        let history = Self.small
        let story = history.story
        let events = history.events

        // Late events: appended after an event of the same lead that happened later in business time.
        #expect(story.lateEvents > 0)
        let lateLead = try #require(story.lateLead)
        let leadEvents = events.filter { $0.lead == lateLead }
        let lastEvent = try #require(leadEvents.last)
        #expect([EventType.leadScored, .leadAttributesObserved].contains(lastEvent.type))
        #expect(leadEvents.dropLast().contains { $0.occurredAt > lastEvent.occurredAt })
        let share = Double(story.lateEvents) / Double(story.handOffs - story.reMQLEpisodes)
        #expect(share > 0.01 && share < 0.03)

        // The correction points at a stored rejection of the same lead.
        let correctedLead = try #require(story.correctedLead)
        let rejection = try #require(events.first { $0.id == story.correctedRejection })
        #expect(rejection.lead == correctedLead && rejection.type == .leadRejected)
        #expect(events.contains { if case .rejectionCorrected(let c) = $0.payload { c.event == rejection.id } else { false } })

        // A re-MQL'd lead has two hand-offs: two episodes.
        let reMQL = try #require(story.reMQLLead)
        #expect(events.filter { $0.lead == reMQL && $0.type == .leadHandedOff }.count >= 2)
        #expect(story.reMQLEpisodes > 0)

        // The retired code is used before its retirement and only its replacement after.
        let retiredAt = events.firstIndex { $0.type == .reasonRetired }!
        if case .reasonRetired(let retired) = events[retiredAt].payload {
            #expect(retired.code == story.retiredCode && retired.replacedBy == story.replacementCode)
        }
        func rejects(with code: String, in slice: ArraySlice<LeadEvent>) -> Int {
            slice.filter { if case .rejected(let r) = $0.payload { r.reason == code } else { false } }.count
        }
        #expect(rejects(with: story.retiredCode, in: events[..<retiredAt]) > 0)
        #expect(rejects(with: story.retiredCode, in: events[retiredAt...]) == 0)
        #expect(rejects(with: story.replacementCode, in: events[retiredAt...]) > 0)

        #expect(story.pending > 0 && story.pending < story.handOffs / 20)
        let withoutDefinition = Double(story.handOffsWithoutDefinition) / Double(story.handOffs)
        #expect(withoutDefinition > 0.07 && withoutDefinition < 0.13)
        #expect(story.won > 0 && story.lost > 0)
    }

    @Test("time to accept has a median of about a day")
    func timeToAccept() {
        var handOff: [String: Timestamp] = [:]
        var hours: [Double] = []
        for event in Self.small.events {
            guard let lead = event.lead else { continue }
            switch event.type {
            case .leadHandedOff: handOff[lead] = event.occurredAt
            case .leadAccepted:
                if let start = handOff[lead] {
                    hours.append(Double(event.occurredAt.microseconds - start.microseconds) / 3.6e9)
                }
            default: break
            }
        }
        hours.sort()
        let median = hours[hours.count / 2]
        #expect(median > 12 && median < 36)
    }
}
