/// B sequences of length T, row-major and padded, ready for the model.
///
/// Row `s` holds positions `s*T ..< (s+1)*T`. At position t the model reads `tokens[t]` and is
/// scored on predicting `targets[t]` with weight `mask[t]` (1 counts, 0 ignores). A sequence's
/// loss is the mask-weighted mean of its token losses (0, with zero gradient, if its mask is all
/// zero). Targets under a zero mask are never read, so padding may use any value there; every
/// input token must be a valid id. Padding goes at the end: attention is causal, so later
/// padding cannot change earlier positions.
public struct TokenBatch: Equatable, Sendable {
    /// Input token ids, `sequenceCount * length` of them.
    public var tokens: [Int32]
    /// Next-token targets, aligned with `tokens`.
    public var targets: [Int32]
    /// Loss weights in [0, ∞), usually 0 or 1, aligned with `tokens`.
    public var mask: [Float]
    /// Number of sequences B.
    public let sequenceCount: Int
    /// Positions per sequence T (at most the model's context length).
    public let length: Int

    /// A batch from flat arrays. Precondition: every array has `sequenceCount * length`
    /// elements and both counts are positive.
    public init(tokens: [Int32], targets: [Int32], mask: [Float], sequenceCount: Int, length: Int) {
        precondition(sequenceCount > 0 && length > 0, "a batch needs at least one sequence of positive length")
        let n = sequenceCount * length
        precondition(tokens.count == n && targets.count == n && mask.count == n,
                     "batch arrays must hold \(sequenceCount)×\(length) = \(n) entries; got tokens \(tokens.count), targets \(targets.count), mask \(mask.count)")
        self.tokens = tokens
        self.targets = targets
        self.mask = mask
        self.sequenceCount = sequenceCount
        self.length = length
    }

    /// A batch of next-token prediction over token sequences: sequence `s` of n tokens gives
    /// inputs `s[0..<n-1]` and targets `s[1..<n]`, truncated to `length` predictions and padded
    /// with `padToken` (mask 0) up to `length`. A sequence of fewer than two tokens has no
    /// target and contributes loss 0.
    public init(sequences: [[Int32]], length: Int, padToken: Int32 = 0) {
        precondition(!sequences.isEmpty, "a batch needs at least one sequence")
        var tokens = [Int32](repeating: padToken, count: sequences.count * length)
        var targets = tokens
        var mask = [Float](repeating: 0, count: tokens.count)
        for (s, sequence) in sequences.enumerated() {
            let base = s * length
            if let first = sequence.first { tokens[base] = first }
            let predictions = min(max(sequence.count - 1, 0), length)
            for t in 0..<predictions {
                tokens[base + t] = sequence[t]
                targets[base + t] = sequence[t + 1]
                mask[base + t] = 1
            }
        }
        self.init(tokens: tokens, targets: targets, mask: mask, sequenceCount: sequences.count, length: length)
    }

    /// The sub-batch of sequences `range` (same length).
    public func sequences(_ range: Range<Int>) -> TokenBatch {
        precondition(range.lowerBound >= 0 && range.upperBound <= sequenceCount && !range.isEmpty, "sequence range \(range) outside 0..<\(sequenceCount)")
        let slice = range.lowerBound * length ..< range.upperBound * length
        return TokenBatch(tokens: Array(tokens[slice]), targets: Array(targets[slice]), mask: Array(mask[slice]), sequenceCount: range.count, length: length)
    }
}
