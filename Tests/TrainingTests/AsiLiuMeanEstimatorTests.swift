import Foundation
import Randomness
import Testing
import Training

// MARK: - Synthetic per-user gradients and an exact accountant (test oracles)

/// Users scattered around `center`: user u is center + r_u · (unit random direction) with
/// r_u uniform in [0, radius], so every pair is within 2·radius.
func asiLiuConcentratedUsers(center: [Float], users: Int, radius: Double, rng: inout Philox) -> [Float] {
    var rows: [Float] = []
    rows.reserveCapacity(users * center.count)
    for _ in 0..<users {
        var direction = center.map { _ in rng.nextGaussian() }
        let norm = direction.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let r = radius * rng.nextOpenUnit()
        for j in direction.indices { direction[j] *= r / norm }
        rows += zip(center, direction).map { $0 + Float($1) }
    }
    return rows
}

/// Users with i.i.d. N(0, scale²) coordinates: pairwise distances ≈ scale·√(2P).
func asiLiuSpreadUsers(users: Int, parameters: Int, scale: Double, rng: inout Philox) -> [Float] {
    (0..<(users * parameters)).map { _ in Float(scale * rng.nextGaussian()) }
}

/// Φ(x), the standard normal CDF.
func asiLiuNormalCDF(_ x: Double) -> Double { erfc(-x / 2.0.squareRoot()) / 2 }

/// Exact ε of the T-fold composition of a Gaussian mechanism (sensitivity 1, noise
/// multiplier z, no subsampling) at δ: the composition is one Gaussian with multiplier z/√T,
/// whose privacy profile is δ(ε) = Φ(1/(2s) − εs) − e^ε Φ(−1/(2s) − εs) (Balle & Wang 2018,
/// Theorem 8). Bisection on ε; the answer is rounded up.
func asiLiuGaussianEpsilon(noiseMultiplier z: Double, steps: Int, delta: Double) -> Double {
    let s = z / Double(steps).squareRoot()
    func profile(_ epsilon: Double) -> Double {
        asiLiuNormalCDF(1 / (2 * s) - epsilon * s) - exp(epsilon) * asiLiuNormalCDF(-1 / (2 * s) - epsilon * s)
    }
    if profile(0) <= delta { return 0 }
    var lo = 0.0, hi = 1.0
    while profile(hi) > delta {
        lo = hi
        hi *= 2
        if hi > 1e4 { return .infinity }
    }
    for _ in 0..<100 {
        let mid = (lo + hi) / 2
        if profile(mid) > delta { lo = mid } else { hi = mid }
    }
    return hi
}

/// The exact mean of rows (Double), the estimator's target on concentrated data.
func asiLiuRowMean(_ rows: [Float], users: Int, parameters: Int, only selected: [Int]? = nil) -> [Double] {
    let chosen = selected ?? Array(0..<users)
    var mean = [Double](repeating: 0, count: parameters)
    for u in chosen {
        for j in 0..<parameters { mean[j] += Double(rows[u * parameters + j]) }
    }
    return mean.map { $0 / Double(chosen.count) }
}

func asiLiuDistance(_ a: [Float], _ b: [Double]) -> Double {
    zip(a, b).reduce(0) { $0 + (Double($1.0) - $1.1) * (Double($1.0) - $1.1) }.squareRoot()
}

// MARK: - Distances, scores, weights

@Test func squaredDistancesMatchANaiveLoopOnLargeNormsWithSmallSpread() {
    var rng = Philox(seed: 11, stream: "distances")
    let users = 12, parameters = 300
    // ‖g‖ ≈ 100 and spread ≈ 0.1: the uncentred Gram identity would lose the distances.
    let center = (0..<parameters).map { _ in Float(100 / Double(parameters).squareRoot() * rng.nextGaussian()) }
    let rows = asiLiuConcentratedUsers(center: center, users: users, radius: 0.1, rng: &rng)
    let fast = rows.withUnsafeBufferPointer { AsiLiuMeanEstimator.squaredDistances(rows: $0, users: users, parameters: parameters) }
    var maxError = 0.0
    for i in 0..<users {
        for j in 0..<users {
            var exact = 0.0
            for k in 0..<parameters {
                let d = Double(rows[i * parameters + k]) - Double(rows[j * parameters + k])
                exact += d * d
            }
            maxError = max(maxError, abs(fast[i * users + j] - exact))
        }
    }
    // Distances² are ≤ 0.04; float32 inputs are exact in Double, so the only error is the
    // float32 Gram of centred rows.
    #expect(maxError < 1e-6, "max |d² error| = \(maxError)")
}

