import Foundation

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
            "\(path):\(line): expected two tokens separated by one space, found \"\(text)\""
        case let .mergeTokenNotInVocabulary(path, line, token):
            "\(path):\(line): merge uses token \"\(token)\", which is not in the vocabulary"
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
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: vocabularyData)
        } catch {
            throw TokenizerError.invalidVocabulary(path: vocabularyPath, reason: "invalid JSON (\(error.localizedDescription))")
        }
        guard let dictionary = object as? [String: Any] else {
            throw TokenizerError.invalidVocabulary(path: vocabularyPath, reason: "the top level is not an object")
        }
        var entries: [(token: String, id: Int)] = []
        entries.reserveCapacity(dictionary.count)
        for (token, value) in dictionary {
            guard let number = value as? NSNumber, let id = Int(exactly: number.doubleValue), id >= 0 else {
                throw TokenizerError.invalidVocabulary(path: vocabularyPath, reason: "the id of \"\(token)\" is not a non-negative integer")
            }
            entries.append((token, id))
        }
        // Sorted so that the first problem reported does not depend on hash order.
        entries.sort { ($0.id, $0.token) < ($1.id, $1.token) }
        var tokens: [String] = []
        tokens.reserveCapacity(entries.count)
        for entry in entries {
            if entry.id < tokens.count {
                throw TokenizerError.invalidVocabulary(path: vocabularyPath, reason: "tokens \"\(tokens[entry.id])\" and \"\(entry.token)\" share id \(entry.id)")
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
        return try BPETokenizer(
            tokens: tokens, merges: merges,
            vocabularyPath: vocabularyPath, mergesPath: mergesPath, mergeLines: lines)
    }

    /// Writes `vocab.json` (compact JSON, keys in id order, non-ASCII as UTF-8) and `merges.txt`
    /// (`#version: 0.2`, then one merge per line) into `directory`, creating it if needed. Each
    /// file is written atomically.
    public func save(directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw TokenizerError.fileUnreadable(path: directory.path, reason: error.localizedDescription)
        }
        var json = "{"
        for (id, token) in tokens.enumerated() {
            if id > 0 { json += "," }
            json += jsonStringLiteral(token) + ":" + String(id)
        }
        json += "}\n"
        var mergesText = Self.mergesHeader + "\n"
        for merge in merges { mergesText += "\(merge.left) \(merge.right)\n" }

        for (name, text) in [(Self.vocabularyFileName, json), (Self.mergesFileName, mergesText)] {
            let url = directory.appendingPathComponent(name)
            do {
                try writeFileAtomically(Data(text.utf8), to: url)
            } catch {
                throw TokenizerError.fileUnreadable(path: url.path, reason: error.localizedDescription)
            }
        }
    }

    private static func readFile(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw TokenizerError.fileUnreadable(path: url.path, reason: error.localizedDescription)
        }
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped, everything else
/// verbatim UTF-8.
func jsonStringLiteral(_ text: String) -> String {
    var literal = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": literal += "\\\""
        case "\\": literal += "\\\\"
        case "\n": literal += "\\n"
        case "\r": literal += "\\r"
        case "\t": literal += "\\t"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            literal += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: literal.unicodeScalars.append(scalar)
        }
    }
    return literal + "\""
}

/// Writes `data` to `url` through a temporary file in the same directory and a rename, so a
/// reader never sees a half-written file.
func writeFileAtomically(_ data: Data, to url: URL) throws {
    let directory = url.deletingLastPathComponent()
    let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString).tmp")
    try data.write(to: temporary)
    if rename(temporary.path, url.path) != 0 {
        let code = errno
        try? FileManager.default.removeItem(at: temporary)
        throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "rename to \(url.path) failed: \(String(cString: strerror(code)))"])
    }
}
