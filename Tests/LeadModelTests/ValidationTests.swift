import Foundation
import LeadModel
import Testing

@Suite("Validation against the ledger")
struct ValidationTests {
    static let t0 = Fixtures.time("2026-03-01T10:00:00Z")

    static func event(
        _ n: Int, _ lead: String?, at time: String = "2026-03-02T10:00:00Z", _ payload: EventPayload
    ) -> LeadEvent {
        LeadEvent(id: Fixtures.uuid(n), occurredAt: Fixtures.time(time), source: "crm", lead: lead, payload: payload)
    }

    /// Starter reasons, one retired code, definitions 1 and 2, lead L1 handed off at t0 and rejected lead L9.
    static var state: InMemoryLedgerState {
        var state = InMemoryLedgerState()
        for event in StarterTaxonomy.events(source: "setup", occurredAt: t0) { state.apply(event) }
        state.apply(event(900, nil, .reasonDefined(.init(code: "FIT.SMALL", label: "Small", category: "FIT"))))
        state.apply(event(901, nil, .reasonRetired(.init(code: "FIT.SMALL", replacedBy: "FIT_COMPANY.TOO_SMALL"))))
        for version in 1...2 {
            state.apply(
                event(
                    910 + version, nil, .definitionPublished(.init(version: version, name: "v\(version)", rules: .all([]), effectiveAt: t0))
                ))
        }
        state.apply(event(920, "L1", at: "2026-03-01T10:00:00Z", .handedOff(.init(owner: "rep:a"))))
        state.apply(event(921, "L9", at: "2026-03-01T10:00:00Z", .handedOff(.init(owner: "rep:a"))))
        state.apply(event(922, "L9", at: "2026-03-01T11:00:00Z", .rejected(.init(reason: "DATA.FAKE"))))
        return state
    }

    func refusal(_ events: [LeadEvent], firstLine: Int = 4) -> [ValidationIssue] {
        let numbered = events.enumerated().map { (line: Optional(firstLine + $0.offset), event: $0.element) }
        switch BatchValidator.validate(numbered, against: Self.state) {
        case .success: return []
        case .failure(let refusal): return refusal.issues
        }
    }

    static let id = "00000000-0000-4000-8000-"

    @Test("a score or an amount the analyses cannot hold is refused, whether it came as JSON or was built by an importer")
    func numbersOutOfRange() throws {
        let issues = refusal([
            Self.event(1, "L2", .leadScored(.init(score: 1e20))),
            Self.event(2, "L2", .converted(.init(opportunity: "o1", amount: -2e15, currency: "EUR"))),
            Self.event(3, "L2", .closed(.init(won: true, amount: .infinity))),
            Self.event(4, "L2", .leadScored(.init(score: 1_000_000))),
        ])
        #expect(issues.map(\.field) == ["data.score", "data.amount", "data.amount"])
        #expect(issues.allSatisfy { $0.code == .valueOutOfRange })
        #expect(issues.map(\.line) == [4, 5, 6])
        #expect(issues[0].description.contains("from -1000000 to 1000000"))

        let line =
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a31","type":"lead.scored","lead":"L2","occurredAt":"2026-03-02T14:05:00Z","source":"crm","data":{"score":1e20}}"#
        #expect(throws: EventInputError.self) { try EventDecoder().decode(line: Array(line.utf8), lineNumber: 7) }
        do {
            _ = try EventDecoder().decode(line: Array(line.utf8), lineNumber: 7)
        } catch {
            #expect(error.description.contains("data.score"))
            #expect(error.description.contains("line 7"))
        }
    }

