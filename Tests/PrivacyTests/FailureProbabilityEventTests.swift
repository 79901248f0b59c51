import Foundation
import Testing

@testable import Privacy

/// `DPEvent.withFailureProbability`: JSON, validation, composition rules and what every
/// accountant makes of it (δ(ε) = δ_inner(ε) + (1 + e^ε)·p).
@Suite("DP events with a failure probability")
struct FailureProbabilityEventTests {
    /// A Poisson-subsampled Gaussian small enough for a debug-build PLD at h = 1e-3.
    static let gaussianPart = DPEvent.selfComposed(
        event: .poissonSampled(samplingProbability: 0.05, event: .gaussian(sigma: 1.2)), count: 200)

    static func accountants() throws -> [any Accountant] {
        [try PLDAccountant(valueDiscretization: 1e-3), RDPAccountant()]
    }

    @Test("JSON is canonical and round-trips")
    func json() throws {
        let event = DPEvent.selfComposed(
            event: .withFailureProbability(
                event: .poissonSampled(samplingProbability: 0.1, event: .gaussian(sigma: 2)), probability: 0.25),
            count: 10)
        let text = String(decoding: try event.canonicalJSON(), as: UTF8.self)
        let expected = #"{"count":10,"event":{"event":{"event":{"kind":"gaussian","sigma":2},"kind":"poissonSampled","sampling_probability":0.1},"kind":"withFailureProbability","probability":0.25},"kind":"selfComposed"}"#
        #expect(text == expected)
        #expect(try JSONDecoder().decode(DPEvent.self, from: Data(text.utf8)) == event)
        #expect(DPEvent.withFailureProbability(event: .noOp, probability: 0).kind == "withFailureProbability")
        let tiny = DPEvent.withFailureProbability(event: .gaussian(sigma: 1), probability: 3.0e-9)
        #expect(try JSONDecoder().decode(DPEvent.self, from: tiny.canonicalJSON()) == tiny)
        // Both fields are required.
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(DPEvent.self, from: Data(#"{"kind":"withFailureProbability","event":{"kind":"noOp"}}"#.utf8))
        }
        // The unknown-kind message lists the new kind.
        do {
            _ = try JSONDecoder().decode(DPEvent.self, from: Data(#"{"kind":"laplace"}"#.utf8))
            Issue.record("expected a decoding error")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.debugDescription.contains("withFailureProbability"), "\(context.debugDescription)")
        }
    }

    @Test("a failure probability outside [0, 1) is an error, also nested and through an accountant")
    func validation() throws {
        for bad in [1, -1e-9, 1.5, .infinity] {
            #expect(throws: PrivacyError.failureProbabilityOutOfRange(bad)) {
                try DPEvent.withFailureProbability(event: .gaussian(sigma: 1), probability: bad).validate()
            }
        }
        // NaN never equals itself, so the case is matched by hand.
        do {
            try DPEvent.withFailureProbability(event: .gaussian(sigma: 1), probability: .nan).validate()
            Issue.record("NaN accepted")
        } catch PrivacyError.failureProbabilityOutOfRange(let value) {
            #expect(value.isNaN)
        }
        let nested = DPEvent.composed([
            .gaussian(sigma: 1),
            .selfComposed(event: .withFailureProbability(event: .gaussian(sigma: 1), probability: 1), count: 3),
        ])
        for accountant in try Self.accountants() {
            #expect(throws: PrivacyError.failureProbabilityOutOfRange(1)) {
                try accountant.epsilon(for: nested, delta: 1e-5)
            }
        }
        // The inner event is validated too.
        #expect(throws: PrivacyError.nonPositiveSigma(0)) {
            try DPEvent.withFailureProbability(event: .gaussian(sigma: 0), probability: 0.1).validate()
        }
        try DPEvent.withFailureProbability(event: .gaussian(sigma: 1), probability: 0).validate()
    }

    @Test("PLD and RDP: δ(ε) is the inner δ plus (1 + e^ε)·p")
    func deltaAddsTheFailure() throws {
        let p = 1e-9
        let event = DPEvent.withFailureProbability(event: Self.gaussianPart, probability: p)
        for accountant in try Self.accountants() {
            var worst = 0.0
            for epsilon in [0, 0.5, 1, 2, 4, 8] {
                let expected = try accountant.delta(for: Self.gaussianPart, epsilon: epsilon) + (1 + exp(epsilon)) * p
                let got = try accountant.delta(for: event, epsilon: epsilon)
                worst = max(worst, abs(got - expected) / expected)
            }
            #expect(worst <= 1e-15, "\(accountant.name): max relative difference \(worst)")
        }
    }

    @Test("p = 0 is exactly the inner event, with no wrapper")
    func zeroProbability() throws {
        for accountant in try Self.accountants() {
            let event = DPEvent.withFailureProbability(event: Self.gaussianPart, probability: 0)
            #expect(!(try accountant.privacyCurve(for: event) is FailureProbabilityCurve))
            for delta in [1e-3, 1e-6] {
                #expect(try accountant.epsilon(for: event, delta: delta) == (try accountant.epsilon(for: Self.gaussianPart, delta: delta)))
            }
        }
    }

    @Test("ε(δ) meets δ and is the smallest such ε up to the tolerance")
    func epsilonIsMinimal() throws {
        // 200 steps at 1e-11: (1 + e^ε)·p is a few percent of δ = 1e-6 and less at 1e-5.
        let p = 1e-11 * 200
        let event = DPEvent.withFailureProbability(event: Self.gaussianPart, probability: p)
        for accountant in try Self.accountants() {
            let curve = try accountant.privacyCurve(for: event)
            for delta in [1e-5, 1e-6] {
                let epsilon = curve.epsilon(delta: delta)
                try #require(epsilon.isFinite, "\(accountant.name) at δ = \(delta)")
                #expect(curve.delta(epsilon: epsilon) <= delta, "\(accountant.name): δ(\(epsilon)) = \(curve.delta(epsilon: epsilon)) > \(delta)")
                #expect(curve.delta(epsilon: epsilon * (1 - 1e-5)) > delta, "\(accountant.name): ε = \(epsilon) at δ = \(delta) is not the smallest")
                // The failure costs ε: more than the inner event alone at the same δ.
                #expect(epsilon > (try accountant.epsilon(for: Self.gaussianPart, delta: delta)))
            }
        }
    }

    @Test("T steps with p each are the T-fold composition with T·p")
    func selfCompositionMultiplies() throws {
        let step = DPEvent.poissonSampled(samplingProbability: 0.05, event: .gaussian(sigma: 1.2))
        let perStep = DPEvent.selfComposed(event: .withFailureProbability(event: step, probability: 1e-10), count: 200)
        let whole = DPEvent.withFailureProbability(event: .selfComposed(event: step, count: 200), probability: 200 * 1e-10)
        let separated = perStep.separatingFailureProbability()
        #expect(separated.event == Self.gaussianPart && separated.failureProbability == 200 * 1e-10)
        for accountant in try Self.accountants() {
            #expect(try accountant.epsilon(for: perStep, delta: 1e-5) == (try accountant.epsilon(for: whole, delta: 1e-5)))
        }
    }

    @Test("nested wrappers and compositions add their probabilities")
    func nestedAndComposedSum() throws {
        let event = DPEvent.composed([
            .withFailureProbability(event: .withFailureProbability(event: .gaussian(sigma: 3), probability: 1e-9), probability: 2e-9),
            .selfComposed(event: .withFailureProbability(event: .gaussian(sigma: 4), probability: 1e-10), count: 5),
            .withFailureProbability(event: .noOp, probability: 4e-9),
            .noOp,
        ])
        let (stripped, p) = event.separatingFailureProbability()
        #expect(stripped == .composed([.gaussian(sigma: 3), .selfComposed(event: .gaussian(sigma: 4), count: 5), .noOp, .noOp]))
        let expected = 1e-9 + 2e-9 + 5 * 1e-10 + 4e-9
        #expect(abs(p - expected) <= 1e-15 * expected, "p = \(p), expected \(expected)")
        for accountant in try Self.accountants() {
            let epsilon = 1.5
            let want = try accountant.delta(for: stripped, epsilon: epsilon) + (1 + exp(epsilon)) * p
            let got = try accountant.delta(for: event, epsilon: epsilon)
            #expect(abs(got - want) <= 1e-15 * want, "\(accountant.name): \(got) vs \(want)")
        }
    }

    @Test("Poisson sampling amplifies the inner event but not the failure probability")
    func samplingDoesNotAmplifyTheFailure() throws {
        let event = DPEvent.poissonSampled(
            samplingProbability: 0.01, event: .withFailureProbability(event: .gaussian(sigma: 1), probability: 1e-8))
        let (stripped, p) = event.separatingFailureProbability()
        #expect(stripped == .poissonSampled(samplingProbability: 0.01, event: .gaussian(sigma: 1)))
        #expect(p == 1e-8)
        for accountant in try Self.accountants() {
            let epsilon = 0.3
            let want = try accountant.delta(for: stripped, epsilon: epsilon) + (1 + exp(epsilon)) * 1e-8
            #expect(try accountant.delta(for: event, epsilon: epsilon) == want)
        }
    }

    @Test("the total failure probability is capped at 1: δ = 1, ε = ∞")
    func capAtOne() throws {
        let event = DPEvent.selfComposed(event: .withFailureProbability(event: .gaussian(sigma: 5), probability: 0.3), count: 5)
        #expect(event.separatingFailureProbability().failureProbability == 1)
        for accountant in try Self.accountants() {
            #expect(try accountant.delta(for: event, epsilon: 2) == 1)
            #expect(try accountant.epsilon(for: event, delta: 0.5) == .infinity)
        }
        // Below the cap but more than δ can absorb at any ε: (1 + e^ε)·p ≥ 2p > δ.
        let tooLikely = DPEvent.withFailureProbability(event: .gaussian(sigma: 5), probability: 1e-4)
        #expect(try PLDAccountant(valueDiscretization: 1e-3).epsilon(for: tooLikely, delta: 1e-4) == .infinity)
    }

    @Test("the group-privacy lemma refuses a failure probability for k > 1 and passes it through for k = 1")
    func groupLemma() throws {
        let base = try PLDAccountant(valueDiscretization: 1e-3)
        let event = DPEvent.withFailureProbability(event: Self.gaussianPart, probability: 1e-9)
        #expect(throws: PrivacyError.groupLemmaWithFailureProbability(groupSize: 3, failureProbability: 1e-9)) {
            try base.epsilon(for: DPEvent.groupPrivacyLemma(groupSize: 3, of: event), delta: 1e-5)
        }
        #expect(throws: PrivacyError.groupLemmaWithFailureProbability(groupSize: 3, failureProbability: 1e-9)) {
            try RDPAccountant().epsilon(for: DPEvent.groupPrivacyLemma(groupSize: 3, of: event), delta: 1e-5)
        }
        let message = PrivacyError.groupLemmaWithFailureProbability(groupSize: 3, failureProbability: 1e-9).localizedDescription
        #expect(message.contains("the group-privacy lemma is not implemented for events with a failure probability"))
        let single = try DPEvent.groupPrivacyLemma(groupSize: 1, of: event)
        #expect(try base.epsilon(for: single, delta: 1e-5) == (try base.epsilon(for: event, delta: 1e-5)))
        // p = 0 is no failure: k > 1 gives the lemma over the inner event.
        let zero = DPEvent.withFailureProbability(event: Self.gaussianPart, probability: 0)
        #expect(try base.epsilon(for: DPEvent.groupPrivacyLemma(groupSize: 3, of: zero), delta: 1e-5)
            == (try base.epsilon(for: DPEvent.groupPrivacyLemma(groupSize: 3, of: Self.gaussianPart), delta: 1e-5)))
        // A failure probability around the user-level event is the user-level one: added to δ
        // after the lemma, as for any event.
        let around = DPEvent.withFailureProbability(event: try DPEvent.groupPrivacyLemma(groupSize: 3, of: Self.gaussianPart), probability: 1e-9)
        let lemma = try base.privacyCurve(for: DPEvent.groupPrivacyLemma(groupSize: 3, of: Self.gaussianPart))
        let wrapped = try base.privacyCurve(for: around)
        #expect(wrapped.delta(epsilon: 2) == min(1, lemma.delta(epsilon: 2) + (1 + exp(2)) * 1e-9))
    }

    @Test("a PLD or Rényi representation alone cannot hold a failure probability")
    func representationsRefuse() throws {
        let event = DPEvent.withFailureProbability(event: Self.gaussianPart, probability: 1e-9)
        #expect(throws: PrivacyError.failureProbabilityNotRepresentable(accountant: "pld", failureProbability: 1e-9)) {
            try PLDAccountant(valueDiscretization: 1e-3).privacyLossCurve(for: event)
        }
        #expect(throws: PrivacyError.failureProbabilityNotRepresentable(accountant: "rdp", failureProbability: 1e-9)) {
            try RDPAccountant().renyiDivergences(for: event)
        }
        let zero = DPEvent.withFailureProbability(event: Self.gaussianPart, probability: 0)
        #expect(try RDPAccountant().renyiDivergences(for: zero) == (try RDPAccountant().renyiDivergences(for: Self.gaussianPart)))
    }
}
