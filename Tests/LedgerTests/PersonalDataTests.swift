import EventLog
import Foundation
import LMDB
import LeadModel
import Projections
import Testing

@testable import Ledger

private func temporaryLedger() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-personal-\(UUID().uuidString)").path
}

private func at(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

private func event(_ lead: String?, _ time: String, _ payload: EventPayload) -> LeadEvent {
    LeadEvent(id: UUID(), occurredAt: at(time), source: "hubspot", actor: "rep:jo", lead: lead, correlationId: nil, payload: payload)
}

private func rules(_ text: String) throws -> MQLRule {
    try RuleParser().parse(try JSONValue.parse(Array(text.utf8)))
}

/// The JSON of a report without the head it was read at (`asOf`, `head`): the erasure appends an
/// event, so the head moves; everything else must stay byte for byte.
private func json(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var object = try JSONSerialization.jsonObject(with: try encoder.encode(value)) as! [String: Any]
    object["asOf"] = nil
    object["head"] = nil
    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

/// Every analysis the ledger answers, as JSON.
private func analyses(_ ledger: Ledger) throws -> [String] {
    let candidate = CandidateDefinition(name: "score 70+", rules: try rules(#"{"field":"score","gte":70}"#))
    return [
        try json(ledger.trends(TrendsQuery(bucket: .week))),
        try json(ledger.trends(TrendsQuery(bucket: .month, groupBy: .channel))),
        try json(ledger.impact()),
        try json(ledger.whatIf(WhatIfQuery(candidates: [candidate]))),
    ]
}

/// Whether `needle` occurs anywhere in the ledger's data file, free pages included.
private func fileContains(_ path: String, _ needle: [UInt8]) throws -> Bool {
    let data = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
    return data.range(of: Data(needle)) != nil
}

/// A ledger of 30 leads, each with an e-mail, a name and a phone, handed off and decided.
private struct PeopleLedger {
    let path = temporaryLedger()
    let ledger: Ledger
    var emails: [String: String] = [:]
    var names: [String: String] = [:]

    init() async throws {
        ledger = try Ledger(path: path)
        _ = try await ledger.append([
            event(nil, "2026-01-01T00:00:00Z", .reasonDefined(.init(code: "FIT_COMPANY.TOO_SMALL", label: "Too small", category: "FIT_COMPANY"))),
            event(
                nil, "2026-01-01T00:00:00Z",
                .definitionPublished(
                    .init(version: 1, name: "Score 50", rules: try rules(#"{"field":"score","gte":50}"#), effectiveAt: at("2026-01-01T00:00:00Z")))),
        ])
        for i in 0..<30 {
            let lead = "00QP\(i)"
            let email = "person.\(UUID().uuidString.lowercased())@example.com"
            let name = "Name \(UUID().uuidString)"
            emails[lead] = email
            names[lead] = name
            let day = String(format: "%02d", 2 + i % 20)
            var batch = [
                event(
                    lead, "2026-03-\(day)T09:00:00Z",
                    .leadCaptured(
                        .init(
                            channel: i % 2 == 0 ? "email" : "webinar",
                            attributes: ["email": .string(email), "country": .string("US"), "employees": .number(Double(10 + i))]))),
                event(lead, "2026-03-\(day)T09:10:00Z", .attributesObserved(.init(attributes: ["name": .string(name), "phone": .string("+1555\(i)0000")]))),
                event(lead, "2026-03-\(day)T09:20:00Z", .leadScored(.init(score: Double(40 + i * 2)))),
                event(lead, "2026-03-\(day)T10:00:00Z", .handedOff(.init(owner: "rep:jo", definition: 1))),
            ]
            batch.append(
                i % 3 == 0
                    ? event(lead, "2026-03-\(day)T14:00:00Z", .rejected(.init(reason: "FIT_COMPANY.TOO_SMALL", note: nil, by: "rep:jo")))
                    : event(lead, "2026-03-\(day)T14:00:00Z", .accepted(.init(by: "rep:jo"))))
            _ = try await ledger.append(batch)
        }
    }

    func key(of lead: String) throws -> [UInt8]? {
        try ledger.log.withPolicyTables([PersonalData.keyTable]) { try PersonalData.key(of: lead, in: $0) }
    }
}

private func attribute(_ audit: LeadAudit, _ name: String) -> [JSONValue] {
    audit.events.compactMap { event in
        guard case .object(let members) = event.data.value, case .object(let attributes)? = members.first(where: { $0.key == "attributes" })?.value
        else { return nil }
        return attributes.first(where: { $0.key == name })?.value
    }
}

@Suite("Personal data and erasure", .serialized)
struct PersonalDataTests {
    @Test("personal values never reach the file in clear; the audit opens them while the key exists")
    func sealedFromTheStart() async throws {
        let people = try await PeopleLedger()
        for (lead, email) in people.emails {
            #expect(try !fileContains(people.path, Array(email.utf8)), "\(lead)")
            #expect(try !fileContains(people.path, Array(people.names[lead]!.utf8)))
        }
        let audit = try #require(try people.ledger.audit(lead: "00QP4"))
        #expect(attribute(audit, "email") == [.string(people.emails["00QP4"]!)])
        #expect(attribute(audit, "name") == [.string(people.names["00QP4"]!)])
        #expect(attribute(audit, "country") == [.string("US")])
        #expect(try people.ledger.verify().isIntact)
    }

    @Test("after forget: no byte of the values or the key is in the file, verify passes, every analysis is unchanged, new events get a new key")
    func forget() async throws {
        let people = try await PeopleLedger()
        let lead = "00QP7"
        let before = try analyses(people.ledger)
        let otherAudit = try json(try #require(try people.ledger.audit(lead: "00QP8")))
        let auditBefore = try #require(try people.ledger.audit(lead: lead))
        let oldKey = try #require(try people.key(of: lead))

        let receipt = try #require(try await people.ledger.forget(lead: lead, reason: "GDPR art. 17 request 2026-031"))
        #expect(receipt.appended == 1)
        #expect(try people.key(of: lead) == nil)

        #expect(try people.ledger.verify().isIntact)
        let after = try analyses(people.ledger)
        #expect(after == before)
        #expect(try json(try #require(try people.ledger.audit(lead: "00QP8"))) == otherAudit)
        let auditAfter = try #require(try people.ledger.audit(lead: lead))
        #expect(attribute(auditAfter, "email") == [.string(PersonalData.erasedMarker)])
        #expect(attribute(auditAfter, "name") == [.string(PersonalData.erasedMarker)])
        #expect(attribute(auditAfter, "phone") == [.string(PersonalData.erasedMarker)])
        #expect(attribute(auditAfter, "country") == [.string("US")])
        #expect(auditAfter.episodes == auditBefore.episodes)

        // Right after the erasure: the key's old page was free but still held it (three ordinary
        // commits later it often still does); forget overwrites the free pages before it returns.
        #expect(try !fileContains(people.path, Array(people.emails[lead]!.utf8)))
        #expect(try !fileContains(people.path, Array(people.names[lead]!.utf8)))
        #expect(try !fileContains(people.path, oldKey))

        // The lead lives on: a new event gets a new key and reads back.
        let newEmail = "new.\(UUID().uuidString.lowercased())@example.org"
        _ = try await people.ledger.append([
            event(lead, "2026-04-02T09:00:00Z", .attributesObserved(.init(attributes: ["email": .string(newEmail)])))
        ])
        let newKey = try #require(try people.key(of: lead))
        #expect(newKey != oldKey)
        let reborn = try #require(try people.ledger.audit(lead: lead))
        #expect(attribute(reborn, "email") == [.string(PersonalData.erasedMarker), .string(newEmail)])
        #expect(try people.ledger.verify().isIntact)
        #expect(try !fileContains(people.path, Array(newEmail.utf8)))
    }

    @Test("verify reports a key table that disagrees with the log: a key left after forget, a key missing")
    func keyTableDisagreement() async throws {
        let people = try await PeopleLedger()
        _ = try await people.ledger.forget(lead: "00QP1")
        people.ledger.close()
        /// Edits the key table behind the ledger's back, as damage or an erasure cut short would.
        func edit(_ body: (borrowing Transaction, Database) throws -> Void) throws {
            let env = try Environment(path: people.path, options: .init(maxDatabases: 16))
            try env.write { txn in try body(txn, try txn.openDatabase("policy." + PersonalData.keyTable)) }
        }
        try edit { txn, keys in
            try ValueSeal.newKey().withUnsafeBytes { value in try Array("00QP1".utf8).withUnsafeBytes { try txn.put(value, forKey: $0, in: keys) } }
        }
        let reopened = try Ledger(path: people.path)
        let report = try reopened.verify()
        #expect(report.problem?.message.contains("00QP1") == true)
        #expect(report.problem?.message.contains("did not complete") == true)
        reopened.close()

        try edit { txn, keys in
            for lead in ["00QP1", "00QP2"] { _ = try Array(lead.utf8).withUnsafeBytes { try txn.delete(key: $0, in: keys) } }
        }
        let again = try Ledger(path: people.path)
        let missing = try again.verify()
        #expect(missing.problem?.message.contains("00QP2") == true)
        #expect(missing.problem?.message.contains("no key") == true)
    }

    @Test("a refused batch makes no key; a forget and a new value in one batch leave the new value readable")
    func keysFollowTheBatch() async throws {
        let people = try await PeopleLedger()
        // A decision with no open episode: refused, and with it the key its capture would have made.
        await #expect(throws: LedgerError.self) {
            _ = try await people.ledger.append([
                event("00QZ", "2026-04-01T09:00:00Z", .leadCaptured(.init(channel: "email", attributes: ["email": .string("z@example.com")]))),
                event("00QZ", "2026-04-01T10:00:00Z", .accepted(.init(by: "rep:jo"))),
            ])
        }
        #expect(try people.key(of: "00QZ") == nil)
        #expect(try people.ledger.verify().isIntact)

        let oldKey = try #require(try people.key(of: "00QP3"))
        _ = try await people.ledger.append([
            event("00QP3", "2026-04-03T09:00:00Z", .forgotten(.init())),
            event("00QP3", "2026-04-03T09:01:00Z", .attributesObserved(.init(attributes: ["email": .string("again@example.com")]))),
        ])
        let newKey = try #require(try people.key(of: "00QP3"))
        #expect(newKey != oldKey)
        let audit = try #require(try people.ledger.audit(lead: "00QP3"))
        #expect(attribute(audit, "email").last == .string("again@example.com"))
        #expect(attribute(audit, "email").first == .string(PersonalData.erasedMarker))
        #expect(try people.ledger.verify().isIntact)
    }

    @Test("an event re-sent after its lead was forgotten is a duplicate, makes no key, and stays erased; other changes are still conflicts")
    func resendAfterForget() async throws {
        let path = temporaryLedger()
        let ledger = try Ledger(path: path)
        let email = "resent.\(UUID().uuidString.lowercased())@example.com"
        let captured = event("00QS", "2026-03-02T09:00:00Z", .leadCaptured(.init(channel: "email", attributes: ["email": .string(email), "country": .string("US")])))
        _ = try await ledger.append([captured])
        // While the key exists, another value under the same id is a conflict.
        var otherValue = captured
        otherValue.payload = .leadCaptured(.init(channel: "email", attributes: ["email": .string("other@example.com"), "country": .string("US")]))
        await #expect(throws: LedgerError.self) { _ = try await ledger.append([otherValue]) }

        _ = try #require(try await ledger.forget(lead: "00QS"))
        let head = try ledger.head()
        // The sender did not hear the first answer and sends the event again, as at-least-once senders do.
        let again = try await ledger.append([captured])
        #expect(again.duplicates == 1)
        #expect(again.appended == 0)
        #expect(try ledger.head() == head)
        #expect(try ledger.log.withPolicyTables([PersonalData.keyTable]) { try PersonalData.key(of: "00QS", in: $0) } == nil)
        #expect(try ledger.verify().isIntact)
        let audit = try #require(try ledger.audit(lead: "00QS"))
        #expect(attribute(audit, "email") == [.string(PersonalData.erasedMarker)])
        #expect(try !fileContains(path, Array(email.utf8)))

        // What can still be compared must still match: another channel under the same id is a conflict.
        var otherChannel = captured
        otherChannel.payload = .leadCaptured(.init(channel: "webinar", attributes: ["email": .string(email), "country": .string("US")]))
        do {
            _ = try await ledger.append([otherChannel])
            Issue.record("a changed event under a stored id was accepted")
        } catch {
            #expect(error.kind == .conflict)
        }
        // So is a personal attribute the stored event did not have.
        var morePersonal = captured
        morePersonal.payload = .leadCaptured(.init(channel: "email", attributes: ["email": .string(email), "phone": .string("+1555"), "country": .string("US")]))
        await #expect(throws: LedgerError.self) { _ = try await ledger.append([morePersonal]) }
        // The erased value itself can no longer be compared by anyone: another e-mail under the same
        // id reads as the same event (and is not stored).
        var otherEmail = captured
        otherEmail.payload = .leadCaptured(.init(channel: "email", attributes: ["email": .string("someone.else@example.com"), "country": .string("US")]))
        #expect(try await ledger.append([otherEmail]).duplicates == 1)
        #expect(try !fileContains(path, Array("someone.else@example.com".utf8)))
        // A new event of the lead after the re-send gets a new key and reads back.
        _ = try await ledger.append([event("00QS", "2026-04-01T09:00:00Z", .attributesObserved(.init(attributes: ["email": .string("new@example.org")])))])
        #expect(attribute(try #require(try ledger.audit(lead: "00QS")), "email") == [.string(PersonalData.erasedMarker), .string("new@example.org")])
        // And the first event, re-sent once more, is still a duplicate under the new key.
        #expect(try await ledger.append([captured]).duplicates == 1)
        #expect(try ledger.verify().isIntact)
    }

    @Test("a re-sent event with personal values is a duplicate, not a conflict")
    func idempotentResend() async throws {
        let ledger = try Ledger(path: temporaryLedger())
        let captured = event("00QR", "2026-03-02T09:00:00Z", .leadCaptured(.init(channel: "email", attributes: ["email": .string("r@example.com")])))
        let first = try await ledger.append([captured])
        let again = try await ledger.append([captured])
        #expect(first.appended == 1)
        #expect(again.duplicates == 1)
    }

    @Test("a personal value too long to fit a record once sealed is refused by name, not a crash; the ledger stays byte for byte")
    func oversizedValue() throws {
        let path = temporaryLedger()
        let ledger = try Ledger(path: path)
        defer { ledger.close() }
        let fine = event("00QA", "2026-03-02T09:00:00Z", .leadCaptured(.init(channel: "email", attributes: ["email": .string("a@example.com")])))
        #expect(try ledger.appendAndWait([fine]).appended == 1)
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
        // Fits a record in clear (at most 65,534 bytes), not once 28 bytes of nonce and tag are added.
        let long = String(repeating: "x", count: 65_520)
        let huge = event("00QB", "2026-03-02T09:05:00Z", .attributesObserved(.init(attributes: ["email": .string(long), "country": .string("US")])))
        let next = event("00QA", "2026-03-02T09:06:00Z", .attributesObserved(.init(attributes: ["name": .string("Ada")])))
        do {
            _ = try ledger.appendAndWait([next, huge])
            Issue.record("a value that cannot be sealed was appended")
        } catch {
            #expect("\(error)".contains("\"email\""), "\(error)")
            #expect("\(error)".contains("would not fit a record"), "\(error)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")) == before)
        #expect(try ledger.log.withPolicyTables([PersonalData.keyTable]) { try PersonalData.key(of: "00QB", in: $0) } == nil)
        #expect(try ledger.appendAndWait([next]).appended == 1)
        #expect(try ledger.verify().isIntact)
    }
}
