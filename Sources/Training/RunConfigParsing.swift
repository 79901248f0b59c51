import Foundation
import Persistence

// Parsing: a config's JSON, walked key by key along ``RunConfig/schema`` with ``ObjectReader``,
// so that every problem names its key path. Validated values land in `RunConfig`'s fields; keys
// the mechanism ignores are validated and then reset to their defaults (see the contract of
// ``RunConfig``).

extension RunConfig {
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
        let schema = RunConfig.schema
        try schema.read(try schema.object(json, keyPath: "", inside: ""), inside: "", into: &self)
        // What holds only for a key the mechanism reads (a positive ε for a private mechanism) is
        // checked once the mechanism is known.
        for key in schema.keys where mechanism.reads(keyPath: key.path) && schema.hasValue(key.path, in: self) {
            try key.codec.checkWhenRead(self, keyPath: key.path)
        }
        // Keys this mechanism ignores (and other mechanisms' options) were validated above but do
        // not describe this run: reset them, so equal experiments are equal values.
        for key in schema.keys
        where !mechanism.reads(keyPath: key.path) && (key.parent.isEmpty || mechanism.reads(keyPath: key.parent)) && schema.hasValue(key.path, in: self) {
            key.codec.reset(&self)
        }
    }

    /// `json` (a partial config) with `value` set at a dotted key path: how sweeps apply a grid
    /// point to their base. Missing or null objects on the way are created; a string on the way
    /// where the format takes a name for an object (`selection`) becomes that object
    /// (`{"strategy": name}`); any other value on the way is replaced by an object.
    public static func assigning(_ value: JSONValue, at keyPath: String, in json: JSONValue) -> JSONValue {
        assigning(value, at: keyPath.split(separator: ".").map(String.init)[...], in: json, inside: "")
    }

    private static func assigning(_ value: JSONValue, at keys: ArraySlice<String>, in json: JSONValue, inside path: String) -> JSONValue {
        var object: [String: JSONValue]
        switch json {
        case .object(let entries): object = entries
        case .string(let name): object = schema.key(path)?.codec.shorthandKey.map { [$0: .string(name)] } ?? [:]
        default: object = [:]
        }
        guard let key = keys.first else { return value }
        object[key] = keys.count == 1 ? value : assigning(value, at: keys.dropFirst(), in: object[key] ?? .null, inside: path.isEmpty ? key : "\(path).\(key)")
        return .object(object)
    }

    /// The label of `value` written at `keyPath` when the key has a spelling of its own (a
    /// selection object: `perplexity(order=highest)`, ``UserData/SelectionStrategy/name``); nil for
    /// other keys and values, whose JSON is their label.
    public static func label(of value: JSONValue, at keyPath: String) -> String? {
        schema.key(keyPath)?.codec.label(of: value, keyPath: keyPath)
    }
}
