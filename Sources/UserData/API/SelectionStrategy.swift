import Randomness

/// Which end of the perplexity ranking `perplexity` selection takes.
public enum PerplexityOrder: String, Sendable, Hashable, Codable, CaseIterable {
    /// The k records the base model finds most predictable (the default).
    case lowest
    /// The k records the base model finds least predictable.
    case highest
}

/// How k training units are taken from one user's records (docs/DATASETS.md; Chua et al. 2024, §4,
/// "data selection").
///
/// A unit is a token sequence of at most L tokens (the context length): a record longer than L
/// is truncated to its first L tokens, a shorter one is left short (the trainer pads and masks).
///
/// | strategy | picks |
/// | --- | --- |
/// | `random` | k records uniformly without replacement; k draws with replacement when n_u < k |
/// | `longest` | the k records with the most tokens (ties: earlier record first) |
/// | `shortest` | the k records with the fewest tokens (ties: earlier record first) |
/// | `perplexity` | the k records with the lowest (or highest) base-model perplexity |
/// | `random-chunk` | k windows of L tokens at uniformly random offsets in the user's records concatenated in order with the separator token; windows span record boundaries |
///
/// The deterministic strategies (`longest`, `shortest`, `perplexity`) take all n_u records when
/// n_u < k and fill the remaining k − n_u units by drawing uniformly with replacement from them.
/// Every draw comes from the `rng` given, so results are reproducible: Group Privacy applies
/// the strategy once per user (``TokenizedDataset/groupPrivacyUnits(strategy:unitsPerUser:contextLength:scores:seed:)``);
/// user-wise DP-SGD applies it to each sampled user at each step with a fresh generator (for
/// example `Philox(seed:stream:).substream(step).substream(userIndex)`).
///
/// One spelling, from the sweep file to the table: ``name`` (`random`, `longest`, `shortest`,
/// `perplexity(order=lowest)`, `perplexity(order=highest)`, `random-chunk`), which is also how it
/// is encoded. ``init(name:)`` also reads the spellings of earlier versions (`perplexity` for the
/// lowest, `perplexity-lowest`, `perplexity-highest`, `perplexity(lowest)`, `perplexity(highest)`),
/// so old sweep files and stored results still parse. A run config writes a strategy as the object
/// `{"strategy": kind, "order": ...}` (``kind`` and ``order``; docs/CONFIG.md).
public enum SelectionStrategy: Sendable, Hashable, Codable, CustomStringConvertible, CaseIterable {
    case random
    case longest
    case shortest
    case perplexity(PerplexityOrder)
    case randomChunk

    public static let allCases: [SelectionStrategy] = [
        .random, .longest, .shortest, .perplexity(.lowest), .perplexity(.highest), .randomChunk,
    ]

