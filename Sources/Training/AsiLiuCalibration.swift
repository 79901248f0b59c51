import Foundation

/// The noise of an `asi-liu` run calibrated for a target (ε, δ) at user level
/// (docs/ASI_LIU.md, "Privacy analysis").
///
/// Per step the test and the mean together form one Poisson-subsampled Gaussian mechanism
/// with noise multiplier `noiseMultiplier` (z); the accountant composes it over `steps`
/// steps at δ_acc = (1 − `testDeltaFraction`)·δ. The remaining δ_test = `testDeltaFraction`·δ
/// pays for the test passing on a batch whose core is smaller than `coreLowerBound` (a union
/// bound over all steps, not amplified by sampling: a valid upper bound, not tight).
public struct AsiLiuCalibration: Codable, Hashable, Sendable {
    /// Target ε (user level).
    public let epsilon: Double
    /// Target δ (user level), δ_acc + δ_test.
    public let delta: Double
    /// q: the probability that a user is sampled at a step.
    public let samplingRate: Double
    /// T: the number of steps the accountant composes (a halted run pays for all of them).
    public let steps: Int
    /// B: expected users per step (q · number of users); the pass threshold is relative to it.
    public let expectedUsers: Double
    /// z: the per-step noise multiplier the accountant sees (test and mean combined).
    public let noiseMultiplier: Double
    /// z_W = z / √φ: the test's noise in units of the core size's sensitivity (3).
    public let testNoiseMultiplier: Double
    /// z_μ = z / √(1 − φ): the mean's noise in units of its sensitivity.
    public let meanNoiseMultiplier: Double
    /// δ_acc: the δ at which the accountant's ε is ≤ the target.
    public let accountantDelta: Double
    /// δ_test = T · (1 + e^ε) · p: the δ reserved for the test's failure.
    public let testDelta: Double
    /// p = Φ̄(c): probability that one step's test passes when the core is below Θ₀.
    public let testFailureProbability: Double
    /// m = c · σ_W: the margin between the pass threshold and the core lower bound (users).
    public let margin: Double
    /// Θ₀ = Θ − m: the core size the mean's sensitivity is computed for (users).
    public let coreLowerBound: Double
    /// Δ_μ = 4τ · min(1, 3/Θ₀): the mean's sensitivity on good neighbouring batches.
    public let meanSensitivity: Double
    /// The per-step noise to pass to `asiLiuAggregate`.
    public let noise: AsiLiuNoise

    /// Share of the target δ reserved for the test's failure probability.
    public static let testDeltaFraction = 0.1
    /// Relative tolerance of the bisection on z.
    public static let relativeTolerance = 1e-4
    /// Largest noise multiplier the bisection tries before giving up.
    public static let largestNoiseMultiplier = 1e4

    enum CodingKeys: String, CodingKey {
        case epsilon, delta, steps, margin, noise
        case samplingRate = "sampling_rate"
        case expectedUsers = "expected_users"
        case noiseMultiplier = "noise_multiplier"
        case testNoiseMultiplier = "test_noise_multiplier"
        case meanNoiseMultiplier = "mean_noise_multiplier"
        case accountantDelta = "accountant_delta"
        case testDelta = "test_delta"
        case testFailureProbability = "test_failure_probability"
        case coreLowerBound = "core_lower_bound"
        case meanSensitivity = "mean_sensitivity"
    }

    /// Calibrates the run's noise for a target (ε, δ).
    ///
    /// - Parameters:
    ///   - accountant: ε of the T-fold composition of the Poisson-subsampled Gaussian mechanism
    ///     with rate `samplingRate` and the given noise multiplier, at the given δ (the same
    ///     event User-wise DP-SGD uses; any accountant of the Privacy module). Must be
    ///     non-increasing in the noise multiplier.
    /// - Returns: the smallest z (within `relativeTolerance`, rounded up) whose accountant ε at
    ///   δ_acc is ≤ `epsilon`, split between test and mean by `settings.testBudgetFraction`.
    /// - Throws: `AsiLiuError.invalidCalibrationInput`, `.calibrationFailed`, or
    ///   `.thresholdInfeasible` when the test's margin leaves no usable core.
    public static func calibrate(
        epsilon: Double, delta: Double, samplingRate: Double, steps: Int, expectedUsers: Double,
        settings: AsiLiuSettings,
        accountant: (_ noiseMultiplier: Double, _ delta: Double) throws -> Double
    ) throws -> AsiLiuCalibration {
        try checkInputs(epsilon: epsilon, delta: delta, samplingRate: samplingRate, steps: steps, expectedUsers: expectedUsers)
        try settings.validate()
        let accountantDelta = (1 - testDeltaFraction) * delta
        let z = try smallestNoiseMultiplier(epsilon: epsilon, delta: accountantDelta, accountant: accountant)
        return try make(
            epsilon: epsilon, delta: delta, samplingRate: samplingRate, steps: steps,
            expectedUsers: expectedUsers, settings: settings, noiseMultiplier: z)
    }