    @Test("an unknown reason code is refused with advice")
    func unknownReason() {
        let issues = refusal([Self.event(0x7c1, "L1", .rejected(.init(reason: "FIT.UNKNOWN")))])
        #expect(
            issues.map(\.description) == [
                #"line 4, event \#(Self.id)0000000007c1: field "data.reason": expected a defined reason code, found "FIT.UNKNOWN" (define it with a reason.defined event first)"#
            ])
        #expect(issues.first?.code == .unknownReason)
    }

    @Test("a rejection with a retired code names the replacement")
    func retiredReason() {
        let issues = refusal([Self.event(1, "L1", .rejected(.init(reason: "FIT.SMALL")))])
        #expect(
            issues.map(\.description) == [
                #"line 4, event \#(Self.id)000000000001: field "data.reason": expected a reason code in use, found "FIT.SMALL", which is retired (use FIT_COMPANY.TOO_SMALL instead)"#
            ])
        #expect(issues.first?.code == .retiredReason)
    }

    @Test("a code that requires a note refuses a rejection without one")
    func noteRequired() {
        let issues = refusal([
            Self.event(1, "L1", .rejected(.init(reason: "OTHER.OTHER"))),
            Self.event(2, "L1", .rejected(.init(reason: "OTHER.OTHER", note: "  "))),
        ])
        #expect(
            issues.map(\.description) == [
                #"line 4, event \#(Self.id)000000000001: field "data.note": expected a note, which reason OTHER.OTHER requires, found nothing"#,
                #"line 5, event \#(Self.id)000000000002: field "data.note": expected a note, which reason OTHER.OTHER requires, found a blank note"#,
            ])
        #expect(issues.allSatisfy { $0.code == .noteRequired })
    }

    @Test("a decision with no open episode is refused, and so is a second decision")
    func noOpenEpisode() {
        let issues = refusal([
            Self.event(1, "L2", .accepted(.init())),
            Self.event(2, "L1", .accepted(.init())),
            Self.event(3, "L1", .rejected(.init(reason: "DATA.FAKE"))),
        ])
        #expect(
            issues.map(\.description) == [
                #"line 4, event \#(Self.id)000000000001: field "lead": expected a lead with an open episode, found "L2" with none (a lead.accepted needs a lead.handed_off not yet decided or recycled)"#,
                #"line 6, event \#(Self.id)000000000003: field "lead": expected a lead with an open episode, found "L1" with none (a lead.rejected needs a lead.handed_off not yet decided or recycled)"#,
            ])
        #expect(issues.allSatisfy { $0.code == .noOpenEpisode })
    }

    @Test("a hand-off while the episode is open is refused")
    func episodeAlreadyOpen() {
        let issues = refusal([Self.event(1, "L1", .handedOff(.init(owner: "rep:b")))])
        #expect(
            issues.map(\.description) == [
                #"line 4, event \#(Self.id)000000000001: field "lead": expected a lead without an open episode, found "L1", handed off at 2026-03-01T10:00:00Z and not yet decided (a re-assignment is not a new hand-off; decide or recycle the open episode first)"#
            ])
        #expect(issues.first?.code == .episodeAlreadyOpen)
    }

    @Test("a decision or recycle dated before its hand-off is refused")
    func decisionBeforeHandOff() {
        let issues = refusal([
            Self.event(1, "L1", at: "2026-03-01T10:59:00+01:00", .recycled(.init())),
            Self.event(2, "L1", at: "2026-03-01T10:00:00Z", .accepted(.init())),
        ])
        #expect(
            issues.map(\.description) == [
                #"line 4, event \#(Self.id)000000000001: field "occurredAt": expected a time at or after the hand-off at 2026-03-01T10:00:00Z, found 2026-03-01T10:59:00+01:00"#
            ])
        #expect(issues.first?.code == .decisionBeforeHandOff)
    }

    @Test("a hand-off under a definition never published is refused")
    func unknownDefinition() {
        let issues = refusal([Self.event(1, "L3", .handedOff(.init(owner: "rep:b", definition: 7)))])
        #expect(
            issues.map(\.description) == [
                #"line 4, event \#(Self.id)000000000001: field "data.definition": expected a published definition version, found 7 (the latest published version is 2)"#
            ])
        #expect(issues.first?.code == .unknownDefinition)
        #expect(refusal([Self.event(1, "L3", .handedOff(.init(owner: "rep:b", definition: 2)))]).isEmpty)
    }

    @Test("definition versions must increase, within a batch too")
    func versions() {
        func publish(_ n: Int, _ version: Int) -> LeadEvent {
            Self.event(n, nil, .definitionPublished(.init(version: version, name: "v", rules: .all([]), effectiveAt: Self.t0)))
        }
        let issues = refusal([publish(1, 2), publish(2, 3), publish(3, 3)])
        #expect(
            issues.map(\.description) == [
                #"line 4, event \#(Self.id)000000000001: field "data.version": expected a version greater than 2, found 2 (versions only increase; publish 3 instead)"#,
                #"line 6, event \#(Self.id)000000000003: field "data.version": expected a version greater than 3, found 3 (versions only increase; publish 4 instead)"#,
            ])
        #expect(issues.allSatisfy { $0.code == .definitionVersionNotIncreasing })
    }

    @Test("a correction must target a stored rejection of the same lead, with a usable code")
    func corrections() {
        let issues = refusal([
            Self.event(1, "L9", .rejectionCorrected(.init(event: Fixtures.uuid(999), reason: "DATA.INCOMPLETE"))),
            Self.event(2, "L1", .rejectionCorrected(.init(event: Fixtures.uuid(922), reason: "DATA.INCOMPLETE"))),
            Self.event(3, "L9", .rejectionCorrected(.init(event: Fixtures.uuid(922), reason: "FIT.SMALL"))),
            Self.event(4, "L9", .rejectionCorrected(.init(event: Fixtures.uuid(922), reason: "DATA.INCOMPLETE"))),
        ])
        #expect(
            issues.map(\.description) == [
                #"line 4, event \#(Self.id)000000000001: field "data.event": expected the id of a stored lead.rejected of lead "L9", found "\#(Self.id)0000000003e7" (no rejection with this id is stored)"#,
                #"line 5, event \#(Self.id)000000000002: field "data.event": expected the id of a stored lead.rejected of lead "L1", found "\#(Self.id)00000000039a" (it rejected lead "L9")"#,
                #"line 6, event \#(Self.id)000000000003: field "data.reason": expected a reason code in use, found "FIT.SMALL", which is retired (use FIT_COMPANY.TOO_SMALL instead)"#,
            ])
        #expect(issues.allSatisfy { $0.code == .correctionTargetInvalid || $0.code == .retiredReason })
    }

    @Test("retiring needs a defined code and a defined, current replacement")
    func retirements() {
        let issues = refusal([
            Self.event(1, nil, .reasonRetired(.init(code: "NOPE.NOPE"))),
            Self.event(2, nil, .reasonRetired(.init(code: "DATA.FAKE", replacedBy: "DATA.JUNK"))),
            Self.event(3, nil, .reasonRetired(.init(code: "DATA.FAKE", replacedBy: "DATA.FAKE"))),
            Self.event(4, nil, .reasonRetired(.init(code: "DATA.FAKE", replacedBy: "FIT.SMALL"))),
        ])
        #expect(
            issues.map(\.description) == [
                #"line 4, event \#(Self.id)000000000001: field "data.code": expected a defined reason code, found "NOPE.NOPE" (only a defined code can be retired)"#,
                #"line 5, event \#(Self.id)000000000002: field "data.replacedBy": expected a defined reason code, found "DATA.JUNK" (define it with a reason.defined event first)"#,
                #"line 6, event \#(Self.id)000000000003: field "data.replacedBy": expected a code other than the one retired, found "DATA.FAKE""#,
                #"line 7, event \#(Self.id)000000000004: field "data.replacedBy": expected a reason code in use, found "FIT.SMALL", which is retired"#,
            ])
    }

    @Test("converted and closed need no open episode; a closed reason must be defined")
    func conversions() {
        #expect(
            refusal([
                Self.event(1, "L7", .converted(.init(opportunity: "006"))),
                Self.event(2, "L7", .closed(.init(won: false, reason: "LOST.PRICE"))),
                Self.event(3, "L7", .closed(.init(won: false, reason: "FIT.SMALL"))),
            ]).isEmpty)
        #expect(refusal([Self.event(1, "L7", .closed(.init(won: false, reason: "LOST.WEATHER")))]).first?.code == .unknownReason)
    }

    @Test("earlier events of a batch count; refused ones do not")
    func batchOrder() throws {
        let batch: [(line: Int?, event: LeadEvent)] = [
            (1, Self.event(1, nil, .reasonDefined(.init(code: "FIT.NEW", label: "New", category: "FIT")))),
            (2, Self.event(2, "L3", .handedOff(.init(owner: "rep:b")))),
            (3, Self.event(3, "L3", .rejected(.init(reason: "FIT.NEW")))),
            (4, Self.event(4, "L3", .handedOff(.init(owner: "rep:c")))),
            (5, Self.event(5, "L3", .recycled(.init()))),
        ]
        let changes = try BatchValidator.validate(batch, against: Self.state).get()
        #expect(changes.changes.count == 6)
        var state = Self.state
        state.apply(changes)
        #expect(state.reason("FIT.NEW")?.label == "New")
        #expect(state.openEpisode(lead: "L3") == nil)
        #expect(state.storedRejection(id: Fixtures.uuid(3)) == StoredRejection(lead: "L3", reason: "FIT.NEW"))

        // Line 1 refused: line 2 is then checked without it, so L1's episode stays open for line 3.
        let refused = BatchValidator.validate(
            [(1, Self.event(1, "L1", .handedOff(.init(owner: "x")))), (2, Self.event(2, "L1", .accepted(.init())))],
            against: Self.state)
        guard case .failure(let refusal) = refused else {
            Issue.record("expected a refusal")
            return
        }
        #expect(refusal.issues.map(\.line) == [1])
        #expect(refusal.description.hasPrefix("line 1, event"))
    }

    @Test("the staged state overlays the base without changing it")
    func staged() {
        let base = Self.state
        var staged = StagedLedgerState(base: base)
        staged.apply(Self.event(1, "L1", .accepted(.init())))
        staged.apply(Self.event(2, nil, .reasonRetired(.init(code: "DATA.FAKE"))))
        staged.apply(Self.event(3, nil, .definitionPublished(.init(version: 5, name: "v5", rules: .all([]), effectiveAt: Self.t0))))
        staged.apply(Self.event(4, "L9", .rejectionCorrected(.init(event: Fixtures.uuid(922), reason: "DATA.INCOMPLETE"))))
        #expect(staged.openEpisode(lead: "L1") == nil)
        #expect(base.openEpisode(lead: "L1") != nil)
        #expect(staged.reason("DATA.FAKE")?.retired == true)
        #expect(base.reason("DATA.FAKE")?.retired == false)
        #expect(staged.latestDefinitionVersion == 5)
        #expect(staged.definition(version: 1)?.name == "v1")
        #expect(staged.storedRejection(id: Fixtures.uuid(922))?.reason == "DATA.INCOMPLETE")
        #expect(staged.changes.changes.count == 4)
    }

    @Test("re-defining a retired code re-labels it and keeps it retired")
    func relabel() {
        var state = Self.state
        state.apply(Self.event(1, nil, .reasonDefined(.init(code: "FIT.SMALL", label: "Tiny", category: "FIT", requiresNote: true))))
        #expect(
            state.reason("FIT.SMALL")
                == ReasonCode(
                    code: "FIT.SMALL", label: "Tiny", category: "FIT", requiresNote: true, retired: true,
                    replacedBy: "FIT_COMPANY.TOO_SMALL"))
    }
}

