import Foundation
import Testing

@testable import Training
import Persistence

@Suite("RunConfig")
struct RunConfigTests {
    func parse(_ text: String) throws(RunConfigError) -> RunConfig {
        try RunConfig(data: Data(text.utf8))
    }

    func error(_ text: String) -> RunConfigError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test("an empty object is the all-defaults config")
    func defaults() throws {
        let config = try parse("{}")
        #expect(config == RunConfig())
        #expect(config.dataset == "shakespeare")
        #expect(config.model == "models/base")
        #expect(config.mechanism == .user)
        #expect(config.lora == RunConfig.LoRA(rank: 8, alpha: 16, targets: [.attentionQKV]))
        #expect(config.selection == .random)
    }

    @Test("every key parses to its field")
    func everyKey() throws {
        let config = try parse(
            """
            {"version": 1, "dataset": "data/enron.jsonl", "model": "models/gpt2", "mechanism": "group",
             "epsilon": 1.5, "delta": 1e-6, "k": 8, "selection": {"strategy": "perplexity", "order": "highest"},
             "clip_norm": 0.5, "batch_size": 16, "steps": 300, "learning_rate": 0.0005, "optimizer": "sgd",
             "lora": {"rank": 4, "alpha": 8, "targets": ["c_fc", "c_attn"]}, "context_length": 256,
             "eval_every": 0, "seed": 7, "accountant": "rdp", "split_seed": 3,
             "mechanism_options": {"group": {"accounting": "lemma"}}}
            """)
        var expected = RunConfig()
        expected.dataset = "data/enron.jsonl"
        expected.model = "models/gpt2"
        expected.mechanism = .group
        expected.epsilon = 1.5
        expected.delta = 1e-6
        expected.k = 8
        expected.selection = .perplexity(.highest)
        expected.clipNorm = 0.5
        expected.batchSize = 16
        expected.steps = 300
        expected.learningRate = 0.0005
        expected.optimizer = .sgd
        expected.lora = .init(rank: 4, alpha: 8, targets: [.attentionQKV, .mlpExpansion])
        expected.contextLength = 256
        expected.evalEvery = 0
        expected.seed = 7
        expected.accountant = .rdp
        expected.splitSeed = 3
        expected.mechanismOptions.group.accounting = .lemma
        #expect(config == expected)
        // Every key is written back: the canonical form reads as the same config.
        #expect(try parse(config.canonicalText) == expected)
        #expect(config.selection == .perplexity(.highest) && config.accountant == .rdp && config.lora?.targets == [.attentionQKV, .mlpExpansion])
    }

    @Test("null lora means full fine-tuning")
    func fullFineTuning() throws {
        #expect(try parse(#"{"lora": null}"#).lora == nil)
        #expect(try parse(#"{"lora": {}}"#).lora == RunConfig.LoRA())
    }

