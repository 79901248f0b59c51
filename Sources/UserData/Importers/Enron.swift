import Crypto
import Foundation
import Persistence

/// Options of the Enron importer.
public struct EnronImportOptions: Sendable, Equatable {
    /// Users with fewer records (after cleaning and de-duplication) are dropped.
    public var minRecordsPerUser: Int
    /// At most this many records per user are kept (the first in import order); nil keeps all.
    public var maxRecordsPerUser: Int?
    /// Bodies shorter than this many characters after cleaning are dropped.
    public var minLength: Int

    /// Keep every user and every non-empty body unless told otherwise.
    public init(minRecordsPerUser: Int = 1, maxRecordsPerUser: Int? = nil, minLength: Int = 1) {
        self.minRecordsPerUser = minRecordsPerUser
        self.maxRecordsPerUser = maxRecordsPerUser
        self.minLength = minLength
    }

    func validate() throws {
        guard minRecordsPerUser >= 1 else {
            throw UserDataError.invalidImportOption(name: "min-records", detail: "must be at least 1")
        }
        if let maxRecordsPerUser, maxRecordsPerUser < minRecordsPerUser {
            throw UserDataError.invalidImportOption(
                name: "max-records", detail: "\(maxRecordsPerUser) is below min-records \(minRecordsPerUser)")
        }
        guard minLength >= 1 else { throw UserDataError.invalidImportOption(name: "min-length", detail: "must be at least 1") }
    }
}

/// What the Enron importer kept and why it dropped the rest.
public struct EnronImportReport: Sendable, Equatable, Codable {
    /// Messages read.
    public var messages = 0
    /// Skipped: no `From` header, or no address in it.
    public var missingSender = 0
    /// Skipped: no `text/plain` part (HTML only, attachments only).
    public var noPlainText = 0
    /// Skipped: nothing left after removing quotes, forwards and signatures.
    public var emptyAfterCleaning = 0
    /// Skipped: shorter than the minimum length.
    public var tooShort = 0
    /// Skipped: same sender and same cleaned body as an earlier message (the corpus files one
    /// email in several folders).
    public var duplicates = 0
    /// Users dropped for having fewer records than the minimum, and their records.
    public var usersBelowMinimum = 0
    public var recordsOfUsersBelowMinimum = 0
    /// Records dropped beyond the per-user maximum.
    public var recordsBeyondMaximum = 0
    /// Users and records in the result.
    public var users = 0
    public var records = 0

    /// A report with every count zero.
    public init() {}

    /// `data import enron` prints the report as JSON with these snake_case keys. userdp never
    /// reads a report back, so there is no earlier spelling to accept.
    enum CodingKeys: String, CodingKey {
        case messages
        case missingSender = "missing_sender"
        case noPlainText = "no_plain_text"
        case emptyAfterCleaning = "empty_after_cleaning"
        case tooShort = "too_short"
        case duplicates
        case usersBelowMinimum = "users_below_minimum"
        case recordsOfUsersBelowMinimum = "records_of_users_below_minimum"
        case recordsBeyondMaximum = "records_beyond_maximum"
        case users, records
    }
}

/// Imports the Enron email corpus (Klimt & Yang 2004) as a user-level dataset: one user per
/// normalised sender address, one record per email body.
///
/// Reads either the widely distributed `emails.csv` (columns `file`, `message`; each message a
/// raw RFC 822 email) or the original maildir tree (`maildir/<person>/<folder>/<n>.`). Each
/// body is the decoded `text/plain` content (MIME multipart, quoted-printable, base64, Latin-1
/// and Windows-1252 handled) with quoted replies, forwarded and original-message blocks,
/// embedded header blocks and signatures removed (``cleanBody(_:)``).
public enum Enron {
    /// Imports `emails.csv`.
    public static func importCSV(_ url: URL, options: EnronImportOptions = EnronImportOptions()) throws -> (
        records: [Record], report: EnronImportReport
    ) {
        try options.validate()
        var collector = Collector(options: options)
        let table = CSVTable(file: url.path)
        try table.read(url, header: { try table.require(["file", "message"], in: $0) }) { row, _ in
            collector.add(id: String(decoding: row["file"]!, as: UTF8.self), raw: row["message"]!)
        }
        return collector.finish()
    }

