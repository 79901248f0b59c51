import Foundation
import Persistence

// MARK: - Run config

/// One configured experiment: which data, which base model, which mechanism under which
/// privacy budget, and how to optimise (docs/SWEEPS.md). The JSON form is the contract between
/// `userdp train --config FILE`, sweep files and `result.json`.
///
/// Contract:
/// - JSON object with snake_case keys and `"version": 2` (a missing version means 1; versions
///   1 and 2 read the same keys; a newer version is refused). Every key is optional and has the documented default (see
///   `docs/CONFIG.md`); `RunConfig()` is the all-defaults config.
/// - Parsing walks the JSON value by hand so that every problem names its key path: unknown
///   keys, wrong types and impossible values are `RunConfigError`s, never silently ignored.
/// - `canonicalText` is the resolved form (all defaults filled, keys sorted, numbers in
///   canonical form: integral values without ".0", others in shortest round-trip form, no
///   whitespace). Two configs that mean the same experiment have the same canonical text, so
///   sweeps hash it into run ids. Keys the configured mechanism never reads
///   (`Mechanism.ignoredKeys`, for example ε for `nonprivate`, k for `record`) and options of
///   other mechanisms are validated but dropped (reset to their defaults in the value, absent
///   from the canonical form), so they never split ids. Version 2 introduced this dropping.
/// - Units: `epsilon` and `delta` are the target (ε, δ) at the privacy unit of the mechanism
///   (user level for `group` and `user`, record level for `record`); `clip_norm` is an L2
///   norm; `batch_size` is the expected number of privacy units per step (Poisson sampling
///   rate q = batch_size / number of units); `learning_rate` is η.
public struct RunConfig: Sendable, Hashable {
    /// Configs are equal when they describe the same experiment: equal canonical text (keys
    /// the mechanism ignores do not count).
    public static func == (a: RunConfig, b: RunConfig) -> Bool { a.canonicalText == b.canonicalText }

    /// Hashes the canonical text, consistently with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(canonicalText) }

    /// The highest config format version this build reads and the version it writes.
    /// Version 2: the canonical form leaves out keys the mechanism ignores (run ids changed;
    /// `userdp sweep migrate` renames stored runs).
    public static let currentVersion = 2

    /// Dataset name (for example the embedded `shakespeare`) or path. Default `"shakespeare"`.
    public var dataset: String = "shakespeare"
    /// Base model directory. Default `"models/base"`.
    public var model: String = "models/base"
    /// Training mechanism. Default `.user`.
    public var mechanism: Mechanism = .user
    /// Target ε (> 0 for private mechanisms; ignored by `nonprivate`). Default 8.
    public var epsilon: Double = 8
    /// Target δ in (0, 1) for private mechanisms; ignored by `nonprivate`. Default 1e-5.
    public var delta: Double = 1e-5
    /// Records (units) per user that `group`, `user` and `asi-liu` train on; ≥ 1. Default 4.
    public var k: Int = 4
    /// How the k units are taken from a user's data (docs/DATASETS.md). Default `random`.
    public var selection: Selection = Selection(strategy: .random)
    /// Per-unit clipping norm C (L2), > 0; not used by `asi-liu`. Default 1.
    public var clipNorm: Double = 1
    /// Expected privacy units per step, > 0. Default 16.
    public var batchSize: Double = 16
    /// Optimiser steps T, in 1...``maximumSteps``. Default 100.
    public var steps: Int = 100
    /// The most steps a config may ask for: 10⁷, the privacy accountants' limit
    /// (`DPEvent.maximumSteps`).
    public static let maximumSteps = 10_000_000
    /// Learning rate η, > 0. Default 0.003.
    public var learningRate: Double = 0.003
    /// Optimiser. Default `.adam`.
    public var optimizer: Optimizer = .adam
    /// LoRA adapters, or nil for full fine-tuning. Default: rank 8, alpha 16 on `c_attn`.
    public var lora: LoRA? = LoRA()
    /// Tokens per training sequence L, ≥ 2. Default 128.
    public var contextLength: Int = 128
    /// Evaluate validation perplexity every this many steps; 0 means only after the last
    /// step. Default 50.
    public var evalEvery: Int = 50
    /// Seed of every random draw of the run (sampling, selection, noise), ≥ 0. Default 0.
    public var seed: Int = 0
    /// Privacy accountant used for calibration and for the reported ε. Default `.pld`.
    public var accountant: Accountant = .pld
    /// Seed of the train/validation/test split of users, ≥ 0. Kept apart from `seed` so that
    /// replicates over `seed` share one split. Default 0.
    public var splitSeed: Int = 0
    /// Options that only one mechanism reads. Only the configured mechanism's options take part
    /// in the canonical form.
    public var mechanismOptions: MechanismOptions = MechanismOptions()

