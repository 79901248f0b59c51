import Foundation
import LanguageModel
import Persistence
import UserData

// The codecs of the schema's rows: how one key's value is read from a config object into
// `RunConfig`, validated, written back as canonical JSON, and reset. The error texts are the
// config's documented messages (docs/CONFIG.md, "Errors").

/// The reader of config objects: unknown keys and bad values are `RunConfigError`s.
typealias ConfigObject = ObjectReader<RunConfigError>

/// How one key's value is read into a `RunConfig` and written back as canonical JSON.
protocol ConfigCodec: Sendable {
    /// The value's type and range as docs/CONFIG.md writes them.
    var typeDescription: String { get }
    /// Reads the value at `key` of `object` (present) into `config`.
    func read(_ object: ConfigObject, _ key: String, into config: inout RunConfig) throws(RunConfigError)
    /// The value at `path` in `config` as canonical JSON (an object with the keys inside it that
    /// `include` admits); nil when the object it is inside writes it.
    func write(_ config: RunConfig, at path: String, including include: (ConfigKey) -> Bool) -> JSONValue?
    /// Sets the value back to the default (a mechanism that ignores the key).
    func reset(_ config: inout RunConfig)
    /// Checks what the value must satisfy only when the mechanism reads it (ε and δ); `keyPath`
    /// names it in the error.
    func checkWhenRead(_ config: RunConfig, keyPath: String) throws(RunConfigError)
    /// For a value that may be written as a string standing for an object (`selection`): the
    /// key inside that object the string is the value of (`strategy`).
    var shorthandKey: String? { get }
    /// A label for a value written at this key (`perplexity(order=highest)`), nil for the
    /// generic label of its JSON.
    func label(of value: JSONValue, keyPath: String) -> String?
    /// Whether the value is an object whose keys are rows of their own (`lora`).
    var isObject: Bool { get }
    /// Whether the value is null in `config` (`lora` for full fine-tuning): the keys inside it
    /// then have no value to check, reset or write.
    func isNull(in config: RunConfig) -> Bool
}

extension ConfigCodec {
    func checkWhenRead(_ config: RunConfig, keyPath: String) throws(RunConfigError) {}
    var shorthandKey: String? { nil }
    func label(of value: JSONValue, keyPath: String) -> String? { nil }
    var isObject: Bool { false }
    func isNull(in config: RunConfig) -> Bool { false }
}

/// A value stored at a key path of `RunConfig`: reset copies the default config's value.
protocol StoredConfigCodec: ConfigCodec {
    associatedtype Value
    var field: WritableKeyPath<RunConfig, Value> & Sendable { get }
}

extension StoredConfigCodec {
    func reset(_ config: inout RunConfig) { config[keyPath: field] = RunConfig()[keyPath: field] }
}

/// `version`: an integer ≥ 1, at most ``RunConfig/currentVersion``; always written as the current
/// version.
struct VersionCodec: ConfigCodec {
    var typeDescription: String { "integer in 1...\(RunConfig.currentVersion)" }

    func read(_ object: ConfigObject, _ key: String, into config: inout RunConfig) throws(RunConfigError) {
        if let version = try object.integer(key, minimum: 1, expected: "a format version (an integer ≥ 1)"), version > RunConfig.currentVersion {
            throw .unsupportedVersion(found: version, highestSupported: RunConfig.currentVersion)
        }
    }

    func write(_ config: RunConfig, at path: String, including include: (ConfigKey) -> Bool) -> JSONValue? {
        .integer(RunConfig.currentVersion)
    }

    func reset(_ config: inout RunConfig) {}
}

/// A non-empty string.
struct StringCodec: StoredConfigCodec {
    let field: WritableKeyPath<RunConfig, String> & Sendable
    /// What the string names, for the error.
    let expected: String

    init(_ field: WritableKeyPath<RunConfig, String> & Sendable, expected: String) {
        self.field = field
        self.expected = expected
    }

    var typeDescription: String { "string" }

    func read(_ object: ConfigObject, _ key: String, into config: inout RunConfig) throws(RunConfigError) {
        if let value = try object.string(key, expected: expected) { config[keyPath: field] = value }
    }

    func write(_ config: RunConfig, at path: String, including include: (ConfigKey) -> Bool) -> JSONValue? {
        .string(config[keyPath: field])
    }
}

