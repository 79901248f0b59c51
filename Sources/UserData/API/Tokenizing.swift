/// Turns text into token ids. UserData needs only this much of a tokenizer, so it does not
/// depend on the language model module; the GPT-2 byte-level BPE tokenizer conforms elsewhere.
///
/// Contract: `encode` is a pure function of the text (the tokenised cache relies on it), and
/// `identity` changes whenever the vocabulary or merges change.
public protocol Tokenizing: Sendable {
    /// The token ids of `text`, without any special token added.
    func encode(_ text: String) -> [Int32]
    /// The end-of-text token, used as the separator between records in `random-chunk` selection.
    var endOfTextToken: Int32 { get }
    /// A stable hash of the vocabulary and merges (for example a hex SHA-256): tokenised caches
    /// and statistics are keyed by it.
    var identity: String { get }
}

/// The simplest real tokenizer: one token per UTF-8 byte (ids 0–255), end of text 256.
///
/// Used for dataset statistics when no model tokenizer is given and in tests. Byte counts are
/// an upper bound on BPE token counts (GPT-2's BPE averages about four bytes per token on
/// English text).
public struct ByteTokenizer: Tokenizing {
    /// A byte tokenizer.
    public init() {}

    /// The UTF-8 bytes of `text` as token ids.
    public func encode(_ text: String) -> [Int32] {
        text.utf8.map { Int32($0) }
    }

    /// 256, one past the largest byte.
    public var endOfTextToken: Int32 { 256 }

    /// `"utf8-bytes-v1"`.
    public var identity: String { "utf8-bytes-v1" }

    /// 257: the 256 byte values and the end-of-text token.
    public var vocabularySize: Int { 257 }
}
