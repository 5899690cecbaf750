import Foundation

/// Gives each distinct byte string (a channel, an owner, a reason code…) a dense number, so the
/// replay counts into arrays instead of hashing `String`s. A hit allocates nothing.
public struct Interner: Sendable, Hashable {
    /// The strings, by number.
    public private(set) var names: [String] = []
    private var bytes: [[UInt8]] = []
    private var table: [Int32] = Array(repeating: -1, count: 64)

    /// An empty interner.
    public init() {}

    /// How many strings it holds.
    public var count: Int { names.count }

    /// The number of `text`, giving it one when new.
    public mutating func intern(_ text: UnsafeRawBufferPointer) -> Int32 {
        let hash = Self.hash(text)
        var slot = Int(truncatingIfNeeded: hash) & (table.count - 1)
        while true {
            let entry = table[slot]
            if entry < 0 { break }
            if Self.equal(bytes[Int(entry)], text) { return entry }
            slot = (slot + 1) & (table.count - 1)
        }
        let number = Int32(names.count)
        bytes.append(Array(text))
        names.append(String(decoding: text, as: UTF8.self))
        table[slot] = number
        if names.count * 2 > table.count { grow() }
        return number
    }

    /// The number of a `String`, giving it one when new.
    public mutating func intern(_ text: String) -> Int32 {
        var copy = text
        return copy.withUTF8 { intern(UnsafeRawBufferPointer($0)) }
    }

    /// The number of `text` if it has one.
    public func lookup(_ text: String) -> Int32? {
        var copy = text
        return copy.withUTF8 { buffer -> Int32? in
            let raw = UnsafeRawBufferPointer(buffer)
            var slot = Int(truncatingIfNeeded: Self.hash(raw)) & (table.count - 1)
            while true {
                let entry = table[slot]
                if entry < 0 { return nil }
                if Self.equal(bytes[Int(entry)], raw) { return entry }
                slot = (slot + 1) & (table.count - 1)
            }
        }
    }

    /// The string of a number; `nil` for -1.
    public func name(_ number: Int32) -> String? { number < 0 ? nil : names[Int(number)] }

    private mutating func grow() {
        table = Array(repeating: -1, count: table.count * 2)
        for (number, text) in bytes.enumerated() {
            var slot = text.withUnsafeBytes { Int(truncatingIfNeeded: Self.hash($0)) } & (table.count - 1)
            while table[slot] >= 0 { slot = (slot + 1) & (table.count - 1) }
            table[slot] = Int32(number)
        }
    }

    @inline(__always)
    private static func equal(_ stored: [UInt8], _ text: UnsafeRawBufferPointer) -> Bool {
        stored.count == text.count && stored.withUnsafeBytes { memcmp($0.baseAddress!, text.baseAddress!, text.count) == 0 }
    }

    /// A word-at-a-time multiply-xorshift hash: codes and channel names are short.
    @inline(__always)
    private static func hash(_ text: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(text.count)
        var offset = 0
        while offset + 8 <= text.count {
            h = (h ^ text.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            offset += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while offset < text.count {
            tail |= UInt64(text[offset]) << shift
            shift += 8
            offset += 1
        }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 29)
    }
}
