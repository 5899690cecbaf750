import Foundation
import LeadModel
import Testing

@testable import Ledger

@Suite("Owner changes and sales activity from CRM histories")
struct ActivityImportTests {
    @Test("HubSpot: a later hubspot_owner_id re-assigns, ATTEMPTED_TO_CONTACT is a touch, and the events validate in order")
    func hubSpot() throws {
        let csv = """
            Record ID,Property,Value,Timestamp,Source
            201,hs_analytics_source,PAID_SEARCH,2024-03-01T08:00:00Z,ANALYTICS
            201,hubspot_owner_id,9001,2024-03-01T08:00:00Z,CRM_UI
            201,lifecyclestage,marketingqualifiedlead,2024-03-01T09:00:00Z,CRM_UI
            201,hubspot_owner_id,9002,2024-03-01T10:00:00Z,CRM_UI
            201,hs_lead_status,ATTEMPTED_TO_CONTACT,2024-03-01T11:00:00Z,CRM_UI
            201,hubspot_owner_id,9002,2024-03-01T12:00:00Z,CRM_UI
            201,hs_lead_status,IN_PROGRESS,2024-03-02T09:00:00Z,CRM_UI

            """
        let result = try HubSpotHistoryImporter.importData(Data(csv.utf8), fileName: "p.csv")
        let lead = result.events.filter { $0.lead == "201" }
        #expect(lead.map(\.type) == [.leadCaptured, .leadHandedOff, .leadAssigned, .leadTouched, .leadAccepted])
        #expect(lead[1].payload == .handedOff(.init(owner: "9001")))
        #expect(lead[2].payload == .assigned(.init(owner: "9002")))
        #expect(lead[2].occurredAt == Timestamp(rfc3339: "2024-03-01T10:00:00Z"))
        #expect(lead[3].payload == .touched(.init(activity: .other, by: "CRM_UI")))
        // The same owner again is no change: no second assignment.
        #expect(lead.count { $0.type == .leadAssigned } == 1)
        var state = InMemoryLedgerState()
        for event in StarterTaxonomy.events(source: "leadledger", occurredAt: Timestamp(microseconds: 0)) { state.apply(event) }
        guard case .success = BatchValidator.validate(result.events.map { (line: nil, event: $0) }, against: state) else {
            Issue.record("the imported events do not validate")
            return
        }
    }

    @Test("Salesforce: an OwnerId change after the hand-off re-assigns the lead")
    func salesforce() throws {
        let csv = """
            LeadId,Field,OldValue,NewValue,CreatedDate,CreatedById
            00Q9,created,,,2024-03-01T09:00:00.000+0000,005U1
            00Q9,OwnerId,,005A,2024-03-01T09:00:00.000+0000,005U1
            00Q9,Status,Open,MQL,2024-03-01T10:00:00.000+0000,005U1
            00Q9,OwnerId,005A,005B,2024-03-01T11:00:00.000+0000,005U1
            00Q9,Status,MQL,Working,2024-03-02T10:00:00.000+0000,005B

            """
        let result = try SalesforceLeadHistoryImporter.importData(Data(csv.utf8), fileName: "h.csv")
        let lead = result.events.filter { $0.lead == "00Q9" }
        #expect(lead.map(\.type) == [.leadCaptured, .leadHandedOff, .leadAssigned, .leadAccepted])
        #expect(lead[1].payload == .handedOff(.init(owner: "005A")))
        #expect(lead[2].payload == .assigned(.init(owner: "005B")))
        #expect(lead[2].actor == "005U1")
    }
}
