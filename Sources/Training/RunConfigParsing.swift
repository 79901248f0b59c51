import Foundation
import Persistence

// Parsing: a config's JSON, walked by hand with ``ObjectReader`` so that every problem names its
// key path. Validated values land in `RunConfig`'s fields; keys the mechanism ignores are
// validated and then reset to their defaults (see the contract of ``RunConfig``).

/// The reader of config objects: unknown keys and bad values are `RunConfigError`s.
typealias ConfigObject = ObjectReader<RunConfigError>

extension RunConfig {
    /// Every top-level key of the config format, sorted.
    public static let knownKeys: [String] = [
        "accountant", "batch_size", "clip_norm", "context_length", "dataset", "delta", "epsilon",
        "eval_every", "k", "learning_rate", "lora", "mechanism", "mechanism_options", "model",
        "optimizer", "seed", "selection", "split_seed", "steps", "version",
    ]

    /// The top-level keys every mechanism reads; each mechanism declares the others it reads
    /// (``MechanismKind/ignoredKeys`` are the rest).
    public static let keysEveryMechanismReads: Set<String> = [
        "batch_size", "context_length", "dataset", "eval_every", "learning_rate", "lora", "mechanism", "mechanism_options",
        "model", "optimizer", "seed", "split_seed", "steps", "version",
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
        let root = try ConfigObject(json, keyPath: "", known: RunConfig.knownKeys)
        if let version = try root.integer("version", minimum: 1, expected: "a format version (an integer ≥ 1)") {
            guard version <= RunConfig.currentVersion else {
                throw .unsupportedVersion(found: version, highestSupported: RunConfig.currentVersion)
            }
        }
        if let v = try root.string("dataset", expected: "a dataset name or path") { dataset = v }
        if let v = try root.string("model", expected: "a model directory") { model = v }
        if let v = try root.choice("mechanism", MechanismKind.self) { mechanism = v }
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
        if !mechanism.reads(keyPath: "mechanism_options.group") { mechanismOptions.group = GroupOptions() }
        if !mechanism.reads(keyPath: "mechanism_options.asi_liu") { mechanismOptions.asiLiu = AsiLiuSettings() }
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
            self.init(strategy: try ConfigObject.choose(json, keyPath: keyPath, Strategy.self))
            return
        }
        guard case .object = json else {
            throw .invalidValue(
                keyPath: keyPath,
                expected: "a strategy name (\(Strategy.allCases.map(\.rawValue).joined(separator: ", "))) or an object with \"strategy\"",
                got: json.shortText)
        }
        let object = try ConfigObject(json, keyPath: keyPath, known: ["order", "strategy"])
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
}

extension RunConfig.LoRA {
    init(json: JSONValue, keyPath: String) throws(RunConfigError) {
        let object = try ConfigObject(json, keyPath: keyPath, known: ["alpha", "rank", "targets"], expected: "an object (or null for full fine-tuning)")
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
                let target = try ConfigObject.choose(element, keyPath: "\(targetsPath)[\(index)]", Target.self)
                guard !chosen.contains(target) else {
                    throw .invalidValue(keyPath: "\(targetsPath)[\(index)]", expected: "each projection once", got: element.shortText)
                }
                chosen.append(target)
            }
            targets = Target.allCases.filter(chosen.contains)
        }
    }
}

extension RunConfig.MechanismOptions {
    init(json: JSONValue, keyPath: String) throws(RunConfigError) {
        let object = try ConfigObject(json, keyPath: keyPath, known: ["asi_liu", "group"], expected: "an object keyed by mechanism name")
        self.init()
        if let v = object["group"] {
            let groupObject = try ConfigObject(v, keyPath: object.path("group"), known: ["accounting"])
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
        let object = try ConfigObject(json, keyPath: keyPath, known: Key.allCases.map(\.rawValue))
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
}