/// Five points on a line with τ = 1.05 (neighbours within 2.1): {0, 1, 2, 3} are each
/// other's neighbours except 0–3 (distance 3), and 10 is alone.
@Test func scoresAndWeightsOnAHandCheckedConfiguration() {
    let rows: [Float] = [0, 0, 1, 0, 2, 0, 3, 0, 10, 0]
    let distances = rows.withUnsafeBufferPointer { AsiLiuMeanEstimator.squaredDistances(rows: $0, users: 5, parameters: 2) }
    let scores = AsiLiuMeanEstimator.concentrationScores(squaredDistances: distances, users: 5, tau: 1.05)
    #expect(scores == [2, 3, 3, 2, 0])
    let weights = AsiLiuMeanEstimator.weights(scores: scores)
    // w = clamp(2s/5 − 1, 0, 1): s = 2 → 0 (not more than half), s = 3 → 0.2.
    #expect(weights.map { ($0 * 1e12).rounded() / 1e12 } == [0, 0.2, 0.2, 0, 0])
    let mean = rows.withUnsafeBufferPointer { AsiLiuMeanEstimator.weightedMean(rows: $0, users: 5, parameters: 2, weights: weights) }
    #expect(mean == [1.5, 0])
}

// MARK: - The sensitivity bounds the privacy proof rests on (docs/ASI_LIU.md, Lemmas 1–2)

/// Random and adversarial neighbouring batches S and S ∪ {z}: |W − W'| < 3, every pair of
/// positive-weight users on either side is within 4τ, and
/// ‖μ − μ'‖ ≤ 4τ · min(1, 3 / max(W, W')).
@Test func sensitivityBoundsHoldOnNeighbouringBatches() {
    var rng = Philox(seed: 5, stream: "sensitivity")
    let tau = 1.0, parameters = 2
    var worstCoreChange = 0.0, worstMeanRatio = 0.0, worstDiameter = 0.0
    for trial in 0..<3000 {
        let n = 1 + Int(rng.next() % 24)
        // Two clusters whose separation sweeps through the 2τ–4τ range, plus scattered points,
        // so many users sit on the weight ramp.
        let separation = 4.5 * rng.nextOpenUnit()
        var points: [Float] = []
        for _ in 0..<n {
            let kind = rng.nextOpenUnit()
            let cx = kind < 0.45 ? 0 : (kind < 0.9 ? separation : 8 * rng.nextOpenUnit())
            let spread = (trial % 3 == 0) ? 1.2 : 0.6
            points += [Float(cx + spread * rng.nextGaussian()), Float(spread * rng.nextGaussian())]
        }
        // z near the clusters (moves many scores) or far away (moves every weight through n).
        let zx = rng.nextOpenUnit() < 0.3 ? 10 + rng.nextOpenUnit() : separation * rng.nextOpenUnit() + 0.5 * rng.nextGaussian()
        let z: [Float] = [Float(zx), Float(0.7 * rng.nextGaussian())]
        let before = analyse(points, users: n, parameters: parameters, tau: tau)
        let after = analyse(points + z, users: n + 1, parameters: parameters, tau: tau)
        worstCoreChange = max(worstCoreChange, abs(after.core - before.core))
        // Lemma 1 over the union of positive-weight users (z is index n in `after`).
        var positive: [[Float]] = []
        for u in 0...n {
            let inBefore = u < n && before.weights[u] > 0
            if inBefore || after.weights[u] > 0 { positive.append(Array((points + z)[(u * 2)..<(u * 2 + 2)])) }
        }
        for a in positive {
            for b in positive {
                let d = planeDistance(a, b)
                worstDiameter = max(worstDiameter, d / (4 * tau))
            }
        }
        if let m0 = before.mean, let m1 = after.mean {
            let change = planeDistance(m0, m1)
            let bound = 4 * tau * min(1, 3 / max(before.core, after.core))
            worstMeanRatio = max(worstMeanRatio, change / bound)
        }
    }
    #expect(worstCoreChange < 3, "largest |W − W'| = \(worstCoreChange)")
    #expect(worstDiameter <= 1 + 1e-5, "largest core distance / 4τ = \(worstDiameter)")
    #expect(worstMeanRatio <= 1 + 1e-5, "largest ‖μ − μ'‖ / bound = \(worstMeanRatio)")
    // The bounds are not vacuous: the trials come near them.
    #expect(worstCoreChange > 1, "largest |W − W'| = \(worstCoreChange) (trials too easy)")
    #expect(worstMeanRatio > 0.1, "largest ratio = \(worstMeanRatio) (trials too easy)")
}

