import Foundation
import Persistence

/// Errors from building, loading, saving or training a `BPETokenizer`. Each names the file (or
/// `(tokens)`/`(merges)` for in-memory input) and, where there is one, the line or token.
public enum TokenizerError: Error, Equatable, LocalizedError {
    /// A file could not be read or written.
    case fileUnreadable(path: String, reason: String)
    /// `vocab.json` is not a JSON object of token string → integer id.
    case invalidVocabulary(path: String, reason: String)
    /// Ids in `vocab.json` must be exactly 0..<count; this one is missing.
    case vocabularyIDGap(path: String, missingID: Int)
    /// Two ids for the same token string (in-memory token lists only; JSON keys are unique).
    case duplicateToken(path: String, token: String, firstID: Int, secondID: Int)
    /// A byte has no single-byte token, so some text could not be encoded.
    case missingByteToken(path: String, byte: UInt8, token: String)
    /// The vocabulary lacks `<|endoftext|>`.
    case missingEndOfText(path: String)
    /// A `merges.txt` line is not two tokens separated by one space.
    case invalidMergeLine(path: String, line: Int, text: String)
    /// A merge names (or produces) a token that is not in the vocabulary.
    case mergeTokenNotInVocabulary(path: String, line: Int, token: String)
    /// `train` needs room for the 256 byte tokens and `<|endoftext|>`.
    case vocabularySizeTooSmall(requested: Int, minimum: Int)
    /// `merges.txt` holds no merge rule at all (an empty or header-only file) while the
    /// vocabulary has tokens that only merges produce.
    case emptyMerges(path: String, vocabularySize: Int)
    /// Tokens of the vocabulary that are neither byte tokens, special tokens (`<|...|>`) nor the
    /// result of any merge: `merges.txt` is truncated or belongs to another vocabulary.
    /// `count` tokens are unexplained; `example` is the one with the lowest id.
    case mergesDoNotCoverVocabulary(path: String, mergeCount: Int, count: Int, example: String)

    public var errorDescription: String? {
        switch self {
        case let .fileUnreadable(path, reason):
            "\(path): cannot access the file (\(reason))"
        case let .invalidVocabulary(path, reason):
            "\(path): not a GPT-2 vocabulary (a JSON object of token → integer id): \(reason)"
        case let .vocabularyIDGap(path, missingID):
            "\(path): token ids must be 0..<count without gaps, but id \(missingID) is missing"
        case let .duplicateToken(path, token, firstID, secondID):
            "\(path): token \"\(token)\" appears twice (ids \(firstID) and \(secondID))"
        case let .missingByteToken(path, byte, token):
            "\(path): no token for byte \(byte) (\"\(token)\"); a byte-level vocabulary needs all 256"
        case let .missingEndOfText(path):
            "\(path): the vocabulary has no \(BPETokenizer.endOfTextToken) token"
        case let .invalidMergeLine(path, line, text):
            "\(path):\(line): expected two tokens separated by one space, found \"\(InputExcerpt.escaped(text, limit: 60))\""
        case let .mergeTokenNotInVocabulary(path, line, token):
            "\(path):\(line): merge uses token \"\(InputExcerpt.escaped(token, limit: 60))\", which is not in the vocabulary"
        case let .emptyMerges(path, size):
            "\(path): no merge rules, but the vocabulary has \(size) tokens; the file is empty or truncated (expected '#version: 0.2' and one 'left right' pair per line)"
        case let .mergesDoNotCoverVocabulary(path, mergeCount, count, example):
            "\(path): \(mergeCount) merges produce too few tokens: \(count) vocabulary tokens (first \"\(InputExcerpt.escaped(example, limit: 40))\") come from no merge; the file is truncated or belongs to another vocabulary"
        case let .vocabularySizeTooSmall(requested, minimum):
            "vocabulary size \(requested) is too small: at least \(minimum) (256 bytes + \(BPETokenizer.endOfTextToken))"
        }
    }
}

extension BPETokenizer {
    /// File name of the vocabulary inside a tokenizer or model directory.
    public static let vocabularyFileName = "vocab.json"
    /// File name of the merge rules inside a tokenizer or model directory.
    public static let mergesFileName = "merges.txt"
    /// First line of GPT-2's `merges.txt`.
    static let mergesHeader = "#version: 0.2"

    /// Loads `vocab.json` and `merges.txt` from a directory (GPT-2's files or ones written by
    /// `save(directory:)`).
    ///
    /// - Throws: `TokenizerError` naming the file and line at fault.
    public static func load(directory: URL) throws -> BPETokenizer {
        try load(
            vocabulary: directory.appendingPathComponent(vocabularyFileName),
            merges: directory.appendingPathComponent(mergesFileName))
    }

