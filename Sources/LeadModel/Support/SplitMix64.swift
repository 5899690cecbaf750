import Foundation

/// A small seeded generator (SplitMix64): the same seed gives the same numbers on every machine and
/// every run, which `SystemRandomNumberGenerator` does not promise. Generated histories, property
/// tests and benchmarks rely on it to reproduce.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's state.
    public var state: UInt64

    /// A generator starting from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return Self.finish(state)
    }

    /// The SplitMix64 finaliser applied to `value` plus the golden-ratio increment: a bijection with
    /// full avalanche, for deriving independent seeds and ids from numbers.
    public static func mix(_ value: UInt64) -> UInt64 { finish(value &+ 0x9e37_79b9_7f4a_7c15) }

    @inline(__always)
    private static func finish(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension UUID {
    /// A version-8 (custom) UUID holding two 64-bit words, big-endian, with the version and
    /// variant bits set: for ids derived deterministically from names or numbers.
    public init(version8High high: UInt64, low: UInt64) {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(index)))
            bytes[8 + index] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(index)))
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x80
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        self.init(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}
