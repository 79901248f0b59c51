import Foundation
import Persistence

/// The small JSON file beside a dataset's records: what it is, where it came from, under which
/// licence, how it is split by default, and its statistics.
///
/// Versioned: a manifest with a newer `version` than ``currentVersion`` is refused; older ones
/// are read with defaults for keys they lack. Unknown keys are errors (a typo such as `"licnce"`
/// must not be silently ignored).
///
/// Versions: 1 spelled three keys of `statistics` in camelCase; 2 (written since) spells every
/// key in snake_case. Both are read.
public struct DatasetManifest: Sendable, Equatable, Codable {
    /// The manifest format this userdp writes and the highest it reads.
    public static let currentVersion = 2

    /// Format version.
    public var version: Int
    /// Short name, e.g. `shakespeare`.
    public var name: String
    /// One or two sentences for people browsing the dataset.
    public var description: String?
    /// Where the text comes from (a URL, a citation, a file).
    public var source: String
    /// The licence of the text.
    public var licence: String
    /// The JSON Lines file holding the records, relative to the manifest; it must stay inside
    /// the dataset folder (no absolute path, no `..`).
    public var records: String
    /// The default train / validation / test split.
    public var split: SplitSettings
    /// Statistics computed when the dataset was built; `statistics.tokenizer` names the
    /// tokenizer used for the token counts.
    public var statistics: DatasetStatistics?
    /// The command that rebuilds the records from their sources, when there is one.
    public var build: String?

    /// A manifest with the default split and no statistics.
    public init(
        name: String, description: String? = nil, source: String, licence: String,
        records: String = "records.jsonl", split: SplitSettings = SplitSettings(),
        statistics: DatasetStatistics? = nil, build: String? = nil
    ) {
        self.version = DatasetManifest.currentVersion
        self.name = name
        self.description = description
        self.source = source
        self.licence = licence
        self.records = records
        self.split = split
        self.statistics = statistics
        self.build = build
    }

    static let knownKeys: Set<String> = [
        "version", "name", "description", "source", "licence", "records", "split", "statistics", "build",
    ]

    /// Reads and validates a manifest file.
    public static func read(from url: URL) throws -> DatasetManifest {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw UserDataError.unreadable(path: url.path, reason: FileProblem.describe(error))
        }
        return try decode(data, file: url.path)
    }

    /// Validates and decodes manifest JSON; `file` names the source in errors.
    public static func decode(_ data: Data, file: String) throws -> DatasetManifest {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: data)
        } catch {
            throw UserDataError.malformedManifest(file: file, detail: "not valid JSON: \(error.reason)")
        }
        guard case let .object(object) = value else {
            throw UserDataError.malformedManifest(file: file, detail: "top level is not an object")
        }
        if let key = firstUnknownKey(of: object, known: knownKeys) {
            throw UserDataError.unknownManifestKey(file: file, key: key)
        }
        guard let versionValue = object["version"] else {
            throw UserDataError.missingManifestKey(file: file, key: "version")
        }
        guard case let .integer(versionNumber) = versionValue.normalized, versionNumber >= 1 else {
            throw UserDataError.invalidManifestValue(file: file, key: "version", expected: "a positive integer")
        }
        if Int(versionNumber) > currentVersion {
            throw UserDataError.unsupportedManifestVersion(
                file: file, version: Int(versionNumber), highestSupported: currentVersion)
        }
        for key in ["name", "source", "licence"] where object[key] == nil {
            throw UserDataError.missingManifestKey(file: file, key: key)
        }
        if case let .object(split)? = object["split"] {
            if let key = firstUnknownKey(of: split, known: SplitSettings.knownKeys) {
                throw UserDataError.unknownManifestKey(file: file, key: "split.\(key)")
            }
        }
        let manifest: DatasetManifest
        do {
            manifest = try JSONDecoder().decode(DatasetManifest.self, from: data)
        } catch let error as DecodingError {
            throw UserDataError.invalidManifestValue(
                file: file, key: error.keyPath, expected: error.expectation)
        }
        guard isInsideFolder(manifest.records) else {
            throw UserDataError.recordsOutsideDataset(file: file, records: InputExcerpt.escaped(manifest.records, limit: 80))
        }
        return manifest
    }

    /// True when `records` names a file inside the manifest's folder: a non-empty relative
    /// path without `..` components. (Symbolic links are checked when the file is opened.)
    static func isInsideFolder(_ records: String) -> Bool {
        guard !records.isEmpty, !records.hasPrefix("/"), !records.hasPrefix("~"), !records.contains("\0") else { return false }
        let components = records.split(separator: "/", omittingEmptySubsequences: true)
        return !components.isEmpty && !components.contains("..") && components.last != "."
    }

    /// ``JSONOutput`` text (indented, sorted snake_case keys) and a final line break, always as
    /// ``currentVersion``: a manifest read from an older version is written in today's spelling.
    public func encoded() -> Data {
        var current = self
        current.version = DatasetManifest.currentVersion
        // Every field is a plain value type; encoding cannot fail.
        var data = (try? JSONOutput.data(current)) ?? Data()
        data.append(UInt8(ascii: "\n"))
        return data
    }

    enum CodingKeys: String, CodingKey {
        case version, name, description, source, licence, records, split, statistics, build
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(Int.self, forKey: .version)
        name = try container.decode(String.self, forKey: .name)
        description = try container.decodeIfPresent(String.self, forKey: .description)
        source = try container.decode(String.self, forKey: .source)
        licence = try container.decode(String.self, forKey: .licence)
        records = try container.decodeIfPresent(String.self, forKey: .records) ?? "records.jsonl"
        split = try container.decodeIfPresent(SplitSettings.self, forKey: .split) ?? SplitSettings()
        statistics = try container.decodeIfPresent(DatasetStatistics.self, forKey: .statistics)
        build = try container.decodeIfPresent(String.self, forKey: .build)
    }
}

extension DecodingError {
    /// The dotted key path of the value at fault, e.g. `split.seed`.
    var keyPath: String {
        let path: [any CodingKey]
        switch self {
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            path = context.codingPath
        case let .keyNotFound(key, context):
            path = context.codingPath + [key]
        @unknown default:
            path = []
        }
        return path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    /// What was expected, for a user-facing message.
    var expectation: String {
        switch self {
        case let .typeMismatch(type, _): return "of type \(type)"
        case .valueNotFound: return "present and not null"
        case .keyNotFound: return "present"
        case let .dataCorrupted(context): return "valid (\(context.debugDescription))"
        @unknown default: return "valid"
        }
    }
}
