import ArgumentParser
import Foundation
import LanguageModel

/// `userdp tokenizer ...`: train or inspect a byte-level BPE tokenizer.
struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train or inspect a byte-level BPE tokenizer.",
        subcommands: [TokenizerTrainCommand.self, TokenizerEncodeCommand.self]
    )
}

/// `userdp tokenizer train`: learn GPT-2-style merges from text files.
struct TokenizerTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Learn a GPT-2 byte-level BPE vocabulary and write vocab.json + merges.txt.",
        discussion: """
            Each input is a UTF-8 text file, or a directory whose *.txt files (sorted by name) are \
            read. The vocabulary holds the 256 byte tokens, the learned merges and <|endoftext|>.
            """
    )

    @Option(name: .customLong("input"), parsing: .upToNextOption, help: "Text files or directories of *.txt files.")
    var inputs: [String]

    @Option(name: .customLong("vocab-size"), help: "Vocabulary size including the 256 byte tokens and <|endoftext|> (at least 257).")
    var vocabularySize: Int

    @Option(help: "Output directory for vocab.json and merges.txt.")
    var out: String

    func run() throws {
        let documents = try TextFiles.read(inputs)
        let clock = ContinuousClock()
        let start = clock.now
        let tokenizer = try BPETokenizer.train(corpus: documents.map(\.text), vocabularySize: vocabularySize)
        let elapsed = clock.now - start
        try tokenizer.save(directory: URL(fileURLWithPath: out))
        let tokenCount = tokenizer.encode(documents.map(\.text)).reduce(0) { $0 + $1.count }
        let byteCount = documents.reduce(0) { $0 + $1.text.utf8.count }
        print("trained \(tokenizer.vocabularySize) tokens (\(tokenizer.merges.count) merges) on \(documents.count) files, \(byteCount) bytes, in \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")
        print(String(format: "corpus: %d tokens, %.2f bytes per token", tokenCount, Double(byteCount) / Double(max(tokenCount, 1))))
        print("wrote \(out)/\(BPETokenizer.vocabularyFileName) and \(out)/\(BPETokenizer.mergesFileName)")
    }
}

/// `userdp tokenizer encode`: token count and ids of a text file.
struct TokenizerEncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode a text file and print its token count (and ids with --ids)."
    )

    @Option(help: "Directory holding vocab.json and merges.txt (a tokenizer or model directory).")
    var tokenizer: String

    @Option(help: "UTF-8 text file to encode.")
    var text: String

    @Flag(help: "Print the token ids, one line, space-separated.")
    var ids = false

    func run() throws {
        let tokenizer = try BPETokenizer.load(directory: URL(fileURLWithPath: self.tokenizer))
        let document = try TextFiles.read([text])[0]
        let encoded = tokenizer.encode(document.text)
        print(String(format: "%d tokens, %.2f bytes per token", encoded.count, Double(document.text.utf8.count) / Double(max(encoded.count, 1))))
        if ids { print(encoded.map(String.init).joined(separator: " ")) }
    }
}