private func planeDistance(_ a: [Float], _ b: [Float]) -> Double {
    let dx = Double(a[0]) - Double(b[0]), dy = Double(a[1]) - Double(b[1])
    return (dx * dx + dy * dy).squareRoot()
}

private func analyse(_ rows: [Float], users: Int, parameters: Int, tau: Double) -> (weights: [Double], core: Double, mean: [Float]?) {
    rows.withUnsafeBufferPointer { buffer in
        let d = AsiLiuMeanEstimator.squaredDistances(rows: buffer, users: users, parameters: parameters)
        let w = AsiLiuMeanEstimator.weights(scores: AsiLiuMeanEstimator.concentrationScores(squaredDistances: d, users: users, tau: tau))
        return (w, w.reduce(0, +), AsiLiuMeanEstimator.weightedMean(rows: buffer, users: users, parameters: parameters, weights: w))
    }
}

// MARK: - The estimator end to end

/// One step at (ε, δ) = (4, 1e-5), calibrated with the exact Gaussian accountant (q = 1,
/// T = 1): 128 concentrated users pass, and the estimate's error is the calibrated noise, far
/// below the noise of clipping-based averaging (clip to C = largest norm, noise z·C/U) at the
/// same privacy.
@Test func concentratedUsersPassAndBeatClippedAveraging() throws {
    var rng = Philox(seed: 3, stream: "concentrated")
    let users = 128, parameters = 2000, radius = 0.05
    let center = (0..<parameters).map { _ in Float(10 / Double(parameters).squareRoot() * rng.nextGaussian()) }
    let rows = asiLiuConcentratedUsers(center: center, users: users, radius: radius, rng: &rng)
    let settings = AsiLiuSettings(tau: radius, threshold: 0.75)
    let calibration = try AsiLiuCalibration.calibrate(
        epsilon: 4, delta: 1e-5, samplingRate: 1, steps: 1, expectedUsers: Double(users), settings: settings,
        accountant: { z, delta in asiLiuGaussianEpsilon(noiseMultiplier: z, steps: 1, delta: delta) })
    var noiseRNG = Philox(seed: 3, stream: "noise")
    let outcome = try asiLiuAggregate(
        userGradients: rows, users: users, parameters: parameters, settings: settings,
        noise: calibration.noise, rng: &noiseRNG)
    #expect(outcome.passed && outcome.action == .update)
    #expect(outcome.removedFraction == 0 && outcome.meanScore == 1)
    #expect(abs(outcome.coreSize - Double(users - 2)) < 1e-9, "W = \(outcome.coreSize)")
    let estimate = try #require(outcome.estimate)
    let error = asiLiuDistance(estimate, asiLiuRowMean(rows, users: users, parameters: parameters))
    let expected = calibration.noise.meanSigma * Double(parameters).squareRoot()
    #expect(abs(error / expected - 1) < 0.1, "error \(error), expected about \(expected)")

    // Clipping baseline at the same (ε, δ): User-wise DP-SGD's mean with noise z·C/U.
    let clipNorm = (0..<users).map { u in
        rows[(u * parameters)..<((u + 1) * parameters)].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }.max()!
    var lo = 0.01, hi = 100.0
    for _ in 0..<100 {
        let mid = (lo + hi) / 2
        if asiLiuGaussianEpsilon(noiseMultiplier: mid, steps: 1, delta: 1e-5) <= 4 { hi = mid } else { lo = mid }
    }
    let clippedError = hi * clipNorm / Double(users) * Double(parameters).squareRoot()
    #expect(error < clippedError / 3, "asi-liu error \(error) vs clipped averaging \(clippedError)")
}

