import Foundation

/// Summary statistics and the paired t-test used by tables and diffs.
public enum Statistics {
    /// Arithmetic mean; NaN for no values.
    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }

    /// Sample standard deviation (n − 1 in the denominator); nil for fewer than two values.
    public static func standardDeviation(_ values: [Double]) -> Double? {
        guard values.count >= 2 else { return nil }
        let m = mean(values)
        let sum = values.reduce(0) { $0 + ($1 - m) * ($1 - m) }
        return (sum / Double(values.count - 1)).squareRoot()
    }

    /// Two-sided p-value of the paired t-test of `differences` against zero (Student 1908):
    /// t = mean / (s / √n) with n − 1 degrees of freedom. Nil for fewer than two pairs. When
    /// every difference is equal the test degenerates: p = 1 if they are all zero, else 0.
    public static func pairedTTestPValue(_ differences: [Double]) -> Double? {
        guard differences.count >= 2, let s = standardDeviation(differences) else { return nil }
        let m = mean(differences)
        guard m.isFinite, s.isFinite else { return nil }
        if s == 0 { return m == 0 ? 1 : 0 }
        let t = m / (s / Double(differences.count).squareRoot())
        return studentTTwoSidedPValue(t: t, degreesOfFreedom: Double(differences.count - 1))
    }

    /// P(|T| ≥ |t|) for Student's t with ν degrees of freedom:
    /// I_{ν/(ν+t²)}(ν/2, 1/2) (Abramowitz & Stegun 26.7.1 with 26.5.27).
    public static func studentTTwoSidedPValue(t: Double, degreesOfFreedom nu: Double) -> Double {
        guard t.isFinite else { return t.isNaN ? .nan : 0 }
        return regularizedIncompleteBeta(a: nu / 2, b: 0.5, x: nu / (nu + t * t))
    }

    /// The regularized incomplete beta function I_x(a, b), from its continued fraction
    /// (DLMF 8.17.22) evaluated with the modified Lentz method; the symmetry
    /// I_x(a, b) = 1 − I_{1−x}(b, a) keeps x on the side where the fraction converges fast.
    /// Accurate to about 1e-14 relative for the arguments the t-test uses.
    public static func regularizedIncompleteBeta(a: Double, b: Double, x: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        if x > (a + 1) / (a + b + 2) { return 1 - regularizedIncompleteBeta(a: b, b: a, x: 1 - x) }
        let logPrefactor = a * log(x) + b * log1p(-x) - (lgamma(a) + lgamma(b) - lgamma(a + b)) - log(a)
        let tiny = 1e-300
        var c = 1.0
        var d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var fraction = d
        for m in 1...500 {
            let m = Double(m)
            // Even step d_{2m}, then odd step d_{2m+1}.
            let even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + even * d
            if abs(d) < tiny { d = tiny }
            c = 1 + even / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            fraction *= d * c
            let odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + odd * d
            if abs(d) < tiny { d = tiny }
            c = 1 + odd / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            fraction *= step
            if abs(step - 1) < 1e-15 { break }
        }
        return exp(logPrefactor) * fraction
    }

    /// Two-sided exact sign test: under H0 each nonzero difference is positive with
    /// probability 1/2, so p = min(1, 2·P(X ≤ min(positive, negative))) for X ~ Binomial(n,
    /// 1/2), n = positive + negative (zeros dropped, Dixon & Mood 1946). Nil when n = 0.
    public static func signTestPValue(positive: Int, negative: Int) -> Double? {
        let n = positive + negative
        guard n > 0 else { return nil }
        let smaller = min(positive, negative)
        // Sum of C(n, i) / 2^n in log space, so n in the thousands does not overflow.
        var tail = 0.0
        let logAll: Double = lgamma(Double(n + 1)) - Double(n) * log(2.0)
        for i in 0...smaller {
            let logChoose: Double = lgamma(Double(i + 1)) + lgamma(Double(n - i + 1))
            tail += exp(logAll - logChoose)
        }
        return min(1, 2 * tail)
    }

    /// Holm's step-down adjustment (Holm 1979) of p-values for a family of tests: sort the m
    /// p-values ascending, multiply the i-th (from 0) by m − i, take the running maximum and
    /// cap at 1. Rejecting where the adjusted p < α controls the family-wise error rate at α.
    /// Nil entries (no test) are not part of the family and stay nil.
    public static func holmAdjusted(_ pValues: [Double?]) -> [Double?] {
        var tested: [(index: Int, p: Double)] = []
        for (index, p) in pValues.enumerated() {
            if let p { tested.append((index, p)) }
        }
        tested.sort { a, b in a.p < b.p || (a.p == b.p && a.index < b.index) }
        var adjusted = [Double?](repeating: nil, count: pValues.count)
        var running = 0.0
        for (rank, (index, p)) in tested.enumerated() {
            running = max(running, min(1, Double(tested.count - rank) * p))
            adjusted[index] = running
        }
        return adjusted
    }

    /// The |t| a paired t-test over `pairs` pairs needs for a two-sided p below `alpha`
    /// (the Student t quantile, by bisection on `studentTTwoSidedPValue`); nil below two pairs.
    /// With 2 pairs (ν = 1) at α = 0.05 it is 12.71: almost no seed noise is small enough.
    public static func criticalT(pairs: Int, alpha: Double) -> Double? {
        guard pairs >= 2, alpha > 0, alpha < 1 else { return nil }
        let nu = Double(pairs - 1)
        var low = 0.0
        var high = 1e6
        for _ in 0..<200 {
            let mid = (low + high) / 2
            if studentTTwoSidedPValue(t: mid, degreesOfFreedom: nu) > alpha { low = mid } else { high = mid }
        }
        return high
    }
}
