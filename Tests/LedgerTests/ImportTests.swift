import Foundation
import LeadModel
import Testing

@testable import Ledger

/// The fixtures next to this file: a handful of made-up rows in each export's column layout.
private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// Appends `events` in order to a ledger state that holds the starter taxonomy, returning every refusal.
private func refusals(_ events: [LeadEvent]) -> [String] {
    var state = InMemoryLedgerState()
    for event in StarterTaxonomy.events(source: "leadledger", occurredAt: Timestamp(microseconds: 0)) {
        state.apply(event)
    }
    switch BatchValidator.validate(events.map { (line: nil, event: $0) }, against: state) {
    case .success: return []
    case .failure(let refusal): return refusal.issues.map(\.description)
    }
}

private func events(_ result: ImportResult, lead: String) -> [LeadEvent] {
    result.events.filter { $0.lead == lead }
}

private func date(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

@Suite("Olist import")
struct OlistImportTests {
    static let mqlHeader = "mql_id,first_contact_date,landing_page_id,origin\n"
    static let dealHeader =
        "mql_id,seller_id,sdr_id,sr_id,won_date,business_segment,lead_type,lead_behaviour_profile,has_company,has_gtin,average_stock,business_type,declared_product_catalog_size,declared_monthly_revenue\n"

    func importFixture() throws -> ImportResult {
        try OlistImporter.importFiles(mqls: fixtures.appendingPathComponent("olist"), closedDeals: nil)
    }

    @Test("each MQL row is captured at its first contact and handed off one second later")
    func mqlRows() throws {
        let result = try importFixture()
        let leadB = events(result, lead: "lead-b")
        #expect(leadB.map(\.type) == [.leadCaptured, .leadHandedOff])
        #expect(leadB[0].occurredAt == date("2018-01-11T00:00:00Z"))
        #expect(leadB[1].occurredAt == date("2018-01-11T00:00:01Z"))
        #expect(leadB[0].payload == .leadCaptured(.init(channel: "unknown", campaign: "page-2")))
        #expect(leadB[1].payload == .handedOff(.init(owner: "unassigned")))
        #expect(leadB.allSatisfy { $0.source == "olist" })
        let leadA = events(result, lead: "lead-a")
        #expect(leadA[0].payload == .leadCaptured(.init(channel: "paid_search", campaign: "page-1")))
        #expect(leadA[1].payload == .handedOff(.init(owner: "sdr-1", definition: nil)))
    }

    @Test("a closed deal is accepted, observed, converted and closed won at its won_date")
    func closedDealRows() throws {
        let result = try importFixture()
        let leadA = events(result, lead: "lead-a")
        #expect(
            leadA.map(\.type) == [
                .leadCaptured, .leadHandedOff, .leadAccepted, .leadAttributesObserved, .leadConverted, .leadClosed,
            ])
        let won = date("2018-01-20T10:00:00Z")
        #expect(leadA[2...].allSatisfy { $0.occurredAt == won })
        #expect(leadA[2].payload == .accepted(.init(by: "sdr-1")))
        #expect(
            leadA[3].payload
                == .attributesObserved(
                    .init(attributes: [
                        "business_segment": .string("pet"), "lead_type": .string("online_medium"),
                        "lead_behaviour_profile": .string("cat"), "business_type": .string("reseller"),
                        "declared_monthly_revenue": .number(1500),
                    ])))
        #expect(leadA[4].payload == .converted(.init(opportunity: "seller-1")))
        #expect(leadA[5].payload == .closed(.init(won: true)))
        #expect(leadA[5].actor == "sr-1")
    }

    @Test("rows the ledger cannot take as they are are mapped explicitly and counted")
    func explicitMappings() throws {
        let result = try importFixture()
        let report = result.report
        #expect(report.files.map(\.rows) == [5, 3])
        #expect(report.specialCount("empty_origin") == 1)
        #expect(report.specialCount("won_before_first_contact") == 1)
        #expect(report.specialCount("closed_deal_without_mql") == 1)
        #expect(report.skipped == [.init(file: OlistImporter.mqlFileName, line: 6, reason: "mql_id lead-a already appeared on line 2")])
        // The deal won before its first contact is decided at the hand-off instant, not before it.
        let leadD = events(result, lead: "lead-d")
        #expect(leadD[2].type == .leadAccepted)
        #expect(leadD[2].occurredAt == leadD[1].occurredAt)
        // The deal without an MQL is captured and handed off at its won_date.
        let leadZ = events(result, lead: "lead-z")
        #expect(leadZ.map(\.type).prefix(3) == [.leadCaptured, .leadHandedOff, .leadAccepted])
        #expect(leadZ.allSatisfy { $0.occurredAt == date("2018-03-01T12:00:00Z") })
        #expect(report.count(of: .leadHandedOff) == 5)
        #expect(report.count(of: .leadClosed) == 3)
        #expect(report.eventCount == result.events.count)
    }

    @Test("the events validate when appended in the order given")
    func validates() throws {
        let result = try importFixture()
        #expect(refusals(result.events) == [])
        let times = result.events.map(\.occurredAt)
        #expect(times == times.sorted())
    }

    @Test("importing the same files twice yields identical events, ids included")
    func deterministic() throws {
        let first = try importFixture()
        let second = try OlistImporter.importFiles(
            mqls: fixtures.appendingPathComponent("olist/\(OlistImporter.mqlFileName)"),
            closedDeals: fixtures.appendingPathComponent("olist/\(OlistImporter.closedDealsFileName)"))
        #expect(first.events == second.events)
        #expect(Set(first.events.map(\.id)).count == first.events.count)
    }

    static let badInputs: [(mqls: String, deals: String, message: String)] = [
        (
            mqlHeader + "m1,2018-01-10,p1,social\n", dealHeader + "m1,\"s1,sdr1,sr1,2018-02-26 19:58:54,pet,,,,,,,,1\n",
            #"import error: olist_closed_deals_dataset.csv line 2: column "seller_id": unterminated quoted field: the file ends inside the quotes opened on this line"#
        ),
        (
            mqlHeader + "m1,2018-01-10,p1,social\nm2,2018-01-11,p1,social,extra\n", dealHeader,
            "import error: olist_marketing_qualified_leads_dataset.csv line 3: expected 4 columns as in the header, found 5"
        ),
        (
            "mql_id,first_contact_date,origin\nm1,2018-01-10,social\n", dealHeader,
            #"import error: olist_marketing_qualified_leads_dataset.csv line 1: missing required column "landing_page_id" (the header has "mql_id", "first_contact_date", "origin")"#
        ),
        (
            mqlHeader + "m1,2018-01-10,p1,social\n",
            dealHeader + "m1,s1,sdr1,sr1,2018-02-26 19:58:54,pet,,,,,,,,1\nm2,s2,sdr1,sr1,soon,pet,,,,,,,,1\n",
            #"import error: olist_closed_deals_dataset.csv line 3: column "won_date": expected a date like 2018-02-26 19:58:54, found "soon""#
        ),
        (
            mqlHeader + "m1,2018-01-10,p1,social\n", dealHeader + "m1,s1,sdr1,sr1,2018-02-26 19:58:54,pet,,,,,,,,lots\n",
            #"import error: olist_closed_deals_dataset.csv line 2: column "declared_monthly_revenue": expected a number like 1500.0, found "lots""#
        ),
        (
            mqlHeader + "m1,2018-01-10,p1,\"social\"x\n", dealHeader,
            #"import error: olist_marketing_qualified_leads_dataset.csv line 2: column "origin": expected a comma or the end of the line after a closing quote, found "x""#
        ),
    ]

    @Test("each kind of bad input is refused with a message naming file, line and column", arguments: 0..<6)
    func badInput(index: Int) {
        let bad = Self.badInputs[index]
        #expect {
            _ = try OlistImporter.importData(mqls: Data(bad.mqls.utf8), closedDeals: Data(bad.deals.utf8))
        } throws: { error in
            (error as? ImportError)?.description == bad.message
        }
    }

    static let realData = "/work/shared/datasets/olist-marketing-funnel"

    @Test(
        "the real Olist export gives 8,000 hand-offs and 842 wins, and validates",
        .enabled(if: FileManager.default.fileExists(atPath: realData)))
    func realExport() throws {
        let result = try OlistImporter.importDirectory(URL(fileURLWithPath: Self.realData))
        #expect(result.report.count(of: .leadHandedOff) == 8_000)
        #expect(result.events.filter { if case .closed(let c) = $0.payload { c.won } else { false } }.count == 842)
        #expect(result.report.specialCount("closed_deal_without_mql") == 0)
        #expect(result.report.specialCount("won_before_first_contact") == 1)
        #expect(refusals(result.events) == [])
    }
}

