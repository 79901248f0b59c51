import Foundation
import Testing
import TestSupport

@testable import UserData

/// `users` users; user u has u % 7 + 1 records.
func syntheticDataset(users: Int) -> Dataset {
    var records: [Record] = []
    for user in 0..<users {
        for record in 0...(user % 7) {
            records.append(Record(user: "user\(user)", text: "text \(user).\(record) " + String(repeating: "x", count: record)))
        }
    }
    // Interleave users so that file order and user order differ.
    records.sort { ($0.text.count, $0.text) < ($1.text.count, $1.text) }
    return Dataset(manifest: DatasetManifest(name: "synthetic", source: "tests", licence: "none"), records: records)
}

@Suite struct SplitTests {
    let dataset = syntheticDataset(users: 100)

    @Test func byUserGivesDisjointUsersInTheRightProportions() throws {
        let split = try dataset.split(SplitSettings())
        let all = (split.train + split.validation + split.test).sorted()
        #expect(all == Array(dataset.records.indices), "every record in exactly one part")
        func users(_ indices: [Int]) -> Set<String> { Set(indices.map { dataset.records[$0].user }) }
        #expect(users(split.train).count == 80 && users(split.validation).count == 10 && users(split.test).count == 10)
        #expect(users(split.test).isDisjoint(with: users(split.train)))
        #expect(users(split.test).isDisjoint(with: users(split.validation)))
        #expect(users(split.validation).isDisjoint(with: users(split.train)))
        #expect(split.train == split.train.sorted())
    }

    @Test func splitsAreDeterministicAndSeeded() throws {
        let a = try dataset.split(SplitSettings(seed: 4))
        #expect(try dataset.split(SplitSettings(seed: 4)) == a)
        #expect(try dataset.split(SplitSettings(seed: 5)).test != a.test)
        #expect(try dataset.split() == dataset.split(dataset.manifest.split), "the manifest's split by default")
    }

    @Test func byRecordSplitsEachUserAndNeverSharesARecord() throws {
        let split = try dataset.split(SplitSettings(unit: .record, train: 0.5, validation: 0.25, test: 0.25, seed: 1))
        #expect(Set(split.train).isDisjoint(with: split.test))
        #expect(Set(split.validation).isDisjoint(with: split.test))
        #expect((split.train + split.validation + split.test).sorted() == Array(dataset.records.indices))
        for group in dataset.recordsByUser() {
            let n = group.records.count
            let test = group.records.filter(split.test.contains).count
            let validation = group.records.filter(split.validation.contains).count
            // round-half-away: n = 2 gives 1 test, 0... see SplitSettings.counts
            let expectedTest = Int((Double(n) * 0.25).rounded(.toNearestOrAwayFromZero))
            #expect(test == expectedTest, "user \(group.user) with \(n) records")
            #expect(validation == min(n - expectedTest, Int((Double(n) * 0.25).rounded(.toNearestOrAwayFromZero))))
        }
    }

    @Test func invalidFractionsAreRejected() {
        #expect(throws: UserDataError.invalidSplitFractions(train: 0.8, validation: 0.1, test: 0.2)) {
            try dataset.split(SplitSettings(train: 0.8, validation: 0.1, test: 0.2))
        }
        #expect(throws: UserDataError.invalidSplitFractions(train: 1.1, validation: -0.1, test: 0)) {
            try dataset.split(SplitSettings(train: 1.1, validation: -0.1, test: 0))
        }
    }

    @Test func tokenizedPartsKeepOnlyTheirRecords() throws {
        let split = try dataset.split()
        let tokenized = TokenizedDataset.tokenize(dataset, with: ByteTokenizer())
        let test = tokenized.part(.test, of: split)
        let train = tokenized.part(.train, of: split)
        #expect(test.recordCount == split.test.count && train.recordCount == split.train.count)
        #expect(Set(test.users.map(\.user)).isDisjoint(with: train.users.map(\.user)))
        let trainTexts = Set(train.users.flatMap(\.records))
        for index in split.test {
            #expect(!trainTexts.contains(ByteTokenizer().encode(dataset.records[index].text)), "test text in training")
        }
    }
}

@Suite struct TokenCacheTests {
    let dataset = syntheticDataset(users: 12)

    @Test func encodingRoundTrips() throws {
        let tokenized = TokenizedDataset.tokenize(dataset, with: ByteTokenizer())
        let decoded = try TokenizedDataset.decode(tokenized.encoded(), path: "memory")
        #expect(decoded == tokenized)
        #expect(decoded.separator == 256)
        #expect(decoded.users[0].recordKeys == dataset.recordsByUser()[0].records.map { "#\($0)" })
    }