    /// A strategy without its options: the run config's `selection.strategy`.
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        case random, longest, shortest, perplexity
        case randomChunk = "random-chunk"
    }

    /// The strategy without its options.
    public var kind: Kind {
        switch self {
        case .random: return .random
        case .longest: return .longest
        case .shortest: return .shortest
        case .perplexity: return .perplexity
        case .randomChunk: return .randomChunk
        }
    }

    /// The ranking end of `perplexity`; nil for every other strategy.
    public var order: PerplexityOrder? {
        if case .perplexity(let order) = self { return order }
        return nil
    }

    /// The strategy of `kind` with its options: `order` for `perplexity` (default `.lowest`).
    /// Nil when an order is given to a strategy that takes none.
    public init?(kind: Kind, order: PerplexityOrder? = nil) {
        switch kind {
        case .perplexity: self = .perplexity(order ?? .lowest)
        case _ where order != nil: return nil
        case .random: self = .random
        case .longest: self = .longest
        case .shortest: self = .shortest
        case .randomChunk: self = .randomChunk
        }
    }

    /// Parses ``name`` or a spelling of an earlier version (see the type's documentation).
    public init(name: String) throws {
        if let strategy = SelectionStrategy.allCases.first(where: { $0.name == name }) {
            self = strategy
            return
        }
        switch name {
        case "perplexity", "perplexity-lowest", "perplexity(lowest)": self = .perplexity(.lowest)
        case "perplexity-highest", "perplexity(highest)": self = .perplexity(.highest)
        default: throw UserDataError.unknownSelectionStrategy(name)
        }
    }

    /// The one spelling: the kind, then options in parentheses: `random`, `longest`, `shortest`,
    /// `perplexity(order=lowest)`, `perplexity(order=highest)`, `random-chunk`. Tables, results
    /// and the trainer's summary write it so.
    public var name: String {
        guard let order else { return kind.rawValue }
        return "\(kind.rawValue)(order=\(order.rawValue))"
    }

    public var description: String { name }

    /// Whether the strategy draws random numbers even when a user has at least k records
    /// (`random` and `random-chunk`); user-wise DP-SGD gives these fresh randomness each step.
    public var isRandomized: Bool {
        switch self {
        case .random, .randomChunk: return true
        case .longest, .shortest, .perplexity: return false
        }
    }

    /// Whether the strategy needs perplexity scores.
    public var needsScores: Bool {
        if case .perplexity = self { return true }
        return false
    }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(name: name)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "unknown selection strategy \"\(name)\""))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }

    /// Exactly k units (token sequences of at most `contextLength` tokens) from `user`.
    ///
    /// - Parameters:
    ///   - k: units to return, at least 1.
    ///   - contextLength: L, the maximum tokens per unit, at least 1.
    ///   - separator: the token placed between records by `random-chunk` (the tokenizer's
    ///     end-of-text token).
    ///   - scores: perplexity per record key, required by `perplexity` (ignored otherwise).
    ///   - rng: the generator for every random draw; the result is a function of its state.
    /// - Throws: ``UserDataError`` for k < 1, L < 1, a user without records, or a missing or
    ///   non-finite score.
    public func select(
        from user: TokenizedUser, k: Int, contextLength: Int, separator: Int32,
        scores: [String: Double]? = nil, rng: inout Philox
    ) throws -> [[Int32]] {
        guard k >= 1 else { throw UserDataError.invalidUnitsPerUser(k) }
        guard contextLength >= 1 else { throw UserDataError.invalidContextLength(contextLength) }
        let n = user.records.count
        guard n >= 1 else { throw UserDataError.userWithoutRecords(user: user.user) }
        func unit(_ position: Int) -> [Int32] { Array(user.records[position].prefix(contextLength)) }

        switch self {
        case .random:
            if n < k {
                return (0..<k).map { _ in unit(uniformIndex(below: n, using: &rng)) }
            }
            // A partial Fisher–Yates shuffle: the first k positions of a uniform permutation.
            var positions = Array(0..<n)
            for i in 0..<k {
                positions.swapAt(i, i + uniformIndex(below: n - i, using: &rng))
            }
            return positions[..<k].map(unit)
        case .longest, .shortest, .perplexity:
            let ranked = try ranking(user, scores: scores)
            var chosen = Array(ranked.prefix(k))
            while chosen.count < k { chosen.append(ranked[uniformIndex(below: n, using: &rng)]) }
            return chosen.map(unit)
        case .randomChunk:
            let stream = user.stream(separator: separator)
            guard stream.count > contextLength else { return Array(repeating: stream, count: k) }
            let offsets = stream.count - contextLength + 1
            return (0..<k).map { _ in
                let start = uniformIndex(below: offsets, using: &rng)
                return Array(stream[start..<(start + contextLength)])
            }
        }
    }

    /// Record positions best first, ties broken by record order (a stable sort).
    private func ranking(_ user: TokenizedUser, scores: [String: Double]?) throws -> [Int] {
        let positions = Array(user.records.indices)
        switch self {
        case .longest:
            return positions.sorted { (-user.records[$0].count, $0) < (-user.records[$1].count, $1) }
        case .shortest:
            return positions.sorted { (user.records[$0].count, $0) < (user.records[$1].count, $1) }
        case let .perplexity(order):
            let values = try positions.map { position -> Double in
                let key = user.recordKeys[position]
                guard let value = scores?[key] else {
                    throw UserDataError.missingPerplexityScore(user: user.user, recordID: key)
                }
                guard value.isFinite else { throw UserDataError.invalidPerplexityScore(recordID: key, value: value) }
                return order == .lowest ? value : -value
            }
            return positions.sorted { (values[$0], $0) < (values[$1], $1) }
        case .random, .randomChunk:
            return positions
        }
    }
}

extension TokenizedDataset {
    /// Group Privacy preprocessing: applies `strategy` once to every user, giving exactly
    /// `unitsPerUser` units per user (users in dataset order).
    ///
    /// User u draws from `Philox(seed: seed, stream: "group-selection").substream(u)`, so a user's
    /// units do not depend on the other users.
    public func groupPrivacyUnits(
        strategy: SelectionStrategy, unitsPerUser k: Int, contextLength: Int, scores: [String: Double]? = nil,
        seed: UInt64
    ) throws -> [[[Int32]]] {
        let root = Philox(seed: seed, stream: "group-selection")
        return try users.enumerated().map { index, user in
            var rng = root.substream(UInt64(index))
            return try strategy.select(
                from: user, k: k, contextLength: contextLength, separator: separator, scores: scores, rng: &rng)
        }
    }
}
