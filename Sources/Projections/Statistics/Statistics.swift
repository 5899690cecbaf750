import Foundation

/// A two-sided interval.
public struct Interval: Sendable, Hashable, Codable {
    /// Lower bound.
    public var low: Double
    /// Upper bound.
    public var high: Double
    /// Creates an interval.
    public init(low: Double, high: Double) {
        self.low = low
        self.high = high
    }
}

/// The statistics every report uses, in one place so each number has one definition.
public enum Statistics {
    /// z for a two-sided 95 % interval.
    public static let z95 = 1.959963984540054

    /// `successes / trials`, or `nil` when there are no trials.
    public static func rate(_ successes: Int, of trials: Int) -> Double? {
        trials == 0 ? nil : Double(successes) / Double(trials)
    }

    /// The 95 % Wilson score interval of a proportion; `nil` when there are no trials.
    public static func wilson(_ successes: Int, of trials: Int, z: Double = z95) -> Interval? {
        guard trials > 0 else { return nil }
        let n = Double(trials)
        let p = Double(successes) / n
        let z2 = z * z
        let denominator = 1 + z2 / n
        let centre = (p + z2 / (2 * n)) / denominator
        let half = z * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot() / denominator
        return Interval(low: max(0, centre - half), high: min(1, centre + half))
    }

    /// The `q` quantile (0…1) of sorted values, interpolating linearly between closest ranks
    /// (the definition spreadsheets and NumPy use by default); `nil` for no values.
    public static func quantile(sorted values: [Double], _ q: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let h = Double(values.count - 1) * q
        let lower = Int(h.rounded(.down))
        let upper = min(lower + 1, values.count - 1)
        return values[lower] + (h - Double(lower)) * (values[upper] - values[lower])
    }

    /// The `qs` quantiles of unsorted values, exactly as ``quantile(sorted:_:)`` defines them, found
    /// by selection in linear time instead of a sort; `values` is left reordered.
    public static func quantiles(selecting values: inout [Double], _ qs: [Double]) -> [Double?] {
        guard !values.isEmpty else { return qs.map { _ in nil } }
        return values.withUnsafeMutableBufferPointer { buffer in
            qs.map { q in
                let h = Double(buffer.count - 1) * q
                let lower = Int(h.rounded(.down))
                select(buffer, lower)
                let a = buffer[lower]
                // After the selection everything above `lower` is ≥ it: the next rank is their least.
                guard lower + 1 < buffer.count else { return a }
                let b = buffer[(lower + 1)...].min()!
                return a + (h - Double(lower)) * (b - a)
            }
        }
    }

    /// Moves the `k`-th smallest value to index `k`, the ones not greater before it and the ones not
    /// less after it (quickselect with a median-of-three pivot; sorts the range if it keeps failing).
    static func select(_ values: UnsafeMutableBufferPointer<Double>, _ k: Int) {
        var (low, high) = (0, values.count - 1)
        var attempts = 2 * (Int.bitWidth - values.count.leadingZeroBitCount) + 4
        while low < high {
            if attempts == 0 {
                var range = UnsafeMutableBufferPointer(rebasing: values[low...high])
                range.sort()
                return
            }
            attempts -= 1
            let (x, y, z) = (values[low], values[low + (high - low) / 2], values[high])
            let pivot = max(min(x, y), min(max(x, y), z))
            var (i, j) = (low, high)
            while i <= j {
                while values[i] < pivot { i += 1 }
                while values[j] > pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            // Now [low, j] ≤ pivot, [i, high] ≥ pivot, and anything between equals the pivot.
            if k <= j { high = j } else if k >= i { low = i } else { return }
        }
    }

    /// A comparison of two proportions: difference `p2 − p1` with a 95 % (unpooled, Wald) interval,
    /// and the two-sided p-value of the pooled two-proportion z-test.
    public struct TwoProportions: Sendable, Hashable, Codable {
        /// `p2 − p1`.
        public var difference: Double
        /// Its 95 % interval.
        public var interval: Interval
        /// The z statistic.
        public var z: Double
        /// The two-sided p-value.
        public var pValue: Double
    }

    /// Compares `x1/n1` (before) with `x2/n2` (after); `nil` when either side is empty.
    public static func twoProportions(_ x1: Int, _ n1: Int, _ x2: Int, _ n2: Int) -> TwoProportions? {
        guard n1 > 0, n2 > 0 else { return nil }
        let p1 = Double(x1) / Double(n1), p2 = Double(x2) / Double(n2)
        let difference = p2 - p1
        let se = (p1 * (1 - p1) / Double(n1) + p2 * (1 - p2) / Double(n2)).squareRoot()
        let pooled = Double(x1 + x2) / Double(n1 + n2)
        let pooledSE = (pooled * (1 - pooled) * (1 / Double(n1) + 1 / Double(n2))).squareRoot()
        let z = pooledSE == 0 ? 0 : difference / pooledSE
        return TwoProportions(
            difference: difference,
            interval: Interval(low: difference - z95 * se, high: difference + z95 * se),
            z: z,
            pValue: pooledSE == 0 ? 1 : erfc(abs(z) / 2.0.squareRoot()))
    }
}
