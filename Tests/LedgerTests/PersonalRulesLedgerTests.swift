import EventLog
import Foundation
import LeadModel
import Projections
import Testing

@testable import Ledger

private func at(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

private func event(_ lead: String?, _ time: String, _ payload: EventPayload) -> LeadEvent {
    LeadEvent(id: UUID(), occurredAt: at(time), source: "hubspot", actor: "rep:jo", lead: lead, correlationId: nil, payload: payload)
}

private func rules(_ text: String) throws -> MQLRule {
    try RuleParser().parse(try JSONValue.parse(Array(text.utf8)))
}

/// The JSON of a report without the head it was read at: an erasure appends an event.
private func json(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var object = try JSONSerialization.jsonObject(with: try encoder.encode(value)) as! [String: Any]
    object["asOf"] = nil
    object["head"] = nil
    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

/// Eight leads worked by hand. Definition 1 (score ≥ 50) is in force from January; definition 2
/// (an e-mail at example.com) from 03-15.
///
/// | lead | e-mail        | score | hand-off | outcome  |
/// |------|---------------|-------|----------|----------|
/// | L0   | …@example.com | 60    | 03-02    | accepted |
/// | L1   | …@example.com | 70    | 03-03    | rejected |
/// | L2   | …@example.com | 40    | —        |          |
/// | L3   | …@other.org   | 80    | 03-04    | rejected |
/// | L4   | …@other.org   | 55    | 03-05    | accepted |
/// | L5   | none          | 30    | —        |          |
/// | L6   | …@example.com | 65    | 03-20    | accepted |
/// | L7   | …@other.org   | 90    | 03-21    | rejected |
private struct HandWorked {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-personal-rules-\(UUID().uuidString)").path
    let ledger: Ledger
    var emails: [String: String] = [:]

    static let leads: [(lead: String, domain: String?, score: Double, handOff: String?, accepted: Bool)] = [
        ("L0", "example.com", 60, "03-02", true), ("L1", "example.com", 70, "03-03", false), ("L2", "example.com", 40, nil, false),
        ("L3", "other.org", 80, "03-04", false), ("L4", "other.org", 55, "03-05", true), ("L5", nil, 30, nil, false),
        ("L6", "example.com", 65, "03-20", true), ("L7", "other.org", 90, "03-21", false),
    ]

    init() async throws {
        ledger = try Ledger(path: path)
        _ = try await ledger.append([
            event(nil, "2026-01-01T00:00:00Z", .reasonDefined(.init(code: "FIT_COMPANY.TOO_SMALL", label: "Too small", category: "FIT_COMPANY"))),
            event(
                nil, "2026-01-01T00:00:00Z",
                .definitionPublished(
                    .init(version: 1, name: "Score 50", rules: try rules(#"{"field":"score","gte":50}"#), effectiveAt: at("2026-01-01T00:00:00Z")))),
            event(
                nil, "2026-01-01T00:00:00Z",
                .definitionPublished(
                    .init(
                        version: 2, name: "Example customers", rules: try rules(#"{"field":"email","contains":"@example.com"}"#),
                        effectiveAt: at("2026-03-15T00:00:00Z")))),
        ])
        for (lead, domain, score, handOff, accepted) in Self.leads {
            var attributes: [String: AttributeValue] = ["country": .string("US")]
            if let domain {
                let email = "\(lead.lowercased()).\(UUID().uuidString.lowercased())@\(domain)"
                emails[lead] = email
                attributes["email"] = .string(email)
            }
            var batch = [
                event(lead, "2026-03-01T09:00:00Z", .leadCaptured(.init(channel: "email", attributes: attributes))),
                event(lead, "2026-03-01T09:10:00Z", .leadScored(.init(score: score))),
            ]
            if let handOff {
                batch.append(event(lead, "2026-\(handOff)T10:00:00Z", .handedOff(.init(owner: "rep:jo"))))
                batch.append(
                    accepted
                        ? event(lead, "2026-\(handOff)T14:00:00Z", .accepted(.init(by: "rep:jo")))
                        : event(lead, "2026-\(handOff)T14:00:00Z", .rejected(.init(reason: "FIT_COMPANY.TOO_SMALL", note: nil, by: "rep:jo"))))
            }
            _ = try await ledger.append(batch)
        }
    }

    static let byExampleDomain = CandidateDefinition(name: "example.com", rules: try! rules(#"{"field":"email","contains":"@example.com"}"#))
    static let scoredWithoutEmail = CandidateDefinition(
        name: "scored, no e-mail", rules: try! rules(#"{"all":[{"field":"score","gte":0},{"field":"email","exists":false}]}"#))
    static let scoreOnly = CandidateDefinition(name: "score 70+", rules: try! rules(#"{"field":"score","gte":70}"#))

    func whatIf() throws -> WhatIfReport {
        try ledger.whatIf(WhatIfQuery(candidates: [Self.byExampleDomain, Self.scoredWithoutEmail, Self.scoreOnly]))
    }
}

/// A segment's leads, accepted and rejected.
private func counts(_ s: ObservedSegment) -> [Int] { [s.leads, s.accepted, s.rejected] }

@Suite("Rules read personal attributes while the key exists", .serialized)
struct PersonalRulesLedgerTests {
    @Test("what-if and the impact's stayers read the e-mail while the key exists and see it missing after forget (counts worked by hand)")
    func readWhileTheKeyExists() async throws {
        let people = try await HandWorked()
        let before = try people.whatIf()
        // example.com: L0, L1 kept (1 accepted, 1 rejected), L6 kept (accepted); L3, L4, L7 dropped; L2 added.
        #expect(counts(before.candidates[0].both) == [3, 2, 1])
        #expect(counts(before.candidates[0].dropped) == [3, 1, 2])
        #expect(before.candidates[0].added.leads == 1)
        // Scored without an e-mail: only L5, never handed off.
        #expect(counts(before.candidates[1].both) == [0, 0, 0])
        #expect(before.candidates[1].added.leads == 1)
        let impactBefore = try #require(try people.ledger.impact(minimumStayers: 1).changes.first?.timeAdjusted)
        // Stayers satisfy score ≥ 50 and example.com: L0, L1 before the change, L6 after.
        #expect([impactBefore.stayersBefore.decided, impactBefore.stayersBefore.rejected] as [Int] == [2, 1])
        #expect([impactBefore.stayersAfter.decided, impactBefore.stayersAfter.rejected] as [Int] == [1, 0])
        let trendsBefore = [
            try json(people.ledger.trends(TrendsQuery(bucket: .week))),
            try json(people.ledger.trends(TrendsQuery(bucket: .month, groupBy: .definition))),
        ]

        _ = try #require(try await people.ledger.forget(lead: "L1", reason: "erasure request"))
        _ = try #require(try await people.ledger.forget(lead: "L2", reason: "erasure request"))
        let after = try people.whatIf()
        // L1 and L2 no longer have an e-mail: L1 is dropped, L2 is not added.
        #expect(counts(after.candidates[0].both) == [2, 2, 0])
        #expect(counts(after.candidates[0].dropped) == [4, 1, 3])
        #expect(after.candidates[0].added.leads == 0)
        // …and now qualify as scored without an e-mail: L1 kept (rejected), L2 and L5 added.
        #expect(counts(after.candidates[1].both) == [1, 0, 1])
        #expect(after.candidates[1].added.leads == 2)
        // The candidate that reads no personal attribute is unchanged.
        #expect(after.candidates[2] == before.candidates[2])
        let impactAfter = try #require(try people.ledger.impact(minimumStayers: 1).changes.first?.timeAdjusted)
        #expect([impactAfter.stayersBefore.decided, impactAfter.stayersBefore.rejected] as [Int] == [1, 0])
        #expect([impactAfter.stayersAfter.decided, impactAfter.stayersAfter.rejected] as [Int] == [1, 0])
        // Hand-offs are facts, not verdicts: the trends do not move.
        #expect(
            [
                try json(people.ledger.trends(TrendsQuery(bucket: .week))),
                try json(people.ledger.trends(TrendsQuery(bucket: .month, groupBy: .definition))),
            ] == trendsBefore)
        #expect(try people.ledger.verify().isIntact)
    }

    @Test("analyses that opened the e-mails leave no plaintext in the ledger file, checkpoint included, while the keys exist")
    func nothingOpenedIsStored() async throws {
        let people = try await HandWorked()
        _ = try people.whatIf()
        _ = try people.ledger.impact(minimumStayers: 1)
        _ = try people.ledger.trends()
        _ = try people.ledger.buyerProfile()
        // The replay checkpoint was written, and the keys are there: the values were readable.
        #expect(try people.ledger.log.metaValue("projections.replay.v2") != nil)
        let keys = try people.ledger.log.withPolicyTables([PersonalData.keyTable]) { tables in
            try HandWorked.leads.compactMap { try PersonalData.key(of: $0.lead, in: tables) }
        }
        #expect(keys.count == people.emails.count)
        let file = try Data(contentsOf: URL(fileURLWithPath: people.path + "/data.mdb"))
        for (lead, email) in people.emails {
            #expect(file.range(of: Data(email.utf8)) == nil, "\(lead)")
        }
        // The sealed records are there: the country, stored in clear beside them, is found.
        #expect(file.range(of: Data("country".utf8)) != nil)
    }

    @Test("the buyer profile never groups by a personal attribute, before or after forget")
    func profileLeavesPersonalAttributesOut() async throws {
        let people = try await HandWorked()
        let fields = Set(try people.ledger.buyerProfile(ProfileQuery(minimumDecided: 1)).rows.map(\.field))
        #expect(fields.contains("attributes.country"))
        #expect(!fields.contains("attributes.email"))
        _ = try await people.ledger.forget(lead: "L0")
        #expect(Set(try people.ledger.buyerProfile(ProfileQuery(minimumDecided: 1)).rows.map(\.field)) == fields)
    }

    @Test("the audit's verdict reads the e-mail a definition names while the key exists; after forget it is missing")
    func auditVerdict() async throws {
        let people = try await HandWorked()
        // L6 was handed off on 03-20, under definition 2 (an e-mail at example.com).
        let before = try #require(try people.ledger.audit(lead: "L6"))
        #expect(before.episodes.map(\.definition) == [2])
        #expect(before.episodes.map(\.qualified) == [true])
        #expect(before.episodes[0].verdicts.map(\.passed) == [true])
        // The state shown beside the verdict leaves personal values out.
        let shown = try JSONEncoder().encode(before.episodes[0].stateAtHandOff)
        #expect(String(decoding: shown, as: UTF8.self).contains("country"))
        #expect(!String(decoding: shown, as: UTF8.self).contains("example.com"))

        var otherBefore = try #require(try people.ledger.audit(lead: "L7"))
        _ = try #require(try await people.ledger.forget(lead: "L6"))
        let after = try #require(try people.ledger.audit(lead: "L6"))
        #expect(after.episodes.map(\.qualified) == [false])
        #expect(after.episodes[0].verdicts.map(\.passed) == [false])
        // Another lead's audit under the same definition is unchanged (the head aside).
        var other = try #require(try people.ledger.audit(lead: "L7"))
        other.head = before.head
        otherBefore.head = before.head
        #expect(other == otherBefore)
        #expect(other.episodes.map(\.qualified) == [false])
    }
}