    /// The all-defaults config.
    public init() {}

    // MARK: Nested domain types

    /// Training mechanisms (docs/TRAINING.md). To add one: add a case, decide `isPrivate`, and if it
    /// has options add a struct to `MechanismOptions` and a branch to its parser.
    public enum Mechanism: String, Sendable, Hashable, CaseIterable, Codable {
        /// Fine-tuning without clipping or noise.
        case nonprivate
        /// Record-level DP-SGD on all records (Abadi et al. 2016); user level only through
        /// group privacy for the largest user.
        case record
        /// Group Privacy: k records per user, record-level DP-SGD, user-level accounting.
        case group
        /// User-wise DP-SGD: sample users, clip the mean of k unit gradients per user.
        case user
        /// Asi & Liu 2024 (arXiv 2311.03797) as userdp implements it (docs/ASI_LIU.md): sample
        /// users like `user`, privately test whether their unclipped mean gradients are
        /// concentrated, drop outliers, add noise scaled to the radius τ; halt or skip on a
        /// failed test. Options under `mechanism_options.asi_liu`.
        case asiLiu = "asi-liu"

        /// Whether the mechanism spends a privacy budget (so ε and δ must be valid).
        public var isPrivate: Bool { self != .nonprivate }

        /// Top-level config keys this mechanism never reads, derived from what training does
        /// (TrainingPlan, PrivacyPlan, StepRunner): `nonprivate` trains on every record without
        /// clipping, noise or accounting; `record` trains on every record (no k, no selection);
        /// `asi-liu` bounds sensitivity with its radius τ, not with `clip_norm`. These keys are
        /// left out of the canonical form, so they never give one experiment two run ids.
        public var ignoredKeys: Set<String> {
            switch self {
            case .nonprivate: return ["accountant", "clip_norm", "delta", "epsilon", "k", "selection"]
            case .record: return ["k", "selection"]
            case .group, .user: return []
            case .asiLiu: return ["clip_norm"]
            }
        }

        /// Whether the mechanism reads the value at a dotted key path (`epsilon`,
        /// `selection.order`, `mechanism_options.group.accounting`). Keys it ignores resolve to
        /// `n/a` in sweeps and tables.
        public func reads(keyPath: String) -> Bool {
            let top = String(keyPath.split(separator: ".").first ?? Substring(keyPath))
            if ignoredKeys.contains(top) { return false }
            if keyPath.hasPrefix("mechanism_options.group") { return self == .group }
            if keyPath.hasPrefix("mechanism_options.asi_liu") { return self == .asiLiu }
            return true
        }
    }

    /// A selection strategy and its options (docs/DATASETS.md). JSON: a strategy name, or an object
    /// `{"strategy": name, ...options}`; the canonical form is always the object.
    public struct Selection: Sendable, Hashable {
        /// Selection strategy names.
        public enum Strategy: String, Sendable, Hashable, CaseIterable, Codable {
            /// Uniform without replacement; longest/shortest by tokens; ranked by base-model
            /// perplexity (docs/DATASETS.md).
            case random, longest, shortest, perplexity
            /// k windows of L tokens at random offsets of the user's concatenated records.
            case randomChunk = "random-chunk"
        }

        /// Which end of the perplexity ranking `perplexity` takes.
        public enum Order: String, Sendable, Hashable, CaseIterable, Codable {
            /// The k least (most) perplexing records.
            case lowest, highest
        }

        /// The strategy.
        public var strategy: Strategy
        /// Ranking end for `perplexity` (default `.lowest`); nil for every other strategy.
        public var order: Order?

