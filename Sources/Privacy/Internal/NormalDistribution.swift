import Foundation

/// Standard normal tails and their logarithms, accurate in the far tails.
///
/// `upperTail(y)` = P(Z > y) and `lowerTail(y)` = P(Z < y) for Z ~ N(0, 1), both from `erfc` so
/// neither suffers cancellation against 1.
enum NormalDistribution {
    static func upperTail(_ y: Double) -> Double { 0.5 * erfc(y * 0.5.squareRoot()) }
    static func lowerTail(_ y: Double) -> Double { 0.5 * erfc(-y * 0.5.squareRoot()) }

    /// log erfc(x), finite far beyond the point (x ≈ 26.5) where erfc underflows.
    ///
    /// For x > 25 uses the asymptotic series erfc(x) ≈ e^{−x²}/(x√π)·(1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶)),
    /// whose truncation error there is below 1e-10 relative (Abramowitz & Stegun 7.1.23).
    static func logErfc(_ x: Double) -> Double {
        if x < 25 { return log(erfc(x)) }
        let inverseSquare = 1 / (x * x)
        let series = 1 - inverseSquare / 2 + 0.75 * inverseSquare * inverseSquare
            - 1.875 * inverseSquare * inverseSquare * inverseSquare
        return -x * x - log(x) - 0.5 * log(Double.pi) + log(series)
    }

    /// log P(Z > y).
    static func logUpperTail(_ y: Double) -> Double { log(0.5) + logErfc(y * 0.5.squareRoot()) }

    /// The y ≥ 0 with P(Z > y) = p, for p in (0, 0.5]; by bisection on the log tail (60 halvings of
    /// [0, 40] resolve y to 4e-17, which is all that a double holds). Returns 0 for p ≥ 0.5 and 40
    /// for p below P(Z > 40) ≈ 4e-350 (i.e. for p = 0).
    static func upperQuantile(_ p: Double) -> Double {
        if p >= 0.5 { return 0 }
        if p <= 0 { return 40 }
        let target = log(p)
        var low = 0.0, high = 40.0
        for _ in 0..<60 {
            let middle = 0.5 * (low + high)
            if logUpperTail(middle) > target { low = middle } else { high = middle }
        }
        return high
    }
}

/// log(e^a + e^b) without overflow; −∞ is the neutral element.
func logAddExp(_ a: Double, _ b: Double) -> Double {
    if a == -.infinity { return b }
    if b == -.infinity { return a }
    let high = max(a, b), low = min(a, b)
    return high + log1p(exp(low - high))
}

/// log(e^a − e^b) for a ≥ b; −∞ when a == b.
func logSubtractExp(_ a: Double, _ b: Double) -> Double {
    if b == -.infinity { return a }
    if a <= b { return -.infinity }
    return a + log(-expm1(b - a))
}
