import Foundation
import LeadModel
import Testing

@testable import Ledger

@Suite("CloudEvents and name-based ids through the one way in")
struct CloudEventsInputTests {
    @Test("UUIDv5 matches RFC 9562's algorithm: the DNS namespace and python.org give 886313e1-3b8a-5372-9b90-0c9aee199e5d")
    func uuidV5KnownVector() {
        let dns = UUID(uuidString: "6ba7b810-9dad-11d1-80b4-00c04fd430c8")!
        #expect(NameBasedUUID.v5(namespace: dns, name: "python.org").uuidString.lowercased() == "886313e1-3b8a-5372-9b90-0c9aee199e5d")
    }

    @Test("a CloudEvent's attributes become the ledger's fields; a UUID id is kept as it is")
    func mapping() throws {
        let id = UUID()
        let json = #"{"specversion":"1.0","id":"\#(id.uuidString)","source":"salesforce","type":"lead.rejected","subject":"00Q1","time":"2026-03-02T14:05:00Z","actor":"rep:jsmith","correlationid":"c-9","data":{"reason":"FIT_COMPANY.TOO_SMALL"}}"#
        let body = CloudEvents.body(Data(json.utf8), batched: false, sources: CloudEventSources(), boundSource: nil)
        #expect(body.problems.isEmpty)
        let event = try #require(body.events.first)
        #expect(event.id == id)
        #expect(event.lead == "00Q1")
        #expect(event.source == "salesforce")
        #expect(event.actor == "rep:jsmith")
        #expect(event.correlationId == "c-9")
        #expect(event.payload == .rejected(.init(reason: "FIT_COMPANY.TOO_SMALL")))
    }

    @Test("refusals name CloudEvents attributes: `subject` not `lead`, `specversion`, `data_base64`")
    func refusalsNameAttributes() {
        let noSubject = #"{"specversion":"1.0","id":"1","source":"salesforce","type":"lead.accepted","time":"2026-03-02T14:05:00Z"}"#
        let oldVersion = #"{"specversion":"0.3","id":"2","source":"salesforce","type":"lead.accepted","subject":"L","time":"2026-03-02T14:05:00Z"}"#
        let base64 = #"{"specversion":"1.0","id":"3","source":"salesforce","type":"lead.accepted","subject":"L","time":"2026-03-02T14:05:00Z","data_base64":"e30="}"#
        let body = CloudEvents.body(
            Data("[\(noSubject),\(oldVersion),\(base64)]".utf8), batched: true, sources: CloudEventSources(), boundSource: nil)
        #expect(body.events.isEmpty)
        #expect(body.problems.map(\.field) == ["subject", "specversion", "data_base64"])
        #expect(body.problems.map(\.item) == [0, 1, 2])
    }

    @Test("the source table wins, then the key's binding, then a source that is already a ledger source")
    func sourceMapping() {
        let sources = CloudEventSources(table: ["//crm.example.com": "salesforce"])
        #expect(sources.ledgerSource(for: "//crm.example.com", boundSource: "webform") == "salesforce")
        #expect(sources.ledgerSource(for: "//other", boundSource: "webform") == "webform")
        #expect(sources.ledgerSource(for: "hubspot", boundSource: nil) == "hubspot")
        #expect(sources.ledgerSource(for: "https://x.example.com/a", boundSource: nil) == nil)
    }
}
