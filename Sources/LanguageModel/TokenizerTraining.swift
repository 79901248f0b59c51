extension BPETokenizer {
    /// Learns a byte-level BPE vocabulary from texts (Sennrich et al. 2016, as used for GPT-2).
    ///
    /// The texts are pre-tokenized with GPT-2's pattern (literal `<|endoftext|>` markers are
    /// dropped) and pieces counted. Starting from the 256 byte tokens, the most frequent adjacent
    /// pair over all pieces (weighted by piece count, overlapping occurrences counted) becomes a
    /// new token, until `vocabularySize − 1` tokens exist; `<|endoftext|>` is last. Ties go to the
    /// pair with the smaller left id, then the smaller right id, so training is deterministic.
    /// Training stops early, giving a smaller vocabulary, if no adjacent pairs remain.
    ///
    /// Ids: 0–255 are the bytes in GPT-2's order (as in GPT-2's own vocabulary), then merges in
    /// rank order, then `<|endoftext|>`.
    ///
    /// - Throws: `TokenizerError.vocabularySizeTooSmall` if `vocabularySize < 257`.
    public static func train(corpus: [String], vocabularySize: Int) throws -> BPETokenizer {
        let minimum = 256 + 1
        guard vocabularySize >= minimum else {
            throw TokenizerError.vocabularySizeTooSmall(requested: vocabularySize, minimum: minimum)
        }
        var vocabulary = TrainingVocabulary()
        var pairs = PairStatistics(pieces: countPieces(corpus), byteIDs: vocabulary.byteIDs)
        var merges: [BPEMerge] = []
        while vocabulary.tokens.count < vocabularySize - 1 {
            guard let best = pairs.popMostFrequent() else { break }
            let left = Int32(truncatingIfNeeded: best >> 32)
            let right = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            let newID = vocabulary.id(merging: left, right)
            merges.append(BPEMerge(vocabulary.tokens[Int(left)], vocabulary.tokens[Int(right)]))
            pairs.merge(best, into: newID)
        }
        return try BPETokenizer(tokens: vocabulary.tokens + [endOfTextToken], merges: merges)
    }

    /// The pre-tokenized pieces of `corpus` (GPT-2's pattern; literal `<|endoftext|>` markers
    /// dropped) with their counts, in lexicographic byte order, so every later step is
    /// independent of hash order.
    static func countPieces(_ corpus: [String]) -> [(piece: ArraySlice<UInt8>, count: Int)] {
        var pieceCounts: [ArraySlice<UInt8>: Int] = [:]
        let marker = Array(endOfTextToken.utf8)
        for text in corpus {
            let bytes = Array(text.utf8)
            var start = 0
            for boundary in byteOccurrences(of: marker, in: bytes) + [bytes.count] {
                for range in PreTokenizer.pieces(of: bytes[start..<boundary]) {
                    pieceCounts[bytes[range], default: 0] += 1
                }
                start = boundary + marker.count
            }
        }
        return pieceCounts.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { ($0.key, $0.value) }
    }

    /// Start offsets of the non-overlapping occurrences of `pattern` in `bytes`.
    static func byteOccurrences(of pattern: [UInt8], in bytes: [UInt8]) -> [Int] {
        guard let first = pattern.first, bytes.count >= pattern.count else { return [] }
        var starts: [Int] = []
        var index = 0
        while index + pattern.count <= bytes.count {
            if bytes[index] == first, bytes[index..<(index + pattern.count)].elementsEqual(pattern) {
                starts.append(index)
                index += pattern.count
            } else {
                index += 1
            }
        }
        return starts
    }
}

/// The tokens learnt so far: the 256 byte tokens in GPT-2's order, then one per merge (two
/// merge paths that spell the same string share one id).
struct TrainingVocabulary {
    /// Token strings by id.
    private(set) var tokens: [String]
    /// Ids by token string.
    private var tokenIDs: [String: Int32]
    /// The id of each byte value.
    let byteIDs: [Int32]

    /// The 256 byte tokens.
    init() {
        let byteTokens = ByteLevelAlphabet.orderedBytes.map { String(ByteLevelAlphabet.scalarForByte[Int($0)]) }
        var byteIDs = [Int32](repeating: 0, count: 256)
        for (id, byte) in ByteLevelAlphabet.orderedBytes.enumerated() { byteIDs[Int(byte)] = Int32(id) }
        tokens = byteTokens
        tokenIDs = Dictionary(uniqueKeysWithValues: byteTokens.enumerated().map { ($1, Int32($0)) })
        self.byteIDs = byteIDs
    }

