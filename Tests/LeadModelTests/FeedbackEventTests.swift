import Foundation
import LeadModel
import Testing

@Suite("lead.assigned, lead.touched and sla.published on the wire and in storage")
struct FeedbackEventTests {
    static func line(_ type: String, lead: Bool = true, _ data: String) -> String {
        #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7b01","type":""# + type + #"",""# + (lead ? #"lead":"00Q1",""# : "")
            + #"occurredAt":"2026-03-01T12:00:00Z","source":"salesforce","data":"# + data + "}"
    }

    static func refusal(_ line: String) -> EventInputError? {
        do {
            _ = try EventDecoder().decode(line: line)
            return nil
        } catch {
            return error
        }
    }

    static let calendar = #""calendar":{"timeZone":"Europe/Paris","workdays":[1,2,3,4,5],"start":"09:00","end":"17:00"}"#

    @Test("each new type survives JSON and the binary record unchanged, and the record view reads its hot fields")
    func roundTrips() throws {
        for type in [EventType.leadAssigned, .leadTouched, .slaPublished] {
            let event = Fixtures.event(type)
            #expect(try EventDecoder().decode(line: Array(event.jsonData)) == event)
            #expect(try LeadEvent(binary: event.binary) == event)
            #expect(type.isLeadEvent == (type != .slaPublished))
        }
        let assigned = Fixtures.event(.leadAssigned).binary
        assigned.withUnsafeBytes { raw in
            let view = EventRecordView(raw)
            #expect(view.owner.map { String(decoding: $0, as: UTF8.self) } == "rep:akim")
        }
        let touched = Fixtures.event(.leadTouched).binary
        touched.withUnsafeBytes { raw in
            let view = EventRecordView(raw)
            #expect(view.activity == .call)
            #expect(view.by.map { String(decoding: $0, as: UTF8.self) } == "rep:akim")
        }
        guard case .slaPublished(let sla) = Fixtures.event(.slaPublished).payload else { Issue.record("not an SLA"); return }
        #expect(sla.firstTouchWithin == 8 && sla.decisionWithin == 40)
        #expect(sla.calendar.startMinute == 540 && sla.calendar.endMinute == 1050 && sla.calendar.holidays == ["2026-05-01"])
    }

    @Test("bad fields are refused naming the field, what was expected and what was found")
    func refusals() {
        let cases: [(String, String, String)] = [
            (Self.line("lead.assigned", #"{"team":"emea"}"#), "data.owner", "nothing"),
            (Self.line("lead.touched", #"{"activity":"fax"}"#), "data.activity", "\"fax\""),
            (Self.line("lead.touched", #"{"activity":3}"#), "data.activity", "3"),
            (Self.line("sla.published", lead: false, #"{"version":1,"name":"x","effectiveAt":"2026-03-01T00:00:00Z","#
                + Self.calendar + "}"), "data.firstTouchWithin", "neither"),
            (Self.line("sla.published", lead: false, #"{"version":1,"name":"x","effectiveAt":"2026-03-01T00:00:00Z","firstTouchWithin":-2,"#
                + Self.calendar + "}"), "data.firstTouchWithin", "-2"),
            (Self.line("sla.published", lead: false,
                #"{"version":1,"name":"x","effectiveAt":"2026-03-01T00:00:00Z","firstTouchWithin":8,"calendar":{"timeZone":"Europe/Atlantis","workdays":[1],"start":"09:00","end":"17:00"}}"#),
                "data.calendar.timeZone", "\"Europe/Atlantis\""),
            (Self.line("sla.published", lead: false,
                #"{"version":1,"name":"x","effectiveAt":"2026-03-01T00:00:00Z","firstTouchWithin":8,"calendar":{"timeZone":"UTC","workdays":[1,8],"start":"09:00","end":"17:00"}}"#),
                "data.calendar.workdays[1]", "8"),
            (Self.line("sla.published", lead: false,
                #"{"version":1,"name":"x","effectiveAt":"2026-03-01T00:00:00Z","firstTouchWithin":8,"calendar":{"timeZone":"UTC","workdays":[1],"start":"17:00","end":"09:00"}}"#),
                "data.calendar.end", "\"09:00\""),
            (Self.line("sla.published", lead: false,
                #"{"version":1,"name":"x","effectiveAt":"2026-03-01T00:00:00Z","firstTouchWithin":8,"calendar":{"timeZone":"UTC","workdays":[1],"start":"9h","end":"17:00"}}"#),
                "data.calendar.start", "\"9h\""),
            (Self.line("sla.published", lead: false,
                #"{"version":1,"name":"x","effectiveAt":"2026-03-01T00:00:00Z","firstTouchWithin":8,"calendar":{"timeZone":"UTC","workdays":[1],"start":"09:00","end":"17:00","holidays":["2026-02-30"]}}"#),
                "data.calendar.holidays[0]", "\"2026-02-30\""),
        ]
        for (line, field, found) in cases {
            let error = Self.refusal(line)
            #expect(error?.field == field, "\(line)")
            #expect(error?.found == found, "\(line)")
            #expect(error?.eventId == "0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7b01")
        }
    }

    @Test("a service level's version must increase, like a definition's")
    func versionsIncrease() {
        var state = InMemoryLedgerState()
        let first = Fixtures.event(.slaPublished)
        #expect(BatchValidator.check(first, against: state) == nil)
        state.apply(first)
        #expect(state.latestServiceLevelVersion == 1)
        let issue = BatchValidator.check(first, line: 4, against: state)
        #expect(issue?.code == .serviceLevelVersionNotIncreasing)
        #expect(issue?.field == "data.version")
        #expect(issue?.line == 4)
        // Assignments and touches need no episode.
        #expect(BatchValidator.check(Fixtures.event(.leadAssigned), against: InMemoryLedgerState()) == nil)
        #expect(BatchValidator.check(Fixtures.event(.leadTouched), against: InMemoryLedgerState()) == nil)
    }
}

extension FeedbackEventTests {
    @Test("a stored service level whose limit no decoder admits is refused as a record, never converted")
    func craftedLimit() throws {
        guard case .slaPublished(var sla) = Fixtures.event(.slaPublished).payload else { Issue.record("not an SLA"); return }
        for bad in [1e300, -4, .infinity, .nan] {
            sla.firstTouchWithin = bad
            var event = Fixtures.event(.slaPublished)
            event.payload = .slaPublished(sla)
            #expect(throws: RecordDecodingError.self) { try LeadEvent(binary: event.binary) }
            // Built in code (an importer, a tool), it is refused before it is stored.
            #expect(BatchValidator.check(event, against: InMemoryLedgerState())?.field == "data.firstTouchWithin")
        }
    }
}