    /// The calibration for a given per-step noise multiplier z (for example one calibrated
    /// elsewhere and cached): splits z, reserves δ_test and sets the threshold margin.
    /// The caller is responsible for z meeting ε at (1 − `testDeltaFraction`)·δ.
    public static func make(
        epsilon: Double, delta: Double, samplingRate: Double, steps: Int, expectedUsers: Double,
        settings: AsiLiuSettings, noiseMultiplier z: Double
    ) throws -> AsiLiuCalibration {
        try checkInputs(epsilon: epsilon, delta: delta, samplingRate: samplingRate, steps: steps, expectedUsers: expectedUsers)
        try settings.validate()
        guard z.isFinite, z > 0 else { throw AsiLiuError.invalidCalibrationInput(name: "noise_multiplier", value: z) }
        let testDelta = testDeltaFraction * delta
        let p = testDelta / (Double(steps) * (1 + exp(epsilon)))
        let c = upperTailQuantile(p)
        let phi = settings.testBudgetFraction
        let zTest = z / phi.squareRoot()
        let zMean = z / (1 - phi).squareRoot()
        let sensitivity = AsiLiuMeanEstimator.coreSizeSensitivity
        let testSigma = sensitivity * zTest
        let margin = c * testSigma
        let passThreshold = settings.threshold * expectedUsers
        let coreLowerBound = passThreshold - margin
        guard coreLowerBound > sensitivity else {
            throw AsiLiuError.thresholdInfeasible(
                passThreshold: passThreshold, margin: margin,
                minimumExpectedUsers: (margin + sensitivity) / settings.threshold)
        }
        let meanSensitivity = AsiLiuMeanEstimator.meanSensitivity(tau: settings.tau, coreLowerBound: coreLowerBound)
        return AsiLiuCalibration(
            epsilon: epsilon, delta: delta, samplingRate: samplingRate, steps: steps,
            expectedUsers: expectedUsers, noiseMultiplier: z, testNoiseMultiplier: zTest,
            meanNoiseMultiplier: zMean, accountantDelta: (1 - testDeltaFraction) * delta,
            testDelta: Double(steps) * (1 + exp(epsilon)) * p, testFailureProbability: p,
            margin: margin, coreLowerBound: coreLowerBound, meanSensitivity: meanSensitivity,
            noise: AsiLiuNoise(testSigma: testSigma, meanSigma: zMean * meanSensitivity, passThreshold: passThreshold))
    }

    /// δ_test at a spent ε no larger than the target: T · (1 + e^ε) · p. Add it to the
    /// accountant's δ at that ε to state the run's guarantee.
    public func testDelta(atEpsilon spent: Double) -> Double {
        Double(steps) * (1 + exp(spent)) * testFailureProbability
    }

    /// The standard normal upper-tail quantile Φ̄⁻¹(p): the x with P(N(0,1) ≥ x) = p, for
    /// p in (0, 1). Bisection on Φ̄(x) = erfc(x/√2)/2, accurate to about 1e-12 in x; valid
    /// down to p ≈ 1e-300.
    public static func upperTailQuantile(_ p: Double) -> Double {
        precondition(p > 0 && p < 1, "upperTailQuantile needs p in (0, 1), got \(p)")
        var lo = -40.0, hi = 40.0
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if upperTail(mid) > p { lo = mid } else { hi = mid }
            if hi - lo < 1e-13 { break }
        }
        return (lo + hi) / 2
    }

    /// Φ̄(x) = P(N(0,1) ≥ x) = erfc(x/√2)/2.
    public static func upperTail(_ x: Double) -> Double {
        erfc(x / 2.0.squareRoot()) / 2
    }

    private static func checkInputs(epsilon: Double, delta: Double, samplingRate: Double, steps: Int, expectedUsers: Double) throws {
        guard epsilon.isFinite, epsilon > 0 else { throw AsiLiuError.invalidCalibrationInput(name: "epsilon", value: epsilon) }
        guard delta > 0, delta < 1 else { throw AsiLiuError.invalidCalibrationInput(name: "delta", value: delta) }
        guard samplingRate > 0, samplingRate <= 1 else { throw AsiLiuError.invalidCalibrationInput(name: "sampling_rate", value: samplingRate) }
        guard steps >= 1 else { throw AsiLiuError.invalidCalibrationInput(name: "steps", value: Double(steps)) }
        guard expectedUsers.isFinite, expectedUsers > 0 else { throw AsiLiuError.invalidCalibrationInput(name: "expected_users", value: expectedUsers) }
    }

    /// Smallest z with accountant(z, δ) ≤ ε, by doubling then bisection; returns the upper
    /// end of the final bracket so the target is met.
    private static func smallestNoiseMultiplier(
        epsilon: Double, delta: Double, accountant: (Double, Double) throws -> Double
    ) throws -> Double {
        func meets(_ z: Double) throws -> Bool {
            let spent = try accountant(z, delta)
            return spent <= epsilon
        }
        var hi = 1.0
        while try !meets(hi) {
            hi *= 2
            if hi > largestNoiseMultiplier {
                throw AsiLiuError.calibrationFailed(epsilon: epsilon, delta: delta, largest: largestNoiseMultiplier)
            }
        }
        var lo = hi / 2
        while try meets(lo) {
            hi = lo
            lo /= 2
            if lo < 1e-6 { return hi }
        }
        while (hi - lo) > relativeTolerance * hi {
            let mid = (lo + hi) / 2
            if try meets(mid) { hi = mid } else { lo = mid }
        }
        return hi
    }
}
