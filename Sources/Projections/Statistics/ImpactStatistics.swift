import Foundation

extension Statistics {
    // MARK: Difference in differences

    /// A difference in differences of four rejection rates with its standard error and 95 % interval.
    public struct DifferenceInDifferences: Sendable, Hashable, Codable {
        /// `(after − before) − (stayersAfter − stayersBefore)`.
        public var difference: Double
        /// Its standard error.
        public var standardError: Double
        /// `difference ± 1.96 · standardError`.
        public var interval: Interval
        /// The two-sided p-value of `difference / standardError` against the standard normal.
        public var pValue: Double
    }

    /// The difference in differences `(p_after − p_before) − (s_after − s_before)`, where each
    /// side's stayers (`xS` rejected of `nS` decided) are a part of that side, the rest of the side
    /// being `xO` of `nO`.
    ///
    /// A side's rate is `w·s + (1 − w)·q` with `w = nS / (nS + nO)` and `q` the rate of the rest, so
    /// `p − s = (1 − w)(q − s)`: the estimate is a combination of four **disjoint**, hence
    /// independent, proportions, and its variance is
    /// `(1 − w_a)²(V(q_a) + V(s_a)) + (1 − w_b)²(V(q_b) + V(s_b))` with binomial `V = p(1 − p)/n`
    /// (the normal approximation). Treating stayers and their whole side as independent would ignore
    /// that they overlap. `nil` when a side has no decided stayers.
    public static func differenceInDifferences(
        stayersBefore: (rejected: Int, decided: Int), restBefore: (rejected: Int, decided: Int),
        stayersAfter: (rejected: Int, decided: Int), restAfter: (rejected: Int, decided: Int)
    ) -> DifferenceInDifferences? {
        guard stayersBefore.decided > 0, stayersAfter.decided > 0 else { return nil }
        func part(_ stayers: (rejected: Int, decided: Int), _ rest: (rejected: Int, decided: Int)) -> (gap: Double, variance: Double) {
            let nS = Double(stayers.decided), nO = Double(rest.decided)
            let s = Double(stayers.rejected) / nS
            guard nO > 0 else { return (0, 0) }
            let q = Double(rest.rejected) / nO
            let weight = nO / (nS + nO)
            return (weight * (q - s), weight * weight * (q * (1 - q) / nO + s * (1 - s) / nS))
        }
        let before = part(stayersBefore, restBefore), after = part(stayersAfter, restAfter)
        let difference = after.gap - before.gap
        let se = (before.variance + after.variance).squareRoot()
        let z = se == 0 ? 0 : difference / se
        return DifferenceInDifferences(
            difference: difference, standardError: se,
            interval: Interval(low: difference - z95 * se, high: difference + z95 * se),
            pValue: se == 0 ? (difference == 0 ? 1 : 0) : erfc(abs(z) / 2.0.squareRoot()))
    }

    // MARK: Chi-square test of a 2 × k table

    /// A chi-square test of homogeneity between two rows of counts over shared categories.
    public struct ChiSquareTest: Sendable, Hashable, Codable {
        /// Pearson's statistic; `nil` when fewer than two categories remain after pooling.
        public var statistic: Double?
        /// Categories tested minus one.
        public var degreesOfFreedom: Int
        /// The upper-tail p-value; `nil` with the statistic.
        public var pValue: Double?
        /// The categories tested, pooled ones under ``pooledLabel``.
        public var categories: [String]
        /// The categories pooled because an expected count fell below ``minimumExpected``.
        public var pooled: [String]
        /// The smallest expected count a tested cell may have.
        public var minimumExpected: Double
        /// Counts behind the test, total of the first and of the second row.
        public var firstTotal: Int, secondTotal: Int
        /// Why there is no statistic, when there is none.
        public var note: String?
        /// The name of the category sparse ones are pooled into.
        public static let pooledLabel = "(pooled)"
    }

