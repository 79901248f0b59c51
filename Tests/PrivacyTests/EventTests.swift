import Foundation
import Testing

@testable import Privacy

@Suite("DP events")
struct EventTests {
    @Test("JSON is stable and round-trips")
    func json() throws {
        let event = DPEvent.composed([
            try DPEvent.poissonSubsampledGaussian(q: 0.01, sigma: 1.5, steps: 10),
            .mixtureOfGaussians(sigma: 2, sensitivities: [0, 1], probabilities: [0.75, 0.25]),
            .nonPrivate, .noOp,
        ])
        let text = String(decoding: try event.canonicalJSON(), as: UTF8.self)
        let expected = #"{"events":[{"count":10,"event":{"event":{"kind":"gaussian","sigma":1.5},"kind":"poissonSampled","sampling_probability":0.01},"kind":"selfComposed"},{"kind":"mixtureOfGaussians","probabilities":[0.75,0.25],"sensitivities":[0,1],"sigma":2},{"kind":"nonPrivate"},{"kind":"noOp"}],"kind":"composed"}"#
        #expect(text == expected)
        #expect(try JSONDecoder().decode(DPEvent.self, from: Data(text.utf8)) == event)
    }

    @Test("an unknown kind is a decoding error")
    func unknownKind() {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(DPEvent.self, from: Data(#"{"kind":"laplace","scale":1}"#.utf8))
        }
    }

    @Test("privacy units and accountant kinds round-trip through JSON")
    func unitsAndKinds() throws {
        for unit in [PrivacyUnitEvent.record, .user, .groupOfRecords(4)] {
            #expect(try JSONDecoder().decode(PrivacyUnitEvent.self, from: JSONEncoder().encode(unit)) == unit)
        }
        for kind in [AccountantKind.pld(), .pld(valueDiscretization: 1e-3), .rdp, .groupLemma(base: .pld())] {
            #expect(try JSONDecoder().decode(AccountantKind.self, from: JSONEncoder().encode(kind)) == kind)
        }
        #expect(AccountantKind(cliName: "group-lemma") == .groupLemma(base: .pld(valueDiscretization: 1e-4)))
        #expect(AccountantKind(cliName: "moments") == nil)
    }

    @Test("builders validate their arguments")
    func builderErrors() {
        #expect(throws: PrivacyError.samplingProbabilityOutOfRange(0)) { try DPEvent.poissonSubsampledGaussian(q: 0, sigma: 1, steps: 1) }
        #expect(throws: PrivacyError.samplingProbabilityOutOfRange(1.5)) { try DPEvent.poissonSubsampledGaussian(q: 1.5, sigma: 1, steps: 1) }
        #expect(throws: PrivacyError.nonPositiveSigma(-1)) { try DPEvent.poissonSubsampledGaussian(q: 0.1, sigma: -1, steps: 1) }
        #expect(throws: PrivacyError.stepsOutOfRange(0)) { try DPEvent.poissonSubsampledGaussian(q: 0.1, sigma: 1, steps: 0) }
        #expect(throws: PrivacyError.groupSizeOutOfRange(0)) { try DPEvent.groupOfRecords(k: 0, q: 0.1, sigma: 1, steps: 1) }
        #expect(throws: PrivacyError.invalidMixture(reason: "2 sensitivities but 1 probabilities")) {
            try DPEvent.mixtureOfGaussians(sigma: 1, sensitivities: [0, 1], probabilities: [1]).validate()
        }
        #expect(throws: PrivacyError.invalidMixture(reason: "probabilities sum to 0.9, not 1")) {
            try DPEvent.mixtureOfGaussians(sigma: 1, sensitivities: [0, 1], probabilities: [0.5, 0.4]).validate()
        }
        #expect(throws: PrivacyError.compositionCountOutOfRange(-1)) {
            try DPEvent.selfComposed(event: .gaussian(sigma: 1), count: -1).validate()
        }
    }

    @Test("group event: sensitivities 0...k with Binomial(k, q) weights")
    func groupEvent() throws {
        let event = try DPEvent.groupOfRecords(k: 3, q: 0.1, sigma: 2, steps: 7)
        guard case .selfComposed(.mixtureOfGaussians(let sigma, let sensitivities, let probabilities), 7) = event else {
            Issue.record("unexpected shape \(event)")
            return
        }
        #expect(sigma == 2 && sensitivities == [0, 1, 2, 3])
        let expected = [0.729, 0.243, 0.027, 0.001]
        let worst = zip(probabilities, expected).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-15, "max difference \(worst)")
    }
}
