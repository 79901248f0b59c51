import Foundation
import Persistence
import LinearAlgebra
import Randomness

/// Hyperparameters of a pretraining run (`userdp pretrain`).
public struct PretrainConfig: Sendable, Codable, Equatable {
    /// Transformer blocks.
    public var layers: Int
    /// Model width d.
    public var width: Int
    /// Attention heads (must divide `width`).
    public var heads: Int
    /// Context length L (tokens per training window).
    public var context: Int
    /// Optimizer steps.
    public var steps: Int
    /// Windows per step.
    public var batch: Int
    /// Peak learning rate.
    public var lr: Float
    /// Final learning rate of the cosine decay.
    public var minimumLR: Float
    /// Linear warmup steps.
    public var warmup: Int
    /// AdamW decoupled weight decay (on matrices and embeddings only).
    public var weightDecay: Float
    /// Global gradient-norm clip.
    public var clipNorm: Float
    /// Seed for initialisation and window sampling.
    public var seed: UInt64
    /// Steps between held-out evaluations (0: only at the end).
    public var evalInterval: Int
    /// Steps between checkpoints written to the output directory (0: only at the end).
    public var checkpointInterval: Int

    /// Creates a configuration; `validate()` checks it.
    public init(layers: Int, width: Int, heads: Int, context: Int, steps: Int, batch: Int, lr: Float, minimumLR: Float, warmup: Int, weightDecay: Float = 0.1, clipNorm: Float = 1, seed: UInt64, evalInterval: Int, checkpointInterval: Int) {
        self.layers = layers
        self.width = width
        self.heads = heads
        self.context = context
        self.steps = steps
        self.batch = batch
        self.lr = lr
        self.minimumLR = minimumLR
        self.warmup = warmup
        self.weightDecay = weightDecay
        self.clipNorm = clipNorm
        self.seed = seed
        self.evalInterval = evalInterval
        self.checkpointInterval = checkpointInterval
    }

    /// `pretrain.json` spells the keys in snake_case.
    enum CodingKeys: String, CodingKey {
        case layers, width, heads, context, steps, batch, lr, warmup, seed
        case minimumLR = "minimum_lr"
        case weightDecay = "weight_decay"
        case clipNorm = "clip_norm"
        case evalInterval = "eval_interval"
        case checkpointInterval = "checkpoint_interval"
    }

    /// Throws `PretrainError.invalidSetting` naming the first bad flag.
    public func validate() throws {
        func require(_ ok: Bool, _ name: String, _ value: Any, _ expected: String) throws {
            if !ok { throw PretrainError.invalidSetting(name: name, value: "\(value)", expected: expected) }
        }
        try require(layers >= 1, "--layers", layers, "at least 1")
        try require(width >= 1, "--width", width, "at least 1")
        try require(heads >= 1 && width % heads == 0, "--heads", heads, "a positive divisor of --width \(width)")
        try require(context >= 1, "--context", context, "at least 1")
        try require(steps >= 1, "--steps", steps, "at least 1")
        try require(batch >= 1, "--batch", batch, "at least 1")
        try require(lr > 0 && lr.isFinite, "--lr", lr, "a positive number")
        try require(minimumLR >= 0 && minimumLR <= lr, "--min-lr", minimumLR, "between 0 and --lr")
        try require(warmup >= 0 && warmup <= steps, "--warmup", warmup, "between 0 and --steps")
        try require(weightDecay >= 0, "--weight-decay", weightDecay, "non-negative")
        try require(clipNorm > 0, "--clip", clipNorm, "a positive number")
        try require(evalInterval >= 0, "--eval-interval", evalInterval, "non-negative")
        try require(checkpointInterval >= 0, "--checkpoint-interval", checkpointInterval, "non-negative")
    }
}

