import Foundation
import LeadModel
import Testing

@Suite("The episode state machine")
struct EpisodeMachineTests {
    static func event(_ n: Int, _ lead: String?, at time: String = "2026-03-02T10:00:00Z", _ payload: EventPayload) -> LeadEvent {
        LeadEvent(id: Fixtures.uuid(n), occurredAt: Fixtures.time(time), source: "crm", lead: lead, payload: payload)
    }

    @Test("a hand-off opens an episode; with one open, it opens another in its place")
    func handOff() {
        #expect(EpisodeMachine.transition(.leadHandedOff, from: .idle) == .open(replacing: false))
        #expect(EpisodeMachine.transition(.leadHandedOff, from: .open) == .open(replacing: true))
        #expect(EpisodeTransition.open(replacing: true).phase(from: .open) == .open)
        #expect(EpisodeTransition.open(replacing: false).phase(from: .idle) == .open)
    }

    @Test("an acceptance, a rejection and a recycle close the open episode, each with its own outcome")
    func decisions() {
        #expect(EpisodeMachine.transition(.leadAccepted, from: .open) == .close(.accepted))
        #expect(EpisodeMachine.transition(.leadRejected, from: .open) == .close(.rejected))
        #expect(EpisodeMachine.transition(.leadRecycled, from: .open) == .close(.recycled))
        #expect(EpisodeTransition.close(.rejected).phase(from: .open) == .idle)
    }

    @Test("a decision with no open episode is marked as such and leaves the lead idle")
    func decisionWithoutEpisode() {
        #expect(EpisodeMachine.transition(.leadAccepted, from: .idle) == .closeWithoutEpisode(.accepted))
        #expect(EpisodeMachine.transition(.leadRejected, from: .idle) == .closeWithoutEpisode(.rejected))
        #expect(EpisodeMachine.transition(.leadRecycled, from: .idle) == .closeWithoutEpisode(.recycled))
        #expect(EpisodeTransition.closeWithoutEpisode(.accepted).phase(from: .idle) == .idle)
    }

    @Test("a correction applies whatever the phase, and leaves the phase as it was")
    func correction() {
        for phase in [EpisodePhase.idle, .open] {
            #expect(EpisodeMachine.transition(.leadRejectionCorrected, from: phase) == .correctRejection)
            #expect(EpisodeTransition.correctRejection.phase(from: phase) == phase)
        }
    }

    @Test("captures, observations, scores, conversions, closes and catalog events leave the episode alone")
    func noEffect() {
        let neutral: [EventType] = [
            .leadCaptured, .leadAttributesObserved, .leadScored, .leadConverted, .leadClosed, .reasonDefined, .reasonRetired,
            .definitionPublished,
        ]
        for type in neutral {
            for phase in [EpisodePhase.idle, .open] {
                #expect(EpisodeMachine.transition(type, from: phase) == EpisodeTransition.none, "\(type) from \(phase)")
            }
        }
    }

    @Test("a lead's story, worked by hand: the phase after each event")
    func story() {
        let story: [(EventType, EpisodeTransition, EpisodePhase)] = [
            (.leadCaptured, .none, .idle),
            (.leadAccepted, .closeWithoutEpisode(.accepted), .idle),
            (.leadHandedOff, .open(replacing: false), .open),
            (.leadScored, .none, .open),
            (.leadRejected, .close(.rejected), .idle),
            (.leadRejectionCorrected, .correctRejection, .idle),
            (.leadHandedOff, .open(replacing: false), .open),
            (.leadHandedOff, .open(replacing: true), .open),
            (.leadRecycled, .close(.recycled), .idle),
            (.leadRecycled, .closeWithoutEpisode(.recycled), .idle),
            (.leadHandedOff, .open(replacing: false), .open),
            (.leadAccepted, .close(.accepted), .idle),
            (.leadConverted, .none, .idle),
            (.leadClosed, .none, .idle),
        ]
        var phase = EpisodePhase.idle
        for (step, (type, transition, after)) in story.enumerated() {
            let found = EpisodeMachine.transition(type, from: phase)
            #expect(found == transition, "step \(step + 1): \(type)")
            phase = found.phase(from: phase)
            #expect(phase == after, "step \(step + 1): \(type)")
        }
    }

