import Foundation
import LeadModel

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
        high = SplitMix64.mix(high ^ low)
        low = SplitMix64.mix(low ^ high)
        return UUID(version8High: high, low: low)
    }
}
