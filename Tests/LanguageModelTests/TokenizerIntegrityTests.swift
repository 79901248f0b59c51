import Foundation
import Testing
import TestSupport
@testable import LanguageModel

/// A checkpoint's tokenizer is checked as a whole, so a truncated or empty
/// `merges.txt` (or a tokenizer from another model) cannot load.
@Suite struct TokenizerIntegrityTests {
    func savedModel() throws -> (TemporaryDirectory, BPETokenizer) {
        let directory = try TemporaryDirectory()
        let (model, tokenizer) = try CheckpointTests.tinyModel()
        try Checkpoint.save(model, tokenizer: tokenizer, to: directory.url)
        return (directory, tokenizer)
    }

    @Test("merges.txt cut in half names the file and the tokens no merge produces")
    func truncatedMerges() throws {
        let (directory, _) = try savedModel()
        // Keep the header and the first 3 of 6 merges: he, ll, hell remain; Ġw, or, Ġwor do not.
        try directory.write("#version: 0.2\nh e\nl l\nhe ll\n", to: "merges.txt")
        let path = directory.file("merges.txt").path
        #expect(throws: TokenizerError.mergesDoNotCoverVocabulary(path: path, mergeCount: 3, count: 3, example: "Ġw")) {
            try Checkpoint.load(directory: directory.url)
        }
        #expect(throws: TokenizerError.mergesDoNotCoverVocabulary(path: path, mergeCount: 3, count: 3, example: "Ġw")) {
            try BPETokenizer.load(directory: directory.url)
        }
    }

    @Test("an empty or header-only merges.txt is an error naming the file", arguments: ["", "#version: 0.2\n"])
    func emptyMerges(_ text: String) throws {
        let (directory, _) = try savedModel()
        try directory.write(text, to: "merges.txt")
        let expected = TokenizerError.emptyMerges(path: directory.file("merges.txt").path, vocabularySize: 263)
        #expect(throws: expected) { try Checkpoint.load(directory: directory.url) }
        #expect(expected.localizedDescription.contains("merges.txt: no merge rules"))
    }

    @Test("a tokenizer smaller than the model's embedding is refused")
    func vocabularySmallerThanEmbedding() throws {
        let directory = try TemporaryDirectory()
        let tokenizer = try TokenizerTests.handMade()
        let model = GPTModel(config: GPTConfig(vocabularySize: 300, contextLength: 8, width: 8, layerCount: 1, headCount: 2), seed: 1)
        try Checkpoint.save(model, tokenizer: tokenizer, to: directory.url)
        #expect(throws: CheckpointError.vocabularyMismatch(path: directory.url.path, modelVocabulary: 300, tokenizerVocabulary: 263)) {
            try Checkpoint.load(directory: directory.url)
        }
    }

    @Test("a duplicate token in vocab.json is an error, not the last id winning")
    func duplicateVocabularyKey() throws {
        let (directory, _) = try savedModel()
        var text = try String(contentsOf: directory.file("vocab.json"), encoding: .utf8)
        let end = text.range(of: "}", options: .backwards)!
        text.replaceSubrange(end, with: ",\"he\":5}")
        try directory.write(text, to: "vocab.json")
        do {
            _ = try Checkpoint.load(directory: directory.url)
            Issue.record("duplicate token accepted")
        } catch let TokenizerError.invalidVocabulary(_, reason) {
            #expect(reason.contains(#"duplicate key "he""#))
        }
    }

    @Test("a duplicate key in config.json is an error, not one of two model shapes")
    func duplicateConfigKey() throws {
        let (directory, _) = try savedModel()
        try directory.write(#"{"vocab_size": 263, "n_positions": 8, "n_embd": 8, "n_layer": 2, "n_layer": 3, "n_head": 2}"#, to: "config.json")
        do {
            _ = try Checkpoint.load(directory: directory.url)
            Issue.record("duplicate config key accepted")
        } catch let CheckpointError.configUnreadable(_, reason) {
            #expect(reason.hasPrefix(#"not valid JSON: duplicate key "n_layer""#))
        }
    }

    @Test("tokenizer files edited after saving (merges reordered) fail the recorded digest")
    func digestMismatch() throws {
        let (directory, tokenizer) = try savedModel()
        // Ranks 0 and 2 swapped: every token is still produced, the size is unchanged, but
        // "hell" now merges before "he", so text encodes differently.
        try directory.write("#version: 0.2\nhe ll\nl l\nh e\nĠ w\no r\nĠw or\n", to: "merges.txt")
        let edited = try BPETokenizer.load(directory: directory.url)
        #expect(edited.vocabularySize == tokenizer.vocabularySize)
        #expect(throws: CheckpointError.tokenizerDigestMismatch(
            path: directory.url.path, recorded: tokenizer.contentDigest, actual: edited.contentDigest)) {
            try Checkpoint.load(directory: directory.url)
        }
    }

    @Test("the intact checkpoint still loads")
    func intact() throws {
        let (directory, tokenizer) = try savedModel()
        #expect(try Checkpoint.load(directory: directory.url).1 == tokenizer)
    }
}
