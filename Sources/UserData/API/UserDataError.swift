import Foundation
import Persistence

/// Every failure of the UserData module: loading, building, importing, splitting, selecting and
/// caching user-level datasets.
///
/// Each case carries the facts a user needs to fix the input (file, line, field, value). Line
/// numbers are 1-based and count physical lines of the file (a CSV record that spans several
/// lines is reported at the line where it starts). The enum is `Equatable` so tests assert the
/// exact error.
public enum UserDataError: Error, Equatable, Sendable {
    // MARK: Files
    /// A file or folder could not be read.
    case unreadable(path: String, reason: String)
    /// A file could not be written (or atomically moved into place).
    case unwritable(path: String, reason: String)
    /// The output folder already holds files and replacing it was not asked for (`--force`).
    case destinationExists(path: String)

    // MARK: JSON Lines records
    /// A line is not valid JSON.
    case malformedJSON(file: String, line: Int, detail: String)
    /// A line is valid JSON but not an object.
    case notAnObject(file: String, line: Int)
    /// A required field (`user`, `text`) is absent.
    case missingField(file: String, line: Int, field: String)
    /// A field has the wrong JSON type.
    case wrongType(file: String, line: Int, field: String, expected: String)
    /// A field other than `user`, `text`, `id`, `meta`.
    case unknownField(file: String, line: Int, field: String)
    /// `text` is empty or only whitespace.
    case emptyText(file: String, line: Int)
    /// `user` is empty or only whitespace.
    case emptyUser(file: String, line: Int)
    /// Two records share an `id`.
    case duplicateID(file: String, line: Int, id: String, firstLine: Int)
    /// The file holds no valid record.
    case emptyDataset(file: String)

    // MARK: Manifest and dataset lookup
    /// The manifest is not valid JSON or not an object.
    case malformedManifest(file: String, detail: String)
    /// The manifest lacks a required key.
    case missingManifestKey(file: String, key: String)
    /// A manifest key has the wrong type or an invalid value.
    case invalidManifestValue(file: String, key: String, expected: String)
    /// A manifest key this version does not know (a typo would otherwise be silently ignored).
    case unknownManifestKey(file: String, key: String)
    /// The manifest was written by a newer userdp.
    case unsupportedManifestVersion(file: String, version: Int, highestSupported: Int)
    /// The manifest's `records` path leaves the dataset folder (absolute, or with `..`), or
    /// resolves (through a symbolic link) outside it.
    case recordsOutsideDataset(file: String, records: String)
    /// No dataset of that name or path was found; `searched` lists the folders tried.
    case datasetNotFound(name: String, searched: [String])

    // MARK: Splits
    /// Split fractions must be non-negative, finite and sum to 1 (within 1e-9).
    case invalidSplitFractions(train: Double, validation: Double, test: Double)

    // MARK: Selection
    /// k (units per user) must be at least 1.
    case invalidUnitsPerUser(Int)
    /// The context length L must be at least 1 token.
    case invalidContextLength(Int)
    /// A user has no records (a tokenised user must have at least one).
    case userWithoutRecords(user: String)
    /// Perplexity selection needs a score for every record of the user.
    case missingPerplexityScore(user: String, recordID: String)
    /// A perplexity score is NaN or infinite.
    case invalidPerplexityScore(recordID: String, value: Double)
    /// A strategy name that is neither a ``SelectionStrategy/name`` nor a spelling of an
    /// earlier version (`perplexity`, `perplexity-lowest`, `perplexity-highest`, ...).
    case unknownSelectionStrategy(String)

    // MARK: Caches
    /// A cache file exists but is truncated, from another format version, or fails its checksum.
    case corruptCache(path: String, reason: String)

    // MARK: Shakespeare build
    /// A play's source file is missing from the sources folder.
    case missingSource(path: String)
    /// A play's text has no line that starts the play proper (`ACT I`, `PROLOGUE`, `INDUCTION`).
    case playStartNotFound(file: String)
    /// No speech was recognised in a play.
    case noSpeechesFound(file: String)

    // MARK: Importers
    /// A CSV file is malformed (for example a quote never closed).
    case malformedCSV(file: String, line: Int, detail: String)
    /// A CSV row has a different number of fields than the header.
    case csvFieldCount(file: String, line: Int, expected: Int, found: Int)
    /// A required column is absent from the CSV header or the JSON object.
    case missingColumn(file: String, column: String, available: [String])
    /// The importer's options are inconsistent (for example min records > max records).
    case invalidImportOption(name: String, detail: String)
}