    /// Imports a maildir tree: every regular file below `url` is one message, read in sorted
    /// path order; the record id is the path relative to `url`.
    public static func importMaildir(_ url: URL, options: EnronImportOptions = EnronImportOptions()) throws -> (
        records: [Record], report: EnronImportReport
    ) {
        try options.validate()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw UserDataError.unreadable(path: url.path, reason: "not found")
        }
        guard isDirectory.boolValue else { throw UserDataError.unreadable(path: url.path, reason: "is a file, not a folder") }
        guard let enumerator = FileManager.default.enumerator(
            at: url, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
        else { throw UserDataError.unreadable(path: url.path, reason: "not a folder") }
        let root = url.standardizedFileURL.path
        var files: [String] = []
        for case let file as URL in enumerator {
            guard (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let path = file.standardizedFileURL.path
            files.append(path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path)
        }
        if files.isEmpty { throw UserDataError.emptyDataset(file: url.path) }
        var collector = Collector(options: options)
        for relative in files.sorted() {
            let path = url.appendingPathComponent(relative).path
            guard let data = FileManager.default.contents(atPath: path) else {
                throw UserDataError.unreadable(path: path, reason: "cannot read")
            }
            collector.add(id: relative, raw: [UInt8](data))
        }
        return collector.finish()
    }

    /// The manifest for an imported Enron dataset read from `source`.
    public static func manifest(name: String = "enron", source: String, build: String?) -> DatasetManifest {
        DatasetManifest(
            name: name,
            description: "Enron emails by sender: one user per normalised From address, one record per cleaned body.",
            source: "Enron email corpus (Klimt & Yang 2004), imported from \(source)",
            licence: "Released by the US Federal Energy Regulatory Commission; research use (see the corpus distribution)",
            build: build)
    }

    // MARK: Senders and bodies

    /// The sender's address, lowercased, from a `From` header value such as
    /// `"Allen, Phillip" <Phillip.Allen@enron.com>`, `pallen@enron.com (Phillip Allen)` or
    /// `'phillip.allen@enron.com'`; nil when there is no address.
    public static func normaliseSender(_ value: String) -> String? {
        var text = EmailMessage.decodeEncodedWords(value)
        if let open = text.lastIndex(of: "<"), let close = text[open...].firstIndex(of: ">") {
            text = String(text[text.index(after: open)..<close])
        } else {
            // Drop comments "(Phillip Allen)" and take the token that holds the address.
            var withoutComments = ""
            var depth = 0
            for character in text {
                if character == "(" { depth += 1 } else if character == ")" { depth = max(0, depth - 1) } else if depth == 0 {
                    withoutComments.append(character)
                }
            }
            let tokens = withoutComments.split(whereSeparator: { $0 == " " || $0 == "," || $0 == ";" || $0 == "\t" })
            guard let token = tokens.first(where: { $0.contains("@") }) else { return nil }
            text = String(token)
        }
        var address = text.trimmingCharacters(in: CharacterSet(charactersIn: " \t\"'<>")).lowercased()
        if address.hasPrefix("mailto:") { address.removeFirst("mailto:".count) }
        guard let at = address.firstIndex(of: "@"), at != address.startIndex,
            address.index(after: at) != address.endIndex, !address.contains(" ")
        else { return nil }
        return address
    }

    /// The author's own words of an email body: everything from the first quoted or forwarded
    /// message on is cut (`-----Original Message-----`, `----- Forwarded by ...`,
    /// `Begin forwarded message:`, `On ... wrote:`, an embedded `From:` / `Sent:` header
    /// block, a Lotus Notes reply header `Name / 10/16/2000 01:42 PM / To: ...`), as is a
    /// signature after the `-- ` delimiter; lines quoted with `>` are removed; trailing spaces,
    /// leading and trailing blank lines, and runs of blank lines are trimmed.
    public static func cleanBody(_ body: String) -> String {
        var lines = body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .components(separatedBy: "\n")
        if let cut = lines.indices.first(where: { startsQuotedMaterial(lines, at: $0) }) {
            lines = Array(lines[..<lotusHeaderStart(lines, before: cut)])
        }
        var kept: [String] = []
        for line in lines {
            let stripped = String(line.reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
            if stripped.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix(">") { continue }
            if stripped.isEmpty && (kept.last?.isEmpty ?? true) { continue }
            kept.append(stripped)
        }
        while kept.last?.isEmpty == true { kept.removeLast() }
        return kept.joined(separator: "\n")
    }

    static func startsQuotedMaterial(_ lines: [String], at index: Int) -> Bool {
        let line = lines[index]
        if line == "-- " || line == "--" { return true }  // signature delimiter (RFC 3676 §4.3)
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        let compact = trimmed.lowercased().filter { $0 != " " }
        if compact.contains("-----originalmessage-----") || compact.hasPrefix("begin forwarded message:".filter { $0 != " " }) {
            return true
        }
        if compact.hasPrefix("-") && (compact.contains("forwardedby") || compact.contains("forwardedmessage")) { return true }
        let lower = trimmed.lowercased()
        if lower.hasPrefix("on ") {
            // "On Mon, 14 May 2001, Tim wrote:", sometimes wrapped onto a second line.
            let next = index + 1 < lines.count ? lines[index + 1].lowercased().trimmingCharacters(in: .whitespaces) : ""
            if lower.hasSuffix("wrote:") || next.hasSuffix("wrote:") { return true }
        }
        if lower.hasPrefix("from:") {
            let following = lines[(index + 1)..<min(lines.count, index + 4)].map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            if following.contains(where: { line in ["sent:", "to:", "date:", "subject:", "cc:"].contains { line.hasPrefix($0) } }) {
                return true
            }
        }
        if lower.hasPrefix("to:") && index >= 1 {
            return lines[max(0, index - 2)..<index].contains(where: containsDateTime)
        }
        return false
    }

    /// A Lotus Notes reply header puts the sender's name and a date above its `To:` line; the
    /// cut moves up to include them.
    static func lotusHeaderStart(_ lines: [String], before cut: Int) -> Int {
        guard lines[cut].trimmingCharacters(in: .whitespaces).lowercased().hasPrefix("to:") else { return cut }
        guard let dateLine = (max(0, cut - 2)..<cut).first(where: { containsDateTime(lines[$0]) }) else { return cut }
        if dateLine >= 1 && !lines[dateLine - 1].trimmingCharacters(in: .whitespaces).isEmpty { return dateLine - 1 }
        return dateLine
    }

    /// Whether a line holds a date and a time such as `10/16/2000 01:42 PM`.
    static func containsDateTime(_ line: String) -> Bool {
        let bytes = Array(line.utf8)
        func digits(from start: Int) -> Int {
            var end = start
            while end < bytes.count && bytes[end] >= UInt8(ascii: "0") && bytes[end] <= UInt8(ascii: "9") { end += 1 }
            return end - start
        }
        var index = 0
        while index < bytes.count {
            let month = digits(from: index)
            if (1...2).contains(month), index + month < bytes.count, bytes[index + month] == UInt8(ascii: "/") {
                let dayStart = index + month + 1
                let day = digits(from: dayStart)
                if (1...2).contains(day), dayStart + day < bytes.count, bytes[dayStart + day] == UInt8(ascii: "/") {
                    let yearStart = dayStart + day + 1
                    let year = digits(from: yearStart)
                    if (2...4).contains(year) {
                        let rest = Array(bytes[(yearStart + year)...])
                        func isDigit(_ position: Int) -> Bool {
                            position >= 0 && position < rest.count && rest[position] >= UInt8(ascii: "0")
                                && rest[position] <= UInt8(ascii: "9")
                        }
                        return rest.indices.contains { position in
                            rest[position] == UInt8(ascii: ":") && isDigit(position - 1) && isDigit(position + 1)
                                && isDigit(position + 2)
                        }
                    }
                }
            }
            index += max(month, 1)
        }
        return false
    }

    // MARK: Collecting

    struct Collector {
        let options: EnronImportOptions
        var report = EnronImportReport()
        var records: [Record] = []
        var seen: Set<[UInt8]> = []

        init(options: EnronImportOptions) { self.options = options }

        mutating func add(id: String, raw: [UInt8]) {
            report.messages += 1
            let message = EmailMessage(raw)
            guard let from = message.header("From"), let sender = Enron.normaliseSender(from) else {
                report.missingSender += 1
                return
            }
            guard let text = message.plainText() else {
                report.noPlainText += 1
                return
            }
            let body = Enron.cleanBody(text)
            guard !body.isEmpty else {
                report.emptyAfterCleaning += 1
                return
            }
            guard body.unicodeScalars.count >= options.minLength else {
                report.tooShort += 1
                return
            }
            // A digest rather than the text keeps memory flat over half a million emails.
            let key = Array(SHA256.hash(data: Data((sender + "\u{0}" + body).utf8)))
            guard seen.insert(key).inserted else {
                report.duplicates += 1
                return
            }
            var meta: [String: JSONValue] = [:]
            if let subject = message.header("Subject"), !subject.isEmpty {
                meta["subject"] = .string(EmailMessage.decodeEncodedWords(subject))
            }
            if let date = message.header("Date") { meta["date"] = .string(date) }
            records.append(Record(user: sender, text: body, id: id, meta: meta.isEmpty ? nil : meta))
        }

        mutating func finish() -> (records: [Record], report: EnronImportReport) {
            var counts: [String: Int] = [:]
            for record in records { counts[record.user, default: 0] += 1 }
            var kept: [String: Int] = [:]
            var result: [Record] = []
            for record in records {
                guard counts[record.user]! >= options.minRecordsPerUser else {
                    report.recordsOfUsersBelowMinimum += 1
                    continue
                }
                if let maximum = options.maxRecordsPerUser, kept[record.user, default: 0] >= maximum {
                    report.recordsBeyondMaximum += 1
                    continue
                }
                kept[record.user, default: 0] += 1
                result.append(record)
            }
            report.usersBelowMinimum = counts.values.filter { $0 < options.minRecordsPerUser }.count
            report.users = kept.count
            report.records = result.count
            return (result, report)
        }
    }
}
