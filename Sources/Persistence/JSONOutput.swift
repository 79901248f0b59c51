import Foundation

/// The JSON text userdp writes for people and scripts to read: command output (`--json`) and
/// the small files beside datasets.
///
/// Contract:
/// - Indented by two spaces, object keys sorted, `/` not escaped, no final line break.
/// - Non-finite numbers are the strings `"inf"`, `"-inf"` and `"nan"`, as in `result.json`, so
///   an ε of ∞ never makes encoding fail.
/// - Keys are whatever the value's `CodingKeys` say: userdp's own output types spell them in
///   snake_case explicitly (no key-encoding strategy, which would also rename the keys of stored
///   values nested inside, such as DP events).
public enum JSONOutput {
    /// An encoder with the settings above.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    /// `value` as JSON bytes. Throws the encoder's error (a value whose `encode(to:)` throws).
    public static func data<Value: Encodable>(_ value: Value) throws -> Data {
        try encoder().encode(value)
    }

    /// `value` as JSON text. Throws the encoder's error (a value whose `encode(to:)` throws).
    public static func text<Value: Encodable>(_ value: Value) throws -> String {
        String(decoding: try data(value), as: UTF8.self)
    }
}

extension KeyedDecodingContainer {
    /// The value under `key`, or, when `key` is absent, under `formerKey` of `former`: how a
    /// type whose keys were renamed reads files written before the rename. Nil when neither key
    /// is present; throws the decoder's error when the value present has the wrong type.
    public func decodeIfPresent<Value: Decodable, FormerKey: CodingKey>(
        _ type: Value.Type, forKey key: Key, formerly formerKey: FormerKey, in former: KeyedDecodingContainer<FormerKey>
    ) throws -> Value? {
        if contains(key) { return try decode(type, forKey: key) }
        return try former.decodeIfPresent(type, forKey: formerKey)
    }

    /// Like ``decodeIfPresent(_:forKey:formerly:in:)``, but a value under one of the two keys
    /// is required: when neither is present, throws `DecodingError.keyNotFound` naming `key`
    /// (the current spelling).
    public func decode<Value: Decodable, FormerKey: CodingKey>(
        _ type: Value.Type, forKey key: Key, formerly formerKey: FormerKey, in former: KeyedDecodingContainer<FormerKey>
    ) throws -> Value {
        if let value = try decodeIfPresent(type, forKey: key, formerly: formerKey, in: former) { return value }
        return try decode(type, forKey: key)
    }
}
