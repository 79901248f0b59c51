import LinearAlgebra

/// A model and replicas of it that share its parameters, one per worker thread, for
/// data-parallel passes (`parallelMap`).
///
/// Worker 0 is the model itself; the others are `GPTModel.replica()`s made at `init`, so make
/// the workers after `enableLoRA`/`mergeLoRA`. Parameter updates through the model are seen by
/// every worker; make them between calls to `map`, never during one.
public struct ModelWorkers {
    /// The model (index 0) and its replicas.
    public let models: [GPTModel]

    /// - Parameter workers: threads to use; values below 1 count as 1. The caller decides it
    ///   once at the top (a command, an experiment), typically `defaultWorkerCount`.
    public init(_ model: GPTModel, workers: Int) {
        models = [model] + (1..<max(workers, 1)).map { _ in model.replica() }
    }

    /// The number of worker threads.
    public var count: Int { models.count }

    /// The model every worker shares parameters with.
    public var model: GPTModel { models[0] }

    /// `body(index, model)` for every index in `0..<count`, spread over the workers, each call
    /// with a model no concurrent call uses; results in index order (see `parallelMap` for
    /// the contract, including determinism across worker counts).
    public func map<T, Failure: Error>(
        _ count: Int, _ body: (_ index: Int, _ model: GPTModel) throws(Failure) -> T
    ) throws(Failure) -> [T] {
        let models = models
        return try parallelMap(count, workers: models.count) { (index, worker) throws(Failure) -> T in
            try body(index, models[worker])
        }
    }
}

extension ModelWorkers {
    /// Tokens (sequences × padded length) in one shard of a batch that `lossAndGradient` and
    /// `sequenceLosses` split over the workers. Small enough that a 16 × 128 batch gives every
    /// worker of a 2- or 4-core machine a share, large enough that the matrix products inside a
    /// shard stay efficient (docs/PERFORMANCE.md). The shards depend only on the batch, never
    /// on the worker count.
    public static let shardTokens = 512

    /// `compute(index, model)` for every index in `0..<count`, run in rounds of one index per
    /// worker, with each result handed to `combine` in index order. At most one result per
    /// worker is held at a time. Results are bit-identical for every worker count when
    /// `compute` itself does not depend on it (each BLAS call is single-threaded; see `BLAS`).
    public func forEach<R>(
        _ count: Int, compute: (_ index: Int, _ model: GPTModel) -> R, combine: (_ index: Int, R) -> Void
    ) {
        for roundStart in stride(from: 0, to: count, by: self.count) {
            let round = roundStart ..< min(roundStart + self.count, count)
            let results = map(round.count) { offset, model in compute(round.lowerBound + offset, model) }
            for (offset, result) in results.enumerated() { combine(round.lowerBound + offset, result) }
        }
    }

    /// The sequence ranges of `batch`'s shards: consecutive whole sequences, at most
    /// `shardTokens` tokens each (at least one sequence).
    public static func shards(of batch: TokenBatch, shardTokens: Int = ModelWorkers.shardTokens) -> [Range<Int>] {
        let perShard = max(1, shardTokens / max(batch.length, 1))
        return stride(from: 0, to: batch.sequenceCount, by: perShard).map { $0 ..< min($0 + perShard, batch.sequenceCount) }
    }

    /// The batch loss (mean of per-sequence losses) and its gradient with respect to the
    /// trainable parameters, as `GPTModel.lossAndGradient` defines them, computed in shards
    /// (`shards(of:)`) on the workers and combined in shard order, each weighted by its share
    /// of the sequences. Equal to the single-call result up to float32 rounding (the summation
    /// order differs); bit-identical across worker counts.
    public func lossAndGradient(_ batch: TokenBatch, shardTokens: Int = ModelWorkers.shardTokens) -> (loss: Float, gradient: [Float]) {
        let shards = Self.shards(of: batch, shardTokens: shardTokens)
        var gradient = [Float](repeating: 0, count: model.trainableParameterCount)
        var loss: Float = 0
        let total = Float(batch.sequenceCount)
        forEach(
            shards.count,
            compute: { index, model in model.lossAndGradient(batch.sequences(shards[index])) },
            combine: { index, part in
                let weight = Float(shards[index].count) / total
                loss += weight * part.loss
                BLAS.axpy(weight, part.gradient, &gradient)
            })
        return (loss, gradient)
    }

    /// Per-sequence losses of `batch` (as `GPTModel.sequenceLosses`), computed in shards on the
    /// workers. Bit-identical across worker counts; equal to the single-call losses up to
    /// float32 rounding (a kernel may round a row differently in a product with fewer rows).
    public func sequenceLosses(_ batch: TokenBatch, shardTokens: Int = ModelWorkers.shardTokens) -> [Float] {
        let shards = Self.shards(of: batch, shardTokens: shardTokens)
        var losses: [Float] = []
        losses.reserveCapacity(batch.sequenceCount)
        forEach(shards.count, compute: { index, model in model.sequenceLosses(batch.sequences(shards[index])) }, combine: { _, part in losses += part })
        return losses
    }
}
