import Foundation

/// One BPE merge rule: the two byte-level token strings that become one token.
public struct BPEMerge: Sendable, Hashable, CustomStringConvertible {
    /// Left token, in GPT-2's byte-level alphabet (space is 'Ġ').
    public var left: String
    /// Right token, in GPT-2's byte-level alphabet.
    public var right: String

    /// Creates a merge of `left` followed by `right`.
    public init(_ left: String, _ right: String) {
        self.left = left
        self.right = right
    }

    /// The `merges.txt` line: `left right`.
    public var description: String { "\(left) \(right)" }
}

/// GPT-2's byte-level BPE tokenizer (Radford et al. 2019; Sennrich et al. 2016 for BPE).
///
/// Text is split into pieces by GPT-2's pre-tokenization pattern, each piece's UTF-8 bytes become
/// byte tokens, and ranked merges are applied (always the lowest-ranked adjacent pair first)
/// until none applies. Every byte has a token, so any text encodes and `decodeBytes` returns the
/// exact UTF-8. The same type loads GPT-2's own `vocab.json` + `merges.txt` and the project's
/// trained tokenizers (see `BPETokenizer.load(directory:)` and `train(corpus:vocabularySize:)`).
///
/// Token ids must be 0..<vocabularySize with no gaps (true of GPT-2 and of trained tokenizers).
public struct BPETokenizer: Sendable, Equatable {
    /// GPT-2's end-of-text token, which separates documents.
    public static let endOfTextToken = "<|endoftext|>"

    /// Token strings by id, in GPT-2's byte-level alphabet.
    public let tokens: [String]
    /// Merge rules in rank order (index 0 is applied first).
    public let merges: [BPEMerge]
    /// Id of `<|endoftext|>`.
    public let endOfTextID: Int

    /// Id of each token string.
    let tokenIDs: [String: Int]
    /// Raw bytes of each token, by id.
    let tokenBytes: [[UInt8]]
    /// Token id of each byte value.
    let byteTokenIDs: [Int32]
    /// (left id, right id) packed as `left << 32 | right` → rank and merged id.
    let mergeTable: [UInt64: MergeEntry]
    /// UTF-8 bytes of `<|endoftext|>`.
    let endOfTextBytes: [UInt8]

    struct MergeEntry: Sendable {
        var rank: Int32
        var mergedID: Int32
    }

    /// Number of tokens (ids are 0..<vocabularySize).
    public var vocabularySize: Int { tokens.count }

    /// Builds a tokenizer from token strings (index = id) and ranked merges.
    ///
    /// - Throws: `TokenizerError` if a token is duplicated, a byte has no token, a merge names a
    ///   token that is not in the vocabulary (or produces one that is not), or `<|endoftext|>` is
    ///   missing. In-memory sources are named `(tokens)` and `(merges)` in the errors, with merge
    ///   rank + 1 as the line.
    public init(tokens: [String], merges: [BPEMerge]) throws {
        try self.init(tokens: tokens, merges: merges, vocabularyPath: "(tokens)", mergesPath: "(merges)", mergeLines: nil)
    }

