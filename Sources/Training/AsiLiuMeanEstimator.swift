import LinearAlgebra
import Randomness

/// The calibrated noise of one `asi-liu` step: what `asiLiuAggregate` adds and compares.
///
/// Produced by `AsiLiuCalibration.calibrate` from the run's (ε, δ); tests may build it by
/// hand (zero standard deviations give the noiseless estimator).
public struct AsiLiuNoise: Codable, Hashable, Sendable {
    /// σ_W: standard deviation of the Gaussian noise added to the soft core size W (users).
    public var testSigma: Double
    /// σ_μ: standard deviation of the Gaussian noise added to each coordinate of the
    /// weighted mean (gradient units).
    public var meanSigma: Double
    /// Θ: the test passes when the noisy core size is at least this many users.
    public var passThreshold: Double

    /// Noise for one step. Preconditions: standard deviations ≥ 0 and finite.
    public init(testSigma: Double, meanSigma: Double, passThreshold: Double) {
        precondition(testSigma >= 0 && testSigma.isFinite && meanSigma >= 0 && meanSigma.isFinite, "noise standard deviations must be finite and ≥ 0")
        self.testSigma = testSigma
        self.meanSigma = meanSigma
        self.passThreshold = passThreshold
    }

    enum CodingKeys: String, CodingKey {
        case testSigma = "test_sigma"
        case meanSigma = "mean_sigma"
        case passThreshold = "pass_threshold"
    }
}

/// What one `asi-liu` step did.
///
/// `estimate` is the privatised mean gradient to hand to the optimizer when the test passed,
/// nil otherwise. The statistics `coreSize`, `meanScore` and `removedFraction` are computed
/// from the users' raw gradients: they are research diagnostics outside the DP guarantee.
/// `noisyCoreSize` and `passed` are private.
public struct AsiLiuStepOutcome: Sendable {
    /// What the training loop must do after this step.
    public enum Action: String, Codable, Sendable {
        /// Step the optimizer with `estimate`.
        case update
        /// Test failed under `halt`: stop training (the model stays as it is).
        case halt
        /// Test failed under `skip`: no update at this step; continue.
        case skip
    }

    /// The private mean gradient (P values), present exactly when `passed`.
    public var estimate: [Float]?
    /// Whether the noisy core size reached the pass threshold.
    public var passed: Bool
    /// What the loop must do.
    public var action: Action
    /// Users in this step's batch (n).
    public var users: Int
    /// Ŵ = W + N(0, σ_W²): the noisy soft core size (private).
    public var noisyCoreSize: Double
    /// W = Σ w_u: the soft core size (diagnostic).
    public var coreSize: Double
    /// Mean over users of s_u / (n − 1), the fraction of the other users within 2τ; 0 when
    /// n < 2 (diagnostic).
    public var meanScore: Double
    /// Fraction of users whose weight is 0, removed as outliers; 0 when n = 0 (diagnostic).
    public var removedFraction: Double
    /// σ_μ actually added to each coordinate (0 when the test failed: nothing was released).
    public var noiseScale: Double

    /// An outcome with every field given (for replaying recorded runs and for tests).
    public init(
        estimate: [Float]?, passed: Bool, action: Action, users: Int, noisyCoreSize: Double,
        coreSize: Double, meanScore: Double, removedFraction: Double, noiseScale: Double
    ) {
        self.estimate = estimate
        self.passed = passed
        self.action = action
        self.users = users
        self.noisyCoreSize = noisyCoreSize
        self.coreSize = coreSize
        self.meanScore = meanScore
        self.removedFraction = removedFraction
        self.noiseScale = noiseScale
    }
}

