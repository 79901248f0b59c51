import Privacy
import Testing

@Suite("Per-user epsilon under record-level DP-SGD")
struct PerUserPrivacyTests {
    static let (q, sigma, steps, delta) = (0.02, 1.0, 200, 1e-5)

    @Test("one record gives the record-level epsilon; more records give a larger epsilon")
    func growsWithRecordCount() throws {
        let values = try PerUserPrivacy.epsilons(recordCounts: [1, 2, 4, 8, 1, 2], q: Self.q, sigma: Self.sigma, steps: Self.steps, delta: Self.delta)
        #expect(values.keys.sorted() == [1, 2, 4, 8], "one entry per distinct count")
        let recordLevel = try PLDAccountant().epsilon(for: try DPEvent.poissonSubsampledGaussian(q: Self.q, sigma: Self.sigma, steps: Self.steps), delta: Self.delta)
        #expect(values[1]!.epsilon == recordLevel && values[1]!.method == .tight)
        let ordered = [1, 2, 4, 8].map { values[$0]!.epsilon }
        #expect(zip(ordered, ordered.dropFirst()).allSatisfy { $0 < $1 }, "epsilon must grow with the record count: \(ordered)")
    }

    @Test("above the tight limit the lemma takes over, and it is never below the tight bound")
    func lemmaAboveTheLimit() throws {
        let limited = try PerUserPrivacy.epsilons(recordCounts: [3, 4], q: Self.q, sigma: Self.sigma, steps: Self.steps, delta: Self.delta, tightLimit: 3)
        let tight = try PerUserPrivacy.epsilons(recordCounts: [4], q: Self.q, sigma: Self.sigma, steps: Self.steps, delta: Self.delta, tightLimit: 4)
        #expect(limited[3]!.method == .tight && limited[4]!.method == .lemma && tight[4]!.method == .tight)
        #expect(limited[4]!.epsilon > tight[4]!.epsilon, "lemma \(limited[4]!.epsilon) vs tight \(tight[4]!.epsilon)")
        let recordLevel = try DPEvent.poissonSubsampledGaussian(q: Self.q, sigma: Self.sigma, steps: Self.steps)
        let event = try PerUserPrivacy.lemmaEvent(records: 4, recordLevel: recordLevel)
        #expect(event == .groupPrivacy(event: recordLevel, groupSize: 4, conversion: .lemma))
        let lemma = try PLDAccountant().epsilon(for: event, delta: Self.delta)
        #expect(limited[4]!.epsilon == lemma, "the lemma row is the accountant's ε of the user's lemma event")
    }

    @Test("a zero record count is an error")
    func zeroRecords() {
        #expect(throws: PrivacyError.groupSizeOutOfRange(0)) {
            try PerUserPrivacy.epsilons(recordCounts: [0], q: Self.q, sigma: Self.sigma, steps: Self.steps, delta: Self.delta)
        }
    }

    @Test("nearest-rank quantiles")
    func quantiles() {
        let values = (1...10).map(Double.init)
        #expect(PerUserPrivacy.quantiles(values, at: [0, 0.1, 0.5, 0.95, 1]) == [1, 1, 5, 10, 10])
        #expect(PerUserPrivacy.quantiles([], at: [0.5])[0].isNaN)
    }
}
