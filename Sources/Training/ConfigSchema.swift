import Foundation
import Persistence

/// One key of the run config format: a row of ``RunConfig/schema``.
public struct ConfigKey: Sendable {
    /// Which mechanisms read a key.
    public enum Readers: Sendable, Equatable {
        /// Every mechanism.
        case every
        /// The mechanisms that list it among the keys they read (`Mechanism.readKeys`).
        case declaring
        /// The mechanism whose options these are (`Mechanism.optionsKey` is the key's name).
        case options
        /// Whoever reads the key it is inside.
        case parent
    }

    /// The dotted key path (`lora.rank`).
    public let path: String
    /// Which mechanisms read it; see ``ConfigSchema/readers(of:)`` for the mechanisms themselves.
    public let readers: Readers
    /// One line on what it means, for docs/CONFIG.md.
    public let summary: String
    /// How its value is read, validated and written.
    let codec: any ConfigCodec

    /// A row; `readers` defaults to `.every` for a top-level key and `.parent` inside an object.
    init(_ path: String, _ codec: any ConfigCodec, readers: Readers? = nil, _ summary: String) {
        self.path = path
        self.codec = codec
        self.readers = readers ?? (path.contains(".") ? .parent : .every)
        self.summary = summary
        let components = path.split(separator: ".")
        name = String(components.last ?? Substring(path))
        parent = components.dropLast().joined(separator: ".")
    }

    /// The last component of the path (`rank`).
    public let name: String
    /// The path of the object it is inside; empty at the top level.
    public let parent: String
    /// Its type and range as docs/CONFIG.md writes them (`integer ≥ 1`).
    public var type: String { codec.typeDescription }
}

/// The run config format as a table of keys (``RunConfig/schema``), and what is derived from
/// it: the parser, the canonical JSON, the keys each mechanism reads and the docs.
public struct ConfigSchema: Sendable {
    /// Every key path, parents before their keys, in reading and documentation order.
    public let keys: [ConfigKey]
    /// The rows by key path, and the rows inside each object in table order ("" for the top
    /// level): looked up for every key of every config read or written.
    private let byPath: [String: ConfigKey]
    private let byParent: [String: [ConfigKey]]

    init(keys: [ConfigKey]) {
        byPath = Dictionary(keys.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in preconditionFailure("\(first.path) is listed twice") })
        for key in keys where !key.parent.isEmpty {
            precondition(byPath[key.parent] != nil, "\(key.path) is inside no listed object")
        }
        byParent = Dictionary(grouping: keys, by: \.parent)
        self.keys = keys
    }

    /// The row of a key path, nil for a path the format does not have.
    public func key(_ path: String) -> ConfigKey? { byPath[path] }

    /// The keys directly inside the object at `path` ("" for the top level), in table order.
    public func children(of path: String) -> [ConfigKey] { byParent[path] ?? [] }

    // MARK: Reading

    /// Reads the keys inside the object `object` (whose unknown keys were already refused) into
    /// `config`, in table order.
    func read(_ object: ConfigObject, inside path: String, into config: inout RunConfig) throws(RunConfigError) {
        for key in children(of: path) where object[key.name] != nil {
            try key.codec.read(object, key.name, into: &config)
        }
    }

    /// A reader of the object `value` at `keyPath`, refusing keys the schema does not list inside
    /// `path`: the config's one unknown-key check.
    func object(_ value: JSONValue, keyPath: String, inside path: String, expected: String = "an object") throws(RunConfigError) -> ConfigObject {
        try ConfigObject(value, keyPath: keyPath, known: children(of: path).map(\.name), expected: expected)
    }

    // MARK: Writing

    /// The JSON of the keys inside `path` that `include` admits, with their values in `config`.
    func json(of config: RunConfig, inside path: String, including include: (ConfigKey) -> Bool) -> JSONValue {
        var object: [String: JSONValue] = [:]
        for key in children(of: path) where include(key) {
            if let value = key.codec.write(config, at: key.path, including: include) { object[key.name] = value }
        }
        return .object(object)
    }

    /// Whether the key at `path` has a value in `config`: no object it is inside is null.
    func hasValue(_ path: String, in config: RunConfig) -> Bool {
        var parent = key(path)?.parent ?? ""
        while let object = key(parent) {
            if object.codec.isNull(in: config) { return false }
            parent = object.parent
        }
        return true
    }

    /// The default value at a key path as canonical JSON (every option included).
    public func defaultValue(of key: ConfigKey) -> JSONValue {
        key.codec.write(RunConfig(), at: key.path, including: { _ in true }) ?? .null
    }

    // MARK: Readers

    /// The registered mechanisms that read a key path.
    public func readers(of path: String) -> [MechanismKind] {
        MechanismKind.allCases.filter { $0.reads(keyPath: path) }
    }

    /// Whether `mechanism` reads the value at `path`: by the row's ``ConfigKey/Readers`` (a path
    /// the schema does not list is read when its nearest listed parent is, or when it has none).
    func reads(_ path: String, mechanism: any Mechanism) -> Bool {
        guard let key = key(path) else {
            let parent = path.split(separator: ".").dropLast().joined(separator: ".")
            return parent.isEmpty || reads(parent, mechanism: mechanism)
        }
        switch key.readers {
        case .every: return true
        case .declaring: return mechanism.readKeys.contains(key.path)
        case .options: return mechanism.optionsKey == key.name
        case .parent: return reads(key.parent, mechanism: mechanism)
        }
    }
}

// MARK: - The docs

extension ConfigSchema {
    /// The line before the generated key table in docs/CONFIG.md.
    public static let markdownBegin = "<!-- BEGIN key table: generated from RunConfig.schema by `userdp config schema`; a test fails when they differ -->"
    /// The line after it.
    public static let markdownEnd = "<!-- END key table -->"

    /// The key table of docs/CONFIG.md: every key path with its type, default (canonical JSON),
    /// the mechanisms that read it and its meaning. `userdp config schema` prints it; a test
    /// fails when docs/CONFIG.md holds another.
    public var markdown: String {
        var lines = ["| key | type | default | read by | meaning |", "| --- | --- | --- | --- | --- |"]
        let everyMechanism = MechanismKind.allCases
        for key in keys {
            let readers = readers(of: key.path)
            let readBy = readers == everyMechanism ? "every mechanism" : readers.map { "`\($0.rawValue)`" }.joined(separator: ", ")
            let value = defaultValue(of: key)
            let defaultText: String
            if key.codec.isObject, value != .null {
                defaultText = "its keys' defaults"
            } else if key.codec.write(RunConfig(), at: key.path, including: { _ in true }) == nil {
                defaultText = "see `\(key.parent)`"
            } else {
                defaultText = "`\(value.canonicalText())`"
            }
            lines.append("| `\(key.path)` | \(key.type) | \(defaultText) | \(readBy) | \(key.summary) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
