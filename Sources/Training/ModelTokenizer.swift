import Crypto
import Foundation
import LanguageModel
import UserData

/// The GPT-2 byte-level BPE tokenizer of a model, seen as UserData's `Tokenizing`.
///
/// Dataset text is encoded with special tokens disallowed: a record that happens to contain the
/// literal string `<|endoftext|>` is text, not a separator. `identity` is the SHA-256 of the
/// vocabulary and merges, so tokenised caches are invalidated whenever either changes.
public struct ModelTokenizer: Tokenizing {
    /// The underlying tokenizer.
    public let bpe: BPETokenizer
    /// Hex SHA-256 of the vocabulary (in id order) and the ranked merges.
    public let identity: String

    /// Wraps `bpe` and hashes its vocabulary and merges once.
    public init(_ bpe: BPETokenizer) {
        self.bpe = bpe
        var hasher = SHA256()
        for token in bpe.tokens { hasher.update(data: Data((token + "\n").utf8)) }
        hasher.update(data: Data("merges\n".utf8))
        for merge in bpe.merges { hasher.update(data: Data("\(merge.left) \(merge.right)\n".utf8)) }
        identity = hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    public func encode(_ text: String) -> [Int32] {
        bpe.encode(text, allowingSpecialTokens: false).map { Int32($0) }
    }

    public var endOfTextToken: Int32 { Int32(bpe.endOfTextID) }
}
