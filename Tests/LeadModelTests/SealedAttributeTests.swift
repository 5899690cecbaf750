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
}