    /// - Parameter mergeLines: line number in `mergesPath` of each merge, for error messages.
    init(tokens: [String], merges: [BPEMerge], vocabularyPath: String, mergesPath: String, mergeLines: [Int]?) throws {
        var ids: [String: Int] = [:]
        ids.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() {
            if let first = ids[token] {
                throw TokenizerError.duplicateToken(path: vocabularyPath, token: token, firstID: first, secondID: id)
            }
            ids[token] = id
        }
        var byteIDs = [Int32](repeating: 0, count: 256)
        for byte in 0...255 {
            let token = String(ByteLevelAlphabet.scalarForByte[byte])
            guard let id = ids[token] else {
                throw TokenizerError.missingByteToken(path: vocabularyPath, byte: UInt8(byte), token: token)
            }
            byteIDs[byte] = Int32(id)
        }
        guard let endOfText = ids[Self.endOfTextToken] else {
            throw TokenizerError.missingEndOfText(path: vocabularyPath)
        }
        var table: [UInt64: MergeEntry] = [:]
        table.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            let line = mergeLines?[rank] ?? rank + 1
            for token in [merge.left, merge.right, merge.left + merge.right] where ids[token] == nil {
                throw TokenizerError.mergeTokenNotInVocabulary(path: mergesPath, line: line, token: token)
            }
            let key = Self.pairKey(Int32(ids[merge.left]!), Int32(ids[merge.right]!))
            // A repeated merge keeps its first (lowest) rank, as GPT-2's dictionary of ranks would
            // if built from the first occurrence; later duplicates never fire.
            if table[key] == nil {
                table[key] = MergeEntry(rank: Int32(rank), mergedID: Int32(ids[merge.left + merge.right]!))
            }
        }
        var bytes: [[UInt8]] = []
        bytes.reserveCapacity(tokens.count)
        for token in tokens {
            // Special tokens like <|endoftext|> are ASCII and decode to their literal text; any
            // token outside the byte alphabet does the same.
            bytes.append(ByteLevelAlphabet.bytes(for: token) ?? Array(token.utf8))
        }
        self.tokens = tokens
        self.merges = merges
        self.endOfTextID = endOfText
        self.tokenIDs = ids
        self.tokenBytes = bytes
        self.byteTokenIDs = byteIDs
        self.mergeTable = table
        self.endOfTextBytes = Array(Self.endOfTextToken.utf8)
    }

    public static func == (lhs: BPETokenizer, rhs: BPETokenizer) -> Bool {
        lhs.tokens == rhs.tokens && lhs.merges == rhs.merges
    }

    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    // MARK: Encoding

    /// Token ids of `text`.
    ///
    /// - Parameter allowingSpecialTokens: when true (the default, as HuggingFace's GPT-2
    ///   tokenizer), each literal `<|endoftext|>` in the text becomes `endOfTextID`; when false it
    ///   is encoded as ordinary text.
    public func encode(_ text: String, allowingSpecialTokens: Bool = true) -> [Int] {
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        return encode(text, allowingSpecialTokens: allowingSpecialTokens, cache: &cache)
    }

    /// Token ids of each text, sharing one cache of encoded pieces (faster for many texts).
    public func encode(_ texts: [String], allowingSpecialTokens: Bool = true) -> [[Int]] {
        var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        return texts.map { encode($0, allowingSpecialTokens: allowingSpecialTokens, cache: &cache) }
    }

    func encode(_ text: String, allowingSpecialTokens: Bool, cache: inout [ArraySlice<UInt8>: [Int32]]) -> [Int] {
        let bytes = Array(text.utf8)
        var output: [Int] = []
        output.reserveCapacity(bytes.count / 3)
        var segmentStart = 0
        // Special tokens are matched on bytes, before pre-tokenization, as HuggingFace does.
        let boundaries = allowingSpecialTokens ? Self.byteOccurrences(of: endOfTextBytes, in: bytes) : []
        for boundary in boundaries + [bytes.count] {
            for range in PreTokenizer.pieces(of: bytes[segmentStart..<boundary]) {
                let piece = bytes[range]
                if let ids = cache[piece] {
                    output.append(contentsOf: ids.lazy.map(Int.init))
                    continue
                }
                let ids = encodePiece(piece)
                cache[piece] = ids
                output.append(contentsOf: ids.lazy.map(Int.init))
            }
            if boundary < bytes.count {
                output.append(endOfTextID)
                segmentStart = boundary + endOfTextBytes.count
            }
        }
        return output
    }

    /// BPE on one pre-tokenized piece: repeatedly merge every occurrence (left to right) of the
    /// adjacent pair with the lowest rank.
    func encodePiece(_ piece: ArraySlice<UInt8>) -> [Int32] {
        var symbols = piece.map { byteTokenIDs[Int($0)] }
        while symbols.count > 1 {
            var bestRank = Int32.max
            var best = MergeEntry(rank: 0, mergedID: 0)
            var bestKey: UInt64 = 0
            for index in 0..<(symbols.count - 1) {
                let key = Self.pairKey(symbols[index], symbols[index + 1])
                if let entry = mergeTable[key], entry.rank < bestRank {
                    bestRank = entry.rank
                    best = entry
                    bestKey = key
                }
            }
            if bestRank == .max { break }
            symbols = Self.apply(pair: bestKey, mergedID: best.mergedID, to: symbols)
        }
        return symbols
    }

    /// `symbols` with every non-overlapping occurrence of `pair`, left to right, replaced.
    static func apply(pair: UInt64, mergedID: Int32, to symbols: [Int32]) -> [Int32] {
        var merged: [Int32] = []
        merged.reserveCapacity(symbols.count)
        var index = 0
        while index < symbols.count {
            if index + 1 < symbols.count, pairKey(symbols[index], symbols[index + 1]) == pair {
                merged.append(mergedID)
                index += 2
            } else {
                merged.append(symbols[index])
                index += 1
            }
        }
        return merged
    }

    // MARK: Decoding

    /// The exact bytes the ids stand for (the concatenated UTF-8 of their pieces).
    ///
    /// - Precondition: every id is in 0..<vocabularySize.
    public func decodeBytes(_ ids: [Int]) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids {
            precondition(tokenBytes.indices.contains(id), "token id \(id) outside the vocabulary 0..<\(vocabularySize)")
            bytes.append(contentsOf: tokenBytes[id])
        }
        return bytes
    }

    /// Text of the ids. Byte sequences that are not valid UTF-8 (for example a slice of ids that
    /// cuts a multi-byte character) become U+FFFD, one per maximal invalid subsequence, as
    /// HuggingFace's GPT-2 tokenizer does with `errors="replace"`.
    ///
    /// - Precondition: every id is in 0..<vocabularySize.
    public func decode(_ ids: [Int]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }

    /// Id of a byte-level token string, or nil.
    public func id(of token: String) -> Int? { tokenIDs[token] }
}
