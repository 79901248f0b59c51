import Foundation
import Testing
import TestSupport

@testable import UserData

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

@Suite struct EnronCSVTests {
    let csv = fixtures.appendingPathComponent("enron/emails.csv")

    @Test func importsCleanedBodiesBySender() throws {
        let (records, report) = try Enron.importCSV(csv)
        let expected: [(String, String)] = [
            ("phillip.allen@enron.com", "Here is our forecast"),
            ("phillip.allen@enron.com", "Sounds good, let's \"meet\" on Friday.\nBring the numbers."),
            ("sally.beck@enron.com", "Lunch at the café tomorrow? It is a very long line that the sender wrapped softly.\nSee you there."),
            ("sally.beck@enron.com", "Réunion à 10h demain."),
            ("sally.beck@enron.com", "Thanks!"),
            ("tim.belden@enron.com", "Got it, thanks."),
            ("tim.belden@enron.com", "ok"),
        ]
        #expect(records.map(\.user) == expected.map(\.0))
        #expect(records.map(\.text) == expected.map(\.1))
        #expect(records.map(\.id) == [
            "allen-p/_sent_mail/1.", "allen-p/_sent_mail/2.", "beck-s/inbox/1.", "beck-s/inbox/2.", "beck-s/sent/3.",
            "belden-t/sent/1.", "belden-t/sent/2.",
        ])
        #expect(records[2].meta?["subject"] == .string("Café lunch"), "RFC 2047 subject decoded")
        var expectedReport = EnronImportReport()
        expectedReport.messages = 11
        expectedReport.missingSender = 1
        expectedReport.noPlainText = 1
        expectedReport.emptyAfterCleaning = 1
        expectedReport.duplicates = 1
        expectedReport.users = 3
        expectedReport.records = 7
        #expect(report == expectedReport)
    }

    @Test func minimumsAndMaximumsPerUser() throws {
        let (records, report) = try Enron.importCSV(
            csv, options: EnronImportOptions(minRecordsPerUser: 2, maxRecordsPerUser: 2, minLength: 3))
        #expect(report.tooShort == 1, "\"ok\" is two characters")
        #expect(report.usersBelowMinimum == 1 && report.recordsOfUsersBelowMinimum == 1, "tim has one record left")
        #expect(report.recordsBeyondMaximum == 1, "sally's third record")
        #expect(records.map(\.id) == ["allen-p/_sent_mail/1.", "allen-p/_sent_mail/2.", "beck-s/inbox/1.", "beck-s/inbox/2."])
        #expect(report.users == 2 && report.records == 4)
        #expect(throws: UserDataError.invalidImportOption(name: "max-records", detail: "1 is below min-records 2")) {
            try Enron.importCSV(csv, options: EnronImportOptions(minRecordsPerUser: 2, maxRecordsPerUser: 1))
        }
    }

    @Test func missingColumnIsNamed() throws {
        let file = try temporaryFolder().appendingPathComponent("bad.csv")
        try Data("\"path\",\"message\"\n\"a\",\"b\"\n".utf8).write(to: file)
        #expect(throws: UserDataError.missingColumn(file: file.path, column: "file", available: ["path", "message"])) {
            try Enron.importCSV(file)
        }
    }
}

@Suite struct EnronMaildirTests {
    @Test func importsRawFilesWithTheirCharsets() throws {
        let (records, report) = try Enron.importMaildir(fixtures.appendingPathComponent("enron/maildir"))
        #expect(records.map(\.id) == ["allen-p/sent/1.", "beck-s/inbox/1.", "beck-s/inbox/2."])
        #expect(records.map(\.text) == [
            "Here is our forecast", "Café au lait, s'il vous plaît.", "He said \u{201C}hello\u{201D} \u{2013} twice.",
        ])
        #expect(report.messages == 5 && report.duplicates == 1 && report.missingSender == 1)
        #expect(report.users == 2)
    }
}

@Suite struct EmailPartsTests {
    @Test func sendersAreNormalised() {
        #expect(Enron.normaliseSender("\"Allen, Phillip\" <Phillip.Allen@Enron.com>") == "phillip.allen@enron.com")
        #expect(Enron.normaliseSender("pallen@enron.com (Phillip Allen)") == "pallen@enron.com")
        #expect(Enron.normaliseSender("'phillip.allen@enron.com'") == "phillip.allen@enron.com")
        #expect(Enron.normaliseSender("mailto:A@B.COM") == "a@b.com")
        #expect(Enron.normaliseSender("Phillip Allen") == nil)
        #expect(Enron.normaliseSender("@enron.com") == nil)
    }

