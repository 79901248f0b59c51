import Foundation
import LinearAlgebra

/// Mean next-token negative log-likelihood of a token stream and its perplexity.
public struct PerplexityResult: Sendable, Codable, Equatable {
    /// Mean NLL per predicted token, in nats.
    public var meanNegativeLogLikelihood: Double
    /// Number of predicted tokens.
    public var predictedTokens: Int

    /// `exp(meanNegativeLogLikelihood)`.
    public var perplexity: Double { exp(meanNegativeLogLikelihood) }

    enum CodingKeys: String, CodingKey {
        case meanNegativeLogLikelihood = "mean_negative_log_likelihood"
        case predictedTokens = "predicted_tokens"
    }
}

/// Perplexity of a model on a token stream.
public enum Perplexity {
    /// Scores `tokens` in consecutive non-overlapping windows of the model's context length L:
    /// window w reads `tokens[w·L ..< w·L + L]` and predicts `tokens[w·L + 1 ... w·L + L]`; the
    /// last window may be shorter. Every token but the first is predicted exactly once, with the
    /// context available since the start of its window (so the result depends on L, as for any
    /// windowed evaluation). Returns the mean NLL over all predicted tokens.
    ///
    /// - Parameters:
    ///   - batchSize: windows per forward pass (memory vs. speed only).
    ///   - workers: threads to spread the forward passes over; the result is bit-identical for
    ///     every worker count (the batches and their order depend only on `batchSize`).
    /// - Precondition: `tokens.count >= 2`, every token in the model's vocabulary.
    public static func evaluate(_ model: GPTModel, tokens: [Int32], batchSize: Int = 16, workers: Int) -> PerplexityResult {
        evaluate(ModelWorkers(model, workers: workers), tokens: tokens, batchSize: batchSize)
    }

    /// `evaluate(_:tokens:batchSize:workers:)` on existing workers (no replicas made).
    public static func evaluate(_ workers: ModelWorkers, tokens: [Int32], batchSize: Int = 16) -> PerplexityResult {
        precondition(tokens.count >= 2, "perplexity needs at least two tokens, got \(tokens.count)")
        precondition(batchSize >= 1, "batch size must be at least 1, got \(batchSize)")
        let length = workers.model.config.contextLength
        let predicted = tokens.count - 1
        let fullWindows = predicted / length
        let batchStarts = Array(stride(from: 0, to: fullWindows, by: batchSize))
        var total = 0.0
        workers.forEach(
            batchStarts.count,
            compute: { index, model in
                let start = batchStarts[index]
                let sequences = (start ..< min(start + batchSize, fullWindows)).map { Array(tokens[($0 * length)...($0 * length + length)]) }
                return model.sequenceLosses(TokenBatch(sequences: sequences, length: length))
            },
            combine: { _, losses in total += losses.reduce(0.0) { $0 + Double($1) } * Double(length) })
        let remainder = predicted - fullWindows * length
        if remainder > 0 {
            let sequence = Array(tokens[(fullWindows * length)...])
            let loss = workers.model.sequenceLosses(TokenBatch(sequences: [sequence], length: remainder))[0]
            total += Double(loss) * Double(remainder)
        }
        return PerplexityResult(meanNegativeLogLikelihood: total / Double(predicted), predictedTokens: predicted)
    }
}
