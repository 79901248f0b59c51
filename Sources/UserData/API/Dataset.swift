import Crypto
import Foundation

/// A user-level dataset: records that each name their user, plus the manifest that describes
/// where they came from.
///
/// Users are ordered by their first record in the file, and each user's records keep their file
/// order; `random-chunk` selection concatenates records in that order.
public struct Dataset: Sendable {
    /// Name, source, licence, default split and statistics.
    public var manifest: DatasetManifest
    /// All records, in file order.
    public var records: [Record]

    /// A dataset from records already in memory.
    public init(manifest: DatasetManifest, records: [Record]) {
        self.manifest = manifest
        self.records = records
    }

    /// The key perplexity scores and selections use for record `index`: its `id`, or `#index`
    /// (0-based position) when it has none.
    public func recordKey(_ index: Int) -> String {
        records[index].id ?? "#\(index)"
    }

    /// Users in order of their first record, each with the indices of its records in file order.
    public func recordsByUser() -> [(user: String, records: [Int])] {
        var position: [String: Int] = [:]
        var groups: [(user: String, records: [Int])] = []
        for (index, record) in records.enumerated() {
            if let slot = position[record.user] {
                groups[slot].records.append(index)
            } else {
                position[record.user] = groups.count
                groups.append((record.user, [index]))
            }
        }
        return groups
    }

    /// The number of distinct users.
    public var userCount: Int { Set(records.map(\.user)).count }

    /// A SHA-256 (lowercase hex) of everything that affects training data: each record's user,
    /// key and text, in order. `meta` and the manifest are excluded, so re-describing a dataset
    /// does not invalidate its caches, while any change to the text, the user assignment or the
    /// order does.
    public func contentHash() -> String {
        var hasher = SHA256()
        for index in records.indices {
            let record = records[index]
            // Length-prefix every field so that no two different datasets hash the same bytes.
            for field in [record.user, recordKey(index), record.text] {
                let bytes = Array(field.utf8)
                var length = UInt64(bytes.count).littleEndian
                withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
                hasher.update(data: bytes)
            }
        }
        return hexString(hasher.finalize())
    }

    /// The records belonging to the given indices, as a new dataset with the same manifest.
    public func subset(_ indices: [Int]) -> Dataset {
        Dataset(manifest: manifest, records: indices.map { records[$0] })
    }
}

/// What loading a dataset file found besides the records.
public struct LoadReport: Sendable, Equatable {
    /// Records loaded.
    public var records: Int
    /// Lines skipped because they were invalid (only when loading with `skipInvalid`), each with
    /// the error that would otherwise have stopped the load.
    public var skipped: [UserDataError]

    /// A report.
    public init(records: Int, skipped: [UserDataError]) {
        self.records = records
        self.skipped = skipped
    }
}

extension Dataset {
    /// The file name of the manifest inside a dataset folder.
    public static let manifestFileName = "manifest.json"

    /// Loads a dataset folder (`manifest.json` naming a JSON Lines file) or a bare `.jsonl`
    /// file (which gets a default manifest named after the file).
    ///
    /// - Parameter skipInvalid: skip malformed lines and count them in the report instead of
    ///   stopping at the first.
    /// - Throws: ``UserDataError`` naming the file and line of the first bad record, or the
    ///   manifest key at fault.
    public static func load(from location: URL, skipInvalid: Bool = false) throws -> (Dataset, LoadReport) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: location.path, isDirectory: &isDirectory) else {
            throw UserDataError.unreadable(path: location.path, reason: "no such file or folder")
        }
        let manifest: DatasetManifest
        let recordsURL: URL
        if isDirectory.boolValue {
            manifest = try DatasetManifest.read(from: location.appendingPathComponent(manifestFileName))
            recordsURL = location.appendingPathComponent(manifest.records)
        } else {
            manifest = DatasetManifest(
                name: location.deletingPathExtension().lastPathComponent, source: location.path, licence: "unknown")
            recordsURL = location
        }
        let (records, skipped) = try JSONLines.read(contentsOf: recordsURL, skipInvalid: skipInvalid)
        return (Dataset(manifest: manifest, records: records), LoadReport(records: records.count, skipped: skipped))
    }

    /// Writes `manifest.json` and the records file named by the manifest into `directory`
    /// (created if needed), each atomically.
    public func write(to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw UserDataError.unwritable(path: directory.path, reason: error.localizedDescription)
        }
        try AtomicFile.write(JSONLines.encode(records), to: directory.appendingPathComponent(manifest.records))
        try AtomicFile.write(manifest.encoded(), to: directory.appendingPathComponent(Dataset.manifestFileName))
    }
}

/// Lowercase hexadecimal of a digest's bytes.
func hexString<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// The hex SHA-256 of a cache key: its parts joined by NUL (which no hash or identity contains).
func cacheKey(_ parts: String...) -> String {
    hexString(SHA256.hash(data: Data(parts.joined(separator: "\u{0}").utf8)))
}