    @Test func bodyCleaningCutsQuotesForwardsAndSignatures() {
        #expect(Enron.cleanBody("Yes.\n\n-----Original Message-----\nFrom: x\nNo.") == "Yes.")
        #expect(Enron.cleanBody("Yes.\r\n> no\r\n>> no\r\nAnd more.") == "Yes.\nAnd more.")
        #expect(Enron.cleanBody("Hi\n-- \nSig") == "Hi")
        #expect(Enron.cleanBody("Hi\n\n\n\nthere  \n\n") == "Hi\n\nthere")
        #expect(Enron.cleanBody("See below.\nFrom: Tim\nSent: Monday\nTo: me\n\nold") == "See below.")
        #expect(Enron.cleanBody("See below.\n\nBegin forwarded message:\n\nold") == "See below.")
        #expect(Enron.cleanBody("Fine.\nOn Mon, May 14, 2001 at 4:39 PM, Tim Belden\n<tim@enron.com> wrote:\nold") == "Fine.")
        #expect(Enron.cleanBody("From: the desk of Tim, greetings.\nAll good.") == "From: the desk of Tim, greetings.\nAll good.")
        #expect(Enron.containsDateTime("05/14/2001 04:39 PM"))
        #expect(!Enron.containsDateTime("Call 713/853/5555 at noon"))
    }

    @Test func transferEncodings() {
        #expect(EmailMessage.decodeQuotedPrintable(Array("caf=E9 au=\nlait=3D".utf8)) == Array("caf".utf8) + [0xE9] + Array(" aulait=".utf8))
        #expect(String(decoding: EmailMessage.decodeBase64(Array("aGVs\nbG8=".utf8)), as: UTF8.self) == "hello")
        #expect(EmailMessage.decodeEncodedWords("=?utf-8?B?w6ln?= =?iso-8859-1?Q?_caf=E9?=") == "ég café")
        #expect(Charset.decode([0x93, 0x61, 0x94], charset: "windows-1252", wasEncoded: true) == "\u{201C}a\u{201D}")
        #expect(Charset.decode(Array("é".utf8), charset: "iso-8859-1", wasEncoded: false) == "é", "already UTF-8")
        #expect(Charset.decode([0xE9], charset: "us-ascii", wasEncoded: false) == "é", "8-bit bytes in a mislabelled message")
    }

    @Test func csvQuotingAcrossLinesAndChunks() throws {
        var rows: [([String], Int)] = []
        let text = "a,b\r\n\"x, \"\"y\"\"\nz\",2\n\n3,\"\"\n"
        try CSVReader(file: "t.csv").parse(Array(text.utf8)) { fields, line in
            rows.append((fields.map { String(decoding: $0, as: UTF8.self) }, line))
        }
        #expect(rows.map(\.0) == [["a", "b"], ["x, \"y\"\nz", "2"], ["3", ""]])
        #expect(rows.map(\.1) == [1, 2, 5])
        #expect(throws: UserDataError.malformedCSV(file: "t.csv", line: 2, detail: "quoted field never closed")) {
            try CSVReader(file: "t.csv").parse(Array("a\n\"open\n".utf8)) { _, _ in }
        }
        #expect(throws: UserDataError.malformedCSV(file: "t.csv", line: 1, detail: "unexpected character after a closing quote")) {
            try CSVReader(file: "t.csv").parse(Array("\"a\"b\n".utf8)) { _, _ in }
        }
    }
}

@Suite struct BookSumTests {
    @Test func chapterCSVGivesOneUserPerBook() throws {
        let (records, report) = try BookSum.importFile(fixtures.appendingPathComponent("booksum/chapter_summaries.csv"))
        #expect(records.map(\.user) == ["98", "98", "2701"])
        #expect(records[1].text == "Chapter 2.\nThere was a \"steaming mist\" in all the hollows, and it had roamed.")
        #expect(records[0].meta == ["chapter": .string("all_chapterized_books/98-chapters/1.txt")])
        #expect(report.rows == 5 && report.duplicates == 1 && report.aggregates == 1)
        #expect(report.bookColumn == "bid" && report.textColumn == "chapter")
        #expect(report.users == 2 && report.records == 3)
    }

    @Test func jsonLinesWithNumericBookIDs() throws {
        let (records, report) = try BookSum.importFile(fixtures.appendingPathComponent("booksum/chapters.jsonl"))
        #expect(records.map(\.user) == ["98", "98", "2701"])
        #expect(records.map(\.text) == ["It was the best of times.", "There was a steaming mist.", "Call me Ishmael."])
        #expect(report.textColumn == "text" && report.aggregates == 1)
        let (all, _) = try BookSum.importFile(
            fixtures.appendingPathComponent("booksum/chapters.jsonl"),
            options: BookSumImportOptions(bookColumn: "book_title", keepAggregates: true))
        #expect(all.map(\.user) == ["A Tale of Two Cities", "A Tale of Two Cities", "Moby Dick", "Moby Dick"])
    }

    @Test func unknownColumnIsReported() {
        let file = fixtures.appendingPathComponent("booksum/chapters.jsonl")
        #expect(throws: UserDataError.missingColumn(
            file: file.path, column: "book", available: ["bid", "book_title", "chapter_id", "is_aggregate", "summary", "text"])) {
            try BookSum.importFile(file, options: BookSumImportOptions(bookColumn: "book"))
        }
    }
}
