import Foundation
import Testing

@testable import Privacy
import TestSupport

/// The stored forms are written with snake_case keys and read in both spellings: committed
/// results and calibration caches hold the camelCase keys of earlier versions.
@Suite("Stored forms: snake_case written, camelCase still read")
struct StoredKeyTests {
    /// The keys of `value`'s JSON encoding that are not snake_case (`nonSnakeKeys`).
    static func keys(of value: some Encodable) throws -> [String] {
        nonSnakeKeys(try JSONSerialization.jsonObject(with: JSONEncoder().encode(value)))
    }

    static let lemma = DPEvent.groupPrivacy(
        event: .selfComposed(event: .poissonSampled(samplingProbability: 0.0128, event: .gaussian(sigma: 2.5088820679130714)), count: 1000),
        groupSize: 4, conversion: .lemma)

    /// One event of every kind, nested.
    static let everyKind = DPEvent.withFailureProbability(
        event: .groupPrivacy(event: .composed([
            .selfComposed(event: .poissonSampled(samplingProbability: 0.01, event: .gaussian(sigma: 1.5)), count: 10),
            .mixtureOfGaussians(sigma: 2, sensitivities: [0, 1], probabilities: [0.75, 0.25]), .nonPrivate, .noOp,
        ]), groupSize: 2, conversion: .lemma),
        probability: 1e-9)

    @Test("an event in the camelCase form of earlier results decodes to the event its snake_case form gives")
    func camelCaseEventsRead() throws {
        // As committed in results/paper-mechanisms/paper-v1 (a group run under the lemma).
        let camel = #"{"conversion":"lemma","event":{"count":1000,"event":{"event":{"kind":"gaussian","sigma":2.5088820679130714},"kind":"poissonSampled","samplingProbability":0.0128},"kind":"selfComposed"},"groupSize":4,"kind":"groupPrivacy"}"#
        let snake = #"{"conversion":"lemma","event":{"count":1000,"event":{"event":{"kind":"gaussian","sigma":2.5088820679130714},"kind":"poissonSampled","sampling_probability":0.0128},"kind":"selfComposed"},"group_size":4,"kind":"groupPrivacy"}"#
        let old = try JSONDecoder().decode(DPEvent.self, from: Data(camel.utf8))
        let new = try JSONDecoder().decode(DPEvent.self, from: Data(snake.utf8))
        #expect(old == Self.lemma && new == Self.lemma)
        #expect(String(decoding: try old.canonicalJSON(), as: UTF8.self) == snake)
        let pld = try PLDAccountant(valueDiscretization: 1e-3)
        #expect(try pld.epsilon(for: old, delta: 1e-5).bitPattern == pld.epsilon(for: new, delta: 1e-5).bitPattern)
        // Every kind: the camelCase text (today's with the two keys respelled) reads as the event.
        let today = String(decoding: try Self.everyKind.canonicalJSON(), as: UTF8.self)
        let earlier = today.replacingOccurrences(of: "\"sampling_probability\"", with: "\"samplingProbability\"")
            .replacingOccurrences(of: "\"group_size\"", with: "\"groupSize\"")
        #expect(earlier != today)
        #expect(try JSONDecoder().decode(DPEvent.self, from: Data(earlier.utf8)) == Self.everyKind)
    }