/// The building blocks of the Asi & Liu (2024) mean estimator as userdp implements it
/// (docs/ASI_LIU.md): neighbour counts within 2τ, FriendlyCore-style smooth weights and the
/// weighted mean. Pure functions over a row-major users × parameters matrix.
public enum AsiLiuMeanEstimator {
    /// Squared Euclidean distances between all rows of a users × parameters row-major matrix,
    /// as a users × users row-major matrix (Double).
    ///
    /// Computed as ‖a‖² + ‖b‖² − 2a·b from one Gram matrix (BLAS sgemm) of the rows after
    /// subtracting their mean, which leaves distances unchanged and keeps float32 cancellation
    /// at the scale of the spread instead of the gradient norm. Negative rounding results are
    /// clamped to 0; the diagonal is exactly 0.
    public static func squaredDistances(rows: UnsafeBufferPointer<Float>, users: Int, parameters: Int) -> [Double] {
        precondition(rows.count == users * parameters, "squaredDistances: \(rows.count) values for \(users)×\(parameters)")
        if users == 0 { return [] }
        if parameters == 0 { return [Double](repeating: 0, count: users * users) }
        // Column mean in Double, then centred rows in float32.
        var mean = [Double](repeating: 0, count: parameters)
        for u in 0..<users {
            let row = u * parameters
            for j in 0..<parameters { mean[j] += Double(rows[row + j]) }
        }
        let inverse = 1 / Double(users)
        var centred = [Float](repeating: 0, count: users * parameters)
        for u in 0..<users {
            let row = u * parameters
            for j in 0..<parameters { centred[row + j] = Float(Double(rows[row + j]) - mean[j] * inverse) }
        }
        var gram = [Float](repeating: 0, count: users * users)
        centred.withUnsafeBufferPointer { c in
            gram.withUnsafeMutableBufferPointer { g in
                let view = MatrixView(c, rows: users, columns: parameters)
                BLAS.gemm(view, view.transposed, into: MutableMatrixView(g, rows: users, columns: users))
            }
        }
        var distances = [Double](repeating: 0, count: users * users)
        for i in 0..<users {
            for j in (i + 1)..<users {
                let d = Double(gram[i * users + i]) + Double(gram[j * users + j]) - 2 * Double(gram[i * users + j])
                let clamped = max(0, d)
                distances[i * users + j] = clamped
                distances[j * users + i] = clamped
            }
        }
        return distances
    }

    /// Concentration scores s_u = |{v ≠ u : ‖g_u − g_v‖₂ ≤ 2τ}| from squared distances.
    public static func concentrationScores(squaredDistances: [Double], users: Int, tau: Double) -> [Int] {
        precondition(squaredDistances.count == users * users, "concentrationScores: distance matrix is not \(users)×\(users)")
        let limit = 4 * tau * tau
        var scores = [Int](repeating: 0, count: users)
        for i in 0..<users {
            var count = 0
            for j in 0..<users where j != i && squaredDistances[i * users + j] <= limit { count += 1 }
            scores[i] = count
        }
        return scores
    }

    /// Outlier-removal weights w_u = clamp(2 s_u / n − 1, 0, 1): 0 for users with at most
    /// half the batch as neighbours, rising linearly to 1. Adding or removing one user
    /// changes their sum by less than 3 (docs/ASI_LIU.md, Lemma 2).
    public static func weights(scores: [Int]) -> [Double] {
        let n = Double(scores.count)
        return scores.map { min(1, max(0, 2 * Double($0) / n - 1)) }
    }

    /// The weighted mean Σ w_u g_u / Σ w_u (BLAS sgemv), or nil when every weight is 0.
    public static func weightedMean(rows: UnsafeBufferPointer<Float>, users: Int, parameters: Int, weights: [Double]) -> [Float]? {
        precondition(rows.count == users * parameters && weights.count == users, "weightedMean: shapes disagree")
        let total = weights.reduce(0, +)
        guard total > 0 else { return nil }
        let normalised = weights.map { Float($0 / total) }
        var mean = [Float](repeating: 0, count: parameters)
        if parameters == 0 { return mean }
        normalised.withUnsafeBufferPointer { w in
            mean.withUnsafeMutableBufferPointer { m in
                BLAS.gemv(MatrixView(rows, rows: users, columns: parameters).transposed, w, into: m)
            }
        }
        return mean
    }

    /// The core-size sensitivity bound: |W(S) − W(S ∪ {z})| < 3 for any batch S and user z.
    public static let coreSizeSensitivity = 3.0

