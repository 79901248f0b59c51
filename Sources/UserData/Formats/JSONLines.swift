import Foundation
import Persistence

/// Reading and writing records as JSON Lines: one JSON object per line,
/// `{"user": "...", "text": "...", "id": "...", "meta": {...}}`, `id` and `meta` optional.
///
/// Blank lines are ignored. A line break inside a text is written as `\n` inside the JSON
/// string, so every record is exactly one physical line.
public enum JSONLines {
    /// Reads a JSON Lines file.
    ///
    /// - Parameter skipInvalid: skip invalid lines and return their errors instead of throwing
    ///   the first one.
    /// - Throws: ``UserDataError`` naming the file (as given) and the 1-based line.
    public static func read(contentsOf url: URL, skipInvalid: Bool = false) throws -> (
        records: [Record], skipped: [UserDataError]
    ) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw UserDataError.unreadable(path: url.path, reason: FileProblem.describe(error))
        }
        return try parse(data, file: url.path, skipInvalid: skipInvalid)
    }

    /// Parses JSON Lines already in memory; `file` names the source in errors.
    public static func parse(_ data: Data, file: String, skipInvalid: Bool = false) throws -> (
        records: [Record], skipped: [UserDataError]
    ) {
        var records: [Record] = []
        var skipped: [UserDataError] = []
        var firstLineOfID: [String: Int] = [:]
        let decoder = JSONDecoder()
        let bytes = [UInt8](data)
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            lineNumber += 1
            var stop = end
            if stop > start && bytes[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
            let line = bytes[start..<stop]
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            do {
                let record = try parseLine(Data(line), decoder: decoder, file: file, line: lineNumber)
                if let id = record.id {
                    if let first = firstLineOfID[id] {
                        throw UserDataError.duplicateID(file: file, line: lineNumber, id: id, firstLine: first)
                    }
                    firstLineOfID[id] = lineNumber
                }
                records.append(record)
            } catch let error as UserDataError {
                guard skipInvalid else { throw error }
                skipped.append(error)
            }
        }
        if records.isEmpty { throw UserDataError.emptyDataset(file: file) }
        return (records, skipped)
    }

    static func parseLine(_ line: Data, decoder: JSONDecoder, file: String, line number: Int) throws -> Record {
        let value: JSONValue
        do {
            // The strict parser: duplicate keys are errors, messages quote input only escaped.
            value = try JSONValue(parsing: line)
        } catch {
            throw UserDataError.malformedJSON(file: file, line: number, detail: error.reason)
        }
        guard case let .object(object) = value else {
            throw UserDataError.notAnObject(file: file, line: number)
        }
        if let key = firstUnknownKey(of: object, known: ["user", "text", "id", "meta"]) {
            throw UserDataError.unknownField(file: file, line: number, field: key)
        }
        func string(_ field: String, required: Bool) throws -> String? {
            switch object[field] {
            case nil:
                if required { throw UserDataError.missingField(file: file, line: number, field: field) }
                return nil
            case let .string(text)?:
                return text
            default:
                throw UserDataError.wrongType(file: file, line: number, field: field, expected: "a string")
            }
        }
        let user = try string("user", required: true)!
        let text = try string("text", required: true)!
        let id = try string("id", required: false)
        var meta: [String: JSONValue]?
        switch object["meta"] {
        case nil: meta = nil
        case let .object(value)?: meta = value
        default: throw UserDataError.wrongType(file: file, line: number, field: "meta", expected: "an object")
        }
        if user.allSatisfy(\.isWhitespace) { throw UserDataError.emptyUser(file: file, line: number) }
        if text.allSatisfy(\.isWhitespace) { throw UserDataError.emptyText(file: file, line: number) }
        return Record(user: user, text: text, id: id, meta: meta)
    }

    /// All records as JSON Lines (UTF-8, `\n` after every line). Keys appear in the order
    /// `user`, `text`, `id`, `meta`; `meta` keys are sorted.
    public static func encode(_ records: [Record]) -> Data {
        var output = Data()
        output.reserveCapacity(records.reduce(0) { $0 + $1.text.utf8.count + $1.user.utf8.count + 32 })
        for record in records {
            output.append(contentsOf: Array(encodeLine(record).utf8))
            output.append(UInt8(ascii: "\n"))
        }
        return output
    }

    /// One record as a single line of JSON, without the line break.
    public static func encodeLine(_ record: Record) -> String {
        var line = "{\"user\":" + quoted(record.user) + ",\"text\":" + quoted(record.text)
        if let id = record.id { line += ",\"id\":" + quoted(id) }
        if let meta = record.meta {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            // Encoding a dictionary of JSONValue cannot fail: every case maps to JSON.
            let data = (try? encoder.encode(meta)) ?? Data("{}".utf8)
            line += ",\"meta\":" + String(decoding: data, as: UTF8.self)
        }
        return line + "}"
    }

    /// A JSON string literal for `text` (see `JSONValue.quoted`).
    public static func quoted(_ text: String) -> String { JSONValue.quoted(text) }
}

extension AtomicFile {
    /// Writes atomically, creating the folder, and reports failures as ``UserDataError``.
    static func write(_ data: Data, to url: URL) throws(UserDataError) {
        do {
            try AtomicFile.write(data, to: url, createDirectories: true)
        } catch {
            throw UserDataError.unwritable(path: error.path, reason: error.reason)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
