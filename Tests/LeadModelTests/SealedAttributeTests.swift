import Foundation
import LeadModel
import Testing

@Suite("Sealed attribute values")
struct SealedAttributeTests {
    let event = LeadEvent(
        id: UUID(), occurredAt: Timestamp(microseconds: 1_700_000_000_000_000), source: "webform", lead: "00QS",
        payload: .leadCaptured(.init(channel: "web", attributes: ["email": .string("s@example.com"), "phone": .number(5550100), "country": .string("DE")])))

    /// A stand-in for the ledger's cipher: reverses the bytes, so the test sees what went in.
    static func seal(_ name: String, _ value: [UInt8]) -> [UInt8]? {
        name == "email" || name == "phone" ? Array(value.reversed()) : nil
    }

    @Test("sealed values read as absent to every reader, and come back whole from their unsealed bytes")
    func roundTrip() throws {
        let bytes = event.binary(sealing: Self.seal)
        #expect(bytes.count > 0)
        #expect(Data(bytes).range(of: Data("s@example.com".utf8)) == nil)
        let decoded = try LeadEvent(binary: bytes)
        guard case .leadCaptured(let data) = decoded.payload else { Issue.record("not a capture"); return }
        #expect(data.attributes == ["country": .string("DE")])
        try bytes.withUnsafeBytes { raw in
            let view = try #require(EventRecordView(validating: raw))
            var names: [String] = []
            for attribute in view.attributes { names.append(String(decoding: attribute.name, as: UTF8.self)) }
            #expect(names == ["country"])
        }
        let sealed = try LeadEvent.sealedAttributes(inBinary: bytes)
        #expect(sealed.map(\.name) == ["email", "phone"])
        let values = try sealed.map { try LeadEvent.attributeValue(unsealed: Array($0.sealed.reversed())) }
        #expect(values == [.string("s@example.com"), .number(5550100)])
        #expect(throws: RecordDecodingError.self) { try LeadEvent.attributeValue(unsealed: [9, 9]) }
        // Nothing to seal: the same bytes as the plain encoding.
        #expect(event.binary(sealing: { _, _ in nil }) == event.binary)
    }

    @Test("sealing in place gives the bytes of sealing through arrays, for every kind of value, and declining gives the plain form")
    func inPlace() throws {
        let attributes: [String: AttributeValue] = [
            "email": .string("in.place@example.com"), "name": .string(""), "phone": .number(-0.5), "opted_in": .bool(true),
            "fax": .null, "country": .string("FR"),
        ]
        let events = [
            event,
            LeadEvent(
                id: UUID(), occurredAt: Timestamp(microseconds: 1_700_000_000_000_001), source: "hubspot", lead: "00QT",
                payload: .attributesObserved(.init(attributes: attributes))),
            LeadEvent(
                id: UUID(), occurredAt: Timestamp(microseconds: 1_700_000_000_000_002), source: "webform", actor: "form:1", lead: "00QU",
                correlationId: "c-1", payload: .leadCaptured(.init(channel: "web", campaign: "spring", attributes: attributes))),
        ]
        let sealedNames: Set = ["email", "name", "phone", "opted_in", "fax"]
        for event in events {
            let throughArrays = event.binary { name, value in sealedNames.contains(name) ? Array(value.reversed()) + [0xEE] : nil }
            var offered: [String] = []
            let inPlace = event.binary(sealingInPlace: { name, value, out in
                offered.append(name)
                guard sealedNames.contains(name) else { return false }
                out.append(contentsOf: value.reversed())
                out.append(0xEE)
                return true
            })
            #expect(inPlace == throughArrays)
            #expect(inPlace != event.binary)
            // A null is never offered: there is nothing to hide in it.
            #expect(!offered.contains("fax"))
            #expect(event.binary(sealingInPlace: { _, _, _ in false }) == event.binary)
            let own: [String: AttributeValue]
            switch event.payload {
            case .leadCaptured(let data): own = data.attributes ?? [:]
            case .attributesObserved(let data): own = data.attributes
            default: own = [:]
            }
            let sealed = try LeadEvent.sealedAttributes(inBinary: inPlace)
            #expect(sealed.map(\.name) == own.filter { sealedNames.contains($0.key) && $0.value != .null }.keys.sorted())
            for attribute in sealed {
                #expect(attribute.sealed.last == 0xEE)
                #expect(try LeadEvent.attributeValue(unsealed: Array(attribute.sealed.dropLast().reversed())) == own[attribute.name])
            }
        }
    }
}