    /// Tests whether two rows of counts (`first[c]`, `second[c]`) share one distribution over the
    /// categories. A category whose expected count in either row is below `minimumExpected` is
    /// pooled with the other sparse ones into one category; when the pool itself stays sparse, the
    /// smallest remaining category joins it, until it is not or nothing is left to join.
    public static func chiSquare(_ first: [String: Int], _ second: [String: Int], minimumExpected: Double = 5) -> ChiSquareTest {
        let names = Set(first.keys).union(second.keys).filter { (first[$0] ?? 0) + (second[$0] ?? 0) > 0 }
        let r1 = names.reduce(0) { $0 + (first[$1] ?? 0) }, r2 = names.reduce(0) { $0 + (second[$1] ?? 0) }
        var test = ChiSquareTest(
            statistic: nil, degreesOfFreedom: 0, pValue: nil, categories: [], pooled: [], minimumExpected: minimumExpected,
            firstTotal: r1, secondTotal: r2, note: nil)
        guard r1 > 0, r2 > 0 else {
            test.note = "one side has no counts"
            return test
        }
        let total = Double(r1 + r2), smallerRow = Double(min(r1, r2))
        func sparse(_ columnTotal: Int) -> Bool { smallerRow * Double(columnTotal) / total < minimumExpected }
        // Largest first, ties by name, so the order (and what is pooled) never depends on hashing.
        var columns = names.map { (name: $0, a: first[$0] ?? 0, b: second[$0] ?? 0) }
            .sorted { ($0.a + $0.b, $1.name) > ($1.a + $1.b, $0.name) }
        var pooled = columns.filter { sparse($0.a + $0.b) }
        columns.removeAll { sparse($0.a + $0.b) }
        func poolTotal() -> Int { pooled.reduce(0) { $0 + $1.a + $1.b } }
        while !pooled.isEmpty, sparse(poolTotal()), let smallest = columns.popLast() { pooled.append(smallest) }
        var cells = columns.map { (name: $0.name, a: $0.a, b: $0.b) }
        if !pooled.isEmpty, !sparse(poolTotal()) {
            cells.append((Self.ChiSquareTest.pooledLabel, pooled.reduce(0) { $0 + $1.a }, pooled.reduce(0) { $0 + $1.b }))
        }
        test.pooled = pooled.map(\.name).sorted()
        test.categories = cells.map(\.name)
        guard cells.count >= 2 else {
            test.note = "fewer than two categories with an expected count of at least \(Self.formatCount(minimumExpected)) in each row"
            return test
        }
        var statistic = 0.0
        for cell in cells {
            let column = Double(cell.a + cell.b)
            for (observed, row) in [(cell.a, r1), (cell.b, r2)] {
                let expected = Double(row) * column / total
                statistic += (Double(observed) - expected) * (Double(observed) - expected) / expected
            }
        }
        test.statistic = statistic
        test.degreesOfFreedom = cells.count - 1
        test.pValue = chiSquareUpperTail(statistic, degreesOfFreedom: cells.count - 1)
        return test
    }

    private static func formatCount(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }

    // MARK: Segmented regression

    /// One estimated coefficient with its standard error and 95 % interval.
    public struct Coefficient: Sendable, Hashable, Codable {
        /// The estimate.
        public var estimate: Double
        /// Its standard error.
        public var standardError: Double
        /// `estimate ± t · standardError`, t the 97.5 % quantile of Student's t with the residual degrees of freedom.
        public var interval: Interval
    }

    /// A segmented regression of an interrupted time series
    /// `y = b0 + b1·t + b2·after + b3·after·t`, `t` counted in periods from the interruption (the first
    /// period after it is 0), fitted by weighted least squares.
    public struct SegmentedRegression: Sendable, Hashable, Codable {
        /// Where the trend before the interruption reaches at its first period (`b0`).
        public var levelAtChange: Double
        /// The trend per period before (`b1`).
        public var slopeBefore: Coefficient
        /// The jump at the interruption against the trend before (`b2`).
        public var levelChange: Coefficient
        /// How the trend per period changed (`b3`).
        public var slopeChange: Coefficient
        /// Points fitted minus four.
        public var degreesOfFreedom: Int
    }

