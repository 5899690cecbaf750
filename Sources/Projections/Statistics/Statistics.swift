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