        /// A selection; `order` defaults to `.lowest` for `perplexity` and is dropped otherwise.
        public init(strategy: Strategy, order: Order? = nil) {
            self.strategy = strategy
            self.order = strategy == .perplexity ? (order ?? .lowest) : nil
        }
    }

    /// Optimisers.
    public enum Optimizer: String, Sendable, Hashable, CaseIterable, Codable {
        /// Plain SGD; Adam (Kingma & Ba 2015).
        case sgd, adam
    }

    /// Privacy accountants (docs/PRIVACY.md).
    public enum Accountant: String, Sendable, Hashable, CaseIterable, Codable {
        /// Privacy-loss distributions composed with FFT (tight; the default).
        case pld
        /// Rényi DP (Mironov, Talwar, Zhang 2019): fast, slightly loose.
        case rdp
    }

    /// LoRA adapters (Hu et al. 2021): rank r, scale alpha / r, on the named projections.
    public struct LoRA: Sendable, Hashable {
        /// Projections that can carry adapters, named as in the GPT-2 tensor names.
        public enum Target: String, Sendable, Hashable, CaseIterable, Codable {
            /// The fused query/key/value projection.
            case attention = "c_attn"
            /// The attention output projection.
            case attentionProjection = "attn.c_proj"
            /// The MLP input projection.
            case mlpIn = "c_fc"
            /// The MLP output projection.
            case mlpProjection = "mlp.c_proj"
        }

        /// Rank r ≥ 1. Default 8.
        public var rank: Int
        /// Scale numerator alpha > 0 (the update is scaled by alpha / rank). Default 16.
        public var alpha: Double
        /// Adapted projections, non-empty, without repeats; stored in `Target.allCases` order.
        public var targets: [Target]

        /// Adapters with the given settings; `targets` is put into canonical order.
        public init(rank: Int = 8, alpha: Double = 16, targets: [Target] = [.attention]) {
            self.rank = rank
            self.alpha = alpha
            self.targets = Target.allCases.filter(targets.contains)
        }
    }

    /// Options read by one mechanism only. JSON: `{"group": {"accounting": "mixture"}}`,
    /// `{"asi_liu": {"tau": 1, "threshold": 0.75, "on_failure": "halt", "test_budget_fraction": 0.5}}`.
    public struct MechanismOptions: Sendable, Hashable {
        /// Options of `group`.
        public var group: GroupOptions = GroupOptions()
        /// Options of `asi-liu` (JSON key `asi_liu`; defaults in `AsiLiuSettings`).
        public var asiLiu: AsiLiuSettings = AsiLiuSettings()
        /// The all-defaults options.
        public init() {}
    }

    /// Options of the `group` mechanism.
    public struct GroupOptions: Sendable, Hashable {
        /// How `group` turns its record-level mechanism into a user-level guarantee.
        public enum Accounting: String, Sendable, Hashable, CaseIterable, Codable {
            /// Tight: per step the user's records in the batch are Binomial(k, q), a mixture of
            /// Gaussians with sensitivities 0..kC (Ganesh 2024, arXiv 2401.10294).
            case mixture
            /// The group-privacy lemma: record-level (ε', δ') gives user-level
            /// (kε', k·e^{(k−1)ε'}·δ').
            case lemma
        }

        /// Default `.mixture`.
        public var accounting: Accounting = .mixture
        /// The all-defaults options.
        public init() {}
    }
}

// MARK: - Errors

/// Why a run config was refused. Every case names the key path (dotted, with `[i]` for list
/// elements; `config` for the document itself).
public indirect enum RunConfigError: Error, Equatable, Sendable, LocalizedError {
    /// The bytes are not JSON.
    case notJSON(reason: String)
    /// A key that the config format does not have; `known` lists the keys allowed there.
    case unknownKey(keyPath: String, known: [String])
    /// A value of the wrong type or outside its range; `got` is the value as written (JSON).
    case invalidValue(keyPath: String, expected: String, got: String)
    /// The config declares a format version newer than this build reads.
    case unsupportedVersion(found: Int, highestSupported: Int)
    /// A problem in a file, wrapping the problem itself.
    case inFile(path: String, RunConfigError)

    /// The message shown to the user: the key path, then what was expected and found.
    public var errorDescription: String? {
        switch self {
        case .notJSON(let reason):
            return "not valid JSON: \(reason)"
        case .unknownKey(let keyPath, let known):
            return "\(keyPath): unknown key (known keys here: \(known.joined(separator: ", ")))"
        case .invalidValue(let keyPath, let expected, let got):
            return "\(keyPath): expected \(expected), got \(got)"
        case .unsupportedVersion(let found, let highestSupported):
            return "version: this build reads config version \(highestSupported) and older, the file has version \(found); update userdp"
        case .inFile(let path, let error):
            return "\(path): \(error.errorDescription ?? "\(error)")"
        }
    }
}

