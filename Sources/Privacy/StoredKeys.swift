import Foundation

// The Privacy module's stored forms (events, privacy units, accountant kinds, calibration
// requests and results, cache entries) are written with snake_case keys, like every other JSON
// userdp writes. Earlier versions wrote them with camelCase keys (`samplingProbability`,
// `groupSize`, `valueDiscretization`, ...), and thousands of committed result.json files hold
// that form, so every decoder here reads both spellings: a camelCase key is read only when its
// snake_case twin is absent, and decodes to the same value.

extension CodingUserInfoKey {
    /// When set to `true` in an encoder's `userInfo`, the stored forms that take part in the
    /// calibration cache key (``PrivacyUnitEvent``, ``AccountantKind``, ``CalibrationRequest``)
    /// encode with their camelCase keys of earlier versions. Only ``CalibrationCache`` sets it,
    /// so that a request's cache file name is the one earlier versions gave it.
    static let camelCaseStoredKeys = CodingUserInfoKey(rawValue: "userdp.privacy.camelCaseStoredKeys")!
}

extension Encoder {
    /// Whether to write the camelCase keys of earlier versions (``CodingUserInfoKey/camelCaseStoredKeys``).
    var writesCamelCaseStoredKeys: Bool { userInfo[.camelCaseStoredKeys] as? Bool == true }
}

extension KeyedDecodingContainer {
    /// The value at `key`, or at `legacy` (the key's camelCase spelling of earlier versions) when
    /// only that one is present. A value missing under both spellings is reported under `key`.
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key, legacy: Key) throws -> T {
        if !contains(key), contains(legacy) { return try decode(type, forKey: legacy) }
        return try decode(type, forKey: key)
    }
}
