import Foundation
import Randomness
import Testing
import TestSupport

@testable import UserData

/// Bad input for datasets and importers: records paths that leave the dataset folder, existing
/// folders, duplicate keys, and errors that stay one short escaped line.
@Suite struct DatasetBadInputTests {
    let manifestStart = #"{"version": 1, "name": "n", "source": "s", "licence": "l""#

    @Test("a manifest's records path may not leave the dataset folder", arguments: [
        "../../../../etc/passwd", "/etc/passwd", "sub/../../x.jsonl", "..", "", "~/x.jsonl",
    ])
    func recordsOutside(_ records: String) {
        #expect(throws: UserDataError.recordsOutsideDataset(file: "manifest.json", records: records)) {
            try DatasetManifest.decode(Data((manifestStart + #", "records": \#(JSONValueText(records))}"#).utf8), file: "manifest.json")
        }
        #expect(UserDataError.recordsOutsideDataset(file: "m", records: records).localizedDescription.contains("outside the dataset folder"))
    }

    @Test("records in a subfolder are fine; a symbolic link out of the folder is refused")
    func symbolicLinkOut() throws {
        let folder = try temporaryFolder()
        let outside = try temporaryFolder("symbolicLinkOutTarget")
        try Data(#"{"user": "u", "text": "secret"}"#.utf8).write(to: outside.appendingPathComponent("records.jsonl"))
        try Data((manifestStart + #", "records": "link/records.jsonl"}"#).utf8).write(to: folder.appendingPathComponent("manifest.json"))
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("link"), withDestinationURL: outside)
        #expect(throws: UserDataError.recordsOutsideDataset(file: folder.appendingPathComponent("manifest.json").path, records: "link/records.jsonl")) {
            try Dataset.load(from: folder)
        }
        #expect(DatasetManifest.isInsideFolder("parts/records.jsonl"))
    }

    @Test("duplicate keys in a manifest or a record are errors")
    func duplicateKeys() {
        do {
            _ = try DatasetManifest.decode(Data((manifestStart + #", "name": "m"}"#).utf8), file: "manifest.json")
            Issue.record("duplicate manifest key accepted")
        } catch let UserDataError.malformedManifest(_, detail) {
            #expect(detail.contains(#"duplicate key "name""#))
        } catch {
            Issue.record("unexpected \(error)")
        }
        do {
            _ = try JSONLines.parse(Data(#"{"user": "a", "text": "x", "user": "b"}"#.utf8), file: "f.jsonl")
            Issue.record("duplicate record key accepted")
        } catch let UserDataError.malformedJSON(_, line, detail) {
            #expect(line == 1 && detail.hasPrefix(#"duplicate key "user""#))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    func dataset(_ text: String) -> Dataset {
        Dataset(manifest: DatasetManifest(name: "d", source: "test", licence: "none"), records: [Record(user: "u", text: text)])
    }

    @Test("installing into an existing dataset folder is refused; with replacing it is swapped whole")
    func installRefusesThenReplaces() throws {
        let parent = try temporaryFolder()
        let target = parent.appendingPathComponent("ds")
        try dataset("old").install(into: target, replacing: false)
        try Data("keep".utf8).write(to: target.appendingPathComponent("notes.txt"))
        #expect(throws: UserDataError.destinationExists(path: target.path)) { try dataset("new").install(into: target, replacing: false) }
        #expect(try Dataset.load(from: target).0.records.map(\.text) == ["old"])
        try dataset("new").install(into: target, replacing: true)
        #expect(try Dataset.load(from: target).0.records.map(\.text) == ["new"])
        // The old folder went as a whole (no stray files mixed into the new dataset), and no
        // staging or old copies are left beside it.
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: target.path)) == ["manifest.json", "records.jsonl"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["ds"])
    }

    @Test("replacing never deletes a folder that is not a dataset, nor writes over a file")
    func installGuards() throws {
        let parent = try temporaryFolder()
        let home = parent.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: home.appendingPathComponent("thesis.tex"))
        #expect(throws: UserDataError.self) { try dataset("new").install(into: home, replacing: true) }
        #expect(FileManager.default.fileExists(atPath: home.appendingPathComponent("thesis.tex").path))
        let file = parent.appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        #expect(throws: UserDataError.unwritable(path: file.path, reason: "is a file, not a folder")) {
            try dataset("new").install(into: file, replacing: true)
        }
        // An empty folder is simply filled.
        let empty = parent.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        try dataset("new").install(into: empty, replacing: false)
        #expect(try Dataset.load(from: empty).0.records.count == 1)
    }

    @Test("a missing maildir is 'not found', a file given as maildir says so")
    func missingMaildir() throws {
        let folder = try temporaryFolder()
        let missing = folder.appendingPathComponent("no-such-maildir")
        #expect(throws: UserDataError.unreadable(path: missing.path, reason: "not found")) { try Enron.importMaildir(missing) }
        let file = folder.appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        #expect(throws: UserDataError.unreadable(path: file.path, reason: "is a file, not a folder")) { try Enron.importMaildir(file) }
    }

    @Test("a folder given as a CSV file is named in plain words")
    func folderAsCSV() throws {
        let folder = try temporaryFolder()
        #expect(throws: UserDataError.unreadable(path: folder.path, reason: "is a folder, not a file")) { try Enron.importCSV(folder) }
        #expect(throws: UserDataError.unreadable(path: folder.path, reason: "is a folder, not a file")) { try BookSum.importFile(folder) }
    }

    @Test("random bytes as a CSV give a short one-line error with escaped excerpts")
    func binaryCSV() throws {
        let folder = try temporaryFolder()
        let file = folder.appendingPathComponent("random.csv")
        var generator = Philox(seed: 13, stream: "random-csv")
        try Data((0..<4096).map { _ in UInt8(truncatingIfNeeded: generator.next()) }).write(to: file)
        do {
            _ = try Enron.importCSV(file)
            Issue.record("random bytes imported")
        } catch let error as UserDataError {
            let message = error.localizedDescription
            #expect(!message.contains("\n") && !message.contains("\u{fffd}"), "\(message)")
            #expect(message.count < 1200, "\(message.count) characters")
            #expect(message.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F })
        }
    }
}

/// A JSON string literal (for building test inputs).
func JSONValueText(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}