// MARK: - Parsing

extension RunConfig {
    /// Every top-level key of the config format, sorted.
    public static let knownKeys: [String] = [
        "accountant", "batch_size", "clip_norm", "context_length", "dataset", "delta", "epsilon",
        "eval_every", "k", "learning_rate", "lora", "mechanism", "mechanism_options", "model",
        "optimizer", "seed", "selection", "split_seed", "steps", "version",
    ]

    /// Every dotted key path a value can be set at (top-level keys and the keys inside
    /// `selection`, `lora` and `mechanism_options`), sorted. Sweeps check their grid keys
    /// against it.
    public static let knownKeyPaths: [String] = (knownKeys + [
        "lora.alpha", "lora.rank", "lora.targets", "mechanism_options.asi_liu", "mechanism_options.asi_liu.on_failure",
        "mechanism_options.asi_liu.tau", "mechanism_options.asi_liu.test_budget_fraction", "mechanism_options.asi_liu.threshold",
        "mechanism_options.group", "mechanism_options.group.accounting",
        "selection.order", "selection.strategy",
    ]).sorted()

    /// Parses and validates a config from JSON bytes. Throws `RunConfigError`.
    public init(data: Data) throws(RunConfigError) {
        let json: JSONValue
        do { json = try JSONValue(parsing: data) } catch { throw .notJSON(reason: error.reason) }
        try self.init(json: json)
    }

    /// Reads a config file. Errors are wrapped in `.inFile(path:)`; an unreadable file is
    /// reported as `.notJSON` with the system's reason.
    public init(contentsOf url: URL) throws(RunConfigError) {
        do throws(RunConfigError) {
            let data: Data
            do { data = try Data(contentsOf: url) } catch {
                throw RunConfigError.notJSON(reason: "cannot read the file (\(error.localizedDescription))")
            }
            try self.init(data: data)
        } catch {
            throw .inFile(path: url.path, error)
        }
    }

