import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Persistence

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
            let manifestURL = location.appendingPathComponent(manifestFileName)
            manifest = try DatasetManifest.read(from: manifestURL)
            recordsURL = location.appendingPathComponent(manifest.records)
            // The manifest's path is checked lexically when read; a symbolic link inside the
            // folder must not lead out of it either.
            let folder = location.resolvingSymlinksInPath().standardizedFileURL.path
            let resolved = recordsURL.resolvingSymlinksInPath().standardizedFileURL.path
            guard resolved.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") else {
                throw UserDataError.recordsOutsideDataset(file: manifestURL.path, records: InputExcerpt.escaped(manifest.records, limit: 80))
            }
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
    /// - Throws: ``UserDataError/unwritable(path:reason:)`` naming the file or folder.
    public func write(to directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw UserDataError.unwritable(path: directory.path, reason: FileProblem.describe(error))
        }
        AtomicFile.removeStaleTemporaries(in: directory)
        try AtomicFile.write(JSONLines.encode(records), to: directory.appendingPathComponent(manifest.records))
        try AtomicFile.write(manifest.encoded(), to: directory.appendingPathComponent(Dataset.manifestFileName))
    }

    /// Writes the dataset as the folder `directory`, never mixing it with what was there.
    ///
    /// Contract:
    /// - A missing or empty `directory` is simply written.
    /// - An existing, non-empty `directory` is refused with
    ///   ``UserDataError/destinationExists(path:)`` unless `replacing` is true, and even then
    ///   only when it is a dataset folder (holds `manifest.json`), so a mistyped `--out` cannot
    ///   delete an unrelated folder.
    /// - The new dataset is first written completely into a hidden sibling folder
    ///   (`.<name>.new-<uuid>`), then renamed into place; the old folder is renamed aside first
    ///   and deleted only after the new one is in place (and renamed back if that fails). A
    ///   failure at any point leaves the old dataset as it was.
    public func install(into directory: URL, replacing: Bool) throws {
        let manager = FileManager.default
        let target = directory.standardizedFileURL
        var isDirectory: ObjCBool = false
        let exists = manager.fileExists(atPath: target.path, isDirectory: &isDirectory)
        if exists {
            guard isDirectory.boolValue else {
                throw UserDataError.unwritable(path: target.path, reason: "is a file, not a folder")
            }
            let contents = (try? manager.contentsOfDirectory(atPath: target.path)) ?? []
            if !contents.isEmpty {
                guard replacing else { throw UserDataError.destinationExists(path: target.path) }
                guard contents.contains(Dataset.manifestFileName) else {
                    throw UserDataError.unwritable(
                        path: target.path, reason: "not a dataset folder (no manifest.json); refusing to replace it even with --force")
                }
            }
        }
        let parent = target.deletingLastPathComponent()
        // A file where a folder of the path should be: say which, in plain words.
        var ancestor = parent
        while !manager.fileExists(atPath: ancestor.path, isDirectory: &isDirectory), ancestor.path != "/" {
            ancestor = ancestor.deletingLastPathComponent()
        }
        if !isDirectory.boolValue {
            throw UserDataError.unwritable(path: target.path, reason: "\(ancestor.path) is a file, not a folder")
        }
        do {
            try manager.createDirectory(at: parent, withIntermediateDirectories: true)
        } catch {
            throw UserDataError.unwritable(path: parent.path, reason: FileProblem.describe(error))
        }
        let staging = parent.appendingPathComponent(".\(target.lastPathComponent).new-\(UUID().uuidString)")
        do {
            try write(to: staging)
        } catch {
            try? manager.removeItem(at: staging)
            // Name the folder the user asked for, not the hidden staging folder.
            if case .unwritable(_, let reason) = error as? UserDataError {
                throw UserDataError.unwritable(path: target.path, reason: reason)
            }
            throw error
        }
        let aside = parent.appendingPathComponent(".\(target.lastPathComponent).old-\(UUID().uuidString)")
        let movedAside = exists && rename(target.path, aside.path) == 0
        if exists && !movedAside {
            let reason = FileProblem.describe(errno: errno)
            try? manager.removeItem(at: staging)
            throw UserDataError.unwritable(path: target.path, reason: reason)
        }
        guard rename(staging.path, target.path) == 0 else {
            let reason = FileProblem.describe(errno: errno)
            if movedAside { _ = rename(aside.path, target.path) }
            try? manager.removeItem(at: staging)
            throw UserDataError.unwritable(path: target.path, reason: reason)
        }
        if movedAside { try? manager.removeItem(at: aside) }
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
