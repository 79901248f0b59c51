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

    /// - Parameter workers: threads to use; values below 1 count as 1. The default is the BLAS
    ///   thread count the process started with (`defaultWorkerCount`).
    public init(_ model: GPTModel, workers: Int = defaultWorkerCount) {
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