@Test func spreadOutUsersHaltOrSkip() throws {
    var rng = Philox(seed: 8, stream: "spread")
    let users = 64, parameters = 500
    let rows = asiLiuSpreadUsers(users: users, parameters: parameters, scale: 1, rng: &rng)
    let noise = AsiLiuNoise(testSigma: 4.2, meanSigma: 0.01, passThreshold: 48)
    for policy in AsiLiuFailurePolicy.allCases {
        var noiseRNG = Philox(seed: 8, stream: "noise")
        let outcome = try asiLiuAggregate(
            userGradients: rows, users: users, parameters: parameters,
            settings: AsiLiuSettings(tau: 0.05, onFailure: policy), noise: noise, rng: &noiseRNG)
        #expect(!outcome.passed && outcome.estimate == nil && outcome.noiseScale == 0)
        #expect(outcome.action == (policy == .halt ? .halt : .skip))
        #expect(outcome.coreSize == 0 && outcome.removedFraction == 1 && outcome.meanScore == 0)
    }
}

/// 48 concentrated users and 16 isolated outliers, no noise: every statistic is known.
@Test func statisticsMatchWhatHappened() throws {
    var rng = Philox(seed: 21, stream: "mixture")
    let inliers = 48, outliers = 16, parameters = 50
    let center = [Float](repeating: 1, count: parameters)
    var rows = asiLiuConcentratedUsers(center: center, users: inliers, radius: 0.08, rng: &rng)
    for o in 0..<outliers {
        // Each outlier sits on its own axis, 100 + 10·o away: far from everyone.
        var row = center
        row[o] += Float(100 + 10 * o)
        rows += row
    }
    let users = inliers + outliers
    var noiseRNG = Philox(seed: 0)
    let settings = AsiLiuSettings(tau: 0.1)
    let pass = try asiLiuAggregate(
        userGradients: rows, users: users, parameters: parameters, settings: settings,
        noise: AsiLiuNoise(testSigma: 0, meanSigma: 0, passThreshold: 22.5), rng: &noiseRNG)
    // Inliers: s = 47 of 64 → w = 2·47/64 − 1 = 0.46875; outliers: s = 0 → w = 0.
    #expect(pass.passed && pass.users == users)
    #expect(abs(pass.coreSize - 48 * 0.46875) < 1e-12, "W = \(pass.coreSize)")
    #expect(pass.removedFraction == 0.25)
    #expect(abs(pass.meanScore - Double(inliers) * 47 / 63 / Double(users)) < 1e-12, "score \(pass.meanScore)")
    let estimate = try #require(pass.estimate)
    let inlierMean = asiLiuRowMean(rows, users: users, parameters: parameters, only: Array(0..<inliers))
    #expect(asiLiuDistance(estimate, inlierMean) < 1e-5, "outliers leaked into the mean")

    let fail = try asiLiuAggregate(
        userGradients: rows, users: users, parameters: parameters, settings: settings,
        noise: AsiLiuNoise(testSigma: 0, meanSigma: 0, passThreshold: 22.6), rng: &noiseRNG)
    #expect(!fail.passed && fail.action == .halt && fail.coreSize == pass.coreSize)
}

@Test func outcomesAreDeterministicGivenTheSeed() throws {
    var rng = Philox(seed: 2, stream: "data")
    let rows = asiLiuConcentratedUsers(center: [Float](repeating: 0.5, count: 40), users: 20, radius: 0.2, rng: &rng)
    let noise = AsiLiuNoise(testSigma: 1, meanSigma: 0.3, passThreshold: 5)
    func run(_ seed: UInt64) throws -> [Float]? {
        var g = Philox(seed: seed, stream: "noise")
        return try asiLiuAggregate(
            userGradients: rows, users: 20, parameters: 40, settings: AsiLiuSettings(tau: 0.2),
            noise: noise, rng: &g).estimate
    }
    let first = try run(1), again = try run(1), other = try run(2)
    #expect(first != nil && first == again)
    #expect(first != other)
}

@Test func emptyBatchFailsAndBadShapesThrow() throws {
    var g = Philox(seed: 1)
    let empty = try asiLiuAggregate(
        userGradients: [], users: 0, parameters: 10, settings: AsiLiuSettings(),
        noise: AsiLiuNoise(testSigma: 1, meanSigma: 1, passThreshold: 5), rng: &g)
    #expect(!empty.passed && empty.users == 0 && empty.meanScore == 0 && empty.removedFraction == 0)
    #expect(throws: AsiLiuError.shapeMismatch(count: 5, users: 2, parameters: 3)) {
        try asiLiuAggregate(
            userGradients: [1, 2, 3, 4, 5], users: 2, parameters: 3, settings: AsiLiuSettings(),
            noise: AsiLiuNoise(testSigma: 1, meanSigma: 1, passThreshold: 5), rng: &g)
    }
}
