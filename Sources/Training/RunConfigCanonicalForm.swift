import Foundation
import Persistence

// The canonical form: the resolved config as JSON with every key the mechanism reads
// (``RunConfig/schema`` writes each value), sorted keys and canonical numbers. Its text is
// hashed into run ids, so these functions must give the same bytes for the same experiment in
// every build (tests pin a run id).

extension RunConfig {
    /// The resolved config as JSON: every key the mechanism reads with its value (keys in
    /// `mechanism.ignoredKeys` are absent), the selection as an object, and only the configured
    /// mechanism's options.
    public var json: JSONValue {
        RunConfig.schema.json(of: self, inside: "", including: { mechanism.reads(keyPath: $0.path) })
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