    @Test("the decoded event and the stored record's view take the same transition and carry the same fields")
    func bothRepresentations() throws {
        for type in EventType.allCases {
            let event = Fixtures.event(type)
            let bytes = event.binary
            try bytes.withUnsafeBytes { raw in
                let view = try #require(EventRecordView(validating: raw))
                for phase in [EpisodePhase.idle, .open] {
                    #expect(EpisodeMachine.transition(of: view, from: phase) == EpisodeMachine.transition(of: event, from: phase))
                }
                #expect(view.leadText == event.leadText)
                #expect(view.eventID == event.eventID)
                #expect(view.occurredAtTimestamp == event.occurredAtTimestamp)
                #expect(view.reasonText == event.reasonText, "\(type)")
                #expect(view.correctedEventID == event.correctedEventID)
                if type.isLeadEvent {
                    #expect(StateChange.effects(ofLeadEvent: view) == StateChange.effects(of: event), "\(type)")
                }
            }
        }
    }

    @Test("the validation state's changes for each kind of lead event, worked by hand")
    func stateChanges() {
        let handOff = Self.event(1, "L1", .handedOff(.init(owner: "rep:a")))
        #expect(
            StateChange.effects(of: handOff) == [
                .episodeOpened(lead: "L1", OpenEpisode(handedOffAt: handOff.occurredAt, handOffEventId: Fixtures.uuid(1)))
            ])
        #expect(StateChange.effects(of: Self.event(2, "L1", .accepted(.init()))) == [.episodeClosed(lead: "L1")])
        #expect(StateChange.effects(of: Self.event(3, "L1", .recycled(.init()))) == [.episodeClosed(lead: "L1")])
        #expect(
            StateChange.effects(of: Self.event(4, "L1", .rejected(.init(reason: "FIT.SMALL"))))
                == [.episodeClosed(lead: "L1"), .rejectionStored(id: Fixtures.uuid(4), StoredRejection(lead: "L1", reason: "FIT.SMALL"))])
        #expect(
            StateChange.effects(of: Self.event(5, "L1", .rejectionCorrected(.init(event: Fixtures.uuid(4), reason: "FIT.BIG"))))
                == [.rejectionCorrected(id: Fixtures.uuid(4), reason: "FIT.BIG")])
        #expect(StateChange.effects(of: Self.event(6, "L1", .leadScored(.init(score: 5)))).isEmpty)
    }

    @Test("a reason code: defined, re-labelled, retired; re-labelling keeps it retired; an unknown code cannot be retired")
    func catalog() {
        let defined = EpisodeMachine.reason(
            afterDefining: .init(code: "FIT.SMALL", label: "Small", category: "FIT", requiresNote: true), existing: nil)
        #expect(defined == ReasonCode(code: "FIT.SMALL", label: "Small", category: "FIT", requiresNote: true))
        let retired = EpisodeMachine.reason(afterRetiring: .init(code: "FIT.SMALL", replacedBy: "FIT.TINY"), existing: defined)
        #expect(
            retired
                == ReasonCode(code: "FIT.SMALL", label: "Small", category: "FIT", requiresNote: true, retired: true, replacedBy: "FIT.TINY")
        )
        let relabelled = EpisodeMachine.reason(
            afterDefining: .init(code: "FIT.SMALL", label: "Too small", category: "FIT"), existing: retired)
        #expect(
            relabelled
                == ReasonCode(
                    code: "FIT.SMALL", label: "Too small", category: "FIT", requiresNote: false, retired: true, replacedBy: "FIT.TINY"))
        #expect(EpisodeMachine.reason(afterRetiring: .init(code: "NEVER.DEFINED"), existing: nil) == nil)
    }
}