    /// Validates a config given as a JSON value (for example a sweep's base with grid values
    /// applied). Missing keys take their defaults.
    public init(json: JSONValue) throws(RunConfigError) {
        self.init()
        let root = try ObjectReader(json, keyPath: "", known: RunConfig.knownKeys)
        if let version = try root.integer("version", minimum: 1, expected: "a format version (an integer ≥ 1)") {
            guard version <= RunConfig.currentVersion else {
                throw .unsupportedVersion(found: version, highestSupported: RunConfig.currentVersion)
            }
        }
        if let v = try root.string("dataset", expected: "a dataset name or path") { dataset = v }
        if let v = try root.string("model", expected: "a model directory") { model = v }
        if let v = try root.choice("mechanism", Mechanism.self) { mechanism = v }
        if let v = try root.number("epsilon") { epsilon = v }
        if let v = try root.number("delta") { delta = v }
        if let v = try root.integer("k", minimum: 1, expected: "a positive integer") { k = v }
        if let v = root["selection"] { selection = try Selection(json: v, keyPath: root.path("selection")) }
        if let v = try root.number("clip_norm", positive: true) { clipNorm = v }
        if let v = try root.number("batch_size", positive: true) { batchSize = v }
        if let v = try root.integer("steps", minimum: 1, maximum: RunConfig.maximumSteps, expected: "an integer in 1...10000000") { steps = v }
        if let v = try root.number("learning_rate", positive: true) { learningRate = v }
        if let v = try root.choice("optimizer", Optimizer.self) { optimizer = v }
        if let v = root["lora"] {
            lora = v == .null ? nil : try LoRA(json: v, keyPath: root.path("lora"))
        }
        if let v = try root.integer("context_length", minimum: 2, expected: "an integer ≥ 2") { contextLength = v }
        if let v = try root.integer("eval_every", minimum: 0, expected: "a non-negative integer") { evalEvery = v }
        if let v = try root.integer("seed", minimum: 0, expected: "a non-negative integer") { seed = v }
        if let v = try root.choice("accountant", Accountant.self) { accountant = v }
        if let v = try root.integer("split_seed", minimum: 0, expected: "a non-negative integer") { splitSeed = v }
        if let v = root["mechanism_options"] {
            mechanismOptions = try MechanismOptions(json: v, keyPath: root.path("mechanism_options"))
        }

        // Privacy values are checked after the mechanism is known: `nonprivate` ignores them.
        if mechanism.isPrivate {
            guard epsilon > 0 else {
                throw .invalidValue(
                    keyPath: "epsilon", expected: "a positive number for mechanism \"\(mechanism.rawValue)\"",
                    got: JSONValue.number(epsilon).canonicalText())
            }
            guard delta > 0, delta < 1 else {
                throw .invalidValue(
                    keyPath: "delta", expected: "a number in (0, 1) for mechanism \"\(mechanism.rawValue)\"",
                    got: JSONValue.number(delta).canonicalText())
            }
        }
        // Options of other mechanisms and keys this mechanism ignores were validated above but
        // do not describe this run: reset them, so equal experiments are equal values.
        if mechanism != .group { mechanismOptions.group = GroupOptions() }
        if mechanism != .asiLiu { mechanismOptions.asiLiu = AsiLiuSettings() }
        let defaults = RunConfig()
        let ignored = mechanism.ignoredKeys
        if ignored.contains("epsilon") { epsilon = defaults.epsilon }
        if ignored.contains("delta") { delta = defaults.delta }
        if ignored.contains("accountant") { accountant = defaults.accountant }
        if ignored.contains("clip_norm") { clipNorm = defaults.clipNorm }
        if ignored.contains("k") { k = defaults.k }
        if ignored.contains("selection") { selection = defaults.selection }
    }
}

extension RunConfig.Selection {
    /// Parses `"name"` or `{"strategy": "name", "order": ...}`.
    init(json: JSONValue, keyPath: String) throws(RunConfigError) {
        if case .string = json {
            self.init(strategy: try choose(json, keyPath: keyPath, Strategy.self))
            return
        }
        guard case .object = json else {
            throw .invalidValue(
                keyPath: keyPath,
                expected: "a strategy name (\(Strategy.allCases.map(\.rawValue).joined(separator: ", "))) or an object with \"strategy\"",
                got: json.shortText)
        }
        let object = try ObjectReader(json, keyPath: keyPath, known: ["order", "strategy"])
        guard let strategy = try object.choice("strategy", Strategy.self) else {
            throw .invalidValue(keyPath: object.path("strategy"), expected: "a strategy name (the key is required)", got: "nothing")
        }
        let order = try object.choice("order", Order.self)
        if order != nil, strategy != .perplexity {
            throw .invalidValue(
                keyPath: object.path("order"), expected: "no order (only the \"perplexity\" strategy takes one)",
                got: object["order"]!.shortText)
        }
        self.init(strategy: strategy, order: order)
    }

    /// The canonical JSON form: always an object with `strategy` and its options.
    public var json: JSONValue {
        var object: [String: JSONValue] = ["strategy": .string(strategy.rawValue)]
        if let order { object["order"] = .string(order.rawValue) }
        return .object(object)
    }

    /// A short label: the strategy name, then non-default options, e.g. `perplexity(highest)`.
    public var label: String {
        if let order, order != .lowest { return "\(strategy.rawValue)(\(order.rawValue))" }
        return strategy.rawValue
    }
}