@Suite("CSV reading")
struct CSVReadingTests {
    @Test("quotes, doubled quotes, embedded commas and line breaks, and CRLF read as RFC 4180 says")
    func rfc4180() throws {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\nplain,,last\r\n"
        let table = try CSVReader.parse(Data(text.utf8), file: "t.csv")
        #expect(table.header == ["a", "b", "c"])
        #expect(table.rows.map(\.fields) == [["x, y", "say \"hi\"", "two\r\nlines"], ["plain", "", "last"]])
        // The record after a quoted line break starts on the physical line after it.
        #expect(table.rows.map(\.line) == [2, 4])
    }

    @Test("a byte order mark and a missing final line break are tolerated")
    func bomAndNoFinalNewline() throws {
        let table = try CSVReader.parse(Data([0xEF, 0xBB, 0xBF] + Array("a,b\n1,2".utf8)), file: "t.csv")
        #expect(table.header == ["a", "b"])
        #expect(table.rows.map(\.fields) == [["1", "2"]])
    }

    @Test("an unterminated quote names the line it was opened on")
    func unterminated() {
        #expect {
            _ = try CSVReader.parse(Data("a,b\n1,2\n3,\"open\n\n".utf8), file: "t.csv")
        } throws: { error in
            (error as? ImportError)?.description
                == #"import error: t.csv line 3: column "b": unterminated quoted field: the file ends inside the quotes opened on this line"#
        }
    }
}

