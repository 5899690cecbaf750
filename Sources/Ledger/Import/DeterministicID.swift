import Foundation

/// Name-based event ids: the same namespace and key give the same UUID on every run and machine.
///
/// Importers derive each event's id from what the row says rather than from a random number, so
/// importing one export twice yields identical events and the ledger answers `duplicate` instead of
/// appending twice. The digest is FNV-1a over 128 bits followed by a finalising mix (no crypto
/// dependency is needed: ids must be stable and well spread, not secret). The result carries the
/// RFC 9562 version 8 ("custom") and variant bits so it is a well-formed UUID.
public enum DeterministicID {
    private static let offsetBasis: UInt128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d
    private static let prime: UInt128 = 0x0000_0000_0100_0000_0000_0000_0000_013b

    /// The UUID for `key` within `namespace`.
    public static func make(namespace: String, key: String) -> UUID {
        var hash = offsetBasis
        for byte in namespace.utf8 { hash = (hash ^ UInt128(byte)) &* prime }
        // A separator byte that UTF-8 text never contains keeps ("ab","c") apart from ("a","bc").
        hash = (hash ^ 0xff) &* prime
        for byte in key.utf8 { hash = (hash ^ UInt128(byte)) &* prime }
        // FNV's last bytes only reach the low bits; a final mix spreads them over the whole id.
        var high = UInt64(truncatingIfNeeded: hash >> 64)
        var low = UInt64(truncatingIfNeeded: hash)
        high = mix(high ^ low)
        low = mix(low ^ high)
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(index)))
            bytes[8 + index] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(index)))
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x80
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }

    /// The SplitMix64 finaliser: a bijection with full avalanche.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