extension RunConfig.LoRA {
    init(json: JSONValue, keyPath: String) throws(RunConfigError) {
        let object = try ObjectReader(json, keyPath: keyPath, known: ["alpha", "rank", "targets"], expected: "an object (or null for full fine-tuning)")
        self.init()
        if let v = try object.integer("rank", minimum: 1, expected: "a positive integer") { rank = v }
        if let v = try object.number("alpha", positive: true) { alpha = v }
        if let v = object["targets"] {
            let targetsPath = object.path("targets")
            let names = Target.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            guard case .array(let elements) = v, !elements.isEmpty else {
                throw .invalidValue(keyPath: targetsPath, expected: "a non-empty list of projections among \(names)", got: v.shortText)
            }
            var chosen: [Target] = []
            for (index, element) in elements.enumerated() {
                let target = try choose(element, keyPath: "\(targetsPath)[\(index)]", Target.self)
                guard !chosen.contains(target) else {
                    throw .invalidValue(keyPath: "\(targetsPath)[\(index)]", expected: "each projection once", got: element.shortText)
                }
                chosen.append(target)
            }
            targets = Target.allCases.filter(chosen.contains)
        }
    }

    /// The canonical JSON form.
    public var json: JSONValue {
        .object([
            "rank": .integer(rank), "alpha": .number(alpha),
            "targets": .array(targets.map { .string($0.rawValue) }),
        ])
    }
}

extension RunConfig.MechanismOptions {
    init(json: JSONValue, keyPath: String) throws(RunConfigError) {
        let object = try ObjectReader(json, keyPath: keyPath, known: ["asi_liu", "group"], expected: "an object keyed by mechanism name")
        self.init()
        if let v = object["group"] {
            let groupObject = try ObjectReader(v, keyPath: object.path("group"), known: ["accounting"])
            if let accounting = try groupObject.choice("accounting", RunConfig.GroupOptions.Accounting.self) {
                group.accounting = accounting
            }
        }
        if let v = object["asi_liu"] {
            asiLiu = try AsiLiuSettings(json: v, keyPath: object.path("asi_liu"))
        }
    }
}

extension AsiLiuSettings {
    /// Parses the run config's `mechanism_options.asi_liu` object; every key optional.
    /// Errors are `RunConfigError`s naming the key path, like every other config key.
    init(json: JSONValue, keyPath: String) throws(RunConfigError) {
        let object = try ObjectReader(json, keyPath: keyPath, known: Key.allCases.map(\.rawValue))
        self.init()
        if let v = try object.number("tau", positive: true) { tau = v }
        if let v = try object.number("threshold", positive: true) {
            guard v <= 1 else { throw .invalidValue(keyPath: object.path("threshold"), expected: "a number in (0, 1]", got: object["threshold"]!.shortText) }
            threshold = v
        }
        if let v = try object.choice("on_failure", AsiLiuFailurePolicy.self) { onFailure = v }
        if let v = try object.number("test_budget_fraction", positive: true) {
            guard v < 1 else {
                throw .invalidValue(keyPath: object.path("test_budget_fraction"), expected: "a number in (0, 1)", got: object["test_budget_fraction"]!.shortText)
            }
            testBudgetFraction = v
        }
    }

    /// The canonical JSON form: every option with its value.
    public var json: JSONValue {
        .object([
            "tau": .number(tau), "threshold": .number(threshold), "on_failure": .string(onFailure.rawValue),
            "test_budget_fraction": .number(testBudgetFraction),
        ])
    }
}

// MARK: - Canonical form

extension RunConfig {
    /// The resolved config as JSON: every key the mechanism reads with its value (keys in
    /// `mechanism.ignoredKeys` are absent), the selection as an object, and only the configured
    /// mechanism's options.
    public var json: JSONValue {
        var options: [String: JSONValue] = [:]
        if mechanism == .group {
            options["group"] = .object(["accounting": .string(mechanismOptions.group.accounting.rawValue)])
        }
        if mechanism == .asiLiu { options["asi_liu"] = mechanismOptions.asiLiu.json }
        var object: [String: JSONValue] = [
            "version": .integer(RunConfig.currentVersion),
            "dataset": .string(dataset),
            "model": .string(model),
            "mechanism": .string(mechanism.rawValue),
            "epsilon": .number(epsilon),
            "delta": .number(delta),
            "k": .integer(k),
            "selection": selection.json,
            "clip_norm": .number(clipNorm),
            "batch_size": .number(batchSize),
            "steps": .integer(steps),
            "learning_rate": .number(learningRate),
            "optimizer": .string(optimizer.rawValue),
            "lora": lora?.json ?? .null,
            "context_length": .integer(contextLength),
            "eval_every": .integer(evalEvery),
            "seed": .integer(seed),
            "accountant": .string(accountant.rawValue),
            "split_seed": .integer(splitSeed),
            "mechanism_options": .object(options),
        ]
        for key in mechanism.ignoredKeys { object[key] = nil }
        return .object(object)
    }

