/// One user's records as token sequences, in file order.
public struct TokenizedUser: Sendable, Hashable {
    /// The user (privacy unit).
    public let user: String
    /// Each record's key (its `id`, or `#index`): perplexity scores are looked up by it.
    public let recordKeys: [String]
    /// Each record's position in the dataset file, so splits can select records.
    public let recordIndices: [Int]
    /// Each record's tokens, untruncated.
    public let records: [[Int32]]

    /// A user; the three arrays must have the same length. Without keys and indices, records
    /// are numbered `#0`, `#1`, ... in the order given.
    public init(user: String, records: [[Int32]], recordKeys: [String]? = nil, recordIndices: [Int]? = nil) {
        precondition(recordKeys.map { $0.count == records.count } ?? true, "one key per record")
        precondition(recordIndices.map { $0.count == records.count } ?? true, "one index per record")
        self.user = user
        self.records = records
        self.recordKeys = recordKeys ?? records.indices.map { "#\($0)" }
        self.recordIndices = recordIndices ?? Array(records.indices)
    }

    /// The user's records concatenated in order with `separator` between consecutive records
    /// (none before the first or after the last): the stream `random-chunk` selection draws its
    /// windows from, and the text that per-stream evaluation scores.
    public func stream(separator: Int32) -> [Int32] {
        var stream: [Int32] = []
        stream.reserveCapacity(records.reduce(max(records.count - 1, 0)) { $0 + $1.count })
        for (position, record) in records.enumerated() {
            if position > 0 { stream.append(separator) }
            stream.append(contentsOf: record)
        }
        return stream
    }
}

/// A dataset tokenised once with one tokenizer: users in order of first appearance, each with its
/// records' tokens. Built with ``tokenize(_:with:)`` or loaded from a ``TokenCache``.
public struct TokenizedDataset: Sendable, Equatable {
    /// ``Dataset/contentHash()`` of the source dataset.
    public let datasetHash: String
    /// ``Tokenizing/identity`` of the tokenizer.
    public let tokenizerIdentity: String
    /// The tokenizer's end-of-text token, the separator of `random-chunk` selection.
    public let separator: Int32
    /// The users.
    public let users: [TokenizedUser]

    /// A tokenised dataset from its parts.
    public init(datasetHash: String, tokenizerIdentity: String, separator: Int32, users: [TokenizedUser]) {
        self.datasetHash = datasetHash
        self.tokenizerIdentity = tokenizerIdentity
        self.separator = separator
        self.users = users
    }

    /// Tokenises every record of `dataset`.
    public static func tokenize(_ dataset: Dataset, with tokenizer: any Tokenizing) -> TokenizedDataset {
        let users = dataset.recordsByUser().map { group in
            TokenizedUser(
                user: group.user, records: group.records.map { tokenizer.encode(dataset.records[$0].text) },
                recordKeys: group.records.map(dataset.recordKey), recordIndices: group.records)
        }
        return TokenizedDataset(
            datasetHash: dataset.contentHash(), tokenizerIdentity: tokenizer.identity,
            separator: tokenizer.endOfTextToken, users: users)
    }

    /// Records.
    public var recordCount: Int { users.reduce(0) { $0 + $1.records.count } }

    /// Tokens over all records (no separators).
    public var tokenCount: Int { users.reduce(0) { $0 + $1.records.reduce(0) { $0 + $1.count } } }

    /// Only the records of one part of a split; users left without records are dropped.
    ///
    /// Training, selection and tuning take the train (and validation) parts; the test part is
    /// for the final test perplexity only.
    public func part(_ part: SplitPart, of split: DatasetSplit) -> TokenizedDataset {
        let keep = Set(split.indices(of: part))
        let kept: [TokenizedUser] = users.compactMap { user in
            let positions = user.recordIndices.indices.filter { keep.contains(user.recordIndices[$0]) }
            guard !positions.isEmpty else { return nil }
            return TokenizedUser(
                user: user.user, records: positions.map { user.records[$0] },
                recordKeys: positions.map { user.recordKeys[$0] }, recordIndices: positions.map { user.recordIndices[$0] })
        }
        return TokenizedDataset(
            datasetHash: datasetHash, tokenizerIdentity: tokenizerIdentity, separator: separator, users: kept)
    }
}
