import Foundation
import LeadModel
import Testing

@Suite("Events in JSON")
struct EventJSONTests {
    let decoder = EventDecoder()

    @Test("every event type decodes, and re-encodes to the same JSON", arguments: EventType.allCases)
    func roundTrip(type: EventType) throws {
        let line = try #require(Fixtures.lines[type])
        let event = try decoder.decode(line: line, lineNumber: 1)
        #expect(event.type == type)
        #expect(event.payload.type == type)
        let again = try decoder.decode(line: event.jsonData)
        #expect(again == event)
        #expect(again.jsonData == event.jsonData)
    }

    @Test("a rejection decodes to its fields")
    func rejectionFields() throws {
        let event = Fixtures.event(.leadRejected)
        #expect(event.id == UUID(uuidString: "0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a06"))
        #expect(event.lead == "00Q5e00000AbCdE")
        #expect(event.source == "salesforce")
        #expect(event.actor == "rep:jsmith")
        #expect(event.occurredAt.rfc3339 == "2026-03-02T14:05:00Z")
        #expect(event.payload == .rejected(.init(reason: "FIT_COMPANY.TOO_SMALL", note: "12 employees", by: "rep:jsmith")))
    }

    @Test("the encoder writes a stable member order and keeps the offset")
    func stableOutput() throws {
        let event = Fixtures.event(.leadAccepted)
        #expect(
            String(decoding: event.jsonData, as: UTF8.self)
                == #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a05","type":"lead.accepted","lead":"00Q1","occurredAt":"2026-03-02T08:00:00-05:00","source":"salesforce","data":{"by":"rep:jsmith","auto":false}}"#
        )
        let captured = Fixtures.event(.leadCaptured)
        #expect(
            String(decoding: captured.jsonData, as: UTF8.self).contains(
                #""attributes":{"country":"US","employees":120,"opted_in":true,"phone":null}"#))
    }

    @Test("definition rules keep the author's member order")
    func rulesOrder() throws {
        let event = Fixtures.event(.definitionPublished)
        guard case .definitionPublished(let data) = event.payload else {
            Issue.record("not a definition")
            return
        }
        #expect(data.version == 3)
        #expect(data.effectiveAt.rfc3339 == "2026-03-01T00:00:00+01:00")
        #expect(String(decoding: event.jsonData, as: UTF8.self).contains(#""rules":{"all":[{"field":"score","gte":60},"#))
        #expect(data.rules == (try RuleParser().parse(data.rulesJSON)))
    }

    @Test("optional data may be omitted for accepted and recycled, and null means absent")
    func optionalData() throws {
        let accepted = try decoder.decode(
            line:
                #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a05","type":"lead.accepted","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm","actor":null}"#
        )
        #expect(accepted.payload == .accepted(.init()))
        #expect(accepted.actor == nil)
    }

