import LinearAlgebra
import LanguageModel
import Randomness
import UserData

/// Runs training steps of one mechanism (docs/TRAINING.md):
///
/// 1. Poisson-sample units at rate q (every unit independently).
/// 2. Turn each sampled unit into sequences: one record (`record`, `group`, `nonprivate`), or
///    k sequences selected afresh from the user (`user`).
/// 3. One batched forward/backward per micro-batch of whole units gives each unit's gradient
///    (the mean over its sequences); private mechanisms clip each to C and sum. Micro-batches
///    run on the model's workers (data parallelism, one BLAS thread each) in rounds of one
///    micro-batch per worker, and their sums are added in micro-batch order: the partition and
///    the order depend only on the sampled units, so the result is the same for every worker
///    count.
/// 4. Add N(0, σ²C²) to every coordinate of the sum, divide by the expected batch q·M, and let
///    the optimizer step. `nonprivate` averages the sampled gradients instead.
///
/// `asi-liu` shares steps 1–2 with `user`, then takes each sampled user's unclipped mean
/// gradient (`perUnitGradients`, a users × P matrix gathered over micro-batches) into
/// `asiLiuAggregate`: on a passed test the optimizer steps with the private mean estimate (no
/// division by q·N: it is already a mean); on a failed test nothing is updated and the outcome
/// says whether to skip or halt (docs/ASI_LIU.md).
struct StepRunner {
    let config: RunConfig
    let plan: TrainingPlan
    let sigma: Double
    /// The model and its replicas, one per worker thread.
    let workers: ModelWorkers
    /// The model whose parameters the steps update (worker 0).
    var model: GPTModel { workers.model }
    /// Token budget (sequences × padded length) of one forward/backward; units are never split
    /// across micro-batches, so a single unit may exceed it.
    let microBatchTokens: Int
    /// The default micro-batch budget, the shard size every data-parallel pass uses
    /// (`ModelWorkers.shardTokens`): a 16 × 128 step makes four micro-batches for the workers to
    /// share.
    static let defaultMicroBatchTokens = ModelWorkers.shardTokens
    private var optimizer: Optimizer
    private var parameters: [Float]
    private var sampling: Philox
    private var noise: Philox
    private let selectionRoot: Philox
    /// The calibrated test and mean noise of `asi-liu`; nil for the other mechanisms.
    let asiLiu: AsiLiuCalibration?

    init(
        config: RunConfig, plan: TrainingPlan, sigma: Double, workers: ModelWorkers,
        microBatchTokens: Int = StepRunner.defaultMicroBatchTokens, asiLiu: AsiLiuCalibration? = nil
    ) {
        precondition(config.mechanism != .asiLiu || asiLiu != nil, "asi-liu needs its calibration")
        self.config = config
        self.plan = plan
        self.sigma = sigma
        self.workers = workers
        self.microBatchTokens = microBatchTokens
        self.asiLiu = asiLiu
        let seed = UInt64(bitPattern: Int64(config.seed))
        optimizer = Optimizer(kind: config.optimizer == .sgd ? .sgd : .adam)
        parameters = workers.model.trainableParameters()
        sampling = Philox(seed: seed, stream: "sampling")
        noise = Philox(seed: seed, stream: "noise")
        selectionRoot = Philox(seed: seed, stream: "selection")
    }

    /// A runner on one thread (no replicas).
    init(
        config: RunConfig, plan: TrainingPlan, sigma: Double, model: GPTModel,
        microBatchTokens: Int = StepRunner.defaultMicroBatchTokens, asiLiu: AsiLiuCalibration? = nil
    ) {
        self.init(
            config: config, plan: plan, sigma: sigma, workers: ModelWorkers(model, workers: 1),
            microBatchTokens: microBatchTokens, asiLiu: asiLiu)
    }

    struct Outcome {
        var units: Int
        var tokens: Int
        var meanLoss: Double
        /// What the `asi-liu` step did (nil for other mechanisms).
        var asiLiu: AsiLiuStepOutcome? = nil
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

    /// Consecutive micro-batches of whole units (within `microBatchTokens` counted as
    /// sequences × padded length, at least one unit each), each with its units' ranges of
    /// sequences. Sequences are padded to the longest in the micro-batch, at most the context
    /// length.
    private func microBatches(_ units: [[[Int32]]]) -> [(batch: MicroBatch, units: [Range<Int>])] {
        var result: [(batch: MicroBatch, units: [Range<Int>])] = []
        var start = 0
        while start < units.count {
            var end = start
            var sequences: [[Int32]] = []
            var ranges: [Range<Int>] = []
            var longest = 0
            while end < units.count {
                let unitLongest = max(longest, units[end].map(\.count).max() ?? 0)
                let cost = (sequences.count + units[end].count) * max(unitLongest - 1, 1)
                if !sequences.isEmpty, cost > microBatchTokens { break }
                ranges.append(sequences.count..<(sequences.count + units[end].count))
                sequences.append(contentsOf: units[end])
                longest = unitLongest
                end += 1
            }
            let length = max(1, min(config.contextLength, (sequences.map(\.count).max() ?? 2) - 1))
            let tokens = sequences.reduce(0) { $0 + min(max($1.count - 1, 0), length) }
            result.append((MicroBatch(tokens: TokenBatch(sequences: sequences, length: length), sequenceCount: sequences.count, tokenCount: tokens), ranges))
            start = end
        }
        return result
    }

