import Foundation
import Testing
import TestSupport

@testable import UserData

@Suite struct JSONLinesTests {
    @Test func roundTripKeepsEveryField() throws {
        let records = [
            Record(user: "ann", text: "line one\nline \"two\"\t\\ done", id: "a1"),
            Record(user: "bob ✓", text: "café – naïve 😀", meta: ["n": .number(3), "tags": .array([.string("x"), .null])]),
            Record(user: "ann", text: "\u{1}control"),
        ]
        let data = JSONLines.encode(records)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.split(separator: "\n").count == 3, "one physical line per record")
        let (parsed, skipped) = try JSONLines.parse(data, file: "memory")
        #expect(parsed == records)
        #expect(skipped.isEmpty)
    }

    @Test func blankLinesAndCarriageReturnsAreTolerated() throws {
        let text = "{\"user\":\"u\",\"text\":\"a\"}\r\n\n   \n{\"user\":\"v\",\"text\":\"b\"}"
        let (parsed, _) = try JSONLines.parse(Data(text.utf8), file: "f.jsonl")
        #expect(parsed.map(\.user) == ["u", "v"])
    }

    @Test(arguments: [
        ("[1, 2]", UserDataError.notAnObject(file: "f.jsonl", line: 2)),
        ("{\"text\":\"x\"}", .missingField(file: "f.jsonl", line: 2, field: "user")),
        ("{\"user\":\"u\"}", .missingField(file: "f.jsonl", line: 2, field: "text")),
        ("{\"user\":7,\"text\":\"x\"}", .wrongType(file: "f.jsonl", line: 2, field: "user", expected: "a string")),
        ("{\"user\":\"u\",\"text\":[\"x\"]}", .wrongType(file: "f.jsonl", line: 2, field: "text", expected: "a string")),
        ("{\"user\":\"u\",\"text\":\"x\",\"id\":3}", .wrongType(file: "f.jsonl", line: 2, field: "id", expected: "a string")),
        ("{\"user\":\"u\",\"text\":\"x\",\"meta\":\"m\"}", .wrongType(file: "f.jsonl", line: 2, field: "meta", expected: "an object")),
        ("{\"user\":\"u\",\"text\":\"  \\n \"}", .emptyText(file: "f.jsonl", line: 2)),
        ("{\"user\":\"\",\"text\":\"x\"}", .emptyUser(file: "f.jsonl", line: 2)),
        ("{\"user\":\"u\",\"text\":\"x\",\"author\":\"y\"}", .unknownField(file: "f.jsonl", line: 2, field: "author")),
        ("{\"user\":\"u\",\"text\":\"x\",\"id\":\"a\"}", .duplicateID(file: "f.jsonl", line: 2, id: "a", firstLine: 1)),
    ])
    func invalidSecondLineIsReportedWithFileAndLine(line: String, expected: UserDataError) throws {
        let text = "{\"user\":\"u\",\"text\":\"ok\",\"id\":\"a\"}\n" + line + "\n"
        #expect(throws: expected) { try JSONLines.parse(Data(text.utf8), file: "f.jsonl") }
        let (parsed, skipped) = try JSONLines.parse(Data(text.utf8), file: "f.jsonl", skipInvalid: true)
        #expect(parsed.count == 1)
        #expect(skipped == [expected])
    }

    @Test func malformedJSONNamesTheLine() {
        let text = "{\"user\":\"u\",\"text\":\"ok\"}\n\n{\"user\": \"u\", \"text\": \"unterminated}\n"
        do {
            _ = try JSONLines.parse(Data(text.utf8), file: "bad.jsonl")
            Issue.record("expected an error")
        } catch let UserDataError.malformedJSON(file, line, _) {
            #expect(file == "bad.jsonl")
            #expect(line == 3, "blank lines count towards the line number")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func fileOfOnlyInvalidLinesIsEmpty() {
        let text = "{\"user\":\"u\"}\n"
        #expect(throws: UserDataError.emptyDataset(file: "f.jsonl")) {
            try JSONLines.parse(Data(text.utf8), file: "f.jsonl", skipInvalid: true)
        }
    }
}

@Suite struct ManifestTests {
    func decode(_ json: String) throws -> DatasetManifest {
        try DatasetManifest.decode(Data(json.utf8), file: "manifest.json")
    }