    @Test("a field missing in both spellings is an error naming the snake_case key")
    func missingKey() {
        do {
            _ = try JSONDecoder().decode(DPEvent.self, from: Data(#"{"kind":"poissonSampled","event":{"kind":"noOp"}}"#.utf8))
            Issue.record("decoded an event without its sampling probability")
        } catch DecodingError.keyNotFound(let key, _) {
            #expect(key.stringValue == "sampling_probability")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("units, accountant kinds and calibration values read their camelCase forms")
    func camelCaseValuesRead() throws {
        let decoder = JSONDecoder()
        #expect(try decoder.decode(PrivacyUnitEvent.self, from: Data(#"{"groupSize":3,"kind":"groupOfRecords"}"#.utf8)) == .groupOfRecords(3))
        #expect(try decoder.decode(PrivacyUnitEvent.self, from: Data(#"{"group_size":3,"kind":"groupOfRecords"}"#.utf8)) == .groupOfRecords(3))
        #expect(try decoder.decode(AccountantKind.self, from: Data(#"{"base":{"kind":"pld","valueDiscretization":0.001},"kind":"groupLemma"}"#.utf8))
            == .groupLemma(base: .pld(valueDiscretization: 1e-3)))
        #expect(try decoder.decode(AccountantKind.self, from: Data(#"{"kind":"pld","value_discretization":0.001}"#.utf8)) == .pld(valueDiscretization: 1e-3))
        let request = CalibrationRequest(
            unit: .groupOfRecords(2), samplingRate: 0.01, steps: 100, targetEpsilon: 3, delta: 1e-5,
            accountant: .groupLemma(base: .pld(valueDiscretization: 1e-3)))
        let camel = #"{"accountant":{"base":{"kind":"pld","valueDiscretization":0.001},"kind":"groupLemma"},"delta":1e-05,"samplingRate":0.01,"sigmaTolerance":1e-05,"steps":100,"targetEpsilon":3,"unit":{"groupSize":2,"kind":"groupOfRecords"}}"#
        #expect(try decoder.decode(CalibrationRequest.self, from: Data(camel.utf8)) == request)
        #expect(try decoder.decode(CalibrationRequest.self, from: JSONEncoder().encode(request)) == request)
    }

    @Test("every stored form is written with snake_case keys only")
    func writesSnakeCase() throws {
        let eventKeys = try Self.keys(of: Self.everyKind)
        #expect(eventKeys.isEmpty, "\(eventKeys)")
        for unit in [PrivacyUnitEvent.record, .user, .groupOfRecords(4)] { #expect(try Self.keys(of: unit).isEmpty) }
        for kind in [AccountantKind.pld(), .rdp, .groupLemma(base: .pld(valueDiscretization: 1e-3))] { #expect(try Self.keys(of: kind).isEmpty) }
        let request = CalibrationRequest(unit: .groupOfRecords(2), samplingRate: 0.01, steps: 100, targetEpsilon: 3, delta: 1e-5)
        let result = CalibrationResult(sigma: 1, achievedEpsilon: 2.9, lowerSigma: 0.99, event: Self.lemma, evaluations: 7)
        #expect(try Self.keys(of: request).isEmpty && Self.keys(of: result).isEmpty)
        let text = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        #expect(text.contains("\"group_size\"") && text.contains("\"value_discretization\"") && text.contains("\"target_epsilon\""))
    }

    /// A cache file written by userdp 0.2.0 at 9c32484 (`userdp privacy calibrate --epsilon 3
    /// --q 0.01 --steps 100 --delta 1e-5 --accountant group-lemma --discretization 0.001
    /// --group-size 2 --cache DIR`), under the name it gave it.
    static let camelCaseCacheName = "196c683bd4e5ae0da41a02b086288a94.json"
    static let camelCaseCacheFile = """
        {
          "codeVersion" : "userdp-privacy-1",
          "request" : {
            "accountant" : { "base" : { "kind" : "pld", "valueDiscretization" : 0.001 }, "kind" : "groupLemma" },
            "delta" : 1e-05, "samplingRate" : 0.01, "sigmaTolerance" : 1e-05, "steps" : 100, "targetEpsilon" : 3,
            "unit" : { "groupSize" : 2, "kind" : "groupOfRecords" }
          },
          "result" : {
            "achievedEpsilon" : 2.9999508967370563,
            "evaluations" : 7,
            "event" : {
              "conversion" : "lemma",
              "event" : {
                "count" : 100,
                "event" : { "event" : { "kind" : "gaussian", "sigma" : 0.8710362242039608 }, "kind" : "poissonSampled", "samplingProbability" : 0.01 },
                "kind" : "selfComposed"
              },
              "groupSize" : 2,
              "kind" : "groupPrivacy"
            },
            "lowerSigma" : 0.8710318690337276,
            "sigma" : 0.8710362242039608
          }
        }
        """

    @Test("a calibration cache written in camelCase keeps its file name and is a hit; entries are now written in snake_case")
    func camelCaseCacheHits() throws {
        let folder = try temporaryFolder("stored-keys")
        defer { try? FileManager.default.removeItem(at: folder) }
        let cache = try CalibrationCache(directory: folder)
        let request = CalibrationRequest(
            unit: .groupOfRecords(2), samplingRate: 0.01, steps: 100, targetEpsilon: 3, delta: 1e-5,
            accountant: .groupLemma(base: .pld(valueDiscretization: 1e-3)))
        let url = try cache.fileURL(for: request)
        #expect(url.lastPathComponent == Self.camelCaseCacheName)
        try Data(Self.camelCaseCacheFile.utf8).write(to: url)
        let expected = CalibrationResult(
            sigma: 0.8710362242039608, achievedEpsilon: 2.9999508967370563, lowerSigma: 0.8710318690337276,
            event: try request.accountant.event(for: request.unit, q: 0.01, sigma: 0.8710362242039608, steps: 100), evaluations: 7)
        #expect(try cache.load(request) == expected)
        // Through the calibration: a hit returns the cached σ bit for bit, without evaluating.
        let calibrated = try NoiseCalibration(cache: cache).calibrate(request)
        #expect(calibrated.sigma.bitPattern == expected.sigma.bitPattern && calibrated.evaluations == 7)

        try cache.store(expected, for: request)
        let written = try Data(contentsOf: url)
        #expect(nonSnakeKeys(try JSONSerialization.jsonObject(with: written)).isEmpty, "\(String(decoding: written, as: UTF8.self))")
        #expect(try cache.load(request) == expected)
    }
}