@Suite("Salesforce lead history import")
struct SalesforceImportTests {
    func importFixture() throws -> ImportResult {
        let mapping = try SalesforceMapping.load(from: fixtures.appendingPathComponent("salesforce_mapping.json"))
        return try SalesforceLeadHistoryImporter.importFile(
            fixtures.appendingPathComponent("salesforce_lead_history.csv"), mapping: mapping)
    }

    @Test("a lead's rows become capture, score, hand-off to the new owner and acceptance")
    func straightPath() throws {
        let lead = events(try importFixture(), lead: "00Q1")
        #expect(lead.map(\.type) == [.leadCaptured, .leadScored, .leadHandedOff, .leadAccepted])
        #expect(
            lead[0].payload
                == .leadCaptured(.init(channel: "paid_search", attributes: ["industry": .string("Software")])))
        #expect(lead[1].payload == .leadScored(.init(score: 72, model: "Lead_Score__c")))
        #expect(lead[2].payload == .handedOff(.init(owner: "005REP1")))
        #expect(lead[3].payload == .accepted(.init(by: "005REP1")))
        #expect(lead[3].occurredAt == date("2024-03-03T15:30:00Z"))
        #expect(lead.allSatisfy { $0.source == "salesforce" })
    }

    @Test("a status jumping straight to Working gets a hand-off one second before, counted in the report")
    func decisionWithoutHandOff() throws {
        let result = try importFixture()
        let lead = events(result, lead: "00Q2")
        #expect(lead.map(\.type) == [.leadCaptured, .leadHandedOff, .leadAccepted])
        #expect(lead[1].occurredAt == date("2024-03-04T07:59:59Z"))
        #expect(lead[1].payload == .handedOff(.init(owner: "005REP2")))
        #expect(result.report.specialCount("decision_without_hand_off") == 1)
    }

    @Test("rejections take their mapped reason, a re-MQL opens a new episode, an unknown reason keeps its text")
    func rejectionsAndReMQL() throws {
        let result = try importFixture()
        let lead = events(result, lead: "00Q3")
        #expect(
            lead.map(\.type) == [.leadCaptured, .leadHandedOff, .leadRejected, .leadHandedOff, .leadRejected])
        #expect(lead[2].payload == .rejected(.init(reason: "FIT_COMPANY.TOO_SMALL", by: "005REP1")))
        #expect(
            lead[4].payload == .rejected(.init(reason: "OTHER.OTHER", note: "Budget frozen, \"until Q3\"", by: "005REP1")))
        #expect(result.report.specialCount("unmapped_rejection_reason") == 1)
    }

    @Test("recycling, attributes and conversion map; unmapped, duplicate and impossible rows are listed as skipped")
    func recycleConvertAndSkips() throws {
        let result = try importFixture()
        let lead = events(result, lead: "00Q4")
        #expect(
            lead.map(\.type) == [.leadCaptured, .leadHandedOff, .leadRecycled, .leadAttributesObserved, .leadConverted])
        #expect(lead[3].payload == .attributesObserved(.init(attributes: ["employees": .number(250)])))
        #expect(lead[4].payload == .converted(.init(opportunity: "00Q4")))
        #expect(result.report.skipped.map(\.line) == [14, 20, 22])
        #expect(result.report.skipped[1].reason == #"field "Phone" is not in the mapping"#)
        #expect(result.report.skipped[2].reason == "repeats line 21 (same lead, field, time and value)")
        #expect(result.report.files == [.init(file: "salesforce_lead_history.csv", rows: 22)])
    }

    @Test("the import validates in order against a ledger holding the starter taxonomy, and repeats identically")
    func validatesAndIsDeterministic() throws {
        let first = try importFixture()
        #expect(refusals(first.events) == [])
        #expect(try importFixture().events == first.events)
    }

    @Test("the default mappings only use reason codes of the starter taxonomy")
    func defaultCodesExist() {
        let starter = Set(StarterTaxonomy.reasons.map(\.code))
        #expect(SalesforceMapping.default.reasonCodes.subtracting(starter) == [])
        #expect(HubSpotMapping.default.reasonCodes.subtracting(starter) == [])
    }

    @Test("the sample mapping file overrides only what it states")
    func sampleMapping() throws {
        let mapping = try SalesforceMapping.load(from: fixtures.appendingPathComponent("salesforce_mapping.json"))
        #expect(mapping.acceptedStatuses == ["SAL", "Working", "Accepted"])
        #expect(mapping.opportunityField == SalesforceMapping.default.opportunityField)
        #expect(mapping.attributeFields["NumberOfEmployees"] == "employees")
    }

    @Test("a mapping with an unknown key or a malformed reason code is refused by name")
    func badMapping() {
        #expect {
            _ = try MappingFile.decode(SalesforceMapping.self, from: Data(#"{"acceptStatuses":["SAL"]}"#.utf8), file: "m.json")
        } throws: { error in
            (error as? ImportError)?.description.hasPrefix(#"import error: m.json: key "acceptStatuses": expected one of source, "#)
                == true
        }
        #expect {
            var mapping = SalesforceMapping.default
            mapping.rejectionReasons = ["Small": "too small"]
            _ = try mapping.rules(file: "m.json")
        } throws: { error in
            (error as? ImportError)?.description
                == #"import error: m.json: key "rejectionReasons.Small": expected a reason code like FIT_COMPANY.TOO_SMALL, found "too small""#
        }
    }

    @Test("a CreatedDate that is not a date is refused with line and column")
    func badDate() {
        let csv = "LeadId,Field,OldValue,NewValue,CreatedDate,CreatedById\n00Q1,Status,Open,MQL,yesterday,005U1\n"
        #expect {
            _ = try SalesforceLeadHistoryImporter.importData(Data(csv.utf8), fileName: "h.csv")
        } throws: { error in
            (error as? ImportError)?.description
                == #"import error: h.csv line 2: column "CreatedDate": expected a date like 2024-03-01T14:05:00.000+0000, found "yesterday""#
        }
    }
}

