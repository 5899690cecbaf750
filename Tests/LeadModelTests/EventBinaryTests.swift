import Foundation
import LeadModel
import Testing

@Suite("Events in binary")
struct EventBinaryTests {
    @Test("every event type round-trips exactly through the binary form", arguments: EventType.allCases)
    func roundTrip(type: EventType) throws {
        let event = Fixtures.event(type)
        let bytes = event.binary
        #expect(bytes[0] == 1)
        #expect(bytes[1] == type.code)
        #expect(try LeadEvent(binary: bytes) == event)
    }

    @Test("records are compact: a typical rejection is a fraction of its JSON")
    func compact() {
        let event = Fixtures.event(.leadRejected)
        #expect(event.binary.count == 124)
        #expect(event.binary.count * 2 < event.jsonData.count)
    }

    @Test("type codes are stable and invertible")
    func codes() {
        #expect(EventType.allCases.map(\.code) == Array(1...16) + [20, 17, 18])
        for type in EventType.allCases { #expect(EventType(code: type.code) == type) }
        #expect(EventType(code: 0) == nil)
        #expect(EventType(code: 19) == nil)
        #expect(EventType(code: 21) == nil)
        #expect(EventType.allCases.filter(\.isLeadEvent).count == 13)
        #expect(!EventType.slaPublished.isLeadEvent && EventType.leadAssigned.isLeadEvent && EventType.leadTouched.isLeadEvent)
        #expect(EventType.leadForgotten.isLeadEvent)
    }

    @Test("random events round-trip exactly and encode deterministically")
    func randomRoundTrip() throws {
        var random = RandomEvents(rng: SplitMix64(seed: 2026))
        for _ in 0..<3000 {
            let event = random.event()
            let bytes = event.binary
            let decoded = try LeadEvent(binary: bytes)
            #expect(decoded == event)
            #expect(decoded.binary == bytes)
            var appended: [UInt8] = [9]
            event.encodeBinary(into: &appended)
            #expect(Array(appended.dropFirst()) == bytes)
        }
    }

    @Test("the same content decoded twice gives the same bytes, whatever the attribute order")
    func deterministic() throws {
        let a = try EventDecoder().decode(
            line:
                #"{"id":"0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a02","type":"lead.attributes_observed","lead":"L","occurredAt":"2026-03-01T10:00:00Z","source":"s","data":{"attributes":{"b":1,"a":"x","c":null}}}"#
        )
        let b = try EventDecoder().decode(
            line:
                #"{"data":{"attributes":{"c":null,"a":"x","b":1}},"source":"s","occurredAt":"2026-03-01T10:00:00Z","lead":"L","type":"lead.attributes_observed","id":"0B9F3C2E-5D7A-4C1E-9A51-0C6F2F1E7A02"}"#
        )
        #expect(a.binary == b.binary)
    }

    @Test("truncated, extended or corrupt records are refused")
    func corrupt() {
        let bytes = Fixtures.event(.leadRejected).binary
        for length in [0, 1, 31, 33, bytes.count - 1] {
            #expect(throws: RecordDecodingError.self) { try LeadEvent(binary: Array(bytes.prefix(length))) }
        }
        #expect(throws: RecordDecodingError.self) { try LeadEvent(binary: bytes + [0]) }
        var badVersion = bytes
        badVersion[0] = 2
        #expect(throws: RecordDecodingError.self) { try LeadEvent(binary: badVersion) }
        var badType = bytes
        badType[1] = 99
        #expect(throws: RecordDecodingError.self) { try LeadEvent(binary: badType) }
    }

    @Test("the record view reads the hot fields without decoding the event")
    func view() throws {
        func text(_ slice: UnsafeRawBufferPointer?) -> String? {
            slice.map { String(decoding: $0, as: UTF8.self) }
        }
        let captured = Fixtures.event(.leadCaptured)
        captured.binary.withUnsafeBytes { raw in
            let view = EventRecordView(raw)
            #expect(view.type == .leadCaptured)
            #expect(view.occurredAt == captured.occurredAt.microseconds)
            #expect(view.utcOffsetSeconds == 3600)
            #expect(text(view.lead) == "00Q1")
            #expect(text(view.channel) == "paid_search")
            #expect(text(view.campaign) == "spring")
            #expect(text(view.source) == "hubspot")
            #expect(text(view.actor) == "form:demo")
            #expect(view.owner == nil)
            #expect(Array(view.id) == withUnsafeBytes(of: captured.id.uuid) { Array($0) })
            var seen: [String] = []
            for (name, value) in view.attributes {
                switch value {
                case .string(let bytes): seen.append("\(text(name)!)=\(text(bytes)!)")
                case .number(let number): seen.append("\(text(name)!)=\(number)")
                case .bool(let flag): seen.append("\(text(name)!)=\(flag)")
                case .null: seen.append("\(text(name)!)=null")
                }
            }
            #expect(seen == ["country=US", "employees=120.0", "opted_in=true", "phone=null"])
        }
        Fixtures.event(.leadHandedOff).binary.withUnsafeBytes { raw in
            let view = EventRecordView(raw)
            #expect(text(view.owner) == "rep:jsmith")
            #expect(view.definitionVersion == 3)
            #expect(view.channel == nil)
        }
        Fixtures.event(.leadRejected).binary.withUnsafeBytes { raw in
            let view = EventRecordView(raw)
            #expect(text(view.reason) == "FIT_COMPANY.TOO_SMALL")
            #expect(text(view.note) == "12 employees")
            #expect(text(view.by) == "rep:jsmith")
            #expect(text(view.lead) == "00Q5e00000AbCdE")
        }
        Fixtures.event(.leadRejectionCorrected).binary.withUnsafeBytes { raw in
            let view = EventRecordView(raw)
            #expect(text(view.reason) == "DUPLICATE.EXISTING_LEAD")
            let target = UUID(uuidString: "0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a06")!
            #expect(view.correctedEvent.map(Array.init) == withUnsafeBytes(of: target.uuid) { Array($0) })
        }
        Fixtures.event(.leadScored).binary.withUnsafeBytes { raw in
            #expect(EventRecordView(raw).score == 72.5)
        }
        Fixtures.event(.leadClosed).binary.withUnsafeBytes { raw in
            let view = EventRecordView(raw)
            #expect(view.won == false)
            #expect(view.amount == 0)
            #expect(text(view.reason) == "LOST.PRICE")
        }
        Fixtures.event(.leadAccepted).binary.withUnsafeBytes { raw in
            #expect(EventRecordView(raw).auto == false)
        }
        Fixtures.event(.reasonDefined).binary.withUnsafeBytes { raw in
            let view = EventRecordView(raw)
            #expect(text(view.code) == "OTHER.OTHER")
            #expect(view.requiresNote == true)
            #expect(view.lead == nil)
            #expect(text(view.source) == "revops")
        }
        Fixtures.event(.definitionPublished).binary.withUnsafeBytes { raw in
            let view = EventRecordView(raw)
            #expect(view.definitionVersion == 3)
            #expect(view.effectiveAt == Timestamp(rfc3339: "2026-03-01T00:00:00+01:00")!.microseconds)
        }
    }

    @Test("the record view agrees with the full decoder on random events")
    func viewAgrees() throws {
        var random = RandomEvents(rng: SplitMix64(seed: 99))
        for _ in 0..<1000 {
            let event = random.event()
            event.binary.withUnsafeBytes { raw in
                let view = EventRecordView(raw)
                #expect(view.type == event.type)
                #expect(view.occurredAt == event.occurredAt.microseconds)
                #expect(view.lead.map { String(decoding: $0, as: UTF8.self) } == event.lead)
                #expect(String(decoding: view.source, as: UTF8.self) == event.source)
                switch event.payload {
                case .leadCaptured(let data):
                    #expect(view.channel.map { String(decoding: $0, as: UTF8.self) } == data.channel)
                    #expect(view.attributes.underestimatedCount >= 0)
                    #expect(Array(view.attributes).count == (data.attributes?.count ?? 0))
                case .attributesObserved(let data):
                    #expect(Array(view.attributes).count == data.attributes.count)
                case .handedOff(let data):
                    #expect(view.definitionVersion == data.definition)
                case .rejected(let data):
                    #expect(view.reason.map { String(decoding: $0, as: UTF8.self) } == data.reason)
                case .leadScored(let data):
                    #expect(view.score?.bitPattern == data.score.bitPattern)
                default:
                    break
                }
            }
        }
    }

    @Test("the validating view refuses records it cannot read")
    func validatingView() {
        #expect([UInt8]([1, 2, 3]).withUnsafeBytes { EventRecordView(validating: $0) } == nil)
        #expect(Fixtures.event(.leadScored).binary.withUnsafeBytes { EventRecordView(validating: $0)?.type } == .leadScored)
    }
}
