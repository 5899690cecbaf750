import Foundation
import LeadModel
import Testing

@Suite("definition.proposed, definition.reviewed and a publish naming its proposal")
struct ProposalEventTests {
    static let t0 = Fixtures.time("2026-03-01T10:00:00Z")
    static let rules = MQLRule.all([.comparison(RuleComparison(field: "score", .gte(.number(60))))])
    static let looser = MQLRule.all([.comparison(RuleComparison(field: "score", .gte(.number(40))))])

    static func event(_ n: Int, _ payload: EventPayload) -> LeadEvent {
        LeadEvent(id: Fixtures.uuid(n), occurredAt: t0, source: "revops", lead: nil, payload: payload)
    }

    static func propose(_ n: Int, _ id: String, rules: MQLRule = rules) -> LeadEvent {
        event(n, .definitionProposed(.init(proposal: id, name: "Q2 tightening", rules: rules)))
    }

    static func review(_ n: Int, _ id: String, _ role: String, _ verdict: ReviewVerdict) -> LeadEvent {
        event(n, .definitionReviewed(.init(proposal: id, verdict: verdict, role: role)))
    }

    static func publish(_ n: Int, version: Int, proposal: String?, rules: MQLRule = rules) -> LeadEvent {
        event(n, .definitionPublished(.init(version: version, name: "Q2 tightening", rules: rules, effectiveAt: t0, proposal: proposal)))
    }

    static func issues(_ events: [LeadEvent], required: [String] = [], state: InMemoryLedgerState = InMemoryLedgerState()) -> [ValidationIssue] {
        var state = state
        state.requiredApprovals = required
        let numbered = events.enumerated().map { (line: Optional($0.offset + 1), event: $0.element) }
        switch BatchValidator.validate(numbered, against: state) {
        case .success: return []
        case .failure(let refusal): return refusal.issues
        }
    }

    @Test("both new types and a publish naming a proposal survive JSON and the binary record unchanged")
    func roundTrips() throws {
        for type in [EventType.definitionProposed, .definitionReviewed] {
            let event = Fixtures.event(type)
            #expect(try EventDecoder().decode(line: Array(event.jsonData)) == event)
            #expect(try LeadEvent(binary: event.binary) == event)
            #expect(!type.isLeadEvent)
        }
        guard case .definitionProposed(let proposed) = Fixtures.event(.definitionProposed).payload else {
            Issue.record("not a proposal")
            return
        }
        #expect(proposed.evidence?.position == 1200)
        #expect(proposed.evidence?.headHash.hasPrefix("3f0a2b9c") == true)
        let named = Self.publish(1, version: 2, proposal: "q2-tightening")
        #expect(try LeadEvent(binary: named.binary) == named)
        #expect(try EventDecoder().decode(line: Array(named.jsonData)) == named)
    }

    @Test("a publish without a proposal keeps exactly the bytes it always had, so stored hashes still verify")
    func publishWithoutProposalKeepsItsBytes() throws {
        let plain = Self.publish(1, version: 2, proposal: nil).binary
        let named = Self.publish(1, version: 2, proposal: "q2").binary
        #expect(named.count == plain.count + 2 + 2)
        #expect(Array(named.prefix(plain.count)) == plain)
        // A record of the original layout (a fixture stored before proposals existed) still reads.
        let stored = Fixtures.event(.definitionPublished)
        guard case .definitionPublished(let data) = try LeadEvent(binary: stored.binary).payload else {
            Issue.record("not a publish")
            return
        }
        #expect(data.proposal == nil)
    }

    @Test("random proposals, reviews and publishes round-trip through both codecs")
    func randomRoundTrips() throws {
        var random = RandomEvents(rng: SplitMix64(seed: 14))
        for _ in 0..<300 {
            for type in [EventType.definitionProposed, .definitionReviewed, .definitionPublished] {
                let event = LeadEvent(
                    id: random.uuid(), occurredAt: Self.t0, source: "revops", lead: nil, payload: random.payload(type))
                #expect(try LeadEvent(binary: event.binary) == event)
                #expect(try EventDecoder().decode(line: Array(event.jsonData)) == event)
            }
        }
    }

