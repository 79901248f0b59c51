import Foundation

/// Any JSON value, for the free-form `meta` object of a record.
///
/// Numbers are held as `Double` (integers beyond 2^53 lose precision, as in JavaScript).
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(value): try container.encode(value)
        case let .number(value): try container.encode(value)
        case let .string(value): try container.encode(value)
        case let .array(value): try container.encode(value)
        case let .object(value): try container.encode(value)
        }
    }

    /// The name of the JSON type, for error messages.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// One text a user contributed: an email, a speech, a chapter.
///
/// On disk a record is one line of JSON Lines: `{"user": "...", "text": "...", "id": "...",
/// "meta": {...}}` where `id` and `meta` are optional. `user` decides the privacy unit of
/// user-level DP: all records with the same `user` belong to one person.
public struct Record: Sendable, Hashable {
    /// Who wrote the text (the privacy unit of user-level DP). Non-empty.
    public var user: String
    /// The text itself. Non-empty; line breaks are kept.
    public var text: String
    /// A stable identifier, unique within the dataset when present. Perplexity scores are keyed
    /// by ``key``, which falls back to the record's position when `id` is absent.
    public var id: String?
    /// Free-form metadata (subject, date, play ...); never used for training.
    public var meta: [String: JSONValue]?

    /// A record; `user` and `text` should be non-empty (the loader enforces it for files).
    public init(user: String, text: String, id: String? = nil, meta: [String: JSONValue]? = nil) {
        self.user = user
        self.text = text
        self.id = id
        self.meta = meta
    }
}
