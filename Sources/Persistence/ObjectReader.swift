/// An error type that can say what ``ObjectReader`` finds wrong, in its own cases: a format's
/// error enum conforms with two cases of these names (enum cases satisfy the requirements).
public protocol KeyPathError: Error {
    /// A key the format does not have at `keyPath`; `known` lists the keys allowed there, sorted.
    static func unknownKey(keyPath: String, known: [String]) -> Self
    /// A value of the wrong type or outside its range at `keyPath`; `got` is the value as
    /// written (``JSONValue/shortText``).
    static func invalidValue(keyPath: String, expected: String, got: String) -> Self
}

/// Walks one JSON object of a strict format, refusing unknown keys and naming the key path in
/// every error (dotted, with `[i]` for list elements; `config` for the top-level document).
///
/// Contract:
/// - Creating a reader checks that the value is an object and that every key is known; the
///   first unknown key in sorted order is reported, so errors are deterministic.
/// - Each accessor returns nil when the key is absent and throws `Failure` when it is present
///   with a value of the wrong type or outside its range; it never substitutes a default.
public struct ObjectReader<Failure: KeyPathError> {
    /// The object's entries.
    public let entries: [String: JSONValue]
    /// Where the object stands in its document ("" for the top level).
    public let keyPath: String

    /// Reads `value` as an object at `keyPath` whose keys must all be in `known`. Throws
    /// `invalidValue` (with `expected`) when `value` is not an object, `unknownKey` for the first
    /// key, in sorted order, that is not known.
    public init(_ value: JSONValue, keyPath: String, known: [String], expected: String = "an object") throws(Failure) {
        guard case .object(let entries) = value else {
            throw .invalidValue(keyPath: keyPath.isEmpty ? "config" : keyPath, expected: expected, got: value.shortText)
        }
        if let unknown = firstUnknownKey(of: entries, known: known) {
            throw .unknownKey(keyPath: keyPath.isEmpty ? unknown : "\(keyPath).\(unknown)", known: known.sorted())
        }
        self.entries = entries
        self.keyPath = keyPath
    }

    /// The value at `key`, unchecked.
    public subscript(key: String) -> JSONValue? { entries[key] }

    /// The key path of `key` in this object.
    public func path(_ key: String) -> String { keyPath.isEmpty ? key : "\(keyPath).\(key)" }

    /// A non-empty string; `expected` describes it in the error.
    public func string(_ key: String, expected: String) throws(Failure) -> String? {
        guard let value = entries[key] else { return nil }
        guard case .string(let s) = value, !s.isEmpty else {
            throw .invalidValue(keyPath: path(key), expected: "\(expected) (a non-empty string)", got: value.shortText)
        }
        return s
    }

    /// An integer in `minimum...maximum` (an integral number written with a fraction, `8.0`,
    /// counts); `expected` describes the range in the error.
    public func integer(_ key: String, minimum: Int, maximum: Int = .max, expected: String) throws(Failure) -> Int? {
        guard let value = entries[key] else { return nil }
        guard case .integer(let i) = value, i >= minimum, i <= maximum else {
            throw .invalidValue(keyPath: path(key), expected: expected, got: value.shortText)
        }
        return i
    }

    /// A finite number; with `positive`, strictly greater than zero.
    public func number(_ key: String, positive: Bool = false) throws(Failure) -> Double? {
        guard let value = entries[key] else { return nil }
        let number: Double
        switch value {
        case .integer(let i): number = Double(i)
        case .number(let d): number = d
        default: number = .nan
        }
        guard number.isFinite, !positive || number > 0 else {
            throw .invalidValue(keyPath: path(key), expected: positive ? "a positive number" : "a number", got: value.shortText)
        }
        return number
    }

    /// One of an enumeration's names (see ``choose(_:keyPath:_:)``).
    public func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, _ type: Choice.Type) throws(Failure) -> Choice?
    where Choice.RawValue == String {
        guard let value = entries[key] else { return nil }
        return try Self.choose(value, keyPath: path(key), type)
    }

    /// `value` as one of an enumeration's names, or `invalidValue` listing them all.
    public static func choose<Choice: RawRepresentable & CaseIterable>(_ value: JSONValue, keyPath: String, _ type: Choice.Type) throws(Failure)
        -> Choice
    where Choice.RawValue == String {
        try choose(value, keyPath: keyPath, among: Choice.allCases.map { ($0.rawValue, $0) })
    }

    /// `value` as one of the names in `choices` (name and value, in the order the error lists
    /// them), or `invalidValue` listing them all.
    public static func choose<Value>(_ value: JSONValue, keyPath: String, among choices: [(String, Value)]) throws(Failure) -> Value {
        if case .string(let s) = value, let choice = choices.first(where: { $0.0 == s }) { return choice.1 }
        let names = choices.map { "\"\($0.0)\"" }.joined(separator: ", ")
        throw .invalidValue(keyPath: keyPath, expected: "one of \(names)", got: value.shortText)
    }
}

/// The first key of `object`, in sorted order, that is not in `known`; nil when every key is
/// known. The one unknown-key check of every strict format (``ObjectReader``, sweep files,
/// dataset manifests), so all report the same key first.
public func firstUnknownKey(of object: [String: JSONValue], known: some Sequence<String>) -> String? {
    let known = Set(known)
    return object.keys.filter { !known.contains($0) }.sorted().first
}
