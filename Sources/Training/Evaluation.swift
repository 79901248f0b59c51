import LanguageModel
import UserData

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

/// Per-sequence losses of `sequences` (already in the order wanted: similar lengths next to
/// each other pad little), in consecutive batches of at most `batchSize` sequences padded to
/// their longest (at most `contextLength`), one result array per batch. The batches are spread
/// over `workers`; they do not depend on the number of workers, so neither do the losses.
func batchedSequenceLosses(of workers: ModelWorkers, sequences: [[Int32]], contextLength: Int, batchSize: Int = 64) -> [[Float]] {
    let starts = Array(stride(from: 0, to: sequences.count, by: batchSize))
    return workers.map(starts.count) { index, model in
        let chunk = Array(sequences[starts[index]..<min(starts[index] + batchSize, sequences.count)])
        let length = min(contextLength, chunk.map { $0.count - 1 }.max() ?? 1)
        return model.sequenceLosses(TokenBatch(sequences: chunk, length: max(length, 1)))
    }
}

/// Summed negative log-likelihood and predicted-token count of token sequences (forward only;
/// batches as in `batchedSequenceLosses`, summed batch by batch in order).
func negativeLogLikelihood(of workers: ModelWorkers, sequences unsorted: [[Int32]], contextLength: Int, batchSize: Int = 64)
    -> (nll: Double, tokens: Int)
{
    // Similar lengths share a batch, so little compute goes to padding.
    let sequences = unsorted.sorted { $0.count < $1.count }
    var nll = 0.0
    var tokens = 0
    var offset = 0
    for losses in batchedSequenceLosses(of: workers, sequences: sequences, contextLength: contextLength, batchSize: batchSize) {
        var batchNLL = 0.0
        for (s, loss) in losses.enumerated() {
            let predicted = min(sequences[offset + s].count - 1, contextLength)
            batchNLL += Double(loss) * Double(predicted)
            tokens += predicted
        }
        nll += batchNLL
        offset += losses.count
    }
    return (nll, tokens)
}

/// Perplexity of `model` on whole records: exp(total token NLL / predicted tokens), records
/// longer than the context evaluated in windows (see `evaluationWindows`). Returns +∞ for a
/// set with no predictable token. `workers` threads share the batches (the result does not
/// depend on their number).
public func perplexity(of model: GPTModel, records: [[Int32]], contextLength: Int, workers: Int = 1) -> Double {
    perplexity(of: ModelWorkers(model, workers: workers), records: records, contextLength: contextLength)
}

/// `perplexity(of:records:contextLength:workers:)` with prepared workers.
public func perplexity(of workers: ModelWorkers, records: [[Int32]], contextLength: Int) -> Double {
    let windows = records.flatMap { evaluationWindows($0, contextLength: contextLength) }
    let (nll, tokens) = negativeLogLikelihood(of: workers, sequences: windows, contextLength: contextLength)
    return tokens == 0 ? .infinity : exp(nll / Double(tokens))
}

/// Per-stream perplexity: each user's records joined in order with the separator (the stream
/// `random-chunk` selection trains on, ``TokenizedUser/stream(separator:)``), cut into windows
/// as a record is (`evaluationWindows`). Unlike per-record perplexity, a record's first tokens
/// see the end of the user's previous record, and each separator (a record's end) is predicted
/// too. Returns +∞ for a set with no predictable token.
public func streamPerplexity(of workers: ModelWorkers, users dataset: TokenizedDataset, contextLength: Int) -> Double {
    perplexity(of: workers, records: dataset.users.map { $0.stream(separator: dataset.separator) }, contextLength: contextLength)
}

/// Perplexity of each record separately (for the `perplexity` selection strategy); a record
/// with fewer than two tokens gets +∞. `workers` threads share the batches (the result does
/// not depend on their number).
public func recordPerplexities(of model: GPTModel, records: [[Int32]], contextLength: Int, workers: Int = 1) -> [Double] {
    var pairs: [(owner: Int, window: [Int32])] = []
    for (index, record) in records.enumerated() {
        for window in evaluationWindows(record, contextLength: contextLength) {
            pairs.append((index, window))
        }
    }
    // Similar lengths share a batch, so little compute goes to padding.
    pairs.sort { ($0.window.count, $0.owner) < ($1.window.count, $1.owner) }
    let losses = batchedSequenceLosses(
        of: ModelWorkers(model, workers: workers), sequences: pairs.map(\.window), contextLength: contextLength
    ).flatMap { $0 }
    var nll = [Double](repeating: 0, count: records.count)
    var tokens = [Int](repeating: 0, count: records.count)
    for (pair, loss) in zip(pairs, losses) {
        let predicted = min(pair.window.count - 1, contextLength)
        nll[pair.owner] += Double(loss) * Double(predicted)
        tokens[pair.owner] += predicted
    }
    return zip(nll, tokens).map { $1 == 0 ? .infinity : exp($0 / Double($1)) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
