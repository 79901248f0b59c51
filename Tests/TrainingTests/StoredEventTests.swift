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

    /// results/paper-mechanisms/paper-v1/runs/0aa29077d051/result.json as committed: a `group`
    /// run under the lemma whose `dp_event` has the camelCase keys of earlier versions
    /// (`samplingProbability`, `groupSize`).
    static let committedCamelCaseResult = """
        {
          "config" : {
            "accountant" : "pld",
            "batch_size" : 64,
            "clip_norm" : 1,
            "context_length" : 128,
            "dataset" : "shakespeare",
            "delta" : 1e-05,
            "epsilon" : 1,
            "eval_every" : 50,
            "k" : 4,
            "learning_rate" : 0.01,
            "lora" : {
              "alpha" : 16,
              "rank" : 8,
              "targets" : [
                "c_attn"
              ]
            },
            "mechanism" : "group",
            "mechanism_options" : {
              "group" : {
                "accounting" : "lemma"
              }
            },
            "model" : "models/base",
            "optimizer" : "adam",
            "seed" : 1,
            "selection" : {
              "strategy" : "random"
            },
            "split_seed" : 0,
            "steps" : 100,
            "version" : 2
          },
          "delta" : 1e-05,
          "dp_event" : {
            "conversion" : "lemma",
            "event" : {
              "count" : 100,
              "event" : {
                "event" : {
                  "kind" : "gaussian",
                  "sigma" : 2.5088820679130714
                },
                "kind" : "poissonSampled",
                "samplingProbability" : 0.014558689717925387
              },
              "kind" : "selfComposed"
            },
            "groupSize" : 4,
            "kind" : "groupPrivacy"
          },
          "epsilon" : 0.9999931734072314,
          "extra" : {
            "accountant" : "group-privacy lemma over PLD (pessimistic connect-the-dots, discretisation 0.0001)",
            "base_validation_perplexity" : 103.06714821307659,
            "calibrated_epsilon" : 0.9999931734072314,
            "dataset_hash" : "04e3b91ebf3f77b0e166120d9593229cea7b8af46dd4ca201c7cf7103515aaca",
            "model_hash" : "bca4566afb6e75f9dff2fcf474888e829b32f45f3d82e6309dead8c2ea5addbb",
            "population_units" : 4396,
            "test_stream_perplexity" : 123.7177852540382,
            "train_records" : 25381,
            "train_seconds" : 315.4311168193817,
            "train_users" : 1099,
            "trainable_parameters" : 24576
          },
          "noise_multiplier" : 2.5088820679130714,
          "provenance" : {
            "blas_threads" : 1,
            "git_commit" : "4990df73afe66aa91c732d2661d50f988db818b0",
            "git_diff_hash" : null,
            "git_dirty" : false,
            "host" : "vm",
            "openblas_core" : "Zen",
            "toolchain" : "Swift 6.3+ / Debian GNU/Linux 12 (bookworm)",
            "userdp_version" : "0.2.0-4990df7"
          },
          "sampling_rate" : 0.014558689717925387,
          "steps" : 100,
          "test_perplexity" : 111.47663973672064,
          "tokens_per_second" : 757.5600099619505,
          "units_per_step_mean" : 64.57,
          "validation_perplexity" : 113.6904502384165,
          "wall_seconds" : 417.4043629169464
        }
        """

    @Test("a committed result with camelCase event keys reads as the same event as its snake_case form, with the same ε")
    func camelCaseResultReaccounts() throws {
        let camel = try RunResult.decoder().decode(RunResult.self, from: Data(Self.committedCamelCaseResult.utf8))
        let snakeText = Self.committedCamelCaseResult
            .replacingOccurrences(of: "\"samplingProbability\"", with: "\"sampling_probability\"")
            .replacingOccurrences(of: "\"groupSize\"", with: "\"group_size\"")
        #expect(snakeText != Self.committedCamelCaseResult)
        let snake = try RunResult.decoder().decode(RunResult.self, from: Data(snakeText.utf8))
        let event = try #require(try camel.privacyEvent())
        #expect(event == (try snake.privacyEvent()))
        #expect(event == (try Self.lemmaResult(legacy: false).privacyEvent()))
        // Today a run writes the event's snake_case form, as in the rewritten file.
        #expect(try JSONValue(parsing: JSONEncoder().encode(event)).canonicalText() == snake.dpEvent.canonicalText())
        // Re-accounted at the run's own δ by its own accountant: the stored ε, bit for bit.
        let fromCamel = try #require(try camel.reaccounted(delta: camel.delta))
        let fromSnake = try #require(try snake.reaccounted(delta: snake.delta))
        #expect(fromCamel.epsilon.bitPattern == camel.epsilon.bitPattern, "\(fromCamel.epsilon) vs stored \(camel.epsilon)")
        #expect(fromSnake.epsilon.bitPattern == camel.epsilon.bitPattern)
        // Read only: the stored JSON keeps its spelling.
        guard case .object(let stored) = camel.dpEvent else { Issue.record("dp_event is \(camel.dpEvent)"); return }
        #expect(stored["groupSize"] == .integer(4) && stored["group_size"] == nil)
    }
}