    @Test func secondLookupIsAHitAndChangesMiss() throws {
        let cache = TokenCache(directory: try temporaryFolder())
        let (first, firstCached) = try cache.tokenized(dataset, with: ByteTokenizer())
        #expect(!firstCached)
        let (second, secondCached) = try cache.tokenized(dataset, with: ByteTokenizer())
        #expect(secondCached && second == first)

        var edited = dataset
        edited.records[3].text += "!"
        let (changed, changedCached) = try cache.tokenized(edited, with: ByteTokenizer())
        #expect(!changedCached)
        #expect(changed.tokenCount == first.tokenCount + 1)

        let (other, otherCached) = try cache.tokenized(dataset, with: ShiftedTokenizer())
        #expect(!otherCached)
        #expect(other.users[0].records[0] == first.users[0].records[0].map { $0 + 1 })

        let files = try FileManager.default.contentsOfDirectory(atPath: cache.directory.path)
        #expect(files.count == 3)
        #expect(files.allSatisfy { $0.hasSuffix(".tokens") }, "no temporary files left: \(files)")
    }

    @Test func corruptFilesAreDetectedAndRebuilt() throws {
        let cache = TokenCache(directory: try temporaryFolder())
        let (fresh, _) = try cache.tokenized(dataset, with: ByteTokenizer())
        let file = cache.url(datasetHash: dataset.contentHash(), tokenizerIdentity: ByteTokenizer().identity)
        var bytes = [UInt8](try Data(contentsOf: file))
        bytes[bytes.count / 2] ^= 0xFF
        try Data(bytes).write(to: file)
        #expect(throws: UserDataError.corruptCache(path: file.path, reason: "checksum mismatch")) {
            try TokenizedDataset.decode(Data(bytes), path: file.path)
        }
        #expect(throws: UserDataError.corruptCache(path: "p", reason: "truncated")) {
            try TokenizedDataset.decode(Data(bytes.prefix(20)), path: "p")
        }
        let (rebuilt, cached) = try cache.tokenized(dataset, with: ByteTokenizer())
        #expect(!cached && rebuilt == fresh)
        #expect(try cache.tokenized(dataset, with: ByteTokenizer()).cached)
    }

    @Test func defaultDirectoryFollowsTheEnvironment() {
        #expect(TokenCache.defaultDirectory(environment: ["USERDP_CACHE": "/c"]).path == "/c/tokens")
        #expect(TokenCache.defaultDirectory(environment: ["XDG_CACHE_HOME": "/x"]).path == "/x/userdp/tokens")
    }
}

/// A second real tokenizer (bytes shifted by one) with its own identity.
struct ShiftedTokenizer: Tokenizing {
    func encode(_ text: String) -> [Int32] { text.utf8.map { Int32($0) + 1 } }
    var endOfTextToken: Int32 { 0 }
    var identity: String { "utf8-bytes-plus-one" }
}

@Suite struct PerplexityScoreCacheTests {
    @Test func scoresAreComputedOncePerDatasetAndModel() throws {
        let dataset = syntheticDataset(users: 3)
        let cache = PerplexityScoreCache(directory: try temporaryFolder())
        var calls = 0
        func score(_ data: Dataset) -> [String: Double] {
            calls += 1
            return Dictionary(uniqueKeysWithValues: data.records.indices.map { (data.recordKey($0), Double($0) / 2) })
        }
        let first = try cache.scores(for: dataset, modelIdentity: "model-a", score: score)
        let again = try cache.scores(for: dataset, modelIdentity: "model-a", score: score)
        #expect(calls == 1 && again == first)
        #expect(first.scores["#3"] == 1.5)
        _ = try cache.scores(for: dataset, modelIdentity: "model-b", score: score)
        #expect(calls == 2, "another model scores again")
        #expect(try cache.load(datasetHash: "other", modelIdentity: "model-a") == nil)
    }

    @Test func mismatchedFileIsReported() throws {
        let cache = PerplexityScoreCache(directory: try temporaryFolder())
        try cache.store(PerplexityScores(datasetHash: "d", modelIdentity: "m", scores: ["#0": 1]))
        let file = cache.url(datasetHash: "d", modelIdentity: "m")
        try JSONEncoder().encode(PerplexityScores(datasetHash: "x", modelIdentity: "m", scores: [:])).write(to: file)
        #expect(throws: UserDataError.corruptCache(path: file.path, reason: "scores of another dataset or model")) {
            try cache.load(datasetHash: "d", modelIdentity: "m")
        }
    }

    /// Score files are written with snake_case keys; files from before (camelCase) still load,
    /// so an existing cache is not recomputed.
    @Test func scoreFilesUseSnakeCaseAndEarlierFilesStillLoad() throws {
        let cache = PerplexityScoreCache(directory: try temporaryFolder())
        try cache.store(PerplexityScores(datasetHash: "d", modelIdentity: "m", scores: ["#0": 1]))
        let written = try String(contentsOf: cache.url(datasetHash: "d", modelIdentity: "m"), encoding: .utf8)
        #expect(written == ##"{"dataset_hash":"d","model_identity":"m","scores":{"#0":1}}"##)

        try Data(##"{"datasetHash":"e","modelIdentity":"m","scores":{"#1":2.5}}"##.utf8).write(to: cache.url(datasetHash: "e", modelIdentity: "m"))
        #expect(try cache.load(datasetHash: "e", modelIdentity: "m") == PerplexityScores(datasetHash: "e", modelIdentity: "m", scores: ["#1": 2.5]))
    }
}