@Suite("HubSpot property history import")
struct HubSpotImportTests {
    func importFixture() throws -> ImportResult {
        try HubSpotHistoryImporter.importFile(fixtures.appendingPathComponent("hubspot_property_history.csv"), mapping: .default)
    }

    @Test("lifecycle stages drive capture, hand-off, acceptance, conversion and the win")
    func lifecycle() throws {
        let result = try importFixture()
        let lead = events(result, lead: "101")
        #expect(
            lead.map(\.type) == [
                .leadCaptured, .leadScored, .leadHandedOff, .leadAccepted, .leadConverted, .leadClosed,
            ])
        #expect(
            lead[0].payload
                == .leadCaptured(.init(channel: "paid_search", attributes: ["country": .string("US")])))
        #expect(lead[2].payload == .handedOff(.init(owner: "9001")))
        #expect(lead[3].actor == "CRM_UI")
        #expect(lead[5].payload == .closed(.init(won: true)))
        // SQL after IN_PROGRESS confirms an acceptance already made: counted, no second decision.
        #expect(result.report.specialCount("accepted_again") == 1)
        #expect(result.report.specialCount("status_without_event") == 1)
    }

    @Test("UNQUALIFIED takes the mapped disqualification reason; BAD_TIMING rejects as not now")
    func rejections() throws {
        let result = try importFixture()
        let timing = events(result, lead: "102")
        #expect(timing.last?.payload == .rejected(.init(reason: "INTENT_TIMING.NOT_NOW", by: "CRM_UI")))
        #expect(timing.last?.occurredAt == date("2024-02-03T08:00:00Z"))
        #expect(timing[1].payload == .handedOff(.init(owner: "unassigned")))
        let budget = events(result, lead: "103")
        #expect(budget.last?.payload == .rejected(.init(reason: "INTENT_TIMING.NO_BUDGET", by: "CRM_UI")))
    }

    @Test("decisions and wins without a fitting episode are mapped explicitly and counted")
    func explicitMappings() throws {
        let result = try importFixture()
        #expect(events(result, lead: "104").map(\.type) == [.leadCaptured, .leadHandedOff, .leadAccepted])
        #expect(
            events(result, lead: "105").map(\.type) == [.leadCaptured, .leadHandedOff, .leadAccepted, .leadClosed])
        #expect(result.report.specialCount("decision_without_hand_off") == 1)
        #expect(result.report.specialCount("closed_with_open_episode") == 1)
        #expect(
            result.report.skipped == [
                .init(
                    file: "hubspot_property_history.csv", line: 20,
                    reason: #"hs_lead_status value "SOMETHING_ELSE" is not in the mapping"#)
            ])
        #expect(result.report.count(of: .leadCaptured) == 5)
    }

    @Test("the import validates in order and repeats identically")
    func validatesAndIsDeterministic() throws {
        let first = try importFixture()
        #expect(refusals(first.events) == [])
        #expect(try importFixture().events == first.events)
        #expect(Set(first.events.map(\.id)).count == first.events.count)
    }

    @Test("a score that is not a number is refused with line and column")
    func badScore() {
        let csv = "Record ID,Property,Value,Timestamp\n7,hubspotscore,high,2024-02-01T08:00:00Z\n"
        #expect {
            _ = try HubSpotHistoryImporter.importData(Data(csv.utf8), fileName: "p.csv")
        } throws: { error in
            (error as? ImportError)?.description
                == #"import error: p.csv line 2: column "Value": expected a number for hubspotscore, found "high""#
        }
    }
}

@Suite("Deterministic ids")
struct DeterministicIDTests {
    @Test("the same namespace and key give the same version-8 UUID; any change gives another")
    func stable() {
        let id = DeterministicID.make(namespace: "olist", key: "lead-a|captured")
        #expect(id == DeterministicID.make(namespace: "olist", key: "lead-a|captured"))
        #expect(id != DeterministicID.make(namespace: "olist", key: "lead-a|handed_off"))
        #expect(DeterministicID.make(namespace: "ab", key: "c") != DeterministicID.make(namespace: "a", key: "bc"))
        let text = id.uuidString
        #expect(Array(text)[14] == "8")
        #expect("89AB".contains(Array(text)[19]))
    }

    @Test("ids do not depend on the run or the machine")
    func pinned() {
        // Pinned so that a change of the digest, which would break re-import deduplication, fails here.
        #expect(DeterministicID.make(namespace: "olist", key: "lead-a|captured").uuidString == "CE0981E6-3D94-8136-9A53-B9883812CCDA")
    }
}
