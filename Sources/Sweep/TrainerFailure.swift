import Foundation
import Persistence

/// Why a dispatched trainer failed, in its own words: `runs/ID/trainer-failure.json`, written by
/// `userdp train` (when a dispatcher started it) before it exits with an error, and read by the
/// dispatcher, which copies `code` and `message` into the attempt's `failure.json` (`RunFailure`)
/// and compares runs' failures by the code for fail-fast.
///
/// Trainers that do not write it (a wrapper, a killed process) are judged by how they ended
/// (`RunExit.failureCode`).
public struct TrainerFailure: Codable, Sendable, Equatable {
    /// The file's name in the run folder.
    public static let fileName = "trainer-failure.json"
    /// The highest version this build reads.
    public static let currentVersion = 1

    /// Format version.
    public var version: Int
    /// The error's type and case, `RunConfigError.invalidValue`: stable across runs and
    /// messages, so equal codes mean the same kind of failure.
    public var code: String
    /// The error's message for a person.
    public var message: String

    /// A failure with every part given.
    public init(code: String, message: String) {
        self.version = Self.currentVersion
        self.code = code
        self.message = message
    }

    /// The failure of `error`: its type and enum case (the text before any associated values)
    /// and its localized description.
    public init(_ error: any Error) {
        let described = String(describing: error)
        let caseName = described.prefix { $0 != "(" && $0 != " " && $0 != ":" }
        let typeName = String(describing: type(of: error))
        let code = caseName.isEmpty || caseName.contains(".") || String(caseName) == typeName ? typeName : "\(typeName).\(caseName)"
        self.init(code: code, message: (error as? any LocalizedError)?.errorDescription ?? error.localizedDescription)
    }

    /// Writes the file into a run folder, atomically.
    public func write(to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(self) + Data("\n".utf8), to: directory.appendingPathComponent(Self.fileName))
    }

    /// The file in a run folder, when present, readable and of a version this build reads.
    public static func read(from directory: URL) -> TrainerFailure? {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(fileName).path),
            let failure = try? JSONDecoder().decode(TrainerFailure.self, from: data), failure.version <= currentVersion
        else { return nil }
        return failure
    }
}
