import Foundation
import Testing
import Privacy

/// δ(ε) is the Gaussian part's δ plus T(1 + e^ε)p, and ε(δ) is the smallest ε meeting it.
@Test func asiLiuEventAddsTheTestFailureToTheGaussianProfile() throws {
    let accountant = try PLDAccountant(valueDiscretization: 1e-3)
    let event = try AsiLiuEvent(samplingRate: 0.05, noiseMultiplier: 1.2, steps: 200, testFailureProbability: 1e-10)
    let gaussian = try DPEvent.poissonSubsampledGaussian(q: 0.05, sigma: 1.2, steps: 200)
    #expect(event.gaussianPart == gaussian)
    for epsilon in [0.5, 1.0, 2.0] {
        let expected = try accountant.delta(for: gaussian, epsilon: epsilon) + 200 * (1 + exp(epsilon)) * 1e-10
        #expect(abs(try event.delta(epsilon: epsilon, accountant: accountant) - expected) < 1e-15)
    }
    let delta = 1e-5
    let epsilon = try event.epsilon(delta: delta, accountant: accountant)
    #expect(try event.delta(epsilon: epsilon, accountant: accountant) <= delta)
    #expect(try event.delta(epsilon: epsilon * (1 - 1e-4), accountant: accountant) > delta, "ε = \(epsilon) is not the smallest")
    // The test's δ costs ε: more than the Gaussian part alone at the same δ.
    #expect(epsilon > (try accountant.epsilon(for: gaussian, delta: delta)))
}

@Test func asiLiuEventWithoutTestFailureIsTheGaussianPart() throws {
    let accountant = RDPAccountant()
    let event = try AsiLiuEvent(samplingRate: 0.01, noiseMultiplier: 0.9, steps: 500, testFailureProbability: 0)
    let plain = try accountant.epsilon(for: event.gaussianPart, delta: 1e-6)
    #expect(abs(try event.epsilon(delta: 1e-6, accountant: accountant) - plain) <= 1e-9 * plain)
}

@Test func asiLiuEventRoundTripsThroughJSONAndRejectsBadInputs() throws {
    let event = try AsiLiuEvent(samplingRate: 0.1, noiseMultiplier: 2, steps: 10, testFailureProbability: 3e-9)
    let data = try JSONEncoder().encode(event)
    #expect(try JSONDecoder().decode(AsiLiuEvent.self, from: data) == event)
    #expect(throws: PrivacyError.deltaOutOfRange(1)) {
        try AsiLiuEvent(samplingRate: 0.1, noiseMultiplier: 2, steps: 10, testFailureProbability: 1)
    }
    #expect(throws: PrivacyError.stepsOutOfRange(0)) {
        try AsiLiuEvent(samplingRate: 0.1, noiseMultiplier: 2, steps: 0, testFailureProbability: 0)
    }
}