    /// The canonical text of the resolved config (sorted keys, canonical numbers, no
    /// whitespace): equal for configs that describe the same experiment; hashed into run ids.
    public var canonicalText: String { json.canonicalText() }

    /// The resolved config as indented JSON with sorted keys, for files people read
    /// (`runs/<id>/config.json`). Parses back to an equal config.
    public var prettyText: String { json.canonicalText(pretty: true) }
}

extension RunConfig: Codable {
    /// Decodes through the validating parser, so `result.json` files are checked like config
    /// files.
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        do {
            try self.init(json: value)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.errorDescription ?? "\(error)"))
        }
    }

    /// Encodes the resolved form.
    public func encode(to encoder: any Encoder) throws {
        try json.encode(to: encoder)
    }
}

// MARK: - Reading JSON objects with key paths

/// Walks one JSON object, refusing unknown keys and naming the key path in every error.
struct ObjectReader {
    let entries: [String: JSONValue]
    let keyPath: String

    init(_ value: JSONValue, keyPath: String, known: [String], expected: String = "an object") throws(RunConfigError) {
        guard case .object(let entries) = value else {
            throw .invalidValue(keyPath: keyPath.isEmpty ? "config" : keyPath, expected: expected, got: value.shortText)
        }
        // Report the first unknown key in sorted order so the error is deterministic.
        if let unknown = entries.keys.filter({ !known.contains($0) }).sorted().first {
            throw .unknownKey(keyPath: keyPath.isEmpty ? unknown : "\(keyPath).\(unknown)", known: known.sorted())
        }
        self.entries = entries
        self.keyPath = keyPath
    }

    subscript(key: String) -> JSONValue? { entries[key] }

    func path(_ key: String) -> String { keyPath.isEmpty ? key : "\(keyPath).\(key)" }

    func string(_ key: String, expected: String) throws(RunConfigError) -> String? {
        guard let value = entries[key] else { return nil }
        guard case .string(let s) = value, !s.isEmpty else {
            throw .invalidValue(keyPath: path(key), expected: "\(expected) (a non-empty string)", got: value.shortText)
        }
        return s
    }

    func integer(_ key: String, minimum: Int, maximum: Int = .max, expected: String) throws(RunConfigError) -> Int? {
        guard let value = entries[key] else { return nil }
        guard case .integer(let i) = value, i >= minimum, i <= maximum else {
            throw .invalidValue(keyPath: path(key), expected: expected, got: value.shortText)
        }
        return i
    }

    /// A finite number; with `positive`, strictly greater than zero.
    func number(_ key: String, positive: Bool = false) throws(RunConfigError) -> Double? {
        guard let value = entries[key] else { return nil }
        let number: Double
        switch value {
        case .integer(let i): number = Double(i)
        case .number(let d): number = d
        default: number = .nan
        }
        guard number.isFinite, !positive || number > 0 else {
            throw .invalidValue(keyPath: path(key), expected: positive ? "a positive number" : "a number", got: value.shortText)
        }
        return number
    }

    func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, _ type: Choice.Type) throws(RunConfigError) -> Choice?
    where Choice.RawValue == String {
        guard let value = entries[key] else { return nil }
        return try choose(value, keyPath: path(key), type)
    }
}

/// One of an enumeration's names, or an error listing them.
func choose<Choice: RawRepresentable & CaseIterable>(_ value: JSONValue, keyPath: String, _ type: Choice.Type) throws(RunConfigError) -> Choice
where Choice.RawValue == String {
    if case .string(let s) = value, let choice = Choice(rawValue: s) { return choice }
    let names = Choice.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
    throw .invalidValue(keyPath: keyPath, expected: "one of \(names)", got: value.shortText)
}