/// An integer in `minimum...maximum`.
struct IntegerCodec: StoredConfigCodec {
    let field: WritableKeyPath<RunConfig, Int> & Sendable
    let minimum: Int
    let maximum: Int
    /// The range in words, for the error (`a positive integer`).
    let expected: String

    init(_ field: WritableKeyPath<RunConfig, Int> & Sendable, minimum: Int, maximum: Int = .max, expected: String) {
        self.field = field
        self.minimum = minimum
        self.maximum = maximum
        self.expected = expected
    }

    var typeDescription: String { maximum == .max ? "integer ≥ \(minimum)" : "integer in \(minimum)...\(maximum)" }

    func read(_ object: ConfigObject, _ key: String, into config: inout RunConfig) throws(RunConfigError) {
        if let value = try object.integer(key, minimum: minimum, maximum: maximum, expected: expected) { config[keyPath: field] = value }
    }

    func write(_ config: RunConfig, at path: String, including include: (ConfigKey) -> Bool) -> JSONValue? {
        .integer(config[keyPath: field])
    }
}

/// Where a number must lie.
struct NumberRange: Sendable {
    /// Whether the number is in range.
    let contains: @Sendable (Double) -> Bool
    /// The range in words, for errors (`a number in (0, 1)`).
    let expected: String
    /// The range as docs/CONFIG.md writes it (`number in (0, 1)`).
    let typeDescription: String

    /// > 0.
    static let positive = NumberRange(contains: { $0 > 0 }, expected: "a positive number", typeDescription: "number > 0")
    /// (0, 1).
    static let openUnitInterval = NumberRange(contains: { $0 > 0 && $0 < 1 }, expected: "a number in (0, 1)", typeDescription: "number in (0, 1)")
    /// (0, 1].
    static let positiveAtMostOne = NumberRange(contains: { $0 > 0 && $0 <= 1 }, expected: "a number in (0, 1]", typeDescription: "number in (0, 1]")
}

/// A finite number, in `range` when given; or, with `whenRead`, in that range only when the
/// mechanism reads the key (`epsilon` and `delta` of `nonprivate` are never checked).
struct NumberCodec: StoredConfigCodec {
    let field: WritableKeyPath<RunConfig, Double> & Sendable
    let range: NumberRange?
    let whenRead: NumberRange?

    init(_ field: WritableKeyPath<RunConfig, Double> & Sendable, range: NumberRange? = nil, whenRead: NumberRange? = nil) {
        self.field = field
        self.range = range
        self.whenRead = whenRead
    }

    var typeDescription: String { (range ?? whenRead)?.typeDescription ?? "number" }

    func read(_ object: ConfigObject, _ key: String, into config: inout RunConfig) throws(RunConfigError) {
        // Non-positive numbers get the reader's "a positive number"; the rest of a range after.
        guard let value = try object.number(key, positive: range != nil) else { return }
        if let range, !range.contains(value) {
            throw .invalidValue(keyPath: object.path(key), expected: range.expected, got: object[key]!.shortText)
        }
        config[keyPath: field] = value
    }

    func write(_ config: RunConfig, at path: String, including include: (ConfigKey) -> Bool) -> JSONValue? {
        .number(config[keyPath: field])
    }

    func checkWhenRead(_ config: RunConfig, keyPath: String) throws(RunConfigError) {
        guard let whenRead else { return }
        let value = config[keyPath: field]
        guard !whenRead.contains(value) else { return }
        throw .invalidValue(
            keyPath: keyPath, expected: "\(whenRead.expected) for mechanism \"\(config.mechanism.rawValue)\"",
            got: JSONValue.number(value).canonicalText())
    }
}

/// One of a list of names, each standing for a value of a domain type.
struct ChoiceCodec<Value: Equatable & Sendable>: StoredConfigCodec {
    let field: WritableKeyPath<RunConfig, Value> & Sendable
    /// Every name and its value, in the order errors list them.
    let choices: [ConfigChoice<Value>]

    init(_ field: WritableKeyPath<RunConfig, Value> & Sendable, choices: [(String, Value)]) {
        self.field = field
        self.choices = choices.map { ConfigChoice(name: $0.0, value: $0.1) }
    }

    var typeDescription: String { choices.map { "`\($0.name)`" }.joined(separator: ", ") }