    @Test func roundTripAndDefaults() throws {
        let manifest = try decode(#"{"version": 1, "name": "n", "source": "s", "licence": "l"}"#)
        #expect(manifest.records == "records.jsonl")
        #expect(manifest.split == SplitSettings())
        let again = try DatasetManifest.decode(manifest.encoded(), file: "m")
        var current = manifest
        current.version = DatasetManifest.currentVersion
        #expect(again == current)
    }

    /// Version 1 spelled three statistics keys in camelCase; they are still read, and written
    /// back in snake_case as version 2.
    @Test func version1StatisticsKeysAreReadAndWrittenInSnakeCase() throws {
        let quantiles = #"{"count": 2, "mean": 1.5, "min": 1, "p10": 1.1, "p25": 1.25, "median": 1.5, "p75": 1.75, "p90": 1.9, "p99": 1.99, "max": 2}"#
        let legacy = try decode(#"""
            {"version": 1, "name": "n", "source": "s", "licence": "l", "statistics": {"users": 1, "records": 2,
             "characters": 3, "words": 2, "tokenizer": "t", "tokens": 3, "recordsPerUser": \#(quantiles),
             "charactersPerRecord": \#(quantiles), "tokensPerRecord": \#(quantiles)}}
            """#)
        let statistics = try #require(legacy.statistics)
        #expect(statistics.recordsPerUser.count == 2 && statistics.charactersPerRecord.p99 == 1.99 && statistics.tokensPerRecord?.max == 2)

        let written = String(decoding: legacy.encoded(), as: UTF8.self)
        for key in ["\"records_per_user\"", "\"characters_per_record\"", "\"tokens_per_record\"", "\"version\" : 2"] {
            #expect(written.contains(key), "\(key) missing from \(written)")
        }
        #expect(!written.contains("PerUser") && !written.contains("PerRecord"), "\(written)")
        #expect(try DatasetManifest.decode(Data(written.utf8), file: "m").statistics == statistics)
    }

    @Test func partialSplitTakesDefaultsForTheRest() throws {
        let manifest = try decode(
            #"{"version": 1, "name": "n", "source": "s", "licence": "l", "split": {"unit": "record", "seed": 9}}"#)
        #expect(manifest.split == SplitSettings(unit: .record, seed: 9))
    }

    @Test func errorsNameTheKey() {
        #expect(throws: UserDataError.unknownManifestKey(file: "manifest.json", key: "licnce")) {
            try decode(#"{"version": 1, "name": "n", "source": "s", "licence": "l", "licnce": "x"}"#)
        }
        #expect(throws: UserDataError.unknownManifestKey(file: "manifest.json", key: "split.sed")) {
            try decode(#"{"version": 1, "name": "n", "source": "s", "licence": "l", "split": {"sed": 1}}"#)
        }
        #expect(throws: UserDataError.unsupportedManifestVersion(file: "manifest.json", version: 3, highestSupported: 2)) {
            try decode(#"{"version": 3, "name": "n", "source": "s", "licence": "l"}"#)
        }
        #expect(throws: UserDataError.missingManifestKey(file: "manifest.json", key: "licence")) {
            try decode(#"{"version": 1, "name": "n", "source": "s"}"#)
        }
        #expect(throws: UserDataError.missingManifestKey(file: "manifest.json", key: "version")) {
            try decode(#"{"name": "n", "source": "s", "licence": "l"}"#)
        }
        #expect(throws: UserDataError.invalidManifestValue(file: "manifest.json", key: "split.seed", expected: "of type UInt64")) {
            try decode(#"{"version": 1, "name": "n", "source": "s", "licence": "l", "split": {"seed": "x"}}"#)
        }
    }
}

@Suite struct DatasetLocatorTests {
    func makeRepository(_ name: String = #function) throws -> URL {
        let root = try temporaryFolder(name)
        let dataset = Dataset(
            manifest: DatasetManifest(name: "tiny", source: "test", licence: "none"),
            records: [Record(user: "u", text: "hello")])
        try dataset.write(to: root.appendingPathComponent("data/tiny"))
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent(".build/release"), withIntermediateDirectories: true)
        return root
    }

    @Test func nameResolvesUpwardFromTheBuildFolder() throws {
        let root = try makeRepository()
        let found = try DatasetLocator.locate(
            "tiny", currentDirectory: root.appendingPathComponent(".build/release"), environment: [:], executable: nil)
        #expect(found.standardizedFileURL.path == root.appendingPathComponent("data/tiny").standardizedFileURL.path)
        let (dataset, report) = try Dataset.load(from: found)
        #expect(dataset.records == [Record(user: "u", text: "hello")])
        #expect(report == LoadReport(records: 1, skipped: []))
    }

    @Test func nameResolvesFromTheExecutableWhenRunElsewhere() throws {
        let root = try makeRepository()
        let elsewhere = try temporaryFolder("elsewhereForExecutable")
        let found = try DatasetLocator.locate(
            "tiny", currentDirectory: elsewhere, environment: [:],
            executable: root.appendingPathComponent(".build/release/userdp"))
        #expect(found.lastPathComponent == "tiny")
    }

    @Test func environmentOverridesTheRepository() throws {
        let root = try makeRepository()
        let other = try temporaryFolder("otherForEnvironment")
        let dataset = Dataset(
            manifest: DatasetManifest(name: "override", source: "s", licence: "l"), records: [Record(user: "x", text: "y")])
        try dataset.write(to: other.appendingPathComponent("tiny"))
        let found = try DatasetLocator.locate(
            "tiny", currentDirectory: root, environment: ["USERDP_DATA": other.path], executable: nil)
        #expect(try Dataset.load(from: found).0.manifest.name == "override")
    }

    @Test func pathsAndBareFilesWork() throws {
        let root = try makeRepository()
        let file = root.appendingPathComponent("loose.jsonl")
        try Data("{\"user\":\"a\",\"text\":\"b\"}\n".utf8).write(to: file)
        let found = try DatasetLocator.locate("loose.jsonl", currentDirectory: root, environment: [:], executable: nil)
        let (dataset, _) = try Dataset.load(from: found)
        #expect(dataset.manifest.name == "loose")
        #expect(try DatasetLocator.locate(root.appendingPathComponent("data/tiny").path, environment: [:], executable: nil).lastPathComponent == "tiny")
    }

    @Test func missingNameListsWhereItLooked() throws {
        let root = try makeRepository()
        do {
            _ = try DatasetLocator.locate("absent", currentDirectory: root, environment: [:], executable: nil)
            Issue.record("expected an error")
        } catch let UserDataError.datasetNotFound(name, searched) {
            #expect(name == "absent")
            #expect(searched.contains(root.appendingPathComponent("data/absent").standardizedFileURL.path))
        }
    }
}

@Suite struct DatasetTests {
    @Test func usersInFirstAppearanceOrderWithRecordsInFileOrder() {
        let dataset = Dataset(
            manifest: DatasetManifest(name: "t", source: "s", licence: "l"),
            records: [
                Record(user: "b", text: "1"), Record(user: "a", text: "2"), Record(user: "b", text: "3"),
            ])
        let groups = dataset.recordsByUser()
        #expect(groups.map(\.user) == ["b", "a"])
        #expect(groups.map(\.records) == [[0, 2], [1]])
        #expect(dataset.recordKey(1) == "#1")
    }

    @Test func contentHashSeesTextUserAndOrderButNotMeta() {
        let base = [Record(user: "a", text: "x"), Record(user: "b", text: "y")]
        let manifest = DatasetManifest(name: "t", source: "s", licence: "l")
        let hash = Dataset(manifest: manifest, records: base).contentHash()
        #expect(hash.count == 64)
        var meta = base
        meta[0].meta = ["k": .bool(true)]
        #expect(Dataset(manifest: manifest, records: meta).contentHash() == hash)
        #expect(Dataset(manifest: manifest, records: base.reversed()).contentHash() != hash)
        #expect(Dataset(manifest: manifest, records: [Record(user: "a", text: "xb"), Record(user: "", text: "y")]).contentHash() != hash)
        var renamed = base
        renamed[1].user = "a"
        #expect(Dataset(manifest: manifest, records: renamed).contentHash() != hash)
    }

    @Test func statisticsQuantilesMatchNumPyLinearInterpolation() {
        let q = Quantiles([1, 2, 3, 4])
        #expect(q.median == 2.5)
        #expect(abs(q.p90 - 3.7) < 1e-12, "numpy.percentile([1,2,3,4], 90) = 3.7")
        #expect(abs(q.p25 - 1.75) < 1e-12)
        #expect(q.mean == 2.5 && q.min == 1 && q.max == 4)
        let dataset = Dataset(
            manifest: DatasetManifest(name: "t", source: "s", licence: "l"),
            records: [Record(user: "a", text: "ab cd"), Record(user: "a", text: "é"), Record(user: "b", text: "x")])
        let statistics = dataset.statistics(tokenizer: ByteTokenizer())
        #expect(statistics.users == 2 && statistics.records == 3)
        #expect(statistics.characters == 7 && statistics.words == 4)
        #expect(statistics.tokens == 8, "é is two UTF-8 bytes")
        #expect(statistics.recordsPerUser.max == 2)
    }
}