    /// Each refusal: the line, then the exact message a user reads.
    static let refusals: [(line: String, code: EventInputError.Code, message: String)] = [
        (
            #"{"type":"lead.accepted"#, .malformedJSON,
            #"line 7: expected one JSON object, found malformed JSON (unterminated string at byte 23)"#
        ),
        (#"[1]"#, .wrongType, #"line 7: expected an event object, found an array"#),
        (
            #"{"type":"lead.accepted","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm"}"#, .missingField,
            #"line 7: field "id": expected a UUID like 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10, found nothing"#
        ),
        (
            #"{"id":"nope","type":"lead.accepted","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm"}"#, .invalidValue,
            #"line 7, event nope: field "id": expected a UUID like 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10, found "nope""#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.liked","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm"}"#,
            .unknownType,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "type": expected a known event type (lead.captured, lead.attributes_observed, lead.scored, lead.handed_off, lead.accepted, lead.rejected, lead.recycled, lead.converted, lead.closed, lead.rejection_corrected, reason.defined, reason.retired, definition.published, lead.assigned, lead.touched, sla.published, lead.forgotten, definition.proposed, definition.reviewed), found "lead.liked""#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.accepted","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm","position":4}"#,
            .forbiddenField,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "position": expected no position (the ledger assigns it), found 4"#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.accepted","lead":"L","occurredAt":"2026-03-02T08:00:00","source":"crm"}"#,
            .invalidValue,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "occurredAt": expected an RFC 3339 date-time with offset like 2026-03-02T14:05:00Z, found "2026-03-02T08:00:00""#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.accepted","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"Sales Force"}"#,
            .invalidValue,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "source": expected 1 to 64 characters of a-z, 0-9, _, . or -, found "Sales Force""#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.accepted","occurredAt":"2026-03-02T08:00:00Z","source":"crm"}"#,
            .missingField,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "lead": expected a non-empty string, found nothing"#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"reason.retired","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm","data":{"code":"A.B"}}"#,
            .forbiddenField,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "lead": expected no lead on a reason.retired event, found "L""#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.rejected","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm","data":{"reason":"too small"}}"#,
            .invalidValue,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "data.reason": expected a reason code like FIT_COMPANY.TOO_SMALL, found "too small""#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.rejected","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm","data":{"note":"x"}}"#,
            .missingField,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "data.reason": expected a reason code like FIT_COMPANY.TOO_SMALL, found nothing"#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.scored","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm","data":{"score":"high"}}"#,
            .wrongType,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "data.score": expected a number, found "high""#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.captured","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm","data":{"channel":"web","attributes":{"tags":["a"]}}}"#,
            .wrongType,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "data.attributes.tags": expected a string, a number, a boolean or null, found an array"#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.handed_off","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm","data":{"owner":"q","definition":2.5}}"#,
            .invalidValue,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "data.definition": expected an integer version of at least 1, found 2.5"#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.closed","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm","data":{}}"#,
            .missingField,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "data.won": expected true or false, found nothing"#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.accepted","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm","data":"yes"}"#,
            .wrongType,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "data": expected an object, found "yes""#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"definition.published","occurredAt":"2026-03-02T08:00:00Z","source":"crm","data":{"version":2,"name":"v2","rules":{"all":[{"field":"score","gte":1},{"field":"x","eq":1},{"field":"country","in":"US"}]},"effectiveAt":"2026-03-02T08:00:00Z"}}"#,
            .invalidValue,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "data.rules/all/2/in": expected an array, found "US""#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.converted","lead":"L","occurredAt":"2026-03-02T08:00:00Z","source":"crm","data":{"opportunity":"o","currency":"euro"}}"#,
            .invalidValue,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "data.currency": expected a three-letter ISO 4217 code like EUR, found "euro""#
        ),
        (
            #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.accepted","lead":"","occurredAt":"2026-03-02T08:00:00Z","source":"crm"}"#,
            .invalidValue,
            #"line 7, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: field "lead": expected a non-empty string, found """#
        ),
    ]

    @Test("each kind of bad input is refused with the message a user reads", arguments: 0..<refusals.count)
    func refusal(index: Int) {
        let (line, code, message) = Self.refusals[index]
        #expect {
            _ = try decoder.decode(line: line, lineNumber: 7)
        } throws: { error in
            guard let error = error as? EventInputError else { return false }
            #expect(error.description == message)
            #expect(error.code == code)
            return true
        }
    }

    @Test("the first problem of a line is the one reported")
    func firstProblem() throws {
        let error = #expect(throws: EventInputError.self) {
            try decoder.decode(
                line:
                    #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.rejected","occurredAt":"yesterday","source":"BAD","data":{"reason":"x"}}"#
            )
        }
        #expect(error?.field == "occurredAt")
        #expect(error?.line == nil)
    }

    @Test("a malformed line still names its event id when one can be seen")
    func malformedWithId() {
        let error = #expect(throws: EventInputError.self) {
            try decoder.decode(line: #"{"id": "0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10", "type": "lead.accepted",, }"#, lineNumber: 2)
        }
        #expect(error?.eventId == "0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10")
        #expect(error?.description.hasPrefix("line 2, event 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10: expected one JSON object") == true)
    }

    @Test("a lead longer than 128 bytes is refused")
    func longLead() throws {
        let lead = String(repeating: "é", count: 65)
        let error = #expect(throws: EventInputError.self) {
            try decoder.decode(
                line:
                    #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10","type":"lead.accepted","lead":"\#(lead)","occurredAt":"2026-03-02T08:00:00Z","source":"crm"}"#
            )
        }
        #expect(error?.field == "lead")
        #expect(error?.found == "130 bytes")
    }

    @Test("NDJSON skips blank lines and numbers lines from 1")
    func ndjson() throws {
        let text = Fixtures.lines[.leadCaptured]! + "\n\n  \r\n" + #"{"oops"# + "\r\n" + Fixtures.lines[.leadScored]! + "\n"
        let results = decoder.decodeNDJSON(Data(text.utf8))
        #expect(results.count == 3)
        #expect((try? results[0].get())?.type == .leadCaptured)
        if case .failure(let error) = results[1] {
            #expect(error.line == 4)
            #expect(error.code == .malformedJSON)
        } else {
            Issue.record("line 4 should fail")
        }
        #expect((try? results[2].get())?.type == .leadScored)
    }

    @Test("a JSON array batch reports each event at the line where it starts")
    func arrayBatch() throws {
        let text = "[\n  " + Fixtures.lines[.leadScored]! + ",\n  {\"id\": 5}\n]"
        let results = decoder.decodeBatch(Data(text.utf8))
        #expect(results.count == 2)
        #expect((try? results[0].get())?.type == .leadScored)
        if case .failure(let error) = results[1] {
            #expect(error.description == #"line 3: field "id": expected a UUID like 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10, found 5"#)
        } else {
            Issue.record("element 2 should fail")
        }
        let broken = decoder.decodeArray(Data("[\n{},\n{".utf8))
        #expect(broken.count == 1)
        if case .failure(let error) = broken.first { #expect(error.line == 3) }
    }

    @Test("random events survive a JSON round trip")
    func randomRoundTrip() throws {
        var random = RandomEvents(rng: SplitMix64(seed: 42))
        for _ in 0..<1000 {
            let event = random.event()
            let decoded = try decoder.decode(line: event.jsonData)
            #expect(decoded == event)
        }
    }
}

@Suite("JSON values")
struct JSONValueTests {
    @Test("strings with escapes, surrogate pairs and control characters round-trip")
    func strings() throws {
        let value = try JSONValue.parse(#"["a\"b\\c\/d\n\t\u00e9\ud83d\ude42\u0001"]"#)
        #expect(value == .array([.string("a\"b\\c/d\n\té🙂\u{01}")]))
        #expect(value.jsonText == #"["a\"b\\c/d\n\té🙂\u0001"]"#)
        #expect(try JSONValue.parse(value.jsonText) == value)
    }

    @Test("numbers print shortest, integers without a fraction")
    func numbers() throws {
        #expect(try JSONValue.parse("[60, 72.5, -0, 1e2, 1.5e-7]").jsonText == "[60,72.5,-0,100,1.5e-07]")
    }

    @Test(
        "malformed JSON is refused",
        arguments: ["{", "[1,]", "{\"a\":1,\"a\":2}", "01", "1.", "\"\\x\"", "tru", "[1] 2", "\"\u{01}\"", "\"\\ud800\""])
    func malformed(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test("invalid UTF-8 is refused")
    func invalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xFF, 0x22]) }
    }

    @Test("deep nesting is refused rather than overflowing the stack")
    func depth() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
    }
}
