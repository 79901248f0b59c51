import Foundation
import Testing

@testable import Privacy

/// Relative difference |a − b| / |b|.
func relativeError(_ value: Double, _ reference: Double) -> Double { abs(value - reference) / abs(reference) }

/// Reference values from Google's dp_accounting 0.6.0 (`pip install dp-accounting==0.6.0`),
/// add/remove adjacency, produced by the script in docs/PRIVACY.md ("Oracle script"):
/// `PLDAccountant(value_discretization_interval=1e-4)` for the pessimistic ε, and
/// `from_gaussian_mechanism(..., pessimistic_estimate=False).self_compose(T)` (privacy buckets,
/// rounding down) for the optimistic ε.
@Suite("PLD against dp_accounting")
struct PLDReferenceTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var q: Double, sigma: Double, steps: Int, delta: Double
        var pessimistic: Double, optimistic: Double
        var testDescription: String { "q \(q), σ \(sigma), T \(steps), δ \(delta)" }
    }

    static let referenceCases: [Case] = [
        Case(q: 0.01, sigma: 1.0, steps: 1000, delta: 1e-5, pessimistic: 1.8282436455855091, optimistic: 1.7782397279070383),
        Case(q: 0.05, sigma: 2.0, steps: 2000, delta: 1e-6, pessimistic: 6.106559400208162, optimistic: 6.006554677720479),
        Case(q: 0.1, sigma: 5.0, steps: 100, delta: 1e-6, pessimistic: 0.8758350830153696, optimistic: 0.8708341754520038),
    ]

    @Test("reference table: within 0.5% of dp_accounting's pessimistic ε, never below its optimistic ε", arguments: referenceCases)
    func table(_ reference: Case) throws {
        let event = try DPEvent.poissonSubsampledGaussian(q: reference.q, sigma: reference.sigma, steps: reference.steps)
        let epsilon = try PLDAccountant().epsilon(for: event, delta: reference.delta)
        let error = relativeError(epsilon, reference.pessimistic)
        #expect(error <= 0.005, "ε = \(epsilon), reference \(reference.pessimistic), relative error \(error)")
        #expect(epsilon >= reference.optimistic, "ε = \(epsilon) below the optimistic \(reference.optimistic)")
    }
}

/// Group Privacy reference values of docs/PRIVACY.md (dp_accounting 0.6.0 `MixtureOfGaussiansDpEvent`
/// with sensitivities 0...k and Binomial(k, q) probabilities, `PLDAccountant` at h = 1e-4; the
/// optimistic values from `from_mixture_gaussian_mechanism(..., pessimistic_estimate=False,
/// use_connect_dots=False).self_compose(T)`; the lemma values are the reference's).
@Suite("Group Privacy against references")
struct GroupReferenceTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var k: Int, q: Double, sigma: Double, steps: Int, delta: Double
        var tight: Double, optimistic: Double, lemma: Double
        var testDescription: String { "k \(k), q \(q), σ \(sigma), T \(steps), δ \(delta)" }
    }

    static let referenceCases: [Case] = [
        Case(k: 2, q: 0.01, sigma: 2.0, steps: 1000, delta: 1e-5, tight: 1.332576982503164, optimistic: 1.28257089308778, lemma: 1.36480),
        Case(k: 4, q: 0.004, sigma: 1.5, steps: 2500, delta: 1e-6, tight: 2.8609331423849276, optimistic: 2.722440862732929, lemma: 3.03128),
    ]

    @Test("tight mixture ε within 0.5% of dp_accounting, above its optimistic ε; lemma as in the reference", arguments: referenceCases)
    func groups(_ reference: Case) throws {
        let pld = try PLDAccountant()
        let tightEvent = try DPEvent.groupOfRecords(k: reference.k, q: reference.q, sigma: reference.sigma, steps: reference.steps)
        let tight = try pld.epsilon(for: tightEvent, delta: reference.delta)
        #expect(relativeError(tight, reference.tight) <= 0.005, "tight ε = \(tight), reference \(reference.tight)")
        #expect(tight >= reference.optimistic)

        let recordEvent = try DPEvent.poissonSubsampledGaussian(q: reference.q, sigma: reference.sigma, steps: reference.steps)
        let lemma = try pld.epsilon(for: DPEvent.groupPrivacyLemma(groupSize: reference.k, of: recordEvent), delta: reference.delta)
        #expect(relativeError(lemma, reference.lemma) <= 0.005, "lemma ε = \(lemma), reference \(reference.lemma)")
        #expect(tight <= lemma, "tight \(tight) must not exceed the lemma \(lemma)")
    }
}

/// Vectors from dp_accounting's own test files (pld_privacy_accountant_test.py) and Opacus.
///
/// The PLD vectors are published to 5–6 digits; a grid of h = 1e-3 (pessimistic, so its δ and ε
/// can only be higher than at dp_accounting's 1e-4) already meets them at that precision and keeps
/// the debug-build suite fast. `userdp bench privacy` repeats them at h = 1e-4.
@Suite("Published vectors")
struct PublishedVectorTests {
    let pld = try! PLDAccountant(valueDiscretization: 1e-3)

    @Test("Gaussian σ = √3 composed 3 times: δ(ε = 1) = 0.126936")
    func gaussianComposition() throws {
        let event = DPEvent.selfComposed(event: .gaussian(sigma: 3.0.squareRoot()), count: 3)
        let delta = try pld.delta(for: event, epsilon: 1)
        #expect(abs(delta - 0.126936) <= 1e-6, "δ = \(delta)")
    }

    @Test("Poisson-sampled Gaussian q 0.2, σ 0.5, 3 compositions: δ(ε = 1) = 0.15594")
    func sampledGaussian() throws {
        let event = DPEvent.selfComposed(event: .poissonSampled(samplingProbability: 0.2, event: .gaussian(sigma: 0.5)), count: 3)
        let delta = try pld.delta(for: event, epsilon: 1)
        #expect(abs(delta - 0.15594) <= 1e-5, "δ = \(delta)")
    }

    @Test("mixtures 3 × (σ 1, [0,1,2], [.2,.6,.2]) then 2 × (σ 2, [0,2,3], [.33,.34,.33]): ε(δ = 1e-6) = 17.193115")
    func mixtures() throws {
        let event = DPEvent.composed([
            .selfComposed(event: .mixtureOfGaussians(sigma: 1, sensitivities: [0, 1, 2], probabilities: [0.2, 0.6, 0.2]), count: 3),
            .selfComposed(event: .mixtureOfGaussians(sigma: 2, sensitivities: [0, 2, 3], probabilities: [0.33, 0.34, 0.33]), count: 2),
        ])
        let epsilon = try pld.epsilon(for: event, delta: 1e-6)
        #expect(abs(epsilon - 17.193115) <= 1e-4, "ε = \(epsilon)")
        let delta = try pld.delta(for: event, epsilon: 17.193115)
        #expect(abs(delta - 1e-6) <= 1e-10, "δ = \(delta)")
    }

    @Test("Opacus RDP: q 0.04, σ 1.5, T 2250, δ 1e-5 gives ε = 7.32911")
    func opacus() throws {
        let event = try DPEvent.poissonSubsampledGaussian(q: 0.04, sigma: 1.5, steps: 2250)
        let epsilon = try RDPAccountant().epsilon(for: event, delta: 1e-5)
        #expect(abs(epsilon - 7.32911) <= 1e-5, "ε = \(epsilon)")
    }
}
