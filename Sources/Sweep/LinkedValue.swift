import Foundation
import Persistence

/// Linked grid values (sweep format version 2): `{"=": "64 / k"}` computes a value for each
/// grid point from its other values, so a sweep states "batch_size = 64 / k" instead of
/// listing excludes.
///
/// Grammar: `expr := term (("+" | "-") term)*`, `term := factor (("*" | "/") factor)*`,
/// `factor := number | keypath | "(" expr ")" | "-" factor`; a key path is letters, digits,
/// `_` and `.` (`k`, `lora.rank`). Arithmetic is in Double; a result within 1e-9 of an
/// integer becomes that integer (so `64 / 4` is `16`, as the grid would write it).
enum LinkedValue {
    /// A parse or evaluation failure, with the reason for the message.
    struct Failure: Error, Equatable {
        var reason: String
    }

    /// A parsed expression.
    indirect enum Expression: Equatable {
        case number(Double)
        case key(String)
        case negate(Expression)
        case binary(Character, Expression, Expression)

        /// Key paths the expression reads.
        var keys: [String] {
            switch self {
            case .number: return []
            case .key(let key): return [key]
            case .negate(let inner): return inner.keys
            case .binary(_, let l, let r): return l.keys + r.keys
            }
        }

        /// The value, reading key paths through `lookup`.
        func evaluate(_ lookup: (String) throws(Failure) -> Double) throws(Failure) -> Double {
            switch self {
            case .number(let value): return value
            case .key(let key): return try lookup(key)
            case .negate(let inner): return -(try inner.evaluate(lookup))
            case .binary(let op, let l, let r):
                let a = try l.evaluate(lookup), b = try r.evaluate(lookup)
                switch op {
                case "+": return a + b
                case "-": return a - b
                case "*": return a * b
                default:
                    guard b != 0 else { throw Failure(reason: "division by zero") }
                    return a / b
                }
            }
        }
    }

    /// The expression text of a linked value `{"=": text}`, nil for any other value.
    static func expression(_ value: JSONValue) -> String? {
        guard case .object(let entries) = value, entries.count == 1, case .string(let text)? = entries["="] else { return nil }
        return text
    }

    /// Parses an expression; throws with the reason.
    static func parse(_ text: String) throws(Failure) -> Expression {
        var parser = Parser(characters: Array(text))
        let expression = try parser.expression()
        parser.skipSpaces()
        guard parser.position == parser.characters.count else {
            throw Failure(reason: "unexpected \"\(parser.characters[parser.position])\" at \(parser.position + 1)")
        }
        return expression
    }

    /// Evaluates `{"=": text}` for one point; `lookup` gives the point's numeric values.
    static func evaluate(_ text: String, lookup: (String) throws(Failure) -> Double) throws(Failure) -> JSONValue {
        let value = try parse(text).evaluate(lookup)
        guard value.isFinite else { throw Failure(reason: "the result is not finite") }
        let rounded = value.rounded()
        if abs(value - rounded) < 1e-9, abs(rounded) < 1e15 { return .integer(Int(rounded)) }
        return .number(value)
    }

    private struct Parser {
        let characters: [Character]
        var position = 0

        mutating func skipSpaces() {
            while position < characters.count, characters[position] == " " { position += 1 }
        }

        mutating func expression() throws(Failure) -> Expression {
            var left = try term()
            while true {
                skipSpaces()
                guard position < characters.count, characters[position] == "+" || characters[position] == "-" else { return left }
                let op = characters[position]
                position += 1
                left = .binary(op, left, try term())
            }
        }

        mutating func term() throws(Failure) -> Expression {
            var left = try factor()
            while true {
                skipSpaces()
                guard position < characters.count, characters[position] == "*" || characters[position] == "/" else { return left }
                let op = characters[position]
                position += 1
                left = .binary(op, left, try factor())
            }
        }

        mutating func factor() throws(Failure) -> Expression {
            skipSpaces()
            guard position < characters.count else { throw Failure(reason: "the expression ends too early") }
            let c = characters[position]
            if c == "(" {
                position += 1
                let inner = try expression()
                skipSpaces()
                guard position < characters.count, characters[position] == ")" else { throw Failure(reason: "missing \")\"") }
                position += 1
                return inner
            }
            if c == "-" {
                position += 1
                return .negate(try factor())
            }
            let start = position
            if c.isNumber || c == "." {
                while position < characters.count, characters[position].isNumber || "._eE".contains(characters[position])
                    || ((characters[position] == "-" || characters[position] == "+") && "eE".contains(characters[position - 1]))
                {
                    position += 1
                }
                let text = String(characters[start..<position])
                guard let value = Double(text) else { throw Failure(reason: "\"\(text)\" is not a number") }
                return .number(value)
            }
            if c.isLetter || c == "_" {
                while position < characters.count, characters[position].isLetter || characters[position].isNumber || "_.".contains(characters[position]) {
                    position += 1
                }
                return .key(String(characters[start..<position]))
            }
            throw Failure(reason: "unexpected \"\(c)\" at \(position + 1)")
        }
    }
}