/// One step's report from `Pretraining.run`.
public struct PretrainProgress: Sendable {
    /// Steps completed (1-based).
    public var step: Int
    /// Total steps.
    public var totalSteps: Int
    /// Mean loss of this step's batch (nats per token).
    public var loss: Float
    /// Learning rate used.
    public var lr: Float
    /// Gradient norm before clipping.
    public var gradientNorm: Float
    /// Training tokens per second over the run so far (evaluation and checkpoint time excluded).
    public var tokensPerSecond: Double
    /// Wall seconds since the start.
    public var elapsedSeconds: Double
    /// Estimated wall seconds to the end, at the average pace so far.
    public var remainingSeconds: Double
    /// Held-out result, when this step evaluated.
    public var heldOut: PerplexityResult?
}

/// What a finished run records in `pretrain.json` beside the checkpoint.
public struct PretrainSummary: Sendable, Codable {
    /// One held-out evaluation.
    public struct Evaluation: Sendable, Codable {
        /// Steps completed.
        public var step: Int
        /// Mean loss of the step's training batch.
        public var trainLoss: Float
        /// Held-out mean NLL (nats per token).
        public var heldOutNLL: Double
        /// Held-out perplexity.
        public var heldOutPerplexity: Double

        enum CodingKeys: String, CodingKey {
            case step
            case trainLoss = "train_loss"
            case heldOutNLL = "held_out_nll"
            case heldOutPerplexity = "held_out_perplexity"
        }
    }

    /// The hyperparameters.
    public var config: PretrainConfig
    /// Vocabulary size of the tokenizer (and model).
    public var vocabularySize: Int
    /// Model parameters.
    public var parameterCount: Int
    /// Tokens in the training stream.
    public var trainingStreamTokens: Int
    /// Tokens processed (steps × batch × context predictions).
    public var tokensSeen: Int
    /// Predicted tokens in the held-out stream.
    public var heldOutTokens: Int
    /// Held-out result after the last step.
    public var finalHeldOut: PerplexityResult
    /// Wall-clock seconds of the whole run.
    public var wallSeconds: Double
    /// OpenBLAS kernel and threads in use.
    public var kernel: KernelChoice
    /// Every held-out evaluation.
    public var evaluations: [Evaluation]

    /// `pretrain.json` spells the keys in snake_case (files written before, in camelCase, are
    /// records only: userdp never reads them back).
    enum CodingKeys: String, CodingKey {
        case config, kernel, evaluations
        case vocabularySize = "vocabulary_size"
        case parameterCount = "parameter_count"
        case trainingStreamTokens = "training_stream_tokens"
        case tokensSeen = "tokens_seen"
        case heldOutTokens = "held_out_tokens"
        case finalHeldOut = "final_held_out"
        case wallSeconds = "wall_seconds"
    }
}

/// Pretraining a GPT-2-architecture model from scratch on a token stream.
public enum Pretraining {
    /// File name of the run summary written next to the checkpoint.
    public static let summaryFileName = "pretrain.json"

