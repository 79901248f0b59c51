import LanguageModel
import Persistence
import Randomness
import UserData

/// Runs training steps of one mechanism (docs/TRAINING.md):
///
/// 1. Poisson-sample units at rate q (every unit independently).
/// 2. Turn each sampled unit into sequences: one record (`record`, `group`, `nonprivate`), or
///    k sequences selected afresh from the user (`user`, `asi-liu`).
/// 3. The mechanism's ``StepAggregation`` computes each unit's gradient (the mean over its
///    sequences) in micro-batches of whole units on the model's workers (data parallelism, one
///    BLAS thread each), in rounds of one micro-batch per worker, combines them in micro-batch
///    order (the partition and the order depend only on the sampled units, so the result is the
///    same for every worker count) and returns the gradient: DP-SGD clips each to C, sums, adds
///    N(0, σ²C²) and divides by the expected batch q·M; `nonprivate` averages; `asi-liu` tests
///    and estimates a private mean (docs/ASI_LIU.md).
/// 4. The optimizer steps with that gradient (unless the aggregation made no update).
struct StepRunner {
    let config: RunConfig
    let plan: TrainingPlan
    /// The model and its replicas, one per worker thread.
    var workers: ModelWorkers { context.workers }
    /// The model whose parameters the steps update (worker 0).
    var model: GPTModel { workers.model }
    /// The default micro-batch budget, the shard size every data-parallel pass uses
    /// (`ModelWorkers.shardTokens`): a 16 × 128 step makes four micro-batches for the workers to
    /// share.
    static let defaultMicroBatchTokens = ModelWorkers.shardTokens
    /// The mechanism's step (with the run's statistics, if it keeps any).
    private(set) var aggregation: any StepAggregation
    private var context: StepContext
    private var optimizer: Optimizer
    private var parameters: [Float]
    private var sampling: Philox
    private let selectionRoot: Philox

    /// A runner of `config`'s steps over `plan` with the mechanism's `aggregation` (from its
    /// ``PrivacyPlan``). `microBatchTokens` is the token budget (sequences × padded length) of
    /// one forward/backward; units are never split across micro-batches, so a single unit may
    /// exceed it.
    init(
        config: RunConfig, plan: TrainingPlan, aggregation: any StepAggregation, workers: ModelWorkers,
        microBatchTokens: Int = StepRunner.defaultMicroBatchTokens
    ) {
        self.config = config
        self.plan = plan
        self.aggregation = aggregation
        let seed = UInt64(bitPattern: Int64(config.seed))
        optimizer = Optimizer(kind: config.optimizer)
        parameters = workers.model.trainableParameters()
        sampling = Philox(seed: seed, stream: "sampling")
        selectionRoot = Philox(seed: seed, stream: "selection")
        context = StepContext(
            workers: workers, microBatchTokens: microBatchTokens, contextLength: config.contextLength,
            parameterCount: parameters.count, expectedUnits: plan.samplingRate * Double(plan.populationSize),
            noise: Philox(seed: seed, stream: "noise"))
    }

    /// A runner on one thread (no replicas).
    init(
        config: RunConfig, plan: TrainingPlan, aggregation: any StepAggregation, model: GPTModel,
        microBatchTokens: Int = StepRunner.defaultMicroBatchTokens
    ) {
        self.init(config: config, plan: plan, aggregation: aggregation, workers: ModelWorkers(model, workers: 1), microBatchTokens: microBatchTokens)
    }

    /// What one step did.
    struct Outcome {
        var units: Int
        var tokens: Int
        var meanLoss: Double
        /// Whether training ends after this step (an `asi-liu` test failed under `halt`).
        var halted = false
        /// A line for the log about this step, if any.
        var message: String?
    }

    /// The sequences of each sampled unit at `step`.
    func sampledUnits(_ indices: [Int], step: Int) throws -> [[[Int32]]] {
        switch plan.population {
        case .sequences(let sequences):
            return indices.map { [sequences[$0]] }
        case .users(let users):
            let stepRoot = selectionRoot.substream(UInt64(step))
            return try indices.map { index in
                var rng = stepRoot.substream(UInt64(index))
                return try plan.strategy.select(
                    from: users[index], k: config.k, contextLength: config.contextLength + 1,
                    separator: plan.separator, scores: plan.scores, rng: &rng)
            }
        }
    }

    mutating func step(_ step: Int) throws -> Outcome {
        let indices = poissonSample(count: plan.populationSize, rate: plan.samplingRate, generator: &sampling)
        // Units sorted by their longest sequence, so each micro-batch pads to a similar length
        // (neither the clipped sum nor the asi-liu estimate depends on the order; ties keep
        // sampling order).
        let units = try sampledUnits(indices, step: step).enumerated()
            .sorted { ($0.element.map(\.count).max() ?? 0, $0.offset) < ($1.element.map(\.count).max() ?? 0, $1.offset) }
            .map(\.element)
        let update = try aggregation.aggregate(units, step: step, context: &context)
        if let gradient = update.gradient {
            guard gradient.allSatisfy(\.isFinite) else { throw TrainingError.diverged(step: step) }
            optimizer.step(parameters: &parameters, gradient: gradient, learningRate: Float(config.learningRate), workers: workers.count)
            model.setTrainableParameters(parameters)
        }
        let meanLoss = update.tally.meanLoss
        if update.tally.sequenceCount > 0, !meanLoss.isFinite { throw TrainingError.diverged(step: step) }
        return Outcome(units: units.count, tokens: update.tally.tokens, meanLoss: meanLoss, halted: update.halt, message: update.message)
    }
}
