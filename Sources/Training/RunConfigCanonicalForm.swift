import Foundation
import Persistence

// The canonical form: the resolved config as JSON with every key the mechanism reads, sorted
// keys and canonical numbers. Its text is hashed into run ids, so these functions must give
// the same bytes for the same experiment in every build (tests pin a run id).

extension RunConfig {
    /// The resolved config as JSON: every key the mechanism reads with its value (keys in
    /// `mechanism.ignoredKeys` are absent), the selection as an object, and only the configured
    /// mechanism's options.
    public var json: JSONValue {
        let options: [String: JSONValue] = [
            "group": .object(["accounting": .string(mechanismOptions.group.accounting.rawValue)]),
            "asi_liu": mechanismOptions.asiLiu.json,
        ].filter { key, _ in mechanism.reads(keyPath: "mechanism_options.\(key)") }
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

extension RunConfig.Selection {
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
    /// The canonical JSON form.
    public var json: JSONValue {
        .object([
            "rank": .integer(rank), "alpha": .number(alpha),
            "targets": .array(targets.map { .string($0.rawValue) }),
        ])
    }
}

extension AsiLiuSettings {
    /// The canonical JSON form: every option with its value.
    public var json: JSONValue {
        .object([
            "tau": .number(tau), "threshold": .number(threshold), "on_failure": .string(onFailure.rawValue),
            "test_budget_fraction": .number(testBudgetFraction),
        ])
    }
}
