import Foundation

/// Pieces of a log-sum-exp more than 40 below the largest (relative weight < 4.3e-18, under half
/// an ulp of the sum even for a dozen such pieces) are skipped: this saves most exponentials
/// for group mixtures, where only a few sensitivities matter at any output.
private let negligibleExponent = -40.0

/// ℓ(x) = ln Σⱼ wⱼ·exp(sⱼx − sⱼ²/2): the log density ratio of the mixture Σⱼ wⱼ·N(sⱼ, 1) to N(0, 1)
/// at x. With all sⱼ ≥ 0 it is increasing and convex in x (a log-sum-exp of affine functions),
/// which is what lets a loss threshold be a single point in x.
struct MixtureLogRatio {
    let shifts: [Double]
    /// ln wⱼ − sⱼ²/2, the intercepts of the affine pieces.
    let intercepts: [Double]
    /// ℓ(−∞): ln w₀ when a zero shift is present, otherwise −∞.
    let infimum: Double

    init(_ step: GaussianMixtureStep) {
        shifts = step.shifts
        intercepts = zip(step.shifts, step.weights).map { log($1) - $0 * $0 / 2 }
        infimum = step.shifts.first == 0 ? log(step.weights[0]) : -.infinity
    }

    /// ℓ(x), by log-sum-exp around the largest piece.
    func value(_ x: Double) -> Double {
        if x == -.infinity { return infimum }
        var largest = -Double.infinity
        for j in shifts.indices { largest = max(largest, intercepts[j] + shifts[j] * x) }
        var sum = 0.0
        for j in shifts.indices {
            let exponent = intercepts[j] + shifts[j] * x - largest
            if exponent > negligibleExponent { sum += exp(exponent) }
        }
        return largest + log(sum)
    }

    /// ℓ(x) and ℓ′(x) = Σ wⱼsⱼe^{…}/Σ wⱼe^{…}.
    private func valueAndSlope(_ x: Double) -> (Double, Double) {
        var largest = -Double.infinity
        for j in shifts.indices { largest = max(largest, intercepts[j] + shifts[j] * x) }
        var sum = 0.0, weighted = 0.0
        for j in shifts.indices {
            let exponent = intercepts[j] + shifts[j] * x - largest
            guard exponent > negligibleExponent else { continue }
            let term = exp(exponent)
            sum += term
            weighted += shifts[j] * term
        }
        return (largest + log(sum), weighted / sum)
    }

    /// The x with ℓ(x) = v; −∞ when v ≤ ℓ(−∞). `guess` seeds Newton's method (the previous
    /// threshold when walking a grid).
    ///
    /// Closed forms for the Gaussian (one shift) and the subsampled Gaussian (shifts {0, s}), the
    /// latter via expm1 so that v close to ln(1 − q) keeps its digits. Otherwise Newton's method on
    /// the convex increasing ℓ: from any point right of the root it descends monotonically, and a
    /// step from the left lands right of the root, so it cannot oscillate.
    func inverse(_ v: Double, guess: Double) -> Double {
        if v <= infimum { return -.infinity }
        if shifts.count == 1 {
            return (v - intercepts[0]) / shifts[0]
        }
        if shifts.count == 2 && shifts[0] == 0 {
            // w₀ + w₁e^{s x − s²/2} = e^v  ⇒  x = (ln(e^v − w₀) − ln w₁ + s²/2)/s
            let logDifference = intercepts[0] + log(expm1(v - intercepts[0]))
            return (logDifference - intercepts[1]) / shifts[1]
        }
        var x = guess.isFinite ? guess : 0
        for _ in 0..<200 {
            let (value, slope) = valueAndSlope(x)
            let step = (value - v) / max(slope, 1e-300)
            let next = x - step
            if !next.isFinite { x = x + (value < v ? 1 : -1) * max(1, abs(x)); continue }
            if abs(next - x) <= 1e-15 * max(1, abs(x)) { return next }
            x = next
        }
        return x
    }
}
