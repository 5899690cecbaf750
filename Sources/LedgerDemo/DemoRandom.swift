import Foundation
import LeadModel

/// A small seeded generator (SplitMix64): the same seed gives the same history on every machine,
/// which `SystemRandomNumberGenerator` and Foundation's generators do not promise.
struct DemoRandom {
    private var generator: SplitMix64

    init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    /// A generator for one stream (a lead), independent of how many numbers other streams drew.
    init(seed: UInt64, stream: UInt64) {
        generator = SplitMix64(seed: SplitMix64.mix(seed ^ SplitMix64.mix(stream &+ 0x632b_e59b_d9b4_e019)))
    }

    static func mix(_ value: UInt64) -> UInt64 { SplitMix64.mix(value) }

    mutating func next() -> UInt64 { generator.next() }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    mutating func chance(_ probability: Double) -> Bool { unit() < probability }

    /// Uniform in `range`.
    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * unit() }

    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u1 = max(unit(), 1e-12)
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Log-normal with the given median and log-scale spread.
    mutating func logNormal(median: Double, sigma: Double) -> Double { median * exp(sigma * normal()) }

    /// An index drawn with the given cumulative weights (last element = total).
    mutating func pick(cumulative: [Double]) -> Int {
        let target = unit() * cumulative[cumulative.count - 1]
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] > target { high = mid } else { low = mid + 1 }
        }
        return low
    }
}

/// Values with weights, drawn from by a `DemoRandom`.
struct Weighted<Value: Sendable>: Sendable {
    let values: [Value]
    let cumulative: [Double]

    init(_ pairs: [(Value, Double)]) {
        values = pairs.map(\.0)
        var total = 0.0
        cumulative = pairs.map {
            total += $0.1
            return total
        }
    }

    func draw(_ random: inout DemoRandom) -> Value { values[random.pick(cumulative: cumulative)] }
}
