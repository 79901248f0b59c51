import Foundation
import Testing
import Privacy
import Training

/// Published quantiles of the standard normal (e.g. Abramowitz & Stegun table 26.8 values
/// recomputed to 10 digits) and round trips through erfc down to p = 1e-50.
@Test func upperTailQuantileMatchesKnownValues() {
    let known: [(p: Double, x: Double)] = [(0.5, 0), (0.025, 1.959963985), (1e-3, 3.090232306), (1e-10, 6.361340902)]
    for (p, x) in known {
        let got = AsiLiuCalibration.upperTailQuantile(p)
        #expect(abs(got - x) < 1e-8, "Φ̄⁻¹(\(p)) = \(got), expected \(x)")
    }
    for p in [0.3, 1e-5, 1e-12, 1e-20, 1e-50] {
        let back = AsiLiuCalibration.upperTail(AsiLiuCalibration.upperTailQuantile(p))
        #expect(abs(back / p - 1) < 1e-9, "Φ̄(Φ̄⁻¹(\(p))) = \(back)")
    }
}

/// The test's own oracle against a hand-computed value: Gaussian mechanism with σ = 1 at
/// ε = 1 has δ = Φ(−0.5) − e·Φ(−1.5) = 0.30853754 − e·0.06680720 = 0.1269367375
/// (Balle & Wang 2018, Theorem 8).
@Test func exactGaussianAccountantMatchesAHandComputedProfile() {
    let epsilon = asiLiuGaussianEpsilon(noiseMultiplier: 1, steps: 1, delta: 0.1269367375066)
    #expect(abs(epsilon - 1) < 1e-5, "ε = \(epsilon)")
    // Composition: 4 steps at z = 2 is one step at z = 1.
    #expect(abs(asiLiuGaussianEpsilon(noiseMultiplier: 2, steps: 4, delta: 0.1269367375066) - 1) < 1e-5)
}

@Test func calibrationMeetsTheTargetAndIsTight() throws {
    let steps = 50, epsilon = 8.0, delta = 1e-6
    let accountant: (Double, Double) throws -> Double = { z, d in asiLiuGaussianEpsilon(noiseMultiplier: z, steps: steps, delta: d) }
    let settings = AsiLiuSettings(tau: 0.2, threshold: 0.9, testBudgetFraction: 0.3)
    let c = try AsiLiuCalibration.calibrate(
        epsilon: epsilon, delta: delta, samplingRate: 1, steps: steps, expectedUsers: 2000,
        settings: settings, accountant: accountant)
    let z = c.noiseMultiplier
    #expect(try accountant(z, 0.9 * delta) <= epsilon)
    #expect(try accountant(z * (1 - 3 * AsiLiuCalibration.relativeTolerance), 0.9 * delta) > epsilon, "z = \(z) is not the smallest")
    // Budget split: 1/z² = 1/z_W² + 1/z_μ², with φ = 0.3 on the test.
    let recombined = 1 / (1 / (c.testNoiseMultiplier * c.testNoiseMultiplier) + 1 / (c.meanNoiseMultiplier * c.meanNoiseMultiplier)).squareRoot()
    #expect(abs(recombined / z - 1) < 1e-12)
    #expect(abs(c.testNoiseMultiplier - z / 0.3.squareRoot()) < 1e-12)
    // δ bookkeeping: δ_acc + δ_test = δ at the target ε.
    #expect(abs(c.accountantDelta + c.testDelta - delta) < 1e-18)
    #expect(abs(c.testDelta(atEpsilon: epsilon) - c.testDelta) < 1e-18)
    #expect(c.testDelta(atEpsilon: 1) < c.testDelta)
    // Noise follows from the documented formulas.
    let cQuantile = AsiLiuCalibration.upperTailQuantile(0.1 * delta / (Double(steps) * (1 + exp(epsilon))))
    #expect(abs(c.noise.testSigma - 3 * c.testNoiseMultiplier) < 1e-12)
    #expect(abs(c.margin - cQuantile * c.noise.testSigma) < 1e-9)
    #expect(abs(c.noise.passThreshold - 1800) < 1e-9)
    #expect(abs(c.coreLowerBound - (1800 - c.margin)) < 1e-9)
    #expect(abs(c.noise.meanSigma - c.meanNoiseMultiplier * 12 * 0.2 / c.coreLowerBound) < 1e-12)
}