    /// Trains a freshly initialised model with AdamW, linear warmup and cosine decay, and
    /// global-norm clipping. Each step draws `batch` windows of `context + 1` tokens at uniform
    /// random offsets of `trainTokens` (Philox stream "pretrain/windows" of the seed, one
    /// substream per step, so runs are reproducible). The held-out stream is evaluated with
    /// `Perplexity.evaluate` every `evalInterval` steps and at the end. Each step's gradient is
    /// computed in shards on `workers` threads (`ModelWorkers.lossAndGradient`), so the result is
    /// bit-identical for every worker count. With `outputDirectory`,
    /// the model and tokenizer are saved (`Checkpoint.save`) every `checkpointInterval` steps and
    /// at the end, with `pretrain.json`.
    ///
    /// - Throws: `PretrainError` for a bad configuration or a stream shorter than one window;
    ///   checkpoint write errors.
    public static func run(
        config: PretrainConfig, tokenizer: BPETokenizer, trainTokens: [Int32], heldOutTokens: [Int32],
        outputDirectory: URL?, workers: Int, progress: (PretrainProgress) -> Void
    ) throws -> (model: GPTModel, summary: PretrainSummary) {
        try config.validate()
        let window = config.context + 1
        guard trainTokens.count >= window else { throw PretrainError.corpusTooSmall(tokens: trainTokens.count, needed: window) }
        guard heldOutTokens.count >= 2 else { throw PretrainError.corpusTooSmall(tokens: heldOutTokens.count, needed: 2) }

        let modelConfig = GPTConfig(vocabularySize: tokenizer.vocabularySize, contextLength: config.context, width: config.width, layerCount: config.layers, headCount: config.heads)
        let model = try GPTModel(validating: modelConfig, seed: config.seed)
        let pool = ModelWorkers(model, workers: workers)
        var optimizer = AdamW(decayMask: AdamW.decayMask(for: model.trainableTensors, count: model.trainableParameterCount), weightDecay: config.weightDecay)
        let schedule = LearningRateSchedule(peak: config.lr, minimum: config.minimumLR, warmupSteps: config.warmup, totalSteps: config.steps)
        let windows = Philox(seed: config.seed, stream: "pretrain/windows")
        let clock = ContinuousClock()
        let start = clock.now
        var trainingSeconds = 0.0
        var evaluations: [PretrainSummary.Evaluation] = []
        var lastHeldOut = PerplexityResult(meanNegativeLogLikelihood: .nan, predictedTokens: 0)

        func seconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
        }
        func summary(at step: Int) -> PretrainSummary {
            PretrainSummary(
                config: config, vocabularySize: tokenizer.vocabularySize, parameterCount: model.parameterCount,
                trainingStreamTokens: trainTokens.count, tokensSeen: step * config.batch * config.context,
                heldOutTokens: heldOutTokens.count - 1, finalHeldOut: lastHeldOut,
                wallSeconds: seconds(clock.now - start), kernel: BLASEnvironment.kernelChoice, evaluations: evaluations)
        }
        func save(at step: Int) throws {
            guard let outputDirectory else { return }
            try Checkpoint.save(model, tokenizer: tokenizer, to: outputDirectory, metadata: ["userdp.pretrain.step": String(step)])
            try AtomicFile.write(try JSONOutput.data(summary(at: step)), to: outputDirectory.appendingPathComponent(summaryFileName))
        }

        for step in 0..<config.steps {
            let stepStart = clock.now
            var random = windows.substream(UInt64(step))
            let sequences = (0..<config.batch).map { _ -> [Int32] in
                let offset = Int(random.next() % UInt64(trainTokens.count - window + 1))
                return Array(trainTokens[offset..<(offset + window)])
            }
            let (loss, rawGradient) = pool.lossAndGradient(TokenBatch(sequences: sequences, length: config.context))
            var gradient = rawGradient
            let norm = clipGlobalNorm(&gradient, maximumNorm: config.clipNorm)
            let lr = schedule.rate(at: step)
            model.updateTrainableParameters { optimizer.update($0, gradient: gradient, lr: lr, workers: pool.count) }
            trainingSeconds += seconds(clock.now - stepStart)

            let completed = step + 1
            var heldOut: PerplexityResult?
            if completed == config.steps || (config.evalInterval > 0 && completed % config.evalInterval == 0) {
                let result = Perplexity.evaluate(pool, tokens: heldOutTokens)
                heldOut = result
                lastHeldOut = result
                evaluations.append(.init(step: completed, trainLoss: loss, heldOutNLL: result.meanNegativeLogLikelihood, heldOutPerplexity: result.perplexity))
            }
            if completed == config.steps || (config.checkpointInterval > 0 && completed % config.checkpointInterval == 0) {
                try save(at: completed)
            }
            let elapsed = seconds(clock.now - start)
            progress(PretrainProgress(
                step: completed, totalSteps: config.steps, loss: loss, lr: lr, gradientNorm: norm,
                tokensPerSecond: Double(completed * config.batch * config.context) / max(trainingSeconds, 1e-9),
                elapsedSeconds: elapsed, remainingSeconds: elapsed / Double(completed) * Double(config.steps - completed),
                heldOut: heldOut))
        }
        return (model, summary(at: config.steps))
    }
}