@Suite("Starter taxonomy")
struct StarterTaxonomyTests {
    @Test("covers every category with two to five well-formed codes")
    func coverage() {
        let reasons = StarterTaxonomy.reasons
        for category in StarterTaxonomy.categories {
            let count = reasons.filter { $0.category == category }.count
            #expect((2...5).contains(count), "\(category) has \(count)")
        }
        #expect(reasons.allSatisfy { ReasonCode.isWellFormed($0.code) && $0.code.hasPrefix($0.category + ".") })
        #expect(Set(reasons.map(\.code)).count == reasons.count)
        #expect(reasons.first { $0.code == "OTHER.OTHER" }?.requiresNote == true)
        for code in [
            "FIT_COMPANY.TOO_SMALL", "DATA.INVALID_EMAIL", "DUPLICATE.EXISTING_LEAD", "INTENT_TIMING.NO_BUDGET", "UNREACHABLE.NO_RESPONSE",
        ] {
            #expect(reasons.contains { $0.code == code })
        }
    }

    @Test("its events validate on an empty ledger, decode from their JSON, and keep their ids across loads")
    func loads() throws {
        let at = Fixtures.time("2026-01-01T00:00:00Z")
        let events = StarterTaxonomy.events(source: "setup", occurredAt: at)
        let again = StarterTaxonomy.events(source: "setup", occurredAt: at)
        #expect(events.map(\.id) == again.map(\.id))
        #expect(Set(events.map(\.id)).count == events.count)
        #expect(StarterTaxonomy.events(source: "setup", occurredAt: at, idSeed: "other").first?.id != events.first?.id)
        #expect(events.allSatisfy { $0.id.uuidString.dropFirst(14).first == "8" }, "version 8 UUIDs")
        let changes = try BatchValidator.validate(events.map { (nil, $0) }, against: InMemoryLedgerState()).get()
        #expect(changes.changes.count == events.count)
        for event in events {
            #expect(try EventDecoder().decode(line: event.jsonData) == event)
        }
    }
}