@Test func tooSmallABatchIsReportedWithTheBatchThatWouldWork() throws {
    let settings = AsiLiuSettings(threshold: 0.5)
    let z = 1.5
    var minimum = 0.0
    do {
        _ = try AsiLiuCalibration.make(
            epsilon: 1, delta: 1e-5, samplingRate: 0.01, steps: 1000, expectedUsers: 16,
            settings: settings, noiseMultiplier: z)
        Issue.record("expected thresholdInfeasible")
    } catch let AsiLiuError.thresholdInfeasible(passThreshold, margin, minimumExpectedUsers) {
        #expect(passThreshold == 8)
        #expect(margin > 5)
        minimum = minimumExpectedUsers
    }
    let fits = try AsiLiuCalibration.make(
        epsilon: 1, delta: 1e-5, samplingRate: 0.01, steps: 1000, expectedUsers: minimum * 1.001,
        settings: settings, noiseMultiplier: z)
    #expect(fits.coreLowerBound > 3 && fits.coreLowerBound < 3.1, "Θ₀ = \(fits.coreLowerBound)")
}

@Test func calibrationRejectsBadInputs() {
    let accountant: (Double, Double) throws -> Double = { z, d in asiLiuGaussianEpsilon(noiseMultiplier: z, steps: 1, delta: d) }
    #expect(throws: AsiLiuError.invalidCalibrationInput(name: "epsilon", value: 0)) {
        try AsiLiuCalibration.calibrate(epsilon: 0, delta: 1e-5, samplingRate: 1, steps: 1, expectedUsers: 10, settings: AsiLiuSettings(), accountant: accountant)
    }
    #expect(throws: AsiLiuError.invalidCalibrationInput(name: "steps", value: 0)) {
        try AsiLiuCalibration.calibrate(epsilon: 1, delta: 1e-5, samplingRate: 1, steps: 0, expectedUsers: 10, settings: AsiLiuSettings(), accountant: accountant)
    }
    #expect(throws: AsiLiuError.invalidValue(keyPath: "asi_liu.threshold", value: "1.5", allowed: "a number in (0, 1]")) {
        try AsiLiuCalibration.calibrate(epsilon: 1, delta: 1e-5, samplingRate: 1, steps: 1, expectedUsers: 10, settings: AsiLiuSettings(threshold: 1.5), accountant: accountant)
    }
    // An accountant that never gets below the target.
    #expect(throws: AsiLiuError.calibrationFailed(epsilon: 1, delta: 0.9e-5, largest: AsiLiuCalibration.largestNoiseMultiplier)) {
        try AsiLiuCalibration.calibrate(epsilon: 1, delta: 1e-5, samplingRate: 1, steps: 1, expectedUsers: 10, settings: AsiLiuSettings(), accountant: { _, _ in 2 })
    }
}

/// Through the Privacy module (PLD, Poisson subsampling): the calibrated run's ε at the target
/// δ, with the test's δ included, never exceeds the target, and the per-step event is the one
/// User-wise DP-SGD uses.
@Test func calibrationThroughThePrivacyModuleNeverExceedsTheTarget() throws {
    let kind = AccountantKind.pld(valueDiscretization: 1e-3)
    let calibration = try AsiLiuCalibration.calibrate(
        epsilon: 4, delta: 1e-5, samplingRate: 0.1, steps: 100, expectedUsers: 256,
        settings: AsiLiuSettings(tau: 0.1), accountantKind: kind)
    let event = try calibration.privacyEvent()
    let (gaussianPart, failureProbability) = event.separatingFailureProbability()
    #expect(gaussianPart == (try DPEvent.poissonSubsampledGaussian(q: 0.1, sigma: calibration.noiseMultiplier, steps: 100)))
    #expect(abs(failureProbability - 100 * calibration.testFailureProbability) <= 1e-15 * failureProbability)
    let accountant = try kind.makeAccountant()
    let spent = try accountant.epsilon(for: event, delta: 1e-5)
    #expect(spent <= 4 && spent > 3.9, "ε spent = \(spent)")
    // The test's share of δ matters: z meets ε = 4 only at the full δ. At δ/2, and even at
    // 0.95·δ (the Gaussian part's 0.9·δ plus most of the test's 0.1·δ), the event exceeds the
    // target, while the Gaussian part alone would still meet it at 0.95·δ.
    #expect(try accountant.epsilon(for: event, delta: 0.5e-5) > 4)
    #expect(try accountant.epsilon(for: event, delta: 0.95e-5) > 4)
    #expect(try accountant.epsilon(for: gaussianPart, delta: 0.95e-5) <= 4)
}