extension UserDataError: LocalizedError {
    public var errorDescription: String? {
        // Values taken from the input (field names, ids, columns) may be binary: quote them
        // only as short escaped excerpts, so a message stays one printable line.
        func q(_ text: String) -> String { InputExcerpt.escaped(text, limit: 60) }
        switch self {
        case let .unreadable(path, reason):
            return "cannot read \(path): \(InputExcerpt.escaped(reason, limit: 200))"
        case let .unwritable(path, reason):
            return "cannot write \(path): \(reason)"
        case let .destinationExists(path):
            return "\(path) already exists and is not empty; choose another --out, or pass --force to replace the dataset there"
        case let .malformedJSON(file, line, detail):
            return "\(file):\(line): not valid JSON (\(q(detail))); each line must be one JSON object such as {\"user\": \"...\", \"text\": \"...\"}"
        case let .notAnObject(file, line):
            return "\(file):\(line): expected a JSON object {\"user\": ..., \"text\": ...}"
        case let .missingField(file, line, field):
            return "\(file):\(line): missing required field \"\(q(field))\""
        case let .wrongType(file, line, field, expected):
            return "\(file):\(line): field \"\(field)\" must be \(expected)"
        case let .unknownField(file, line, field):
            return "\(file):\(line): unknown field \"\(q(field))\"; allowed: user, text, id, meta (put anything else inside \"meta\")"
        case let .emptyText(file, line):
            return "\(file):\(line): \"text\" is empty"
        case let .emptyUser(file, line):
            return "\(file):\(line): \"user\" is empty"
        case let .duplicateID(file, line, id, firstLine):
            return "\(file):\(line): id \"\(q(id))\" already used on line \(firstLine); ids must be unique"
        case let .emptyDataset(file):
            return "\(file): no valid record"
        case let .malformedManifest(file, detail):
            return "\(file): manifest is not a JSON object (\(InputExcerpt.escaped(detail, limit: 200)))"
        case let .missingManifestKey(file, key):
            return "\(file): manifest lacks \"\(key)\""
        case let .invalidManifestValue(file, key, expected):
            return "\(file): manifest key \"\(key)\" must be \(expected)"
        case let .unknownManifestKey(file, key):
            return "\(file): unknown manifest key \"\(q(key))\""
        case let .unsupportedManifestVersion(file, version, highest):
            return "\(file): manifest version \(version) is newer than this userdp supports (\(highest)); update userdp"
        case let .recordsOutsideDataset(file, records):
            return "\(file): \"records\": \"\(records)\" points outside the dataset folder; give a file name inside it, such as records.jsonl"
        case let .datasetNotFound(name, searched):
            return "dataset \"\(name)\" not found; give a folder holding manifest.json, or set USERDP_DATA. Searched: \(searched.joined(separator: ", "))"
        case let .invalidSplitFractions(train, validation, test):
            return "split fractions train \(train), validation \(validation), test \(test) must be non-negative and sum to 1"
        case let .invalidUnitsPerUser(k):
            return "units per user k = \(k) must be at least 1"
        case let .invalidContextLength(length):
            return "context length \(length) must be at least 1 token"
        case let .userWithoutRecords(user):
            return "user \"\(q(user))\" has no records"
        case let .missingPerplexityScore(user, recordID):
            return "no perplexity score for record \"\(recordID)\" of user \"\(user)\"; score the dataset with the base model first"
        case let .invalidPerplexityScore(recordID, value):
            return "perplexity score \(value) for record \"\(recordID)\" is not finite"
        case let .unknownSelectionStrategy(name):
            return "unknown selection strategy \"\(name)\"; use random, longest, shortest, perplexity(order=lowest) (or perplexity), perplexity(order=highest) or random-chunk"
        case let .corruptCache(path, reason):
            return "cache file \(path) is unusable (\(reason)); delete it to rebuild"
        case let .missingSource(path):
            return "missing source file \(path)"
        case let .playStartNotFound(file):
            return "\(file): no ACT, PROLOGUE or INDUCTION heading found"
        case let .noSpeechesFound(file):
            return "\(file): no speech recognised"
        case let .malformedCSV(file, line, detail):
            return "\(file):\(line): malformed CSV (\(q(detail)))"
        case let .csvFieldCount(file, line, expected, found):
            return "\(file):\(line): \(found) fields, header has \(expected)"
        case let .missingColumn(file, column, available):
            return "\(file): no column \"\(q(column))\"; available: \(available.prefix(12).map { q($0) }.joined(separator: ", "))\(available.count > 12 ? ", ..." : "")"
        case let .invalidImportOption(name, detail):
            return "option \(name): \(detail)"
        }
    }
}
