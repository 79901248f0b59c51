import Foundation

/// A JSON value with a canonical text form. Integral numbers are `.integer` (parsing maps
/// `8.0` and `8` alike to `.integer(8)`), other numbers `.number`, so equal values have equal
/// canonical text.
///
/// Numeric caveat: integers beyond ±2⁵³ parsed from text keep only double precision.
/// Equality and hashing are by value: `.number(3)` equals `.integer(3)`.
public enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// An integral number.
    case integer(Int)
    /// A non-integral (or huge) number.
    case number(Double)
    /// A string.
    case string(String)
    /// A list.
    case array([JSONValue])
    /// An object (key order is not kept; canonical text sorts keys).
    case object([String: JSONValue])

    /// Why bytes are not JSON: the parser's reason.
    public struct ParseError: Error, Equatable, Sendable, LocalizedError {
        /// The parser's explanation with its position, e.g. "duplicate key \"k\"; each key may
        /// appear once in an object (line 1, column 10)". Input appears only as a short escaped
        /// excerpt.
        public var reason: String
        public init(reason: String) { self.reason = reason }
        public var errorDescription: String? { reason }
    }

    /// Parses JSON bytes (any top-level value). Throws ``ParseError`` with the reason and the
    /// line and column.
    ///
    /// Strict: duplicate keys in an object are an error naming the key path (`grid.k`), as are
    /// numbers beyond the range of a double (`1e999`), nesting deeper than 512 levels, invalid
    /// UTF-8 and anything after the value. Numbers are read from their text with `Int` or
    /// `Double`, which round-trip every double (`JSONSerialization` in
    /// swift-corelibs-foundation misreads some 17-digit doubles, which would break canonical
    /// forms and run ids).
    public init(parsing data: Data) throws(ParseError) {
        var parser = JSONParser(data)
        self = try parser.parseDocument()
    }

    /// Integral doubles within ±2⁵³ become `.integer`; everything else is unchanged.
    public var normalized: JSONValue {
        if case .number(let d) = self, d.isFinite, d == d.rounded(), abs(d) <= 9_007_199_254_740_992 {
            return .integer(Int(d))
        }
        return self
    }

    /// Canonical text: object keys sorted by their UTF-8 bytes, integral numbers without a
    /// fraction, other numbers in Swift's shortest round-trip form (`0.001`, `1e-05`),
    /// non-finite numbers as the strings "nan", "inf", "-inf". Compact by default; `pretty`
    /// indents by two spaces (still deterministic).
    public func canonicalText(pretty: Bool = false) -> String {
        var out = ""
        write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    private func write(to out: inout String, pretty: Bool, indent: Int) {
        switch normalized {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .number(let d): out += JSONValue.canonicalNumber(d)
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let elements):
            if elements.isEmpty { out += "[]"; return }
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                element.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "]"
        case .object(let entries):
            if entries.isEmpty { out += "{}"; return }
            out += "{"
            for (index, key) in entries.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
                if index > 0 { out += "," }
                if pretty { out += "\n" + String(repeating: "  ", count: indent + 1) }
                JSONValue.writeString(key, to: &out)
                out += pretty ? ": " : ":"
                entries[key]!.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { out += "\n" + String(repeating: "  ", count: indent) }
            out += "}"
        }
    }

    /// A number in canonical form: integral values within ±2⁵³ without a fraction, others in
    /// Swift's shortest round-trip form, non-finite as a quoted "nan"/"inf"/"-inf".
    public static func canonicalNumber(_ d: Double) -> String {
        if d.isNaN { return "\"nan\"" }
        if d.isInfinite { return d > 0 ? "\"inf\"" : "\"-inf\"" }
        if d == d.rounded(), abs(d) <= 9_007_199_254_740_992 { return String(Int(d)) }
        return "\(d)"
    }

    /// `s` as a JSON string literal (quotes, backslashes and control characters escaped; all
    /// other characters as themselves).
    public static func quoted(_ s: String) -> String {
        var out = ""
        writeString(s, to: &out)
        return out
    }

    /// The JSON type's name with an article ("a number", "an object"), for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .integer, .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    private static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// The value as written in an error message: canonical text, cut at 60 characters.
    public var shortText: String {
        let text = canonicalText()
        return text.count <= 60 ? text : String(text.prefix(57)) + "..."
    }

    /// The value under a dotted key path (`lora.rank`), or nil when absent.
    public func value(atKeyPath keyPath: String) -> JSONValue? {
        var current = self
        for key in keyPath.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .object(let entries) = current, let next = entries[String(key)] else { return nil }
            current = next
        }
        return current
    }
}

extension JSONValue {
    /// Equal JSON values: numbers compare by value whichever case holds them.
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a.normalized, b.normalized) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.integer(x), .integer(y)): return x == y
        case let (.number(x), .number(y)): return x == y || (x.isNaN && y.isNaN)
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x == y
        default: return false
        }
    }

    /// Hashes the normalized value, consistent with `==`.
    public func hash(into hasher: inout Hasher) {
        switch normalized {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(1); hasher.combine(b)
        case .integer(let i): hasher.combine(2); hasher.combine(i)
        case .number(let d): hasher.combine(3); hasher.combine(d.isNaN ? .nan : d)
        case .string(let s): hasher.combine(4); hasher.combine(s)
        case .array(let a): hasher.combine(5); hasher.combine(a)
        case .object(let o): hasher.combine(6); hasher.combine(o)
        }
    }
}

extension JSONValue: Codable {
    /// Decodes any JSON value; integral numbers become `.integer`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int.self) {
            self = .integer(i)
        } else if let d = try? container.decode(Double.self) {
            self = JSONValue.number(d).normalized
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Encodes the value as itself.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .integer(let i): try container.encode(i)
        case .number(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}