    /// Loads a vocabulary (`{"token": id, ...}`) and a merges file (optional `#version` line,
    /// then one `left right` per line in rank order; blank lines are skipped).
    public static func load(vocabulary vocabularyURL: URL, merges mergesURL: URL) throws -> BPETokenizer {
        let vocabularyPath = vocabularyURL.path
        let mergesPath = mergesURL.path
        let vocabularyData = try readFile(vocabularyURL)
        let object: JSONValue
        do {
            object = try JSONValue(parsing: vocabularyData)
        } catch {
            throw TokenizerError.invalidVocabulary(path: vocabularyPath, reason: "invalid JSON (\(error.reason))")
        }
        guard case .object(let dictionary) = object else {
            throw TokenizerError.invalidVocabulary(path: vocabularyPath, reason: "the top level is not an object")
        }
        var entries: [(token: String, id: Int)] = []
        entries.reserveCapacity(dictionary.count)
        for (token, value) in dictionary {
            // Ids beyond 2^31 cannot be token ids (they are stored as Int32).
            guard case .integer(let id) = value, id >= 0, id <= Int(Int32.max) else {
                throw TokenizerError.invalidVocabulary(
                    path: vocabularyPath, reason: "the id of \"\(InputExcerpt.escaped(token, limit: 40))\" is not a non-negative integer")
            }
            entries.append((token, id))
        }
        // Sorted so that the first problem reported does not depend on hash order.
        entries.sort { ($0.id, $0.token) < ($1.id, $1.token) }
        var tokens: [String] = []
        tokens.reserveCapacity(entries.count)
        for entry in entries {
            if entry.id < tokens.count {
                throw TokenizerError.invalidVocabulary(
                    path: vocabularyPath,
                    reason: "tokens \"\(InputExcerpt.escaped(tokens[entry.id], limit: 40))\" and \"\(InputExcerpt.escaped(entry.token, limit: 40))\" share id \(entry.id)")
            }
            if entry.id > tokens.count {
                throw TokenizerError.vocabularyIDGap(path: vocabularyPath, missingID: tokens.count)
            }
            tokens.append(entry.token)
        }

        guard let mergesText = String(data: try readFile(mergesURL), encoding: .utf8) else {
            throw TokenizerError.fileUnreadable(path: mergesPath, reason: "not UTF-8 text")
        }
        var merges: [BPEMerge] = []
        var lines: [Int] = []
        for (index, rawLine) in mergesText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.isEmpty || (index == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.invalidMergeLine(path: mergesPath, line: index + 1, text: String(line))
            }
            merges.append(BPEMerge(String(parts[0]), String(parts[1])))
            lines.append(index + 1)
        }
        let tokenizer = try BPETokenizer(
            tokens: tokens, merges: merges,
            vocabularyPath: vocabularyPath, mergesPath: mergesPath, mergeLines: lines)
        try verifyCoverage(tokens: tokens, merges: merges, mergesPath: mergesPath)
        return tokenizer
    }

    /// Checks the vocabulary and the merges as a whole: in a byte-level BPE vocabulary (GPT-2's
    /// 50,257 = 256 bytes + 50,000 merges + `<|endoftext|>`, or a trained one) every token is a
    /// byte token, a special token `<|...|>` or the result of a merge. Tokens that no merge
    /// produces mean `merges.txt` was cut short (or is another tokenizer's), which would
    /// silently tokenize text into far more, rarer tokens.
    static func verifyCoverage(tokens: [String], merges: [BPEMerge], mergesPath: String) throws {
        var explained = Set(merges.map { $0.left + $0.right })
        for byte in 0...255 { explained.insert(String(ByteLevelAlphabet.scalarForByte[byte])) }
        let unexplained = tokens.filter { !explained.contains($0) && !($0.hasPrefix("<|") && $0.hasSuffix("|>")) }
        guard let first = unexplained.first else { return }
        if merges.isEmpty { throw TokenizerError.emptyMerges(path: mergesPath, vocabularySize: tokens.count) }
        throw TokenizerError.mergesDoNotCoverVocabulary(
            path: mergesPath, mergeCount: merges.count, count: unexplained.count, example: first)
    }

    /// Writes `vocab.json` (compact JSON, keys in id order, non-ASCII as UTF-8) and `merges.txt`
    /// (`#version: 0.2`, then one merge per line) into `directory`, creating it if needed. Each
    /// file is written atomically.
    public func save(directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw TokenizerError.fileUnreadable(path: directory.path, reason: FileProblem.describe(error))
        }
        var json = "{"
        for (id, token) in tokens.enumerated() {
            if id > 0 { json += "," }
            json += JSONValue.quoted(token) + ":" + String(id)
        }
        json += "}\n"
        var mergesText = Self.mergesHeader + "\n"
        for merge in merges { mergesText += "\(merge.left) \(merge.right)\n" }

        for (name, text) in [(Self.vocabularyFileName, json), (Self.mergesFileName, mergesText)] {
            let url = directory.appendingPathComponent(name)
            do {
                try AtomicFile.write(Data(text.utf8), to: url)
            } catch {
                throw TokenizerError.fileUnreadable(path: url.path, reason: FileProblem.describe(error))
            }
        }
    }

    /// A fingerprint of the tokenizer's content (tokens in id order and merges in rank order),
    /// independent of how the files are formatted: 16 hex digits of 64-bit FNV-1a.
    ///
    /// Not cryptographic: it detects a tokenizer that was replaced, reordered or edited by
    /// accident (``Checkpoint`` records it in `config.json` and compares it on load), not a
    /// deliberate forgery.
    public var contentDigest: String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func feed(_ bytes: some Sequence<UInt8>) {
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        }
        for token in tokens {
            feed(token.utf8)
            feed([0])
        }
        feed([1])
        for merge in merges {
            feed(merge.left.utf8)
            feed([0x20])
            feed(merge.right.utf8)
            feed([0])
        }
        return String(format: "%016llx", hash)
    }

    private static func readFile(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw TokenizerError.fileUnreadable(path: url.path, reason: FileProblem.describe(error))
        }
    }
}


