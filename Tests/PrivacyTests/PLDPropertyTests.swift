import Foundation
import Testing

@testable import Privacy

/// Exact hockey-stick curve of μ-GDP: δ(ε) = Φ(−ε/μ + μ/2) − e^ε·Φ(−ε/μ − μ/2)
/// (Balle & Wang 2018, Theorem 8; Dong, Roth, Su 2019, Corollary 2.13).
func gaussianDifferentialPrivacyDelta(mu: Double, epsilon: Double) -> Double {
    func cdf(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
    return cdf(-epsilon / mu + mu / 2) - exp(epsilon) * cdf(-epsilon / mu - mu / 2)
}

/// The ε with δ(ε) = δ for μ-GDP, by bisection on the exact curve.
func gaussianDifferentialPrivacyEpsilon(mu: Double, delta: Double) -> Double {
    var low = 0.0, high = 100.0
    for _ in 0..<200 {
        let middle = 0.5 * (low + high)
        if gaussianDifferentialPrivacyDelta(mu: mu, epsilon: middle) > delta { low = middle } else { high = middle }
    }
    return high
}

@Suite("PLD properties")
struct PLDPropertyTests {
    /// T Gaussians with noise multiplier σ compose exactly to μ-GDP with μ = √T/σ.
    @Test("q = 1: composed Gaussians against the exact μ-GDP curve", arguments: [(4.0, 16), (0.8, 4), (3.0, 200)])
    func gaussianDifferentialPrivacy(_ sigma: Double, _ steps: Int) throws {
        let mu = Double(steps).squareRoot() / sigma
        let curve = try PLDAccountant(valueDiscretization: 1e-3).privacyCurve(
            for: .selfComposed(event: .gaussian(sigma: sigma), count: steps))
        var worstExcess = 0.0
        for epsilon in [0.0, 0.5, 1, 2, 4] {
            let exact = gaussianDifferentialPrivacyDelta(mu: mu, epsilon: epsilon)
            let computed = curve.delta(epsilon: epsilon)
            #expect(computed >= exact - 1e-14, "δ(\(epsilon)) = \(computed) below the exact \(exact)")
            if exact > 1e-12 { worstExcess = max(worstExcess, (computed - exact) / exact) }
        }
        #expect(worstExcess <= 1e-3, "max relative excess of δ over the exact curve: \(worstExcess)")
        for delta in [1e-3, 1e-6, 1e-9] {
            let exact = gaussianDifferentialPrivacyEpsilon(mu: mu, delta: delta)
            let computed = curve.epsilon(delta: delta)
            #expect(computed >= exact - 1e-9 && computed <= exact + 1e-3, "ε(\(delta)) = \(computed), exact \(exact)")
        }
    }

    @Test("ε falls as σ grows and rises with q and T")
    func monotonicity() throws {
        let pld = try PLDAccountant(valueDiscretization: 1e-3)
        func epsilon(_ q: Double, _ sigma: Double, _ steps: Int) throws -> Double {
            try pld.epsilon(for: try DPEvent.poissonSubsampledGaussian(q: q, sigma: sigma, steps: steps), delta: 1e-5)
        }
        let bySigma = try [0.7, 0.9, 1.2, 2.0].map { try epsilon(0.01, $0, 500) }
        let byRate = try [0.002, 0.005, 0.01, 0.03].map { try epsilon($0, 1.0, 500) }
        let bySteps = try [100, 300, 1000, 3000].map { try epsilon(0.01, 1.0, $0) }
        #expect(zip(bySigma, bySigma.dropFirst()).allSatisfy { $0 > $1 }, "\(bySigma)")
        #expect(zip(byRate, byRate.dropFirst()).allSatisfy { $0 < $1 }, "\(byRate)")
        #expect(zip(bySteps, bySteps.dropFirst()).allSatisfy { $0 < $1 }, "\(bySteps)")
    }

    @Test("k = 1 group equals the plain subsampled Gaussian (PLD and RDP)")
    func groupOfOne() throws {
        let group = try DPEvent.groupOfRecords(k: 1, q: 0.01, sigma: 1.0, steps: 1000)
        let plain = try DPEvent.poissonSubsampledGaussian(q: 0.01, sigma: 1.0, steps: 1000)
        for accountant in [try PLDAccountant() as any Accountant, RDPAccountant()] {
            let a = try accountant.epsilon(for: group, delta: 1e-5)
            let b = try accountant.epsilon(for: plain, delta: 1e-5)
            #expect(relativeError(a, b) <= 1e-9, "\(accountant.name): group \(a), plain \(b)")
        }
    }

    @Test("the tight group ε is at most the lemma's, and grows with k", arguments: [(0.01, 1.0, 300), (0.05, 3.0, 200)])
    func tightBelowLemma(_ q: Double, _ sigma: Double, _ steps: Int) throws {
        let pld = try PLDAccountant(valueDiscretization: 1e-3)
        let record = try DPEvent.poissonSubsampledGaussian(q: q, sigma: sigma, steps: steps)
        var previous = try pld.epsilon(for: record, delta: 1e-5)
        for k in [2, 3, 5] {
            let tight = try pld.epsilon(for: try DPEvent.groupOfRecords(k: k, q: q, sigma: sigma, steps: steps), delta: 1e-5)
            let lemma = try pld.epsilon(for: DPEvent.groupPrivacyLemma(groupSize: k, of: record), delta: 1e-5)
            #expect(tight <= lemma, "k \(k): tight \(tight) > lemma \(lemma)")
            #expect(tight > previous, "k \(k): tight \(tight) not above k − 1's \(previous)")
            previous = tight
        }
    }

    @Test("the lemma's δ′ meets the user-level δ: k·e^{(k−1)ε′}·δ′ ≤ δ")
    func lemmaFeasible() throws {
        let pld = try PLDAccountant(valueDiscretization: 1e-3)
        let record = try DPEvent.poissonSubsampledGaussian(q: 0.01, sigma: 1.0, steps: 300)
        let lemma = try DPEvent.groupPrivacyLemma(groupSize: 3, of: record)
        let epsilon = try pld.epsilon(for: lemma, delta: 1e-5)
        // delta(for:epsilon:) applies the lemma forwards at ε′ = ε/k.
        #expect(try pld.delta(for: lemma, epsilon: epsilon) <= 1e-5 * (1 + 1e-6))
    }

    @Test("a coarser nested grid is pessimistic: ε(h) ≥ ε(h/10) ≥ ε(h/100)")
    func coarserGridIsPessimistic() throws {
        for event in [
            try DPEvent.poissonSubsampledGaussian(q: 0.01, sigma: 1.0, steps: 1000),
            try DPEvent.groupOfRecords(k: 3, q: 0.02, sigma: 2.0, steps: 300),
        ] {
            let values = try [1e-2, 1e-3, 1e-4].map { try PLDAccountant(valueDiscretization: $0).epsilon(for: event, delta: 1e-6) }
            #expect(values[0] >= values[1] - 1e-12 && values[1] >= values[2] - 1e-12, "\(values)")
        }
    }

    @Test("truncated tails go to +∞: a larger tail bound only raises δ")
    func tailMassAccounted() throws {
        let event = try DPEvent.poissonSubsampledGaussian(q: 0.05, sigma: 0.9, steps: 400)
        let loose = try PLDAccountant(valueDiscretization: 1e-3, tailMass: 1e-6).privacyLossCurve(for: event)
        let tight = try PLDAccountant(valueDiscretization: 1e-3).privacyLossCurve(for: event)
        #expect(loose.infinityMass > 1e-9, "infinity mass \(loose.infinityMass)")
        for epsilon in [0.5, 2, 5, 10, 40] {
            #expect(loose.delta(epsilon: epsilon) >= tight.delta(epsilon: epsilon) - 1e-15)
        }
    }

    @Test("ε(δ) and δ(ε) are inverse on the discrete curve")
    func inverse() throws {
        let curve = try PLDAccountant(valueDiscretization: 1e-3).privacyCurve(
            for: try DPEvent.poissonSubsampledGaussian(q: 0.02, sigma: 1.1, steps: 300))
        for delta in [1e-2, 1e-5, 1e-9] {
            let epsilon = curve.epsilon(delta: delta)
            #expect(relativeError(curve.delta(epsilon: epsilon), delta) <= 1e-9)
        }
    }

    @Test("non-private and no-op events")
    func degenerate() throws {
        let pld = try PLDAccountant()
        let nonPrivate = DPEvent.composed([.nonPrivate, .gaussian(sigma: 1)])
        #expect(try pld.epsilon(for: nonPrivate, delta: 1e-5) == .infinity)
        #expect(try RDPAccountant().epsilon(for: nonPrivate, delta: 1e-5) == .infinity)
        #expect(try pld.delta(for: nonPrivate, epsilon: 3) == 1)
        #expect(try pld.epsilon(for: .selfComposed(event: .noOp, count: 5), delta: 1e-5) == 0)
        let zeroSensitivity = DPEvent.mixtureOfGaussians(sigma: 1, sensitivities: [0], probabilities: [1])
        #expect(try pld.epsilon(for: zeroSensitivity, delta: 1e-5) == 0)
    }

    @Test("invalid arguments give their exact errors")
    func errors() throws {
        let pld = try PLDAccountant()
        let event = DPEvent.gaussian(sigma: 1)
        #expect(throws: PrivacyError.deltaOutOfRange(0)) { try pld.epsilon(for: event, delta: 0) }
        #expect(throws: PrivacyError.deltaOutOfRange(1)) { try pld.epsilon(for: event, delta: 1) }
        #expect(throws: PrivacyError.epsilonOutOfRange(-1)) { try pld.delta(for: event, epsilon: -1) }
        #expect(throws: PrivacyError.discretizationOutOfRange(0)) { try PLDAccountant(valueDiscretization: 0) }
        #expect(throws: PrivacyError.tailMassOutOfRange(0.1)) { try PLDAccountant(tailMass: 0.1) }
        #expect(throws: PrivacyError.groupPrivacySizeOutOfRange(0)) { try DPEvent.groupPrivacyLemma(groupSize: 0, of: event) }
        #expect(throws: PrivacyError.groupPrivacySizeOutOfRange(0)) {
            try pld.epsilon(for: .groupPrivacy(event: event, groupSize: 0, conversion: .lemma), delta: 1e-5)
        }
        #expect(throws: PrivacyError.nonPositiveSigma(0)) { try pld.epsilon(for: .gaussian(sigma: 0), delta: 1e-5) }
        let sampledComposition = DPEvent.poissonSampled(samplingProbability: 0.1, event: .selfComposed(event: event, count: 2))
        #expect(throws: PrivacyError.unsupportedEvent(accountant: "pld", event: "poissonSampled of a composition")) {
            try pld.epsilon(for: sampledComposition, delta: 1e-5)
        }
    }
}
