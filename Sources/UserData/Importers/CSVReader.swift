import Foundation
import Persistence

/// A streaming RFC 4180 CSV reader over bytes: comma-separated fields, fields in double quotes
/// may hold commas, line breaks and doubled quotes (`""`), records end at LF or CRLF.
///
/// Streams in 1 MiB chunks, so the 1.4 GB Enron `emails.csv` never sits in memory whole. Fields
/// are handed over as raw bytes (the Enron importer decodes charsets itself).
struct CSVReader {
    let file: String

    private enum State {
        case fieldStart, unquoted, quoted, quoteInQuoted
    }

    /// Calls `row` with each record's fields and the 1-based line where the record starts.
    func read(_ url: URL, row: ([[UInt8]], Int) throws -> Void) throws {
        if let problem = FileProblem.unreadableFile(url) { throw UserDataError.unreadable(path: url.path, reason: problem) }
        let handle: FileHandle
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw UserDataError.unreadable(path: url.path, reason: FileProblem.describe(error))
        }
        defer { try? handle.close() }
        var parser = Parser(file: file)
        while true {
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: 1 << 20)
            } catch {
                throw UserDataError.unreadable(path: url.path, reason: FileProblem.describe(error))
            }
            guard let chunk, !chunk.isEmpty else { break }
            try parser.feed(chunk, row: row)
        }
        try parser.finish(row: row)
    }

    /// Parses CSV already in memory.
    func parse(_ bytes: [UInt8], row: ([[UInt8]], Int) throws -> Void) throws {
        var parser = Parser(file: file)
        try parser.feed(bytes, row: row)
        try parser.finish(row: row)
    }

    private struct Parser {
        let file: String
        var state = State.fieldStart
        var field: [UInt8] = []
        var fields: [[UInt8]] = []
        var line = 1
        var recordLine = 1
        var pendingCarriageReturn = false

        init(file: String) { self.file = file }

        mutating func endField() {
            fields.append(field)
            field = []
        }

        mutating func endRecord(row: ([[UInt8]], Int) throws -> Void) throws {
            endField()
            // A blank line is no record.
            if !(fields.count == 1 && fields[0].isEmpty) { try row(fields, recordLine) }
            fields = []
            state = .fieldStart
        }

        mutating func feed<C: Collection>(_ bytes: C, row: ([[UInt8]], Int) throws -> Void) throws where C.Element == UInt8 {
            for byte in bytes {
                if pendingCarriageReturn {
                    pendingCarriageReturn = false
                    // CR not followed by LF outside quotes is kept as data.
                    if byte != Parser.newline { field.append(Parser.carriageReturn) }
                }
                switch state {
                case .fieldStart, .unquoted:
                    if state == .fieldStart && field.isEmpty && fields.isEmpty { recordLine = line }
                    if byte == Parser.quote && state == .fieldStart {
                        state = .quoted
                    } else if try !endsField(byte, row: row) {
                        field.append(byte)
                        state = .unquoted
                    }
                case .quoted:
                    if byte == Parser.quote {
                        state = .quoteInQuoted
                    } else {
                        if byte == Parser.newline { line += 1 }
                        field.append(byte)
                    }
                case .quoteInQuoted:
                    if byte == Parser.quote {
                        field.append(Parser.quote)
                        state = .quoted
                    } else if try !endsField(byte, row: row) {
                        throw UserDataError.malformedCSV(
                            file: file, line: line, detail: "unexpected character after a closing quote")
                    }
                }
            }
        }

        static let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n")
        static let carriageReturn = UInt8(ascii: "\r")

        /// Handles a comma, line feed or carriage return outside quotes; false for other bytes.
        mutating func endsField(_ byte: UInt8, row: ([[UInt8]], Int) throws -> Void) throws -> Bool {
            switch byte {
            case Parser.comma:
                endField()
                state = .fieldStart
            case Parser.newline:
                line += 1
                try endRecord(row: row)
                recordLine = line
            case Parser.carriageReturn:
                pendingCarriageReturn = true
            default:
                return false
            }
            return true
        }

        mutating func finish(row: ([[UInt8]], Int) throws -> Void) throws {
            if state == .quoted {
                throw UserDataError.malformedCSV(file: file, line: recordLine, detail: "quoted field never closed")
            }
            pendingCarriageReturn = false
            if !field.isEmpty || !fields.isEmpty || state == .quoteInQuoted { try endRecord(row: row) }
        }
    }
}

/// Rows of a CSV file with a header, as dictionaries from column name to field bytes.
struct CSVTable {
    let file: String

    /// Reads the header and hands it to `header` (which may reject it), then calls `row` for
    /// every record.
    /// - Throws: ``UserDataError/csvFieldCount(file:line:expected:found:)`` for a row of the
    ///   wrong width, ``UserDataError/emptyDataset(file:)`` for an empty file.
    func read(
        _ url: URL, header validate: ([String]) throws -> Void, row: ([String: [UInt8]], Int) throws -> Void
    ) throws {
        var header: [String]?
        try CSVReader(file: file).read(url) { fields, line in
            guard let columns = header else {
                var names = fields.map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
                // A UTF-8 byte-order mark before the first column name is common in exports.
                if let first = names.first, first.hasPrefix("\u{FEFF}") { names[0] = String(first.dropFirst()) }
                try validate(names)
                header = names
                return
            }
            guard fields.count == columns.count else {
                throw UserDataError.csvFieldCount(file: file, line: line, expected: columns.count, found: fields.count)
            }
            try row(Dictionary(zip(columns, fields), uniquingKeysWith: { first, _ in first }), line)
        }
        if header == nil { throw UserDataError.emptyDataset(file: file) }
    }

    /// Throws ``UserDataError/missingColumn(file:column:available:)`` unless `header` holds every
    /// `required` column.
    func require(_ required: [String], in header: [String]) throws {
        for column in required where !header.contains(column) {
            throw UserDataError.missingColumn(file: file, column: column, available: header)
        }
    }
}