    /// The id of the token spelled by `left` then `right`, added when new. Two merge paths can
    /// spell the same string ("a"+"bc", "ab"+"c"): they share one id, as in GPT-2's files,
    /// where vocab.json maps each string to one id.
    mutating func id(merging left: Int32, _ right: Int32) -> Int32 {
        let mergedToken = tokens[Int(left)] + tokens[Int(right)]
        if let existing = tokenIDs[mergedToken] { return existing }
        let newID = Int32(tokens.count)
        tokens.append(mergedToken)
        tokenIDs[mergedToken] = newID
        return newID
    }
}

/// The corpus as words of token ids with their counts, and how often each adjacent pair occurs
/// (weighted by word count, overlapping occurrences counted), kept current as pairs merge.
struct PairStatistics {
    /// Each distinct piece as token ids.
    private var words: [[Int32]]
    /// How often each piece occurs.
    private let counts: [Int]
    /// Occurrences of each pair (`BPETokenizer.pairKey`); absent when zero.
    private var pairCounts: [UInt64: Int] = [:]
    /// The words a pair may occur in (a superset: merges can remove occurrences).
    private var pairWords: [UInt64: [Int32]] = [:]
    /// Pairs by count; entries go stale when a count changes (the current count is pushed again).
    private var queue = PairQueue()

    /// The statistics of `pieces`, each spelled with the byte tokens `byteIDs`.
    init(pieces: [(piece: ArraySlice<UInt8>, count: Int)], byteIDs: [Int32]) {
        words = pieces.map { $0.piece.map { byteIDs[Int($0)] } }
        counts = pieces.map(\.count)
        for (index, word) in words.enumerated() where word.count > 1 {
            for position in 0..<(word.count - 1) {
                let key = BPETokenizer.pairKey(word[position], word[position + 1])
                pairCounts[key, default: 0] += counts[index]
                if pairWords[key]?.last != Int32(index) { pairWords[key, default: []].append(Int32(index)) }
            }
        }
        for (key, count) in pairCounts { queue.push(PairQueue.Entry(count: count, key: key)) }
    }

    /// The most frequent pair (ties to the smaller left id, then right id), removed from the
    /// queue; nil when no pair is left.
    mutating func popMostFrequent() -> UInt64? {
        queue.popValid(currentCounts: pairCounts)?.key
    }

    /// Replaces every occurrence of `pair` by `newID` in the words that hold it, updating the
    /// counts of the pairs that disappear and appear.
    mutating func merge(_ pair: UInt64, into newID: Int32) {
        var delta: [UInt64: Int] = [:]
        var seen = Set<Int32>()
        for wordIndex in pairWords[pair] ?? [] where seen.insert(wordIndex).inserted {
            let old = words[Int(wordIndex)]
            let merged = BPETokenizer.apply(pair: pair, mergedID: newID, to: old)
            if merged.count == old.count { continue }
            let count = counts[Int(wordIndex)]
            for position in 0..<(old.count - 1) {
                delta[BPETokenizer.pairKey(old[position], old[position + 1]), default: 0] -= count
            }
            for position in 0..<max(0, merged.count - 1) {
                let key = BPETokenizer.pairKey(merged[position], merged[position + 1])
                delta[key, default: 0] += count
                if merged[position] == newID || merged[position + 1] == newID,
                    pairWords[key]?.last != wordIndex {
                    pairWords[key, default: []].append(wordIndex)
                }
            }
            words[Int(wordIndex)] = merged
        }
        pairWords[pair] = nil
        for (key, change) in delta where change != 0 {
            let updated = pairCounts[key, default: 0] + change
            pairCounts[key] = updated > 0 ? updated : nil
            if updated > 0 { queue.push(PairQueue.Entry(count: updated, key: key)) }
        }
    }
}

/// Max-priority queue of pair counts (binary heap): highest count first, then smallest key
/// (smaller left id, then smaller right id).
struct PairQueue {
    struct Entry {
        var count: Int
        var key: UInt64

        func outranks(_ other: Entry) -> Bool {
            count != other.count ? count > other.count : key < other.key
        }
    }

    private var heap: [Entry] = []

    mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].outranks(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var best = parent
            if left < heap.count, heap[left].outranks(heap[best]) { best = left }
            if right < heap.count, heap[right].outranks(heap[best]) { best = right }
            if best == parent { break }
            heap.swapAt(parent, best)
            parent = best
        }
        return top
    }

    /// Pops until an entry whose count is still current, or nil when none is left.
    mutating func popValid(currentCounts: [UInt64: Int]) -> Entry? {
        while let entry = pop() {
            if currentCounts[entry.key] == entry.count { return entry }
        }
        return nil
    }
}