    func read(_ object: ConfigObject, _ key: String, into config: inout RunConfig) throws(RunConfigError) {
        guard let value = object[key] else { return }
        config[keyPath: field] = try ConfigObject.choose(value, keyPath: object.path(key), among: choices.map { ($0.name, $0.value) })
    }

    func write(_ config: RunConfig, at path: String, including include: (ConfigKey) -> Bool) -> JSONValue? {
        let value = config[keyPath: field]
        guard let choice = choices.first(where: { $0.value == value }) else {
            preconditionFailure("\(value) has no config spelling (one of \(typeDescription))")
        }
        return .string(choice.name)
    }
}

/// A name of a config choice and its value.
struct ConfigChoice<Value: Sendable>: Sendable {
    let name: String
    let value: Value
}

extension ChoiceCodec where Value: RawRepresentable & CaseIterable, Value.RawValue == String {
    /// The enumeration's cases by their raw values.
    init(_ field: WritableKeyPath<RunConfig, Value> & Sendable) {
        self.init(field, choices: Value.allCases.map { ($0.rawValue, $0) })
    }

    /// The names as docs/CONFIG.md writes them.
    static var names: String { Value.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", ") }
}

/// An object of keys listed in the schema, read and written key by key.
struct ObjectCodec<Value>: StoredConfigCodec {
    let field: WritableKeyPath<RunConfig, Value> & Sendable
    /// What the value must be, for the error.
    let expected: String

    init(_ field: WritableKeyPath<RunConfig, Value> & Sendable, expected: String = "an object") {
        self.field = field
        self.expected = expected
    }

    var typeDescription: String { "object" }
    var isObject: Bool { true }

    func read(_ object: ConfigObject, _ key: String, into config: inout RunConfig) throws(RunConfigError) {
        let path = object.path(key)
        let inner = try RunConfig.schema.object(object[key]!, keyPath: path, inside: path, expected: expected)
        try RunConfig.schema.read(inner, inside: path, into: &config)
    }

    func write(_ config: RunConfig, at path: String, including include: (ConfigKey) -> Bool) -> JSONValue? {
        RunConfig.schema.json(of: config, inside: path, including: include)
    }
}

/// An object that may be `null` (`lora`: null is full fine-tuning); present, it starts from
/// `present` and its keys are read into it. The keys inside reach their values through the
/// optional (`\.lora!.rank`): the schema touches them only while the object is not null
/// (``ConfigSchema/hasValue(_:in:)``).
struct OptionalObjectCodec<Value: Sendable>: StoredConfigCodec {
    let field: WritableKeyPath<RunConfig, Value?> & Sendable
    /// The value of an object with no keys.
    let present: Value
    /// What the value must be, for the error.
    let expected: String

    init(_ field: WritableKeyPath<RunConfig, Value?> & Sendable, present: Value, expected: String) {
        self.field = field
        self.present = present
        self.expected = expected
    }

    var typeDescription: String { "object or `null`" }
    var isObject: Bool { true }
    func isNull(in config: RunConfig) -> Bool { config[keyPath: field] == nil }

    func read(_ object: ConfigObject, _ key: String, into config: inout RunConfig) throws(RunConfigError) {
        let value = object[key]!
        guard value != .null else {
            config[keyPath: field] = nil
            return
        }
        let path = object.path(key)
        let inner = try RunConfig.schema.object(value, keyPath: path, inside: path, expected: expected)
        config[keyPath: field] = present
        try RunConfig.schema.read(inner, inside: path, into: &config)
    }

    func write(_ config: RunConfig, at path: String, including include: (ConfigKey) -> Bool) -> JSONValue? {
        guard config[keyPath: field] != nil else { return .null }
        return RunConfig.schema.json(of: config, inside: path, including: include)
    }
}

/// `lora.targets`: a non-empty list of projections, each once; stored in `LoRATarget.allCases`
/// order.
struct TargetsCodec: StoredConfigCodec {
    let field: WritableKeyPath<RunConfig, [LoRATarget]> & Sendable

    init(_ field: WritableKeyPath<RunConfig, [LoRATarget]> & Sendable) { self.field = field }

