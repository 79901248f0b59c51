import Foundation
import Persistence

/// Why a run config was refused. Every case names the key path (dotted, with `[i]` for list
/// elements; `config` for the document itself).
public indirect enum RunConfigError: Error, Equatable, Sendable, LocalizedError {
    /// The bytes are not JSON.
    case notJSON(reason: String)
    /// A key that the config format does not have; `known` lists the keys allowed there.
    case unknownKey(keyPath: String, known: [String])
    /// A value of the wrong type or outside its range; `got` is the value as written (JSON).
    case invalidValue(keyPath: String, expected: String, got: String)
    /// The config declares a format version newer than this build reads.
    case unsupportedVersion(found: Int, highestSupported: Int)
    /// A problem in a file, wrapping the problem itself.
    case inFile(path: String, RunConfigError)

    /// The message shown to the user: the key path, then what was expected and found.
    public var errorDescription: String? {
        switch self {
        case .notJSON(let reason):
            return "not valid JSON: \(reason)"
        case .unknownKey(let keyPath, let known):
            return "\(keyPath): unknown key (known keys here: \(known.joined(separator: ", ")))"
        case .invalidValue(let keyPath, let expected, let got):
            return "\(keyPath): expected \(expected), got \(got)"
        case .unsupportedVersion(let found, let highestSupported):
            return "version: this build reads config version \(highestSupported) and older, the file has version \(found); update userdp"
        case .inFile(let path, let error):
            return "\(path): \(error.errorDescription ?? "\(error)")"
        }
    }
}

/// ``ObjectReader`` reports unknown keys and bad values as the config's own errors.
extension RunConfigError: KeyPathError {}