    /// The bound on ‖μ(S) − μ(S ∪ {z})‖₂ when max(W, W') ≥ `coreLowerBound`:
    /// 4τ · min(1, 3 / coreLowerBound) (docs/ASI_LIU.md, Lemma 2).
    public static func meanSensitivity(tau: Double, coreLowerBound: Double) -> Double {
        4 * tau * min(1, coreSizeSensitivity / coreLowerBound)
    }
}

/// One step of the `asi-liu` mechanism: private concentration test, outlier removal and noisy
/// weighted mean of the sampled users' averaged gradients (docs/ASI_LIU.md).
///
/// - Parameters:
///   - userGradients: row-major users × parameters float32 matrix; row u is user u's gradient
///     averaged over its selected units (unclipped).
///   - users: n, the number of sampled users this step (may be 0).
///   - parameters: P, the number of trainable parameters.
///   - settings: τ and the failure policy (the threshold is already in `noise`).
///   - noise: the calibrated noise (`AsiLiuCalibration.noise`).
///   - rng: the run's noise generator. Draws: one Gaussian for the test, then P Gaussians for
///     the mean only if the test passed; the same inputs and generator state give the same
///     outcome bit for bit.
/// - Throws: `AsiLiuError.shapeMismatch` when `userGradients.count != users * parameters`.
public func asiLiuAggregate(
    userGradients: [Float], users: Int, parameters: Int,
    settings: AsiLiuSettings, noise: AsiLiuNoise, rng: inout Philox
) throws -> AsiLiuStepOutcome {
    guard users >= 0, parameters >= 0, userGradients.count == users * parameters else {
        throw AsiLiuError.shapeMismatch(count: userGradients.count, users: users, parameters: parameters)
    }
    return userGradients.withUnsafeBufferPointer { rows in
        aggregate(rows: rows, users: users, parameters: parameters, tau: settings.tau, onFailure: settings.onFailure, noise: noise, rng: &rng)
    }
}

private func aggregate(
    rows: UnsafeBufferPointer<Float>, users: Int, parameters: Int, tau: Double,
    onFailure: AsiLiuFailurePolicy, noise: AsiLiuNoise, rng: inout Philox
) -> AsiLiuStepOutcome {
    let distances = AsiLiuMeanEstimator.squaredDistances(rows: rows, users: users, parameters: parameters)
    let scores = AsiLiuMeanEstimator.concentrationScores(squaredDistances: distances, users: users, tau: tau)
    let weights = AsiLiuMeanEstimator.weights(scores: scores)
    let coreSize = weights.reduce(0, +)
    let meanScore = users < 2 ? 0 : scores.reduce(0.0) { $0 + Double($1) / Double(users - 1) } / Double(users)
    let removed = users == 0 ? 0 : Double(weights.filter { $0 == 0 }.count) / Double(users)

    // The test noise is drawn whatever the batch, so the generator advances the same way on
    // neighbouring inputs up to the test.
    let noisyCoreSize = coreSize + noise.testSigma * rng.nextGaussian()
    let passed = noisyCoreSize >= noise.passThreshold
    guard passed else {
        return AsiLiuStepOutcome(
            estimate: nil, passed: false, action: onFailure == .halt ? .halt : .skip, users: users,
            noisyCoreSize: noisyCoreSize, coreSize: coreSize, meanScore: meanScore,
            removedFraction: removed, noiseScale: 0)
    }
    // A pass with an empty core has probability at most Φ̄(c) (the δ reserved for the test);
    // the release is then pure noise, which the analysis covers.
    var estimate = AsiLiuMeanEstimator.weightedMean(rows: rows, users: users, parameters: parameters, weights: weights)
        ?? [Float](repeating: 0, count: parameters)
    if noise.meanSigma > 0 {
        for j in 0..<parameters {
            estimate[j] += Float(noise.meanSigma * rng.nextGaussian())
        }
    }
    return AsiLiuStepOutcome(
        estimate: estimate, passed: true, action: .update, users: users,
        noisyCoreSize: noisyCoreSize, coreSize: coreSize, meanScore: meanScore,
        removedFraction: removed, noiseScale: noise.meanSigma)
}