    @Test(
        "bad input names the key path",
        arguments: [
            (#"{"lora": {"rank": "8"}}"#, RunConfigError.invalidValue(keyPath: "lora.rank", expected: "a positive integer", got: #""8""#)),
            (#"{"lora": {"rank": 0}}"#, .invalidValue(keyPath: "lora.rank", expected: "a positive integer", got: "0")),
            (#"{"lora": {"rank": 2.5}}"#, .invalidValue(keyPath: "lora.rank", expected: "a positive integer", got: "2.5")),
            (#"{"lora": {"rnak": 8}}"#, .unknownKey(keyPath: "lora.rnak", known: ["alpha", "rank", "targets"])),
            (
                #"{"lora": {"targets": ["c_attn", "q_proj"]}}"#,
                .invalidValue(keyPath: "lora.targets[1]", expected: #"one of "c_attn", "attn.c_proj", "c_fc", "mlp.c_proj""#, got: #""q_proj""#)
            ),
            (#"{"lora": {"targets": ["c_fc", "c_fc"]}}"#, .invalidValue(keyPath: "lora.targets[1]", expected: "each projection once", got: #""c_fc""#)),
            (#"{"lora": {"targets": []}}"#, .invalidValue(keyPath: "lora.targets", expected: #"a non-empty list of projections among "c_attn", "attn.c_proj", "c_fc", "mlp.c_proj""#, got: "[]")),
            (#"{"lora": 8}"#, .invalidValue(keyPath: "lora", expected: "an object (or null for full fine-tuning)", got: "8")),
            (#"{"epsilon": 0}"#, .invalidValue(keyPath: "epsilon", expected: #"a positive number for mechanism "user""#, got: "0")),
            (#"{"mechanism": "group", "epsilon": -1}"#, .invalidValue(keyPath: "epsilon", expected: #"a positive number for mechanism "group""#, got: "-1")),
            (#"{"delta": 1}"#, .invalidValue(keyPath: "delta", expected: #"a number in (0, 1) for mechanism "user""#, got: "1")),
            (#"{"delta": 0}"#, .invalidValue(keyPath: "delta", expected: #"a number in (0, 1) for mechanism "user""#, got: "0")),
            (#"{"delta": "1e-5"}"#, .invalidValue(keyPath: "delta", expected: "a number", got: #""1e-5""#)),
            (#"{"k": 0}"#, .invalidValue(keyPath: "k", expected: "a positive integer", got: "0")),
            (#"{"steps": 0}"#, .invalidValue(keyPath: "steps", expected: "an integer in 1...10000000", got: "0")),
            (#"{"batch_size": 0}"#, .invalidValue(keyPath: "batch_size", expected: "a positive number", got: "0")),
            (#"{"batch_size": true}"#, .invalidValue(keyPath: "batch_size", expected: "a positive number", got: "true")),
            (#"{"clip_norm": -0.5}"#, .invalidValue(keyPath: "clip_norm", expected: "a positive number", got: "-0.5")),
            (#"{"context_length": 1}"#, .invalidValue(keyPath: "context_length", expected: "an integer ≥ 2", got: "1")),
            (#"{"seed": -1}"#, .invalidValue(keyPath: "seed", expected: "a non-negative integer", got: "-1")),
            (#"{"dataset": ""}"#, .invalidValue(keyPath: "dataset", expected: "a dataset name or path (a non-empty string)", got: #""""#)),
            (
                #"{"mechanism": "users"}"#,
                .invalidValue(keyPath: "mechanism", expected: #"one of "nonprivate", "record", "group", "user", "asi-liu""#, got: #""users""#)
            ),
            (#"{"optimizer": "adamw"}"#, .invalidValue(keyPath: "optimizer", expected: #"one of "sgd", "adam""#, got: #""adamw""#)),
            (#"{"accountant": null}"#, .invalidValue(keyPath: "accountant", expected: #"one of "pld", "rdp""#, got: "null")),
            (
                #"{"selection": "longest-first"}"#,
                .invalidValue(keyPath: "selection", expected: #"one of "random", "longest", "shortest", "perplexity", "random-chunk""#, got: #""longest-first""#)
            ),
            (
                #"{"selection": {"strategy": "random", "order": "lowest"}}"#,
                .invalidValue(keyPath: "selection.order", expected: #"no order (only the "perplexity" strategy takes one)"#, got: #""lowest""#)
            ),
            (#"{"selection": {"order": "lowest"}}"#, .invalidValue(keyPath: "selection.strategy", expected: "a strategy name (the key is required)", got: "nothing")),
            (#"{"selection": {"strategy": "perplexity", "order": "middle"}}"#, .invalidValue(keyPath: "selection.order", expected: #"one of "lowest", "highest""#, got: #""middle""#)),
            (#"{"selection": {"strategy": "random", "k": 3}}"#, .unknownKey(keyPath: "selection.k", known: ["order", "strategy"])),
            (#"{"mechanism_options": {"user": {}}}"#, .unknownKey(keyPath: "mechanism_options.user", known: ["asi_liu", "group"])),
            (#"{"mechanism_options": {"asi_liu": {"tau": 0}}}"#, .invalidValue(keyPath: "mechanism_options.asi_liu.tau", expected: "a positive number", got: "0")),
            (#"{"mechanism_options": {"asi_liu": {"threshold": 1.5}}}"#, .invalidValue(keyPath: "mechanism_options.asi_liu.threshold", expected: "a number in (0, 1]", got: "1.5")),
            (
                #"{"mechanism_options": {"asi_liu": {"test_budget_fraction": 1}}}"#,
                .invalidValue(keyPath: "mechanism_options.asi_liu.test_budget_fraction", expected: "a number in (0, 1)", got: "1")
            ),
            (#"{"mechanism_options": {"asi_liu": {"on_failure": "stop"}}}"#, .invalidValue(keyPath: "mechanism_options.asi_liu.on_failure", expected: #"one of "halt", "skip""#, got: #""stop""#)),
            (
                #"{"mechanism_options": {"asi_liu": {"radius": 1}}}"#,
                .unknownKey(keyPath: "mechanism_options.asi_liu.radius", known: ["on_failure", "tau", "test_budget_fraction", "threshold"])
            ),
            (#"{"mechanism_options": {"asi_liu": 1}}"#, .invalidValue(keyPath: "mechanism_options.asi_liu", expected: "an object", got: "1")),
            (#"{"mechanism_options": {"group": {"accounting": "tight"}}}"#, .invalidValue(keyPath: "mechanism_options.group.accounting", expected: #"one of "mixture", "lemma""#, got: #""tight""#)),
            (#"{"epsilonn": 8}"#, .unknownKey(keyPath: "epsilonn", known: RunConfig.knownKeys)),
            (#"{"version": 3}"#, .unsupportedVersion(found: 3, highestSupported: 2)),
            (#"{"version": "1"}"#, .invalidValue(keyPath: "version", expected: "a format version (an integer ≥ 1)", got: #""1""#)),
            ("[1, 2]", .invalidValue(keyPath: "config", expected: "an object", got: "[1,2]")),
        ])
    func errors(text: String, expected: RunConfigError) {
        #expect(error(text) == expected)
    }

    @Test("messages read as key path, expectation, value")
    func messages() {
        #expect(
            error(#"{"lora": {"rank": "8"}}"#)?.errorDescription == #"lora.rank: expected a positive integer, got "8""#)
        #expect(error(#"{"x": 1}"#)?.errorDescription?.hasPrefix("x: unknown key (known keys here: accountant, ") == true)
        #expect(error("{").map { if case .notJSON = $0 { true } else { false } } == true)
    }

    @Test("nonprivate ignores epsilon and delta")
    func nonprivateBudget() throws {
        let config = try parse(#"{"mechanism": "nonprivate", "epsilon": 0, "delta": 0}"#)
        #expect(config.mechanism == .nonprivate)
    }

    @Test("the canonical form normalises key order, number spelling and shorthands")
    func canonicalForm() throws {
        let a = try parse(
            #"{"epsilon": 8, "delta": 0.00001, "learning_rate": 1e-3, "selection": "perplexity", "lora": {"targets": ["c_fc", "c_attn"]}}"#)
        let b = try parse(
            #"{"lora": {"targets": ["c_attn", "c_fc"], "rank": 8.0}, "selection": {"order": "lowest", "strategy": "perplexity"}, "learning_rate": 0.001, "delta": 1E-5, "epsilon": 8.0, "version": 1}"#
        )
        #expect(a.canonicalText == b.canonicalText)
        #expect(
            a.canonicalText
                == #"{"accountant":"pld","batch_size":16,"clip_norm":1,"context_length":128,"dataset":"shakespeare","delta":1e-05,"epsilon":8,"eval_every":50,"k":4,"learning_rate":0.001,"lora":{"alpha":16,"rank":8,"targets":["c_attn","c_fc"]},"mechanism":"user","mechanism_options":{},"model":"models/base","optimizer":"adam","seed":0,"selection":{"order":"lowest","strategy":"perplexity"},"split_seed":0,"steps":100,"version":2}"#
        )
    }

    @Test("options of other mechanisms do not change the canonical form")
    func inactiveOptions() throws {
        let plain = try parse(#"{"mechanism": "user"}"#)
        let withGroupOptions = try parse(#"{"mechanism": "user", "mechanism_options": {"group": {"accounting": "lemma"}}}"#)
        #expect(plain == withGroupOptions)
        #expect(plain.canonicalText == withGroupOptions.canonicalText)
        let group = try parse(#"{"mechanism": "group"}"#)
        #expect(group.canonicalText.contains(#""mechanism_options":{"group":{"accounting":"mixture"}}"#))
        let withAsiLiuOptions = try parse(#"{"mechanism": "user", "mechanism_options": {"asi_liu": {"tau": 0.5, "on_failure": "skip"}}}"#)
        #expect(plain == withAsiLiuOptions && plain.canonicalText == withAsiLiuOptions.canonicalText)
    }

    @Test("asi-liu options: defaults filled in the canonical form, given values kept, round trip")
    func asiLiuOptions() throws {
        let defaults = try parse(#"{"mechanism": "asi-liu"}"#)
        #expect(defaults.mechanismOptions.asiLiu == AsiLiuSettings())
        #expect(
            defaults.canonicalText.contains(
                #""mechanism_options":{"asi_liu":{"on_failure":"halt","tau":1,"test_budget_fraction":0.5,"threshold":0.75}}"#))
        let given = try parse(
            #"{"mechanism": "asi-liu", "mechanism_options": {"asi_liu": {"tau": 0.05, "threshold": 1, "on_failure": "skip", "test_budget_fraction": 0.8}}}"#)
        #expect(given.mechanismOptions.asiLiu == AsiLiuSettings(tau: 0.05, threshold: 1, onFailure: .skip, testBudgetFraction: 0.8))
        #expect(try parse(given.canonicalText) == given)
        #expect(given.canonicalText != defaults.canonicalText)
        for path in ["mechanism_options.asi_liu.tau", "mechanism_options.asi_liu.threshold", "mechanism_options.asi_liu.on_failure", "mechanism_options.asi_liu.test_budget_fraction"] {
            #expect(RunConfig.knownKeyPaths.contains(path))
        }
    }

    @Test("canonical and pretty text parse back to the same config; Codable round-trips")
    func roundTrip() throws {
        var config = RunConfig()
        config.mechanism = .group
        config.epsilon = 0.1 + 0.2  // not representable in short decimal: shortest round-trip form
        config.learningRate = 3e-4
        config.selection = .randomChunk
        config.lora = nil
        for text in [config.canonicalText, config.prettyText] {
            #expect(try parse(text) == config)
        }
        let encoded = try JSONEncoder().encode(config)
        #expect(try JSONDecoder().decode(RunConfig.self, from: encoded) == config)
        #expect(config.canonicalText.contains(#""epsilon":0.30000000000000004"#))
    }

    @Test("canonical numbers")
    func canonicalNumbers() {
        #expect(JSONValue.canonicalNumber(8) == "8")
        #expect(JSONValue.canonicalNumber(-0.0) == "0")
        #expect(JSONValue.canonicalNumber(0.1) == "0.1")
        #expect(JSONValue.canonicalNumber(1e-5) == "1e-05")
        #expect(JSONValue.canonicalNumber(1e20) == "1e+20")
        #expect(JSONValue.canonicalNumber(.infinity) == "\"inf\"")
        #expect(JSONValue.object(["b": .bool(true), "a": .array([.null, .string("x\"\n")])]).canonicalText() == #"{"a":[null,"x\"\n"],"b":true}"#)
    }

    @Test("RunResult round-trips through result.json, including non-finite numbers")
    func resultRoundTrip() throws {
        let provenance = Provenance(
            gitCommit: "abc", gitDirty: true, gitDiffHash: "00ff", toolchain: "Swift", openblasCore: "Haswell", blasThreads: 1,
            host: "h")
        let result = RunResult(
            config: RunConfig(), testPerplexity: .infinity, validationPerplexity: 12.5, epsilon: 7.9, delta: 1e-5,
            noiseMultiplier: 0.8, samplingRate: 0.01, steps: 100, dpEvent: .object(["name": .string("gaussian")]),
            unitsPerStepMean: 31.7, wallSeconds: 61, tokensPerSecond: 2000, provenance: provenance,
            extra: ["halted": .integer(0)])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runresult-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try result.write(toDirectory: directory)
        let text = try String(contentsOf: directory.appendingPathComponent("result.json"), encoding: .utf8)
        #expect(text.contains(#""test_perplexity" : "inf""#))
        #expect(text.contains(#""git_diff_hash" : "00ff""#))
        #expect(try RunResult(contentsOf: directory.appendingPathComponent("result.json")) == result)
        // Only result.json is left: the temporary file was renamed.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["result.json"])
    }
}

/// The canonical form leaves out what the mechanism ignores (docs/CONFIG.md, "Canonical form and
/// run ids").
@Suite("Run config: keys a mechanism ignores")
struct IgnoredKeyTests {
    @Test("nonprivate ignores ε, δ, k, selection, clip_norm and the accountant; record ignores k and selection")
    func ignoredKeys() throws {
        let a = try RunConfig(data: Data(#"{"mechanism": "nonprivate", "epsilon": 1, "delta": 0.1, "k": 9, "selection": "longest", "clip_norm": 3, "accountant": "rdp"}"#.utf8))
        let b = try RunConfig(data: Data(#"{"mechanism": "nonprivate"}"#.utf8))
        #expect(a == b && a.canonicalText == b.canonicalText)
        for key in ["epsilon", "delta", "\"k\"", "selection", "clip_norm", "accountant"] { #expect(!a.canonicalText.contains(key)) }
        let r1 = try RunConfig(data: Data(#"{"mechanism": "record", "k": 9, "selection": "longest", "epsilon": 2}"#.utf8))
        let r2 = try RunConfig(data: Data(#"{"mechanism": "record", "epsilon": 2}"#.utf8))
        #expect(r1 == r2 && r1.canonicalText.contains(#""epsilon":2"#))
        let u1 = try RunConfig(data: Data(#"{"mechanism": "user", "k": 9}"#.utf8))
        #expect(u1 != (try RunConfig(data: Data(#"{"mechanism": "user"}"#.utf8))))
        #expect(try RunConfig(data: Data(a.canonicalText.utf8)) == a)
        #expect(MechanismKind.asiLiu.reads(keyPath: "clip_norm") == false)
        #expect(MechanismKind.user.reads(keyPath: "mechanism_options.group.accounting") == false)
        #expect(MechanismKind.group.reads(keyPath: "mechanism_options.group.accounting"))
        #expect(MechanismKind.nonprivate.reads(keyPath: "selection.order") == false)
    }
}
