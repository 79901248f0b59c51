import Foundation

/// The privacy event of an `asi-liu` run (Asi & Liu 2024 as userdp implements it;
/// docs/ASI_LIU.md): a DP event plus a per-step probability that the private concentration
/// test passes on a batch whose core is too small for the mean's calibrated sensitivity.
///
/// Accounting (docs/ASI_LIU.md, "Privacy analysis"): every step is, on each side of a
/// neighbouring pair, within total variation `testFailureProbability` (p) of a mechanism
/// dominated by one step of `gaussianPart`; hence for every ε the run is
/// (ε, δ_G(ε) + T·(1 + e^ε)·p)-DP, where δ_G is the privacy profile of `gaussianPart` by any
/// ``Accountant`` and T = `steps`. The p-term is a union bound over all T steps, not amplified
/// by sampling and paid in full by a run that halts early: a valid upper bound, not tight.
///
/// `DPEvent` is a closed enum, so this type wraps one instead of adding a case. A future
/// `DPEvent` case carrying the same two numbers (inner event, total failure probability T·p)
/// would let accountants compose it with other events; see docs/ASI_LIU.md.
public struct AsiLiuEvent: Codable, Hashable, Sendable {
    /// T steps of the Poisson-subsampled Gaussian (rate q, noise multiplier z): the test and
    /// the mean of each step together.
    public let gaussianPart: DPEvent
    /// T, the number of steps the run may take.
    public let steps: Int
    /// p, per step: the largest probability that the test passes on a batch whose soft core
    /// is below the core lower bound Θ₀.
    public let testFailureProbability: Double

    /// The event of T steps with sampling rate q, per-step noise multiplier z and per-step
    /// test failure probability p.
    /// - Throws: ``PrivacyError`` for q ∉ (0, 1], z ≤ 0, T < 1, or p ∉ [0, 1).
    public init(samplingRate q: Double, noiseMultiplier z: Double, steps: Int, testFailureProbability p: Double) throws {
        gaussianPart = try DPEvent.poissonSubsampledGaussian(q: q, sigma: z, steps: steps)
        guard p >= 0, p < 1 else { throw PrivacyError.deltaOutOfRange(p) }
        self.steps = steps
        testFailureProbability = p
    }

    /// T·(1 + e^ε)·p: the δ the test's failure adds at ε.
    public func testDelta(epsilon: Double) -> Double {
        Double(steps) * (1 + exp(epsilon)) * testFailureProbability
    }

    /// The run's δ at `epsilon` ≥ 0: δ_G(ε) by `accountant`, plus `testDelta(epsilon:)`
    /// (capped at 1).
    public func delta(epsilon: Double, accountant: any Accountant) throws -> Double {
        guard epsilon >= 0, epsilon.isFinite else { throw PrivacyError.epsilonOutOfRange(epsilon) }
        return min(1, try accountant.delta(for: gaussianPart, epsilon: epsilon) + testDelta(epsilon: epsilon))
    }

    /// An ε at which the run is (ε, `delta`)-DP by `accountant`: the smallest found by
    /// bisection (relative tolerance 1e-6, rounded up) over the curve
    /// δ_G(ε) + T(1 + e^ε)p ≤ δ; `.infinity` when no ε up to 100 satisfies it.
    ///
    /// The returned ε always satisfies the inequality (it is checked); with p = 0 it equals
    /// the accountant's ε of `gaussianPart` up to the tolerance.
    /// - Throws: ``PrivacyError`` for δ ∉ (0, 1) or an event the accountant cannot handle.
    public func epsilon(delta: Double, accountant: any Accountant) throws -> Double {
        guard delta > 0, delta < 1 else { throw PrivacyError.deltaOutOfRange(delta) }
        let curve = try accountant.privacyCurve(for: gaussianPart)
        func total(_ epsilon: Double) -> Double { curve.delta(epsilon: epsilon) + testDelta(epsilon: epsilon) }
        // ε can be no smaller than the Gaussian part's own ε at δ.
        var lo = curve.epsilon(delta: delta)
        if !lo.isFinite { return .infinity }
        if total(lo) <= delta { return lo }
        // An upper end from a fixed split of δ between the two terms, trying larger test
        // shares until one satisfies the total.
        var hi = Double.infinity
        for share in [0.1, 0.3, 0.5, 0.7, 0.9] {
            let candidate = curve.epsilon(delta: (1 - share) * delta)
            if candidate.isFinite, candidate <= 100, total(candidate) <= delta {
                hi = candidate
                break
            }
        }
        if !hi.isFinite { return .infinity }
        while hi - lo > 1e-6 * max(hi, 1e-9) {
            let mid = (lo + hi) / 2
            if total(mid) <= delta { hi = mid } else { lo = mid }
        }
        return hi
    }
}
