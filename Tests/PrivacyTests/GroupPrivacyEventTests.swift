import Foundation
import Testing
import TestSupport
@testable import Privacy

/// The group-privacy lemma as an event (`DPEvent.groupPrivacy`): its JSON, its validation, its
/// numerics against the formula and an independent oracle, and calibration with it.
@Suite("Group privacy as a DP event")
struct GroupPrivacyEventTests {
    static let record = try! DPEvent.poissonSubsampledGaussian(q: 0.01, sigma: 1.0, steps: 300)

    @Test("JSON: kind groupPrivacy with conversion, group_size and the inner event; round trip; unknown conversion refused")
    func json() throws {
        let event = try DPEvent.groupPrivacyLemma(groupSize: 4, of: .gaussian(sigma: 2))
        let text = String(decoding: try event.canonicalJSON(), as: UTF8.self)
        #expect(text == #"{"conversion":"lemma","event":{"kind":"gaussian","sigma":2},"group_size":4,"kind":"groupPrivacy"}"#)
        for value in [event, .groupPrivacy(event: Self.record, groupSize: 1, conversion: .lemma),
                      .withFailureProbability(event: .groupPrivacy(event: Self.record, groupSize: 7, conversion: .lemma), probability: 1e-9)] {
            #expect(try JSONDecoder().decode(DPEvent.self, from: value.canonicalJSON()) == value)
        }
        let unknown = Data(#"{"conversion":"rdp-doubling","event":{"kind":"gaussian","sigma":2},"group_size":4,"kind":"groupPrivacy"}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(DPEvent.self, from: unknown) }
        #expect(event.kind == "groupPrivacy")
    }

    @Test("validation: k >= 1, and never inside a composition or a Poisson sample")
    func validation() throws {
        let pld = try PLDAccountant(valueDiscretization: 1e-3)
        #expect(throws: PrivacyError.groupPrivacySizeOutOfRange(0)) { try DPEvent.groupPrivacyLemma(groupSize: 0, of: Self.record) }
        let lemma = DPEvent.groupPrivacy(event: .gaussian(sigma: 2), groupSize: 2, conversion: .lemma)
        for (inside, enclosing) in [
            (DPEvent.selfComposed(event: lemma, count: 3), "selfComposed"), (.composed([.gaussian(sigma: 1), lemma]), "composed"),
            (.poissonSampled(samplingProbability: 0.1, event: lemma), "poissonSampled"),
            (.selfComposed(event: .withFailureProbability(event: lemma, probability: 0), count: 2), "selfComposed"),
        ] {
            #expect(throws: PrivacyError.groupPrivacyInsideComposition(enclosing: enclosing)) { try inside.validate() }
            #expect(throws: PrivacyError.groupPrivacyInsideComposition(enclosing: enclosing)) { try pld.epsilon(for: inside, delta: 1e-5) }
            #expect(throws: PrivacyError.groupPrivacyInsideComposition(enclosing: enclosing)) { try RDPAccountant().epsilon(for: inside, delta: 1e-5) }
        }
        #expect(PrivacyError.groupPrivacyInsideComposition(enclosing: "composed").localizedDescription.contains("put groupPrivacy outermost"))
        // A conversion of a conversion is a conversion of a whole guarantee: allowed.
        let twice = DPEvent.groupPrivacy(event: lemma, groupSize: 3, conversion: .lemma)
        #expect(try pld.epsilon(for: twice, delta: 1e-5) > pld.epsilon(for: lemma, delta: 1e-5))
        // The stripped PLD representation has no place for a conversion.
        #expect(throws: PrivacyError.self) { try pld.privacyLossCurve(for: lemma) }
    }

    /// The lemma in closed form: δ_user(ε) = k·e^{(k−1)ε/k}·δ_record(ε/k), for PLD and RDP alike,
    /// and ε(δ) is the smallest ε on that curve: feasible, and not loose by more than 1e-6.
    @Test("numerics: delta(epsilon) is k·e^{(k−1)ε/k}·δ_record(ε/k); epsilon(delta) is feasible and tight on it", arguments: [2, 4, 8])
    func formula(_ k: Int) throws {
        let record = try DPEvent.poissonSubsampledGaussian(q: 0.01, sigma: 2.0, steps: 300)
        let lemma = try DPEvent.groupPrivacyLemma(groupSize: k, of: record)
        for accountant in [try PLDAccountant(valueDiscretization: 1e-3) as any Accountant, RDPAccountant()] {
            let recordCurve = try accountant.privacyCurve(for: record)
            let userCurve = try accountant.privacyCurve(for: lemma)
            for epsilon in [0.5, 2.0, 6.0] {
                let kk = Double(k)
                let recordEpsilon = epsilon / kk
                let expected = min(1, kk * exp((kk - 1) * recordEpsilon) * recordCurve.delta(epsilon: recordEpsilon))
                #expect(userCurve.delta(epsilon: epsilon) == expected, "\(accountant.name) k \(k) ε \(epsilon)")
            }
            let epsilon = try accountant.epsilon(for: lemma, delta: 1e-5)
            let recordEpsilon = try accountant.epsilon(for: record, delta: 1e-5)
            try #require(epsilon.isFinite && epsilon > recordEpsilon, "\(accountant.name) k \(k): ε \(epsilon), record-level \(recordEpsilon)")
            let feasible = userCurve.delta(epsilon: epsilon)
            #expect(feasible <= 1e-5 * (1 + 1e-6), "\(accountant.name) k \(k): δ at the returned ε is \(feasible)")
            let lower = userCurve.delta(epsilon: epsilon * (1 - 1e-6))
            #expect(lower >= 1e-5 * (1 - 1e-3), "\(accountant.name) k \(k): ε \(epsilon) is loose: δ just below it is \(lower)")
        }
    }

    /// Independent oracle: the Gaussian mechanism's exact curve (Balle & Wang 2018, Theorem 8),
    /// δ(ε) = Φ(1/(2σ) − εσ) − e^ε·Φ(−1/(2σ) − εσ), put through the lemma by brute force (a fine
    /// grid of record-level ε′, keep the smallest kε′ with k·e^{(k−1)ε′}·δ(ε′) ≤ δ). The PLD
    /// accountant's lemma is never below it (pessimistic) and within 1e-3 of it.
    @Test("the lemma over PLD matches a brute-force lemma over the exact Gaussian curve", arguments: [(1.0, 3, 1e-5), (2.5, 4, 1e-6)])
    func exactGaussianOracle(_ sigma: Double, _ k: Int, _ delta: Double) throws {
        func phi(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
        func exactDelta(_ epsilon: Double) -> Double { phi(0.5 / sigma - epsilon * sigma) - exp(epsilon) * phi(-0.5 / sigma - epsilon * sigma) }
        let kk = Double(k)
        func feasible(_ recordEpsilon: Double) -> Bool { kk * exp((kk - 1) * recordEpsilon) * exactDelta(recordEpsilon) <= delta }
        // The first feasible ε′ on a grid of 1e-3, then bisection of that cell to 1e-12.
        guard var high = (0..<30_000).lazy.map({ Double($0) * 1e-3 }).first(where: feasible) else {
            Issue.record("no feasible record-level epsilon below 30")
            return
        }
        var low = max(0, high - 1e-3)
        while high - low > 1e-12 {
            let middle = (low + high) / 2
            if feasible(middle) { high = middle } else { low = middle }
        }
        let oracle = kk * high
        let ours = try PLDAccountant().epsilon(for: DPEvent.groupPrivacyLemma(groupSize: k, of: .gaussian(sigma: sigma)), delta: delta)
        // PLD's record-level curve is pessimistic and the lemma is monotone in it: never below.
        #expect(ours >= oracle - 1e-9, "ours \(ours) below the exact lemma \(oracle)")
        #expect(ours - oracle <= 1e-3 * oracle, "ours \(ours), exact lemma \(oracle)")
    }

    @Test("every accountant gives the user-level ε of a lemma event, not the record-level one")
    func everyAccountantReadsTheGroup() throws {
        let lemma = try DPEvent.groupPrivacyLemma(groupSize: 4, of: Self.record)
        for kind in [AccountantKind.pld(valueDiscretization: 1e-3), .rdp, .groupLemma(base: .pld(valueDiscretization: 1e-3))] {
            let accountant = try kind.makeAccountant()
            let user = try accountant.epsilon(for: lemma, delta: 1e-5)
            let record = try accountant.epsilon(for: Self.record, delta: 1e-5)
            #expect(user > 2 * record, "\(kind.summary): user \(user), record \(record)")
            let viaCurve = GroupLemmaCurve(groupSize: 4, recordLevel: try accountant.privacyCurve(for: Self.record))
            #expect(user == viaCurve.epsilon(delta: 1e-5))
        }
        // The lemma kind builds that event for a group, and leaves record and user units alone.
        let kind = AccountantKind.groupLemma(base: .pld())
        #expect(try kind.event(for: .groupOfRecords(4), q: 0.01, sigma: 1, steps: 300) == lemma)
        #expect(try kind.event(for: .record, q: 0.01, sigma: 1, steps: 300) == Self.record)
        #expect(try kind.event(for: .user, q: 0.01, sigma: 1, steps: 300) == Self.record)
    }

    /// The paper grid's σ for Group Privacy under the lemma (q = 64/4396, T = 100, δ = 1e-5,
    /// k = 4), as userdp 0.2.0 calibrated them before the lemma was an event (committed in
    /// results/paper-mechanisms/paper-v1), and their calibration cache files: the key is
    /// unchanged, so the grid's cached σ still apply. Bit for bit: results must not change.
    @Test("σ for the paper's lemma cells is bit-identical to userdp 0.2.0's, under the same cache key", arguments: [
        (1.0, 2.5088820679130714, "d4a5db73e860e159f4e1eac7e862c408.json"), (8.0, 1.0095717303421188, "46203cf43bd1facca3ec762b45ce97d9.json"),
    ])
    func paperSigmas(_ epsilon: Double, _ sigma: Double, _ cacheFile: String) throws {
        let request = CalibrationRequest(
            unit: .groupOfRecords(4), samplingRate: 64.0 / 4396.0, steps: 100, targetEpsilon: epsilon, delta: 1e-5,
            accountant: .groupLemma(base: .pld()))
        #expect(request.samplingRate == 0.014558689717925387)
        let folder = try temporaryFolder("lemma-key")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try CalibrationCache(directory: folder).fileURL(for: request).lastPathComponent == cacheFile)
        let result = try NoiseCalibration().calibrate(request)
        #expect(result.sigma == sigma, "σ \(result.sigma), userdp 0.2.0 calibrated \(sigma)")
        #expect(result.event == (try DPEvent.groupPrivacyLemma(groupSize: 4, of: .poissonSubsampledGaussian(q: request.samplingRate, sigma: sigma, steps: 100))))
        #expect(try PLDAccountant().epsilon(for: result.event, delta: 1e-5) == result.achievedEpsilon)
    }

    /// A cache entry written before the lemma was an event holds the record-level event under
    /// the same key: it still applies (same σ), and comes back with today's event.
    @Test("a calibration cache entry of the old form still applies and returns the lemma event")
    func oldCacheEntries() throws {
        let folder = try temporaryFolder("lemma-cache")
        defer { try? FileManager.default.removeItem(at: folder) }
        let cache = try CalibrationCache(directory: folder)
        let request = CalibrationRequest(
            unit: .groupOfRecords(3), samplingRate: 0.02, steps: 50, targetEpsilon: 4, delta: 1e-5,
            accountant: .groupLemma(base: .pld(valueDiscretization: 1e-3)), sigmaTolerance: 1e-3)
        let fresh = try NoiseCalibration(cache: cache).calibrate(request)
        guard case .groupPrivacy(let inner, 3, .lemma) = fresh.event else {
            Issue.record("the lemma calibration's event is \(fresh.event)")
            return
        }
        // Rewrite the entry as userdp 0.2.0 wrote it: the record-level event (same key, same σ).
        struct Entry: Codable {
            var codeVersion: String
            var request: CalibrationRequest
            var result: CalibrationResult

            enum CodingKeys: String, CodingKey {
                case request, result
                case codeVersion = "code_version"
            }
        }
        let url = try cache.fileURL(for: request)
        var entry = try JSONDecoder().decode(Entry.self, from: Data(contentsOf: url))
        #expect(entry.codeVersion == NoiseCalibration.codeVersion && entry.codeVersion == "userdp-privacy-1", "the cache key did not change")
        entry.result.event = inner
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try encoder.encode(entry).write(to: url)
        #expect(try cache.load(request)?.event == inner, "the file now holds the old form")
        let cached = try NoiseCalibration(cache: cache).calibrate(request)
        #expect(cached == fresh, "same σ, evidence and (rebuilt) event")
    }
}
