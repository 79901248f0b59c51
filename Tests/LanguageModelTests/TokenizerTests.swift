import Foundation
import Randomness
import Testing
import TestSupport
@testable import LanguageModel
import Persistence

/// The 256 byte tokens in GPT-2's order, as strings.
let byteTokens = ByteLevelAlphabet.orderedBytes.map { String(ByteLevelAlphabet.scalarForByte[Int($0)]) }

/// GPT-2 id of a printable ASCII character (GPT-2 lists bytes 33...126 first, so id = byte − 33).
func asciiID(_ character: Character) -> Int { Int(character.asciiValue!) - 33 }

@Suite struct TokenizerTests {
    /// Vocabulary: 256 bytes, then he(256) ll(257) hell(258) Ġw(259) or(260) Ġwor(261),
    /// then <|endoftext|>(262).
    static let handMadeMerges = [
        BPEMerge("h", "e"), BPEMerge("l", "l"), BPEMerge("he", "ll"),
        BPEMerge("Ġ", "w"), BPEMerge("o", "r"), BPEMerge("Ġw", "or"),
    ]

    static func handMade() throws -> BPETokenizer {
        try BPETokenizer(tokens: byteTokens + handMadeMerges.map { $0.left + $0.right } + ["<|endoftext|>"], merges: handMadeMerges)
    }

    // MARK: Byte table and pre-tokenization

    @Test func byteTableMatchesGPT2() {
        // Facts from GPT-2's vocabulary: "!" is 0, "\n" is "Ċ" (198), " " is "Ġ" (220).
        #expect(byteTokens[0] == "!")
        #expect(byteTokens[198] == "Ċ" && ByteLevelAlphabet.orderedBytes[198] == 10)
        #expect(byteTokens[220] == "Ġ" && ByteLevelAlphabet.orderedBytes[220] == 32)
        #expect(ByteLevelAlphabet.scalarForByte[0] == "\u{100}")
        #expect(ByteLevelAlphabet.scalarForByte[173] == "\u{143}")
        #expect(ByteLevelAlphabet.scalarForByte[0xC3] == "Ã")
        #expect(Set(ByteLevelAlphabet.scalarForByte).count == 256)
        #expect(ByteLevelAlphabet.bytes(for: ByteLevelAlphabet.string(for: 0...255)) == Array(0...255))
    }

    func pieces(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        return PreTokenizer.pieces(of: bytes[...]).map { String(decoding: bytes[$0], as: UTF8.self) }
    }

    @Test func preTokenizationFollowsGPT2Pattern() {
        #expect(pieces("Hello world") == ["Hello", " world"])
        #expect(pieces("I'm sure it's don't we'll they've you're I'd") == ["I", "'m", " sure", " it", "'s", " don", "'t", " we", "'ll", " they", "'ve", " you", "'re", " I", "'d"])
        // Contractions are case-sensitive in GPT-2's pattern.
        #expect(pieces("IT'S") == ["IT", "'", "S"])
        #expect(pieces("''s") == ["''", "s"])
        // A whitespace run gives its last space to the following word.
        #expect(pieces("a  b") == ["a", " ", " b"])
        #expect(pieces("x\n\ny") == ["x", "\n", "\n", "y"])
        #expect(pieces("x   ") == ["x", "   "])
        #expect(pieces("  ") == ["  "])
        #expect(pieces("3.14 and 2024") == ["3", ".", "14", " and", " 2024"])
        #expect(pieces(" 123abc") == [" 123", "abc"])
        #expect(pieces("hello!!! world?!") == ["hello", "!!!", " world", "?!"])
        #expect(pieces("café 日本語 Ωμέγα") == ["café", " 日本語", " Ωμέγα"])
        #expect(pieces("\u{00A0}x") == ["\u{00A0}", "x"])  // NBSP is whitespace, not a literal space
        #expect(pieces("") == [])
    }

    // MARK: Encoding with a hand-made merges file

    @Test func handMadeMergesGiveHandWorkedEncodings() throws {
        let tokenizer = try Self.handMade()
        let (o, l, d) = (asciiID("o"), asciiID("l"), asciiID("d"))
        // "hello": he (rank 0), then ll (1), then he+ll (2) → [hell, o].
        #expect(tokenizer.encode("hello") == [258, o])
        // " world": Ġw (3), then or (4), then Ġw+or (5) → [Ġwor, l, d].
        #expect(tokenizer.encode("hello world") == [258, o, 261, l, d])
        // Every ll is merged left to right before he+ll applies.
        #expect(tokenizer.encode("hellllo") == [258, 257, o])
        // Capital H: no "H e" merge.
        #expect(tokenizer.encode("Hello") == [asciiID("H"), asciiID("e"), 257, o])
        // Two bytes of é: Ã (0xC3, id 127) and © (0xA9, id 102), as in GPT-2.
        #expect(tokenizer.encode("é") == [127, 102])
        #expect(tokenizer.encode("a\n") == [asciiID("a"), 198])
        #expect(tokenizer.encode("hello<|endoftext|> world") == [258, o, 262, 261, l, d])
        let literal = tokenizer.encode("<|endoftext|>", allowingSpecialTokens: false)
        #expect(!literal.contains(262) && tokenizer.decode(literal) == "<|endoftext|>")
        #expect(tokenizer.decode([258, o, 262, 261, l, d]) == "hello<|endoftext|> world")
    }