    @Test("bad proposal fields are refused naming the field, what was expected and what was found")
    func decoderRefusals() {
        func line(_ type: String, _ data: String) -> String {
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7c01","type":""# + type
                + #"","occurredAt":"2026-03-01T12:00:00Z","source":"revops","data":"# + data + "}"
        }
        let cases: [(String, String, String)] = [
            (line("definition.reviewed", #"{"proposal":"p1","verdict":"maybe","role":"sales"}"#), "data.verdict", "\"maybe\""),
            (line("definition.reviewed", #"{"proposal":"p1","verdict":true,"role":"sales"}"#), "data.verdict", "true"),
            (line("definition.reviewed", #"{"proposal":"p1","verdict":"approved"}"#), "data.role", "nothing"),
            (line("definition.reviewed", #"{"proposal":"p1","verdict":"approved","role":"Sales Team"}"#), "data.role", "\"Sales Team\""),
            (line("definition.reviewed", #"{"verdict":"approved","role":"sales"}"#), "data.proposal", "nothing"),
            (line("definition.proposed", #"{"proposal":"a b","name":"x","rules":{"field":"score","gte":1}}"#), "data.proposal", "\"a b\""),
            (line("definition.proposed", #"{"proposal":"p1","name":"x"}"#), "data.rules", "nothing"),
            (line("definition.proposed", #"{"proposal":"p1","name":"x","rules":{"field":"score","gte":1},"evidence":{"headHash":"00","report":{}}}"#),
                "data.evidence.position", "nothing"),
            (line("definition.proposed", #"{"proposal":"p1","name":"x","rules":{"field":"score","gte":1},"evidence":{"position":3,"headHash":"00","report":{}}}"#),
                "data.evidence.headHash", "\"00\""),
            (line("definition.proposed", #"{"proposal":"p1","name":"x","rules":{"field":"score","gte":1},"evidence":{"position":3,"headHash":""# + String(repeating: "a", count: 64) + #"","report":[]}}"#),
                "data.evidence.report", "an array"),
            (line("definition.published", #"{"version":2,"name":"x","rules":{"field":"score","gte":1},"effectiveAt":"2026-03-01T00:00:00Z","proposal":7}"#),
                "data.proposal", "7"),
        ]
        for (text, field, found) in cases {
            do {
                _ = try EventDecoder().decode(line: text, lineNumber: 3)
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.field == field, "\(text)")
                #expect(error.line == 3)
                #expect(error.eventId == "0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7c01")
                #expect(error.description.contains(found), "\(error.description)")
            }
        }
    }

    @Test("a stored review with an unknown verdict byte is a decoding error, never a trap")
    func damagedVerdict() {
        var bytes = Fixtures.event(.definitionReviewed).binary
        bytes[32] = 9
        #expect(throws: RecordDecodingError.self) { try LeadEvent(binary: bytes) }
        for cut in 0..<bytes.count {
            _ = try? LeadEvent(binary: Array(bytes.prefix(cut)))
        }
    }

    @Test("reviewing or publishing an unknown proposal, and proposing an id twice, are refused naming line, event and field")
    func unknownAndDuplicate() {
        let issues = Self.issues([
            Self.review(1, "ghost", "sales", .approved),
            Self.propose(2, "p1"),
            Self.propose(3, "p1"),
            Self.publish(4, version: 1, proposal: "ghost"),
        ])
        #expect(issues.map(\.code) == [.unknownProposal, .proposalExists, .unknownProposal])
        #expect(issues.map(\.line) == [1, 3, 4])
        #expect(issues.map(\.field) == ["data.proposal", "data.proposal", "data.proposal"])
        #expect(issues[0].eventId == Fixtures.uuid(1).lowercasedText)
        #expect(issues[1].description.contains("\"p1\""))
    }

    @Test("a publish whose rules differ from its proposal's is refused on data.rules")
    func rulesMismatch() {
        let issues = Self.issues([Self.propose(1, "p1"), Self.publish(2, version: 1, proposal: "p1", rules: Self.looser)])
        #expect(issues.count == 1)
        #expect(issues.first?.code == .proposalRulesMismatch)
        #expect(issues.first?.field == "data.rules")
        #expect(issues.first?.line == 2)
        #expect(Self.issues([Self.propose(1, "p1"), Self.publish(2, version: 1, proposal: "p1")]).isEmpty)
    }

    @Test("with approval required, a publish naming an unapproved proposal is refused naming the missing roles")
    func approvalRequired() {
        let required = ["marketing", "sales"]
        // The attack: publish a proposal only marketing approved (sales declined, then never approved).
        let attack = Self.issues(
            [
                Self.propose(1, "p1"), Self.review(2, "p1", "marketing", .approved), Self.review(3, "p1", "sales", .declined),
                Self.publish(4, version: 1, proposal: "p1"),
            ], required: required)
        #expect(attack.count == 1)
        #expect(attack.first?.code == .proposalNotApproved)
        #expect(attack.first?.field == "data.proposal")
        #expect(attack.first?.line == 4)
        #expect(attack.first?.description.contains("missing approvals: sales") == true)

        // A publish naming no proposal at all is refused too.
        let bare = Self.issues([Self.publish(1, version: 1, proposal: nil)], required: required)
        #expect(bare.map(\.code) == [.proposalNotApproved])
        #expect(bare.first?.description.contains("marketing, sales") == true)

        // A later review by the same role replaces its earlier one, both ways.
        let approvedLater = Self.issues(
            [
                Self.propose(1, "p1"), Self.review(2, "p1", "sales", .declined), Self.review(3, "p1", "marketing", .approved),
                Self.review(4, "p1", "sales", .approved), Self.publish(5, version: 1, proposal: "p1"),
            ], required: required)
        #expect(approvedLater.isEmpty)
        let withdrawn = Self.issues(
            [
                Self.propose(1, "p1"), Self.review(2, "p1", "sales", .approved), Self.review(3, "p1", "marketing", .approved),
                Self.review(4, "p1", "marketing", .declined), Self.publish(5, version: 1, proposal: "p1"),
            ], required: required)
        #expect(withdrawn.map(\.code) == [.proposalNotApproved])
        #expect(withdrawn.first?.description.contains("missing approvals: marketing") == true)

        // Not required (the default): an unreviewed proposal, or none, may be published.
        #expect(Self.issues([Self.propose(1, "p1"), Self.publish(2, version: 1, proposal: "p1")]).isEmpty)
        #expect(Self.issues([Self.publish(1, version: 1, proposal: nil)]).isEmpty)
    }

    @Test("a proposal is published once; reviewing it afterwards is refused")
    func publishedOnce() {
        let issues = Self.issues([
            Self.propose(1, "p1"), Self.publish(2, version: 1, proposal: "p1"), Self.publish(3, version: 2, proposal: "p1"),
            Self.review(4, "p1", "sales", .approved),
        ])
        #expect(issues.map(\.code) == [.proposalAlreadyPublished, .proposalAlreadyPublished])
        #expect(issues.first?.description.contains("published as version 1") == true)
    }
}
