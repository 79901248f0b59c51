import Foundation
import Persistence
import Privacy
import Testing
@testable import Training

/// `RunResult.privacyEvent()`: today's form as stored, the legacy lemma form (record-level event
/// plus `extra.dp_event_unit` / `extra.dp_event_group_size`) as the lemma event, and exact
/// errors for markers that do not add up.
@Suite("The DP event stored in a result")
struct StoredEventTests {
    static let q = 64.0 / 4396.0
    static let sigma = 2.5088820679130714

    /// A `group` result with lemma accounting, ε = 1, k = 4, as the paper grid stores it: in the
    /// legacy form (`legacy`) or today's.
    static func lemmaResult(legacy: Bool) throws -> RunResult {
        var config = RunConfig()
        config.mechanism = .group
        config.mechanismOptions.group.accounting = .lemma
        config.k = 4
        config.epsilon = 1
        let record = try DPEvent.poissonSubsampledGaussian(q: q, sigma: sigma, steps: 100)
        let event = legacy ? record : try DPEvent.groupPrivacyLemma(groupSize: 4, of: record)
        var extra: [String: JSONValue] = ["calibrated_epsilon": .number(0.9999931734072314)]
        if legacy {
            extra["dp_event_unit"] = .string("record")
            extra["dp_event_group_size"] = .integer(4)
        }
        let result = RunResult(
            config: config, testPerplexity: 111, validationPerplexity: 113, epsilon: 0.9999931734072314, delta: 1e-5,
            noiseMultiplier: sigma, samplingRate: q, steps: 100, dpEvent: try JSONValue(parsing: JSONEncoder().encode(event)),
            unitsPerStepMean: 64, wallSeconds: 1, tokensPerSecond: 1,
            provenance: Provenance(gitCommit: "unknown", gitDirty: false, gitDiffHash: nil, toolchain: "t", openblasCore: "c", blasThreads: 1, host: "h"),
            extra: extra)
        // Through the file format, as a reader meets it.
        return try RunResult.decoder().decode(RunResult.self, from: RunResult.encoder().encode(result))
    }

    @Test("the legacy form reads as the lemma event, whose ε is the stored user-level ε (the paper grid's ε = 1 cell)")
    func legacyFormReadsAsTheLemma() throws {
        let legacy = try Self.lemmaResult(legacy: true)
        let today = try Self.lemmaResult(legacy: false)
        let event = try #require(try legacy.privacyEvent())
        #expect(event == (try today.privacyEvent()))
        guard case .groupPrivacy(let inner, 4, .lemma) = event else { Issue.record("read as \(event)"); return }
        #expect(inner == (try DPEvent.poissonSubsampledGaussian(q: Self.q, sigma: Self.sigma, steps: 100)))
        // The committed result's epsilon (results/paper-mechanisms/paper-v1, run 0aa29077d051).
        #expect(try PLDAccountant().epsilon(for: event, delta: 1e-5) == 0.9999931734072314)
        // Read only: the stored JSON is unchanged.
        #expect(legacy.extra["dp_event_unit"] == .string("record"))
    }

    @Test("nonprivate results have no event; an unreadable event is an error naming the key inside dp_event")
    func nonprivateAndUnreadable() throws {
        var result = try Self.lemmaResult(legacy: false)
        result.dpEvent = .null
        #expect(try result.privacyEvent() == nil)
        result.dpEvent = .object(["kind": .string("laplace"), "scale": .number(1.5)])
        do {
            _ = try result.privacyEvent()
            Issue.record("a laplace event decoded")
        } catch {
            guard case .unreadableEvent(let reason) = error else { Issue.record("\(error)"); return }
            #expect(reason.contains("unknown DP event kind 'laplace'"), "\(reason)")
            #expect(error.localizedDescription.hasPrefix("dp_event: not a DP event this userdp can read"))
        }
        result.dpEvent = .object(["kind": .string("gaussian")])
        #expect(throws: StoredEventError.unreadableEvent(reason: "missing key \"sigma\"")) { try result.privacyEvent() }
    }

    @Test("legacy markers that do not add up are errors naming the key")
    func inconsistentMarkers() throws {
        let base = try Self.lemmaResult(legacy: true)
        var result = base
        result.extra["dp_event_group_size"] = nil
        #expect(throws: StoredEventError.inconsistentLegacyLemma(key: "extra.dp_event_group_size", reason: "is missing, not a group size k >= 1")) {
            try result.privacyEvent()
        }
        result = base
        result.extra["dp_event_unit"] = .string("user")
        #expect(throws: StoredEventError.inconsistentLegacyLemma(key: "extra.dp_event_unit", reason: "is \"user\", not \"record\"")) {
            try result.privacyEvent()
        }
        result = base
        result.extra["dp_event_unit"] = nil
        #expect(throws: StoredEventError.inconsistentLegacyLemma(key: "extra.dp_event_group_size", reason: "present without extra.dp_event_unit")) {
            try result.privacyEvent()
        }
        result = base
        result.config.k = 8
        do {
            _ = try result.privacyEvent()
            Issue.record("k = 4 markers on a k = 8 config were accepted")
        } catch {
            #expect(error.localizedDescription.contains("extra.dp_event_group_size: marks a lemma event of k = 4 but the config is mechanism group with k = 8"))
        }
        result = try Self.lemmaResult(legacy: false)
        result.extra["dp_event_unit"] = .string("record")
        result.extra["dp_event_group_size"] = .integer(4)
        #expect(throws: StoredEventError.inconsistentLegacyLemma(
            key: "extra.dp_event_unit", reason: "marks a record-level event, but dp_event already is a groupPrivacy event")) {
            try result.privacyEvent()
        }
    }
}