    var typeDescription: String { "non-empty list of " + LoRATarget.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", ") }

    func read(_ object: ConfigObject, _ key: String, into config: inout RunConfig) throws(RunConfigError) {
        let value = object[key]!
        let path = object.path(key)
        let names = LoRATarget.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        guard case .array(let elements) = value, !elements.isEmpty else {
            throw .invalidValue(keyPath: path, expected: "a non-empty list of projections among \(names)", got: value.shortText)
        }
        var chosen: [LoRATarget] = []
        for (index, element) in elements.enumerated() {
            let target = try ConfigObject.choose(element, keyPath: "\(path)[\(index)]", LoRATarget.self)
            guard !chosen.contains(target) else {
                throw .invalidValue(keyPath: "\(path)[\(index)]", expected: "each projection once", got: element.shortText)
            }
            chosen.append(target)
        }
        config[keyPath: field] = LoRATarget.allCases.filter(chosen.contains)
    }

    func write(_ config: RunConfig, at path: String, including include: (ConfigKey) -> Bool) -> JSONValue? {
        .array(config[keyPath: field].map { .string($0.rawValue) })
    }
}

/// `selection`: a ``SelectionStrategy``, written as a strategy name (any of its spellings,
/// ``SelectionStrategy/init(name:)``) or as the object `{"strategy": kind, "order": ...}`; the
/// canonical form is always the object.
struct SelectionCodec: StoredConfigCodec {
    let field: WritableKeyPath<RunConfig, SelectionStrategy> & Sendable

    init(_ field: WritableKeyPath<RunConfig, SelectionStrategy> & Sendable) { self.field = field }

    var typeDescription: String { "strategy name or object" }
    var shorthandKey: String? { "strategy" }

    func read(_ object: ConfigObject, _ key: String, into config: inout RunConfig) throws(RunConfigError) {
        config[keyPath: field] = try strategy(object[key]!, keyPath: object.path(key))
    }

    /// The strategy a value names.
    func strategy(_ value: JSONValue, keyPath: String) throws(RunConfigError) -> SelectionStrategy {
        let kinds = SelectionStrategy.Kind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        if case .string(let name) = value {
            guard let strategy = try? SelectionStrategy(name: name) else {
                throw .invalidValue(keyPath: keyPath, expected: "one of \(kinds)", got: value.shortText)
            }
            return strategy
        }
        guard case .object = value else {
            throw .invalidValue(
                keyPath: keyPath, expected: "a strategy name (\(SelectionStrategy.Kind.allCases.map(\.rawValue).joined(separator: ", "))) or an object with \"strategy\"",
                got: value.shortText)
        }
        let object = try RunConfig.schema.object(value, keyPath: keyPath, inside: keyPath)
        guard let kind = try object.choice("strategy", SelectionStrategy.Kind.self) else {
            throw .invalidValue(keyPath: object.path("strategy"), expected: "a strategy name (the key is required)", got: "nothing")
        }
        let order = try object.choice("order", PerplexityOrder.self)
        guard let strategy = SelectionStrategy(kind: kind, order: order) else {
            throw .invalidValue(
                keyPath: object.path("order"), expected: "no order (only the \"perplexity\" strategy takes one)", got: object["order"]!.shortText)
        }
        return strategy
    }

    func write(_ config: RunConfig, at path: String, including include: (ConfigKey) -> Bool) -> JSONValue? {
        let strategy = config[keyPath: field]
        var object: [String: JSONValue] = ["strategy": .string(strategy.kind.rawValue)]
        if let order = strategy.order { object["order"] = .string(order.rawValue) }
        return .object(object)
    }

    /// The strategy's one spelling (``SelectionStrategy/name``): `random`, `perplexity(order=highest)`.
    func label(of value: JSONValue, keyPath: String) -> String? {
        guard case .object = value else { return nil }
        return (try? strategy(value, keyPath: keyPath))?.name
    }
}

/// A key inside an object that the object's codec reads and writes (`selection.strategy`):
/// listed for the known key paths and the docs.
struct PartCodec: ConfigCodec {
    let typeDescription: String
    init(type: String) { typeDescription = type }

    func read(_ object: ConfigObject, _ key: String, into config: inout RunConfig) throws(RunConfigError) {}
    func write(_ config: RunConfig, at path: String, including include: (ConfigKey) -> Bool) -> JSONValue? { nil }
    func reset(_ config: inout RunConfig) {}
}
