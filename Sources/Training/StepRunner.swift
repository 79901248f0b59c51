import LanguageModel
import Randomness
import UserData

/// Runs training steps of one mechanism (DESIGN §3):
///
/// 1. Poisson-sample units at rate q (every unit independently).
/// 2. Turn each sampled unit into sequences: one record (`record`, `group`, `nonprivate`), or
///    k sequences selected afresh from the user (`user`).
/// 3. One batched forward/backward per micro-batch of whole units gives each unit's gradient
///    (the mean over its sequences); private mechanisms clip each to C and sum.
/// 4. Add N(0, σ²C²) to every coordinate of the sum, divide by the expected batch q·M, and let
///    the optimizer step. `nonprivate` averages the sampled gradients instead.
struct StepRunner {
    let config: RunConfig
    let plan: TrainingPlan
    let sigma: Double
    let model: GPTModel
    /// Sequences per forward/backward; units are never split across micro-batches.
    let microBatchSequences: Int
    private var optimizer: Optimizer
    private var parameters: [Float]
    private var sampling: Philox
    private var noise: Philox
    private let selectionRoot: Philox

    init(config: RunConfig, plan: TrainingPlan, sigma: Double, model: GPTModel, microBatchSequences: Int = 64) {
        self.config = config
        self.plan = plan
        self.sigma = sigma
        self.model = model
        self.microBatchSequences = microBatchSequences
        let seed = UInt64(bitPattern: Int64(config.seed))
        optimizer = Optimizer(kind: config.optimizer == .sgd ? .sgd : .adam)
        parameters = model.trainableParameters()
        sampling = Philox(seed: seed, stream: "sampling")
        noise = Philox(seed: seed, stream: "noise")
        selectionRoot = Philox(seed: seed, stream: "selection")
    }

    struct Outcome {
        var units: Int
        var tokens: Int
        var meanLoss: Double
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
        let units = try sampledUnits(indices, step: step)
        let p = parameters.count
        var sum = [Float](repeating: 0, count: p)
        var lossTotal = 0.0
        var sequenceCount = 0
        var tokens = 0
        let isPrivate = config.mechanism != .nonprivate

        var start = 0
        while start < units.count {
            // Whole units up to the micro-batch budget (at least one unit).
            var end = start
            var sequences: [[Int32]] = []
            var ranges: [Range<Int>] = []
            while end < units.count, sequences.isEmpty || sequences.count + units[end].count <= microBatchSequences {
                ranges.append(sequences.count..<(sequences.count + units[end].count))
                sequences.append(contentsOf: units[end])
                end += 1
            }
            let length = max(1, min(config.contextLength, (sequences.map(\.count).max() ?? 2) - 1))
            let batch = TokenBatch(sequences: sequences, length: length)
            tokens += sequences.reduce(0) { $0 + min(max($1.count - 1, 0), length) }
            let losses: [Float]
            if isPrivate {
                let result = model.clippedGradientSum(batch, units: ranges, clipNorm: Float(config.clipNorm))
                losses = result.losses
                addInPlace(&sum, result.sum)
            } else {
                let result = model.lossAndGradient(batch)
                losses = [Float](repeating: result.loss, count: sequences.count)
                // lossAndGradient averages over the micro-batch's sequences; weight it back to a sum.
                addInPlace(&sum, result.gradient, scale: Float(sequences.count))
            }
            lossTotal += losses.reduce(0) { $0 + Double($1) }
            sequenceCount += sequences.count
            start = end
        }

        let divisor: Float
        if isPrivate {
            let std = sigma * config.clipNorm
            for i in 0..<p { sum[i] += Float(std * noise.nextGaussian()) }
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
}

private func addInPlace(_ target: inout [Float], _ values: [Float], scale: Float = 1) {
    target.withUnsafeMutableBufferPointer { t in
        values.withUnsafeBufferPointer { v in
            for i in 0..<t.count { t[i] += scale * v[i] }
        }
    }
}