    @Test func decodingInvalidUTF8ReplacesLikePython() throws {
        let tokenizer = try Self.handMade()
        func ids(_ bytes: [UInt8]) -> [Int] { bytes.map { byte in ByteLevelAlphabet.orderedBytes.firstIndex(of: byte)! } }
        // Expected strings are Python's bytes.decode("utf-8", errors="replace").
        let cases: [([UInt8], String)] = [
            ([0xC3], "\u{FFFD}"),
            ([0xE2, 0x82], "\u{FFFD}"),
            ([0xFF, 0xFE], "\u{FFFD}\u{FFFD}"),
            ([0xC3, 0x41], "\u{FFFD}A"),
            ([0xE2, 0x82, 0xAC], "€"),
            ([0xF0, 0x9F, 0x98], "\u{FFFD}"),
            ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),
        ]
        for (bytes, expected) in cases {
            #expect(tokenizer.decode(ids(bytes)) == expected, "bytes \(bytes)")
            #expect(tokenizer.decodeBytes(ids(bytes)) == bytes)
        }
        // A prefix of an encoding that cuts a character decodes with a replacement character.
        let euro = tokenizer.encode("a€")
        #expect(tokenizer.decode(Array(euro.dropLast())) == "a\u{FFFD}")
    }

    // MARK: Round trips

    /// Random text drawn from ASCII, Latin-1, Greek, CJK, emoji, combining marks, odd whitespace
    /// and the special-token spelling.
    static func randomText(_ random: inout Philox, length: Int) -> String {
        let pools: [[Unicode.Scalar]] = [
            Array("abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,;:!?'\"-()[]{}".unicodeScalars),
            Array("  \n\n\t\r\u{0B}\u{0C}\u{85}\u{A0}\u{2009}\u{3000}".unicodeScalars),
            Array("éèçñüßÆøåÿ¡¿«»§".unicodeScalars),
            Array("αβγδΩμέ日本語中文한국어".unicodeScalars),
            Array("😀🎉👍🏽🇺🇸\u{200D}\u{301}\u{308}".unicodeScalars),
            Array("'s're've'll'd'm't<|endoftext|>".unicodeScalars),
        ]
        var scalars = String.UnicodeScalarView()
        for _ in 0..<length {
            let pool = pools[Int(random.next32() % UInt32(pools.count))]
            scalars.append(pool[Int(random.next32() % UInt32(pool.count))])
        }
        return String(scalars)
    }

    @Test func decodeInvertsEncodeOnRandomText() throws {
        var random = Philox(seed: 7, stream: "tokenizer round trip")
        let training = (0..<40).map { _ in Self.randomText(&random, length: 200) }
        let trained = try BPETokenizer.train(corpus: training, vocabularySize: 600)
        for tokenizer in [trained, try Self.handMade()] {
            for length in [0, 1, 2, 5, 50, 400] {
                for _ in 0..<10 {
                    let text = Self.randomText(&random, length: length)
                    let ids = tokenizer.encode(text)
                    #expect(tokenizer.decode(ids) == text)
                    #expect(tokenizer.decodeBytes(ids) == Array(text.utf8))
                    #expect(tokenizer.decode(tokenizer.encode(text, allowingSpecialTokens: false)) == text)
                }
            }
        }
    }

    @Test func batchEncodingEqualsSingleEncoding() throws {
        var random = Philox(seed: 11, stream: "batch")
        let texts = (0..<20).map { _ in Self.randomText(&random, length: 60) }
        let tokenizer = try BPETokenizer.train(corpus: texts, vocabularySize: 400)
        #expect(tokenizer.encode(texts) == texts.map { tokenizer.encode($0) })
    }

    // MARK: Training

    @Test func trainingLearnsHandWorkedMerges() throws {
        // Pieces "aaab", " aaab", " ab". Pair counts: a a 4, a b 3, Ġ a 2 → merge a a; then
        // a b 3 → merge; then aa ab 2; then Ġ ab and Ġ aaab tie at 1, broken by the smaller right
        // id (ab = 257 < aaab = 258); then Ġ aaab; then no pairs remain.
        let tokenizer = try BPETokenizer.train(corpus: ["aaab aaab ab"], vocabularySize: 300)
        #expect(tokenizer.merges == [BPEMerge("a", "a"), BPEMerge("a", "b"), BPEMerge("aa", "ab"), BPEMerge("Ġ", "ab"), BPEMerge("Ġ", "aaab")])
        #expect(Array(tokenizer.tokens[256...]) == ["aa", "ab", "aaab", "Ġab", "Ġaaab", "<|endoftext|>"])
        #expect(tokenizer.endOfTextID == 261)
        #expect(tokenizer.encode("aaab aaab ab") == [258, 260, 259])

        let small = try BPETokenizer.train(corpus: ["aaab aaab ab"], vocabularySize: 259)
        #expect(small.merges == [BPEMerge("a", "a"), BPEMerge("a", "b")])
        #expect(small.vocabularySize == 259)
    }

    @Test func trainingIsDeterministicAndRejectsTinyVocabularies() throws {
        var random = Philox(seed: 3, stream: "determinism")
        let texts = (0..<10).map { _ in Self.randomText(&random, length: 300) }
        #expect(try BPETokenizer.train(corpus: texts, vocabularySize: 500) == BPETokenizer.train(corpus: texts, vocabularySize: 500))
        #expect(throws: TokenizerError.vocabularySizeTooSmall(requested: 256, minimum: 257)) {
            try BPETokenizer.train(corpus: texts, vocabularySize: 256)
        }
    }

    // MARK: Files

    @Test func savedFilesUseGPT2FormatAndLoadBack() throws {
        let directory = try TemporaryDirectory()
        let tokenizer = try Self.handMade()
        try tokenizer.save(directory: directory.url)
        let merges = try String(contentsOf: directory.file("merges.txt"), encoding: .utf8)
        #expect(merges == "#version: 0.2\nh e\nl l\nhe ll\nĠ w\no r\nĠw or\n")
        let vocabulary = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.file("vocab.json"))) as? [String: Int]
        #expect(vocabulary?["Ġwor"] == 261 && vocabulary?["!"] == 0 && vocabulary?["\""] == 1 && vocabulary?["\\"] == Int(UInt8(ascii: "\\")) - 33)
        #expect(vocabulary?.count == 263)
        #expect(try BPETokenizer.load(directory: directory.url) == tokenizer)
    }

    func writeVocabulary(_ tokens: [String], to directory: TemporaryDirectory) throws {
        let body = tokens.enumerated().map { "\(JSONValue.quoted($1)): \($0)" }.joined(separator: ", ")
        try directory.write("{\(body)}", to: "vocab.json")
    }

    @Test func loadingReportsTheFaultyFileAndLine() throws {
        let directory = try TemporaryDirectory()
        let vocabularyPath = directory.file("vocab.json").path
        let mergesPath = directory.file("merges.txt").path
        let fullVocabulary = byteTokens + ["he", "<|endoftext|>"]
        try writeVocabulary(fullVocabulary, to: directory)

        try directory.write("#version: 0.2\nh e\nhe\n", to: "merges.txt")
        #expect(throws: TokenizerError.invalidMergeLine(path: mergesPath, line: 3, text: "he")) {
            try BPETokenizer.load(directory: directory.url)
        }
        try directory.write("#version: 0.2\nh e\n\nl l\n", to: "merges.txt")
        #expect(throws: TokenizerError.mergeTokenNotInVocabulary(path: mergesPath, line: 4, token: "ll")) {
            try BPETokenizer.load(directory: directory.url)
        }
        try directory.write("h e\n", to: "merges.txt")
        #expect(try BPETokenizer.load(directory: directory.url).merges == [BPEMerge("h", "e")])

        try writeVocabulary(byteTokens + ["he"], to: directory)
        #expect(throws: TokenizerError.missingEndOfText(path: vocabularyPath)) { try BPETokenizer.load(directory: directory.url) }

        try writeVocabulary(Array(byteTokens.dropFirst()) + ["<|endoftext|>"], to: directory)
        #expect(throws: TokenizerError.missingByteToken(path: vocabularyPath, byte: 33, token: "!")) { try BPETokenizer.load(directory: directory.url) }

        try directory.write("{\"a\": 0, \"b\": 2}", to: "vocab.json")
        #expect(throws: TokenizerError.vocabularyIDGap(path: vocabularyPath, missingID: 1)) { try BPETokenizer.load(directory: directory.url) }

        try directory.write("{\"a\": 0, \"b\": \"1\"}", to: "vocab.json")
        #expect(throws: TokenizerError.invalidVocabulary(path: vocabularyPath, reason: "the id of \"b\" is not a non-negative integer")) {
            try BPETokenizer.load(directory: directory.url)
        }
        try directory.write("[1, 2]", to: "vocab.json")
        #expect(throws: TokenizerError.invalidVocabulary(path: vocabularyPath, reason: "the top level is not an object")) {
            try BPETokenizer.load(directory: directory.url)
        }
        try FileManager.default.removeItem(at: directory.file("vocab.json"))
        do {
            _ = try BPETokenizer.load(directory: directory.url)
            Issue.record("loading without vocab.json must fail")
        } catch let TokenizerError.fileUnreadable(path, _) {
            #expect(path == vocabularyPath)
        }
    }

    @Test func inMemoryConstructionValidates() {
        #expect(throws: TokenizerError.duplicateToken(path: "(tokens)", token: "!", firstID: 0, secondID: 256)) {
            try BPETokenizer(tokens: byteTokens + ["!", "<|endoftext|>"], merges: [])
        }
        #expect(throws: TokenizerError.mergeTokenNotInVocabulary(path: "(merges)", line: 1, token: "he")) {
            try BPETokenizer(tokens: byteTokens + ["<|endoftext|>"], merges: [BPEMerge("h", "e")])
        }
    }
}