    /// Runs `compute` on every micro-batch of `units` on the workers (`ModelWorkers.forEach`)
    /// and hands each result to `combine` in micro-batch order.
    private func forEachMicroBatch<R>(
        _ units: [[[Int32]]], compute: (MicroBatch, [Range<Int>], GPTModel) -> R, combine: (MicroBatch, R) -> Void
    ) {
        let batches = microBatches(units)
        workers.forEach(
            batches.count,
            compute: { index, model in compute(batches[index].batch, batches[index].units, model) },
            combine: { index, result in combine(batches[index].batch, result) })
    }

    mutating func step(_ step: Int) throws -> Outcome {
        let indices = poissonSample(count: plan.populationSize, rate: plan.samplingRate, generator: &sampling)
        // Units sorted by their longest sequence, so each micro-batch pads to a similar length
        // (neither the clipped sum nor the asi-liu estimate depends on the order; ties keep
        // sampling order).
        let units = try sampledUnits(indices, step: step).enumerated()
            .sorted { ($0.element.map(\.count).max() ?? 0, $0.offset) < ($1.element.map(\.count).max() ?? 0, $1.offset) }
            .map(\.element)
        if let asiLiu { return try asiLiuStep(step, units: units, calibration: asiLiu) }
        let p = parameters.count
        var sum = [Float](repeating: 0, count: p)
        var lossTotal = 0.0
        var sequenceCount = 0
        var tokens = 0
        let isPrivate = config.mechanism != .nonprivate

        let clipNorm = Float(config.clipNorm)
        forEachMicroBatch(
            units,
            compute: { batch, ranges, model -> (losses: [Float], sum: [Float], scale: Float) in
                if isPrivate {
                    let result = model.clippedGradientSum(batch.tokens, units: ranges, clipNorm: clipNorm)
                    return (result.losses, result.sum, 1)
                }
                // lossAndGradient averages over the micro-batch's sequences; weight it back to a sum.
                let result = model.lossAndGradient(batch.tokens)
                return ([Float](repeating: result.loss, count: batch.sequenceCount), result.gradient, Float(batch.sequenceCount))
            },
            combine: { batch, result in
                addInPlace(&sum, result.sum, scale: result.scale)
                lossTotal += result.losses.reduce(0) { $0 + Double($1) }
                sequenceCount += batch.sequenceCount
                tokens += batch.tokenCount
            })

        let divisor: Float
        if isPrivate {
            addGaussianNoise(to: &sum, standardDeviation: sigma * config.clipNorm, rng: &noise, workers: workers.count)
            divisor = Float(plan.samplingRate * Double(plan.populationSize))
        } else {
            divisor = Float(max(sequenceCount, 1))
        }
        var gradient = sum
        let inverse = 1 / divisor
        for i in 0..<p { gradient[i] *= inverse }
        guard gradient.allSatisfy(\.isFinite) else { throw TrainingError.diverged(step: step) }
        optimizer.step(parameters: &parameters, gradient: gradient, learningRate: Float(config.learningRate))
        model.setTrainableParameters(parameters)
        let meanLoss = sequenceCount > 0 ? lossTotal / Double(sequenceCount) : .nan
        if sequenceCount > 0, !meanLoss.isFinite { throw TrainingError.diverged(step: step) }
        return Outcome(units: units.count, tokens: tokens, meanLoss: meanLoss)
    }

    /// One `asi-liu` step on the sampled users' k sequences each.
    private mutating func asiLiuStep(_ step: Int, units: [[[Int32]]], calibration: AsiLiuCalibration) throws -> Outcome {
        let p = parameters.count
        var rows: [Float] = []
        rows.reserveCapacity(units.count * p)
        var lossTotal = 0.0
        var sequenceCount = 0
        var tokens = 0
        forEachMicroBatch(
            units,
            compute: { batch, ranges, model in model.perUnitGradients(batch.tokens, units: ranges) },
            combine: { batch, result in
                rows.append(contentsOf: result.gradients)
                lossTotal += result.losses.reduce(0) { $0 + Double($1) }
                sequenceCount += batch.sequenceCount
                tokens += batch.tokenCount
            })
        let outcome = try asiLiuAggregate(
            userGradients: rows, users: units.count, parameters: p, settings: config.mechanismOptions.asiLiu,
            noise: calibration.noise, rng: &noise)
        if outcome.action == .update, let estimate = outcome.estimate {
            guard estimate.allSatisfy(\.isFinite) else { throw TrainingError.diverged(step: step) }
            optimizer.step(parameters: &parameters, gradient: estimate, learningRate: Float(config.learningRate))
            model.setTrainableParameters(parameters)
        }
        let meanLoss = sequenceCount > 0 ? lossTotal / Double(sequenceCount) : .nan
        if sequenceCount > 0, !meanLoss.isFinite { throw TrainingError.diverged(step: step) }
        return Outcome(units: units.count, tokens: tokens, meanLoss: meanLoss, asiLiu: outcome)
    }
}

/// One micro-batch of whole units: the padded token batch, its sequence count and the number
/// of next-token predictions it trains on.
private struct MicroBatch {
    let tokens: TokenBatch
    let sequenceCount: Int
    let tokenCount: Int
}

private func addInPlace(_ target: inout [Float], _ values: [Float], scale: Float = 1) {
    // Elementwise, so fixed chunks on the workers give the same bits as one loop.
    let count = target.count, chunk = 1 << 16
    target.withUnsafeMutableBufferPointer { t in
        values.withUnsafeBufferPointer { v in
            _ = parallelMap((count + chunk - 1) / chunk, workers: count > chunk ? defaultWorkerCount : 1) { index, _ in
                for i in index * chunk ..< min(count, (index + 1) * chunk) { t[i] += scale * v[i] }
            }
        }
    }
}
