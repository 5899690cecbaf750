import Foundation

/// Gives each distinct byte string (a channel, an owner, a reason code…) a dense number, so the
/// replay counts into arrays instead of hashing `String`s. A hit allocates nothing.
///
/// The strings' bytes are kept end to end in one buffer, and each number's hash beside it, so a
/// lookup compares hashes first and touches the bytes only to confirm a match.
public struct Interner: Sendable, Hashable {
    /// The strings, by number.
    public private(set) var names: [String] = []
    /// Every string's bytes, end to end; string `n` ends at `ends[n]` and starts where `n - 1` ends.
    private var bytes: [UInt8] = []
    private var ends: [Int] = []
    private var hashes: [UInt64] = []
    private var table: [Int32] = Array(repeating: -1, count: 64)

    /// An empty interner.
    public init() {}

    /// How many strings it holds.
    public var count: Int { names.count }

    /// The number of `text`, giving it one when new.
    public mutating func intern(_ text: UnsafeRawBufferPointer) -> Int32 {
        let hash = Self.hash(text)
        let (found, slot) = find(text, hash: hash)
        if let found { return found }
        let number = Int32(names.count)
        bytes.append(contentsOf: text)
        ends.append(bytes.count)
        hashes.append(hash)
        names.append(String(decoding: text, as: UTF8.self))
        table[slot] = number
        if names.count * 2 > table.count { grow() }
        return number
    }

    /// The number of `text` if it has one, else the free slot where it belongs.
    @inline(__always)
    private func find(_ text: UnsafeRawBufferPointer, hash: UInt64) -> (Int32?, Int) {
        var slot = Int(truncatingIfNeeded: hash) & (table.count - 1)
        while true {
            let entry = table[slot]
            if entry < 0 { return (nil, slot) }
            if hashes[Int(entry)] == hash && equal(Int(entry), text) { return (entry, slot) }
            slot = (slot + 1) & (table.count - 1)
        }
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
            return find(raw, hash: Self.hash(raw)).0
        }
    }

    /// The string of a number; `nil` for -1.
    public func name(_ number: Int32) -> String? { number < 0 ? nil : names[Int(number)] }

    private mutating func grow() {
        table = Array(repeating: -1, count: table.count * 2)
        for (number, hash) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: hash) & (table.count - 1)
            while table[slot] >= 0 { slot = (slot + 1) & (table.count - 1) }
            table[slot] = Int32(number)
        }
    }

    @inline(__always)
    private func equal(_ number: Int, _ text: UnsafeRawBufferPointer) -> Bool {
        let start = number == 0 ? 0 : ends[number - 1]
        guard ends[number] - start == text.count else { return false }
        return bytes.withUnsafeBytes { stored in
            text.isEmpty || memcmp(stored.baseAddress! + start, text.baseAddress!, text.count) == 0
        }
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
        let rest = text.count - offset
        if rest > 0 && text.count >= 8 {
            // The last eight bytes, of which the first `8 - rest` were hashed above.
            tail = text.loadUnaligned(fromByteOffset: text.count - 8, as: UInt64.self) >> UInt64(8 * (8 - rest))
        } else {
            var shift: UInt64 = 0
            while offset < text.count {
                tail |= UInt64(text[offset]) << shift
                shift += 8
                offset += 1
            }
        }
        h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 29)
    }
}