    /// Fits ``SegmentedRegression`` to points `(t, y, weight)`; points with `t < 0` are before the
    /// interruption. Weights are inverse variances up to a common factor, estimated from the
    /// residuals. `nil` with fewer than two distinct times on a side, or no residual degree of freedom.
    public static func segmentedRegression(_ points: [(t: Double, y: Double, weight: Double)]) -> SegmentedRegression? {
        let points = points.filter { $0.weight > 0 && $0.t.isFinite && $0.y.isFinite }
        guard points.count > 4, Set(points.filter { $0.t < 0 }.map(\.t)).count >= 2, Set(points.filter { $0.t >= 0 }.map(\.t)).count >= 2
        else { return nil }
        func row(_ t: Double) -> [Double] { let after = t >= 0 ? 1.0 : 0; return [1, t, after, after * t] }
        var xtx = [[Double]](repeating: [Double](repeating: 0, count: 4), count: 4)
        var xty = [Double](repeating: 0, count: 4)
        for p in points {
            let x = row(p.t)
            for i in 0..<4 {
                xty[i] += p.weight * x[i] * p.y
                for j in 0..<4 { xtx[i][j] += p.weight * x[i] * x[j] }
            }
        }
        guard let inverse = invert(xtx) else { return nil }
        let b = (0..<4).map { i in (0..<4).reduce(0.0) { $0 + inverse[i][$1] * xty[$1] } }
        var rss = 0.0
        for p in points {
            let x = row(p.t)
            let fitted = (0..<4).reduce(0.0) { $0 + x[$1] * b[$1] }
            rss += p.weight * (p.y - fitted) * (p.y - fitted)
        }
        let df = points.count - 4
        let s2 = rss / Double(df)
        let t = studentTQuantile(0.975, degreesOfFreedom: df)
        func coefficient(_ i: Int) -> Coefficient {
            let se = (s2 * max(0, inverse[i][i])).squareRoot()
            return Coefficient(estimate: b[i], standardError: se, interval: Interval(low: b[i] - t * se, high: b[i] + t * se))
        }
        return SegmentedRegression(
            levelAtChange: b[0], slopeBefore: coefficient(1), levelChange: coefficient(2), slopeChange: coefficient(3), degreesOfFreedom: df
        )
    }

    /// The inverse of a small symmetric matrix by Gauss–Jordan elimination with partial pivoting;
    /// `nil` when it is singular.
    static func invert(_ matrix: [[Double]]) -> [[Double]]? {
        let n = matrix.count
        var a = matrix.enumerated().map { i, row in row + (0..<n).map { $0 == i ? 1.0 : 0 } }
        let scale = matrix.flatMap { $0 }.map { abs($0) }.max() ?? 0
        guard scale > 0 else { return nil }
        for column in 0..<n {
            guard let pivot = (column..<n).max(by: { abs(a[$0][column]) < abs(a[$1][column]) }), abs(a[pivot][column]) > 1e-12 * scale
            else { return nil }
            a.swapAt(column, pivot)
            let p = a[column][column]
            for j in 0..<2 * n { a[column][j] /= p }
            for i in 0..<n where i != column {
                let factor = a[i][column]
                guard factor != 0 else { continue }
                for j in 0..<2 * n { a[i][j] -= factor * a[column][j] }
            }
        }
        return a.map { Array($0[n...]) }
    }

    // MARK: Power

    /// The smallest difference between two proportions a two-sided test at α = 0.05 detects with
    /// power 0.8, for samples of `n1` and `n2` around a common rate `p`:
    /// `(z_0.975 + z_0.8) · √(p(1 − p)(1/n1 + 1/n2))`. `nil` when a sample is empty or `p` is 0 or 1.
    public static func minimumDetectableDifference(rate p: Double, _ n1: Int, _ n2: Int) -> Double? {
        guard n1 > 0, n2 > 0, p > 0, p < 1 else { return nil }
        return (z95 + z80) * (p * (1 - p) * (1 / Double(n1) + 1 / Double(n2))).squareRoot()
    }

    // MARK: Counts over spans

    /// The two-sided exact test that `second` events over a span of length `secondSpan` and `first`
    /// over `firstSpan` come from one Poisson rate: given their sum, `second` is binomial with
    /// probability `secondSpan / (firstSpan + secondSpan)`; twice the smaller tail, at most 1.
    public static func poissonRatesTest(_ first: Int, over firstSpan: Double, _ second: Int, over secondSpan: Double) -> Double {
        let n = first + second
        guard n > 0, first >= 0, second >= 0, firstSpan > 0, secondSpan > 0 else { return 1 }
        let p = secondSpan / (firstSpan + secondSpan), k = second
        // P(X ≤ k) = I_{1−p}(n − k, k + 1); P(X ≥ k) = I_p(k, n − k + 1).
        let lower = k == n ? 1 : regularizedBeta(1 - p, Double(n - k), Double(k + 1))
        let upper = k == 0 ? 1 : regularizedBeta(p, Double(k), Double(n - k + 1))
        return min(1, 2 * min(lower, upper))
    }
}
