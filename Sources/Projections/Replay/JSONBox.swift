import LeadModel

/// A `JSONValue` inside a `Codable` report, members kept in order.
public struct JSONBox: Sendable, Hashable, Codable {
    /// The value.
    public var value: JSONValue

    /// Wraps a value.
    public init(_ value: JSONValue) { self.value = value }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Encodes the value as the JSON it is.
    public func encode(to encoder: any Encoder) throws {
        switch value {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .number(let n):
            var c = encoder.singleValueContainer()
            if n.rounded() == n, abs(n) < 1e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(JSONBox(item)) }
        case .object(let members):
            var c = encoder.container(keyedBy: Key.self)
            for member in members { try c.encode(JSONBox(member.value), forKey: Key(stringValue: member.key)) }
        }
    }

    /// Decodes any JSON.
    public init(from decoder: any Decoder) throws {
        if let c = try? decoder.container(keyedBy: Key.self) {
            value = .object(try c.allKeys.map { JSONMember($0.stringValue, try c.decode(JSONBox.self, forKey: $0).value) })
        } else if var c = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !c.isAtEnd { items.append(try c.decode(JSONBox.self).value) }
            value = .array(items)
        } else {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() {
                value = .null
            } else if let b = try? c.decode(Bool.self) {
                value = .bool(b)
            } else if let n = try? c.decode(Double.self) {
                value = .number(n)
            } else {
                value = .string(try c.decode(String.self))
            }
        }
    }
}
