import Foundation
import Persistence

/// Options of the BookSum importer. Column names default to the first present of the
/// candidates, which cover the two common distributions: the chapter-level CSV of
/// `kmfoda/booksum` (`bid`, `chapter`, `chapter_path`, `is_aggregate`) and the JSON Lines of
/// `ubaada/booksum-complete-cleaned` (`bid`, `text`, `chapter_id`, `is_aggregate`).
public struct BookSumImportOptions: Sendable, Equatable {
    /// The column naming the book (the user); default: `bid`, `book_id` or `book_title`.
    public var bookColumn: String?
    /// The column holding the chapter text (the record); default: `chapter`, `text` or
    /// `chapters_text`.
    public var textColumn: String?
    /// Keep rows flagged `is_aggregate` (text spanning several chapters); default false.
    public var keepAggregates: Bool

    /// Defaults for both distributions.
    public init(bookColumn: String? = nil, textColumn: String? = nil, keepAggregates: Bool = false) {
        self.bookColumn = bookColumn
        self.textColumn = textColumn
        self.keepAggregates = keepAggregates
    }

    static let bookCandidates = ["bid", "book_id", "book_title"]
    static let textCandidates = ["chapter", "text", "chapters_text"]
    static let chapterCandidates = ["chapter_path", "chapter_id", "chapter_title"]
}

/// What the BookSum importer kept and why it dropped the rest.
public struct BookSumImportReport: Sendable, Equatable, Codable {
    /// Rows read.
    public var rows = 0
    /// Skipped: aggregate rows (several chapters in one text).
    public var aggregates = 0
    /// Skipped: empty chapter text or book id.
    public var empty = 0
    /// Skipped: the same chapter text of the same book again (one row per summary source).
    public var duplicates = 0
    /// The columns used.
    public var bookColumn = ""
    public var textColumn = ""
    /// Users (books) and records (chapters) in the result.
    public var users = 0
    public var records = 0

    /// A report with every count zero.
    public init() {}

    /// `data import booksum` prints the report as JSON with these snake_case keys. userdp never
    /// reads a report back, so there is no earlier spelling to accept.
    enum CodingKeys: String, CodingKey {
        case rows, aggregates, empty, duplicates
        case bookColumn = "book_column"
        case textColumn = "text_column"
        case users, records
    }
}

/// Imports BookSum (Kryściński et al. 2021) at chapter level: one user per book, one record
/// per chapter, as in Chua et al. 2024.
public enum BookSum {
    /// Imports a `.csv` file (with a header) or a JSON Lines file (any other extension).
    public static func importFile(_ url: URL, options: BookSumImportOptions = BookSumImportOptions()) throws -> (
        records: [Record], report: BookSumImportReport
    ) {
        var collector = Collector(options: options)
        if url.pathExtension.lowercased() == "csv" {
            var columns: (book: String, text: String, chapter: String?)?
            try CSVTable(file: url.path).read(
                url,
                header: { header in
                    columns = try chooseColumns(header, options: options, file: url.path)
                    collector.report.bookColumn = columns!.book
                    collector.report.textColumn = columns!.text
                }
            ) { fields, _ in
                let row = fields.mapValues { String(decoding: $0, as: UTF8.self) }
                let aggregate = ["true", "1", "yes"].contains(row["is_aggregate"]?.lowercased() ?? "")
                collector.add(
                    book: row[columns!.book]!, text: row[columns!.text]!, chapter: columns!.chapter.flatMap { row[$0] },
                    aggregate: aggregate)
            }
        } else {
            if let problem = FileProblem.unreadableFile(url) { throw UserDataError.unreadable(path: url.path, reason: problem) }
            let data: Data
            do {
                data = try Data(contentsOf: url)
            } catch {
                throw UserDataError.unreadable(path: url.path, reason: FileProblem.describe(error))
            }
            var columns: (book: String, text: String, chapter: String?)?
            for (number, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                let value: JSONValue
                do {
                    value = try JSONValue(parsing: Data(line))
                } catch {
                    throw UserDataError.malformedJSON(file: url.path, line: number + 1, detail: error.reason)
                }
                guard case let .object(object) = value else { throw UserDataError.notAnObject(file: url.path, line: number + 1) }
                if columns == nil {
                    columns = try chooseColumns(object.keys.sorted(), options: options, file: url.path)
                    collector.report.bookColumn = columns!.book
                    collector.report.textColumn = columns!.text
                }
                guard let text = object[columns!.text] else {
                    throw UserDataError.missingField(file: url.path, line: number + 1, field: columns!.text)
                }
                guard case let .string(chapterText) = text else {
                    throw UserDataError.wrongType(file: url.path, line: number + 1, field: columns!.text, expected: "a string")
                }
                guard let book = object[columns!.book].flatMap(scalarText) else {
                    throw UserDataError.wrongType(file: url.path, line: number + 1, field: columns!.book, expected: "a string or number")
                }
                let aggregate = object["is_aggregate"] == .bool(true)
                collector.add(
                    book: book, text: chapterText, chapter: columns!.chapter.flatMap { object[$0] }.flatMap(scalarText),
                    aggregate: aggregate)
            }
            if columns == nil { throw UserDataError.emptyDataset(file: url.path) }
        }
        collector.report.users = Set(collector.records.map(\.user)).count
        collector.report.records = collector.records.count
        return (collector.records, collector.report)
    }

    /// The manifest for an imported BookSum dataset read from `source`.
    public static func manifest(name: String = "booksum", source: String, build: String?) -> DatasetManifest {
        DatasetManifest(
            name: name, description: "BookSum chapters by book: one user per book, one record per chapter.",
            source: "BookSum (Kryściński et al. 2021), chapter level, imported from \(source)",
            licence: "BSD-3-Clause (BookSum code and data); book texts from Project Gutenberg",
            build: build)
    }

    static func chooseColumns(_ available: [String], options: BookSumImportOptions, file: String) throws -> (
        book: String, text: String, chapter: String?
    ) {
        func pick(_ chosen: String?, _ candidates: [String]) throws -> String {
            if let chosen {
                guard available.contains(chosen) else {
                    throw UserDataError.missingColumn(file: file, column: chosen, available: available)
                }
                return chosen
            }
            guard let found = candidates.first(where: available.contains) else {
                throw UserDataError.missingColumn(file: file, column: candidates.joined(separator: " | "), available: available)
            }
            return found
        }
        return (
            try pick(options.bookColumn, BookSumImportOptions.bookCandidates),
            try pick(options.textColumn, BookSumImportOptions.textCandidates),
            BookSumImportOptions.chapterCandidates.first(where: available.contains)
        )
    }

    static func scalarText(_ value: JSONValue) -> String? {
        switch value {
        case let .string(text): return text
        case let .integer(number):
            return String(number)
        case let .number(number):
            return number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
        default: return nil
        }
    }

    struct Collector {
        let options: BookSumImportOptions
        var report = BookSumImportReport()
        var records: [Record] = []
        var seen: Set<String> = []

        init(options: BookSumImportOptions) { self.options = options }

        mutating func add(book: String, text: String, chapter: String?, aggregate: Bool) {
            report.rows += 1
            if aggregate && !options.keepAggregates {
                report.aggregates += 1
                return
            }
            let book = book.trimmingCharacters(in: .whitespacesAndNewlines)
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !book.isEmpty, !trimmed.isEmpty else {
                report.empty += 1
                return
            }
            guard seen.insert(book + "\u{0}" + trimmed).inserted else {
                report.duplicates += 1
                return
            }
            records.append(Record(user: book, text: trimmed, meta: chapter.map { ["chapter": .string($0)] }))
        }
    }
}
