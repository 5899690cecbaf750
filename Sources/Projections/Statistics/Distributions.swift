import Foundation

extension Statistics {
    /// z of the one-sided 80 % quantile: the power term of a sample-size or detectable-effect formula.
    public static let z80 = 0.8416212335729143

    /// The standard normal distribution function Φ(x).
    public static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

    /// The regularized lower incomplete gamma function P(a, x), for a > 0, x ≥ 0: a series below
    /// a + 1, a continued fraction (modified Lentz) above, each to double precision.
    static func regularizedGammaP(_ a: Double, _ x: Double) -> Double {
        guard a > 0, x > 0, x.isFinite else { return x.isInfinite && x > 0 ? 1 : 0 }
        let logPrefix = a * log(x) - x - lgamma(a)
        if x < a + 1 {
            var (term, sum, denominator) = (1 / a, 1 / a, a)
            for _ in 0..<10_000 {
                denominator += 1
                term *= x / denominator
                sum += term
                if abs(term) < abs(sum) * 1e-16 { break }
            }
            return min(1, sum * exp(logPrefix))
        }
        return max(0, 1 - upperContinuedFraction(a, x) * exp(logPrefix))
    }

    /// Q(a, x) = 1 − P(a, x), computed directly in the tail so that tiny p-values keep their digits.
    static func regularizedGammaQ(_ a: Double, _ x: Double) -> Double {
        guard a > 0, x > 0, x.isFinite else { return x.isInfinite && x > 0 ? 0 : 1 }
        if x < a + 1 { return 1 - regularizedGammaP(a, x) }
        return min(1, upperContinuedFraction(a, x) * exp(a * log(x) - x - lgamma(a)))
    }

    private static func upperContinuedFraction(_ a: Double, _ x: Double) -> Double {
        let tiny = 1e-300
        var b = x + 1 - a
        var c = 1 / tiny
        var d = 1 / b
        var h = d
        for i in 1..<10_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        return h
    }

    /// The upper tail of the chi-square distribution with `df` degrees of freedom: the p-value of a
    /// statistic `x`.
    public static func chiSquareUpperTail(_ x: Double, degreesOfFreedom df: Int) -> Double {
        guard df > 0 else { return 1 }
        return regularizedGammaQ(Double(df) / 2, max(0, x) / 2)
    }

    /// The regularized incomplete beta function I_x(a, b) (continued fraction, modified Lentz, on the
    /// side where it converges fast).
    static func regularizedBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        guard x > 0 else { return 0 }
        guard x < 1 else { return 1 }
        let logGammas: Double = lgamma(a + b) - lgamma(a) - lgamma(b)
        let logPowers: Double = a * log(x) + b * log(1 - x)
        let logFront = logGammas + logPowers
        if x < (a + 1) / (a + b + 2) { return exp(logFront) * betaContinuedFraction(x, a, b) / a }
        return 1 - exp(logFront) * betaContinuedFraction(1 - x, b, a) / b
    }

    private static func betaContinuedFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1..<10_000 {
            let m = Double(m)
            let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + even * d
            if abs(d) < tiny { d = tiny }
            c = 1 + even / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + odd * d
            if abs(d) < tiny { d = tiny }
            c = 1 + odd / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        return h
    }

    /// Student's t distribution function with `df` degrees of freedom.
    public static func studentTCDF(_ t: Double, degreesOfFreedom df: Int) -> Double {
        guard df > 0 else { return .nan }
        let v = Double(df)
        let tail = 0.5 * regularizedBeta(v / (v + t * t), v / 2, 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    /// The `p` quantile of Student's t with `df` degrees of freedom, by bisection on its distribution
    /// function (monotone, so bisection cannot miss); used for two-sided 95 % intervals with p = 0.975.
    public static func studentTQuantile(_ p: Double, degreesOfFreedom df: Int) -> Double {
        guard df > 0, p > 0, p < 1 else { return .nan }
        if p < 0.5 { return -studentTQuantile(1 - p, degreesOfFreedom: df) }
        var (low, high) = (0.0, 1.0)
        while studentTCDF(high, degreesOfFreedom: df) < p { high *= 2 }
        for _ in 0..<200 {
            let middle = (low + high) / 2
            if studentTCDF(middle, degreesOfFreedom: df) < p { low = middle } else { high = middle }
            if high - low < 1e-13 * max(1, high) { break }
        }
        return (low + high) / 2
    }
}
