import Foundation

/// A strict RFC 8259 parser for ``JSONValue``: one value, optional whitespace around it, nothing
/// else.
///
/// Contract:
/// - Duplicate keys in one object are an error naming the key path (`grid.k`, `a[2].b`), so a
///   file never silently means something other than what it says (the first or last key would
///   otherwise win).
/// - Numbers are read from their text with `Int` (no fraction or exponent, within `Int`'s range)
///   or `Double` (correctly rounded, so every double round-trips); a number beyond the range of
///   a double (`1e999`) is an error, never infinity.
/// - Nesting deeper than ``maximumDepth`` is an error (not a stack overflow).
/// - Strings must be valid UTF-8 without raw control characters; `\u` escapes must pair their
///   surrogates.
/// - Errors say what was expected and where (line and column, 1-based), never the input bytes
///   beyond a short escaped excerpt.
struct JSONParser {
    /// Objects and arrays nested deeper than this are refused.
    static let maximumDepth = 512

    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0

    init(_ data: Data) {
        bytes = [UInt8](data)
    }

    /// Parses the whole input as one JSON value.
    mutating func parseDocument() throws(JSONValue.ParseError) -> JSONValue {
        // A UTF-8 byte-order mark is tolerated, as JSONDecoder did.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
        skipWhitespace()
        guard index < bytes.count else { throw failure("the input is empty; expected a JSON value") }
        let value = try parseValue(path: "")
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected \(excerpt()) after the JSON value") }
        return value
    }

    // MARK: Values

    private mutating func parseValue(path: String) throws(JSONValue.ParseError) -> JSONValue {
        guard index < bytes.count else { throw failure("the input ends where a value was expected") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(path: path)
        case UInt8(ascii: "["): return try parseArray(path: path)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw failure("unexpected \(excerpt()); expected a JSON value")
        }
    }

    private mutating func parseObject(path: String) throws(JSONValue.ParseError) -> JSONValue {
        try enterNesting()
        index += 1  // {
        var entries: [String: JSONValue] = [:]
        skipWhitespace()
        if peek(UInt8(ascii: "}")) {
            index += 1
            depth -= 1
            return .object(entries)
        }
        while true {
            skipWhitespace()
            guard peek(UInt8(ascii: "\"")) else { throw failure("unexpected \(excerpt()); expected a key in double quotes") }
            let keyStart = index
            let key = try parseString()
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            guard entries[key] == nil else {
                index = keyStart
                throw failure("duplicate key \"\(Self.escaped(keyPath))\"; each key may appear once in an object")
            }
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else { throw failure("unexpected \(excerpt()); expected ':' after a key") }
            index += 1
            skipWhitespace()
            entries[key] = try parseValue(path: keyPath)
            skipWhitespace()
            if peek(UInt8(ascii: ",")) {
                index += 1
                continue
            }
            guard peek(UInt8(ascii: "}")) else { throw failure("unexpected \(excerpt()); expected ',' or '}' in an object") }
            index += 1
            depth -= 1
            return .object(entries)
        }
    }

    private mutating func parseArray(path: String) throws(JSONValue.ParseError) -> JSONValue {
        try enterNesting()
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek(UInt8(ascii: "]")) {
            index += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(path: "\(path)[\(elements.count)]"))
            skipWhitespace()
            if peek(UInt8(ascii: ",")) {
                index += 1
                continue
            }
            guard peek(UInt8(ascii: "]")) else { throw failure("unexpected \(excerpt()); expected ',' or ']' in an array") }
            index += 1
            depth -= 1
            return .array(elements)
        }
    }

    private mutating func enterNesting() throws(JSONValue.ParseError) {
        depth += 1
        guard depth <= Self.maximumDepth else {
            throw failure("objects and arrays are nested deeper than \(Self.maximumDepth) levels")
        }
    }

    private mutating func expectLiteral(_ literal: String) throws(JSONValue.ParseError) {
        let expected = Array(literal.utf8)
        guard bytes.count - index >= expected.count, bytes[index..<(index + expected.count)].elementsEqual(expected) else {
            throw failure("unexpected \(excerpt()); expected a JSON value")
        }
        index += expected.count
    }

    // MARK: Numbers

    private mutating func parseNumber() throws(JSONValue.ParseError) -> JSONValue {
        let start = index
        var integral = true
        if peek(UInt8(ascii: "-")) { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw failure("a number needs a digit after '-'") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) { throw failure("a number may not start with 0 followed by digits") }
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if peek(UInt8(ascii: ".")) {
            integral = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw failure("a number needs digits after '.'") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            integral = false
            index += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw failure("a number needs digits in its exponent") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if integral, let integer = Int(text) { return .integer(integer) }
        guard let double = Double(text), double.isFinite else {
            index = start
            throw failure("number \(text.count <= 40 ? text : String(text.prefix(37)) + "...") is beyond the range of a double (about ±1.8e308)")
        }
        return JSONValue.number(double).normalized
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    // MARK: Strings

    private mutating func parseString() throws(JSONValue.ParseError) -> String {
        index += 1  // opening quote
        var buffer: [UInt8] = []
        while true {
            guard index < bytes.count else { throw failure("a string is not closed (missing '\"')") }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let string = String(validating: buffer, as: UTF8.self) else {
                    throw failure("a string is not valid UTF-8")
                }
                return string
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw failure("a string ends inside an escape") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""): buffer.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): buffer.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hexQuad()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard peek(UInt8(ascii: "\\")), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                            throw failure("a \\u escape holds half a surrogate pair")
                        }
                        index += 2
                        let low = try hexQuad()
                        guard (0xDC00...0xDFFF).contains(low) else { throw failure("a \\u escape holds half a surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw failure("a \\u escape holds half a surrogate pair")
                    }
                    buffer.append(contentsOf: Array(String(Unicode.Scalar(scalar)!).utf8))
                default:
                    index -= 2
                    throw failure("unknown escape \(excerpt(length: 2)) in a string")
                }
            case 0..<0x20:
                throw failure("a string holds a raw control character (byte 0x\(String(byte, radix: 16))); escape it")
            default:
                buffer.append(byte)
                index += 1
            }
        }
    }

    private mutating func hexQuad() throws(JSONValue.ParseError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw failure("a \\u escape needs four hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw failure("a \\u escape needs four hex digits")
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }

    // MARK: Positions and messages

    private func peek(_ byte: UInt8) -> Bool { index < bytes.count && bytes[index] == byte }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// The input at the current position as a short escaped excerpt (`'x'`, `'\u{0}abc...'`),
    /// or "end of the input".
    private func excerpt(length: Int = 12) -> String {
        guard index < bytes.count else { return "end of the input" }
        let slice = bytes[index..<min(bytes.count, index + length)]
        return "'" + InputExcerpt.escaped(String(decoding: slice, as: UTF8.self), limit: length)
            + (index + length < bytes.count ? "...'" : "'")
    }

    /// `text` as one printable line (see ``InputExcerpt/escaped(_:limit:)``).
    static func escaped(_ text: String) -> String { InputExcerpt.escaped(text, limit: 80) }

    private func failure(_ what: String) -> JSONValue.ParseError {
        var line = 1, column = 1
        for byte in bytes[..<min(index, bytes.count)] {
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return JSONValue.ParseError(reason: "\(what) (line \(line), column \(column))")
    }
}
