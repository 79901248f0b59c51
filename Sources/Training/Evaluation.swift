import LanguageModel

/// Windows over one record for evaluation: the record's tokens cut into consecutive sequences
/// of at most `contextLength + 1` tokens that overlap by one token, so every token after the
/// first is predicted exactly once (with at most `contextLength` tokens of context).
func evaluationWindows(_ record: [Int32], contextLength: Int) -> [[Int32]] {
    guard record.count >= 2 else { return [] }
    var windows: [[Int32]] = []
    var start = 0
    while start + 1 < record.count {
        let end = min(start + contextLength + 1, record.count)
        windows.append(Array(record[start..<end]))
        start += contextLength
    }
    return windows
}

/// Summed negative log-likelihood and predicted-token count of token sequences, evaluated in
/// batches of at most `batchSize` sequences (forward only).
func negativeLogLikelihood(of model: GPTModel, sequences: [[Int32]], contextLength: Int, batchSize: Int = 64)
    -> (nll: Double, tokens: Int)
{
    var nll = 0.0
    var tokens = 0
    var start = 0
    while start < sequences.count {
        let chunk = Array(sequences[start..<min(start + batchSize, sequences.count)])
        let length = min(contextLength, chunk.map { $0.count - 1 }.max() ?? 1)
        let batch = TokenBatch(sequences: chunk, length: max(length, 1))
        let losses = model.sequenceLosses(batch)
        for (s, sequence) in chunk.enumerated() {
            let predicted = min(sequence.count - 1, contextLength)
            nll += Double(losses[s]) * Double(predicted)
            tokens += predicted
        }
        start += batchSize
    }
    return (nll, tokens)
}

/// Perplexity of `model` on whole records: exp(total token NLL / predicted tokens), records
/// longer than the context evaluated in windows (see `evaluationWindows`). Returns +∞ for a
/// set with no predictable token.
public func perplexity(of model: GPTModel, records: [[Int32]], contextLength: Int) -> Double {
    let windows = records.flatMap { evaluationWindows($0, contextLength: contextLength) }
    let (nll, tokens) = negativeLogLikelihood(of: model, sequences: windows, contextLength: contextLength)
    return tokens == 0 ? .infinity : exp(nll / Double(tokens))
}

/// Perplexity of each record separately (for the `perplexity` selection strategy); a record
/// with fewer than two tokens gets +∞.
public func recordPerplexities(of model: GPTModel, records: [[Int32]], contextLength: Int) -> [Double] {
    var owners: [Int] = []
    var windows: [[Int32]] = []
    for (index, record) in records.enumerated() {
        for window in evaluationWindows(record, contextLength: contextLength) {
            owners.append(index)
            windows.append(window)
        }
    }
    var nll = [Double](repeating: 0, count: records.count)
    var tokens = [Int](repeating: 0, count: records.count)
    let batchSize = 64
    var start = 0
    while start < windows.count {
        let range = start..<min(start + batchSize, windows.count)
        let chunk = Array(windows[range])
        let length = min(contextLength, chunk.map { $0.count - 1 }.max() ?? 1)
        let losses = model.sequenceLosses(TokenBatch(sequences: chunk, length: max(length, 1)))
        for (offset, window) in chunk.enumerated() {
            let owner = owners[range.lowerBound + offset]
            let predicted = min(window.count - 1, contextLength)
            nll[owner] += Double(losses[offset]) * Double(predicted)
            tokens[owner] += predicted
        }
        start += batchSize
    }
    return zip(nll, tokens).map { $1 == 0 ? .infinity : exp($0 / Double($1)) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
