import EventLog
import Foundation
import Testing

@Suite("Sealing personal values")
struct ValueSealTests {
    static let key = (0..<32).map(UInt8.init)
    /// Event 00112233-4455-6677-8899-aabbccddeeff, attribute `email`: the context of a sealed value.
    static let context = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff] + Array("email".utf8)
    /// The encoded string value "ada@example.com": tag 4, length, UTF-8.
    static let value: [UInt8] = [4, 15, 0] + Array("ada@example.com".utf8)
    /// Computed apart from LeadLedger (Python's `cryptography`): AES-256-GCM with the first 12 bytes of
    /// SHA-256(context) as the nonce and the context as authenticated data, stored nonce ‖ ciphertext ‖ tag.
    static let expected = hex(
        "55bfa56954b42d69a28ad3f6fac55e2937ad44c5fa40320b1bfe8b67fd09b2f26545988283b556430d2fb6f18554")

    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    @Test("both ways of sealing give the bytes ledgers already store, and open back; another context or key does not open")
    func knownAnswer() throws {
        #expect(try ValueSeal.seal(Self.value, key: Self.key, context: Self.context) == Self.expected)
        let key = try ValueSeal.Key(Self.key)
        var out: [UInt8] = [0xAB]
        try Self.value.withUnsafeBytes { value in
            try Self.context.withUnsafeBytes { try ValueSeal.seal(value, key: key, context: $0, appendingTo: &out) }
        }
        #expect(out == [0xAB] + Self.expected)
        #expect(try ValueSeal.open(Self.expected, key: Self.key, context: Self.context) == Self.value)
        #expect(try ValueSeal.open(Self.expected, key: key, context: Self.context) == Self.value)
        #expect(throws: ValueSealError.self) { try ValueSeal.open(Self.expected, key: key, context: Self.context.dropLast() + Array("y".utf8)) }
        #expect(throws: ValueSealError.self) { try ValueSeal.open(Self.expected, key: ValueSeal.newKey(), context: Self.context) }
        #expect(throws: ValueSealError.self) { try ValueSeal.Key(Array(Self.key.dropLast())) }
    }

    @Test("a key made ready once seals any number of values as the key's bytes would, one by one")
    func reusedKey() throws {
        let bytes = ValueSeal.newKey()
        let key = try ValueSeal.Key(bytes)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<200 {
            let value = (0..<Int.random(in: 0..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let context = withUnsafeBytes(of: UUID().uuid) { Array($0) } + Array("attribute \(i)".utf8)
            var out: [UInt8] = []
            try value.withUnsafeBytes { v in try context.withUnsafeBytes { try ValueSeal.seal(v, key: key, context: $0, appendingTo: &out) } }
            #expect(out == (try ValueSeal.seal(value, key: bytes, context: context)))
            #expect(out.count == value.count + ValueSeal.overhead)
            #expect(try ValueSeal.open(out, key: key, context: context) == value)
        }
    }
}
