import Foundation
import LanguageModel
import LinearAlgebra
import Privacy
import Randomness
import UserData

/// One configured experiment: fine-tune the base model on a user-level dataset under a
/// mechanism and a privacy budget, then measure perplexity (docs/TRAINING.md, docs/SWEEPS.md).
///
/// Contract:
/// - Randomness comes from named `Philox` streams of `config.seed` ("sampling", "selection",
///   "noise", "lora"), so the same config and seed give the same result on the same machine with
///   the same BLAS kernel and thread count.
/// - σ is calibrated for the whole run before the first step; a target no σ can meet fails
///   before training. The user-level ε reported never exceeds the target (for `record`, whose
///   target is record-level, the record-level ε never exceeds it).
/// - Nothing is written here; `TrainingRun` writes the files.
public struct Experiment: Sendable {
    /// The resolved configuration.
    public let config: RunConfig
    /// Where to cache tokenised datasets, perplexity scores and calibrations.
    public let cacheDirectory: URL
    /// The calibration cache folder (shared by a sweep's runs).
    public let calibrationDirectory: URL
    /// Worker threads for every pass of the run, each with a model replica (the results do
    /// not depend on it); the command decides it, from the BLAS thread budget.
    public let workers: Int

    /// An experiment with caches under `cacheDirectory` (default `$USERDP_CACHE`, else
    /// `~/.cache/userdp`) and calibrations in `calibrationDirectory` (default
    /// `<cache>/calibration`; a sweep's trainer passes the sweep's shared folder, which its
    /// dispatcher names in `DispatchEnvironment`), on `workers` threads.
    public init(
        config: RunConfig, workers: Int, cacheDirectory: URL? = nil, calibrationDirectory: URL? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.config = config
        self.workers = max(1, workers)
        let cache = cacheDirectory ?? TokenCache.defaultDirectory(environment: environment).deletingLastPathComponent()
        self.cacheDirectory = cache
        self.calibrationDirectory = calibrationDirectory ?? cache.appendingPathComponent("calibration")
    }

    /// Runs the experiment. `observe` receives each step's record and each evaluation as they
    /// happen (for the progress line, log and curve).
    ///
    /// In order: load the inputs, measure the base model, plan the population and calibrate the
    /// mechanism's privacy, add the adapters, train, evaluate, and assemble the result.
    public func run(observe: (TrainingEvent) -> Void = { _ in }) throws -> ExperimentOutcome {
        let started = Date()
        let inputs = try ExperimentInputs.load(config: config, cacheDirectory: cacheDirectory, log: observe)
        let model = inputs.model
        // Checked before the (slow) base evaluation and calibration, not only when the
        // adapters are added: a huge rank would otherwise fail minutes into the run.
        try config.lora?.modelConfig.validate(for: model.config)

        let baseValidation = try inputs.baseValidationPerplexity(contextLength: config.contextLength, cacheDirectory: cacheDirectory, workers: workers)
        observe(.message(String(format: "base model validation perplexity %.3f", baseValidation)))

        // The training population and its privacy accounting.
        let plan = try TrainingPlan(config: config, inputs: inputs, cacheDirectory: cacheDirectory, workers: workers, log: observe)
        let privacy = try config.mechanism.definition.privacyPlan(config: config, plan: plan, calibrationDirectory: calibrationDirectory)
        observe(.message(privacy.summary))

        try addAdapters(to: model)
        // One model replica per worker (a sweep's children get one BLAS thread, so one worker).
        let workers = ModelWorkers(model, workers: workers)
        observe(.message("\(workers.count) worker\(workers.count == 1 ? "" : "s") (model replicas, one BLAS thread each), OpenBLAS core \(BLASEnvironment.coreName)"))
        let training = try train(workers: workers, plan: plan, privacy: privacy, validation: inputs.validation, observe: observe)
        let evaluation = evaluate(workers: workers, inputs: inputs, lastPoint: training.curve.last, observe: observe)

        var extra = privacy.extra
        extra["base_validation_perplexity"] = .number(baseValidation)
        extra["test_stream_perplexity"] = .number(evaluation.testStream)
        extra["population_units"] = .integer(plan.populationSize)
        extra["train_users"] = .integer(inputs.train.users.count)
        extra["train_records"] = .integer(inputs.train.recordCount)
        extra["trainable_parameters"] = .integer(model.trainableParameterCount)
        extra["dataset_hash"] = .string(inputs.datasetHash)
        extra["model_hash"] = .string(try InputFingerprint.modelHash(directory: inputs.modelDirectory))
        extra["train_seconds"] = .number(training.seconds)
        extra.merge(training.aggregation.resultExtra) { _, new in new }
        for line in training.aggregation.closingMessages(plannedSteps: config.steps) { observe(.message(line)) }
        let result = RunResult(
            config: config, testPerplexity: evaluation.test, validationPerplexity: evaluation.validation,
            epsilon: privacy.userEpsilon, delta: config.delta, noiseMultiplier: privacy.sigma,
            samplingRate: plan.samplingRate, steps: training.stepsRun, dpEvent: privacy.eventJSON,
            unitsPerStepMean: Double(training.unitsSeen) / Double(training.stepsRun),
            wallSeconds: Date().timeIntervalSince(started),
            tokensPerSecond: training.seconds > 0 ? Double(training.tokens) / training.seconds : 0,
            provenance: Provenance.current(openblasCore: BLASEnvironment.coreName, blasThreads: BLASEnvironment.threadCount),
            extra: extra)
        return ExperimentOutcome(result: result, curve: training.curve)
    }

    /// Adds the config's LoRA adapters to `model` (none for full fine-tuning), initialised from
    /// the run's "lora" stream.
    private func addAdapters(to model: GPTModel) throws {
        guard let lora = config.lora else { return }
        var loraStream = Philox(seed: UInt64(bitPattern: Int64(config.seed)), stream: "lora")
        try model.enableLoRA(lora.modelConfig, seed: loraStream.next())
    }

    /// What the training loop did.
    private struct Training {
        /// One point per step run.
        var curve: [CurvePoint] = []
        /// Steps run: T, or the step at which the mechanism halted.
        var stepsRun = 0
        /// Training tokens and privacy units over all steps.
        var tokens = 0
        var unitsSeen = 0
        /// Wall time of the loop, seconds.
        var seconds = 0.0
        /// The mechanism's step after the last one (with its run statistics, if any).
        var aggregation: any StepAggregation
    }

    /// Runs the steps of `plan` with the mechanism's aggregation: validation perplexity every
    /// `eval_every` steps (0: only after the last), after the last step, and after a step that
    /// ends training (`asi-liu` under `halt`; the model is then evaluated as it is).
    private func train(
        workers: ModelWorkers, plan: TrainingPlan, privacy: PrivacyPlan, validation: TokenizedDataset,
        observe: (TrainingEvent) -> Void
    ) throws -> Training {
        var trainer = StepRunner(config: config, plan: plan, aggregation: privacy.aggregation, workers: workers)
        var training = Training(aggregation: privacy.aggregation)
        let trainStart = Date()
        for step in 1...config.steps {
            let outcome = try trainer.step(step)
            training.stepsRun = step
            training.tokens += outcome.tokens
            training.unitsSeen += outcome.units
            if let message = outcome.message { observe(.message(message)) }
            var point = CurvePoint(step: step, trainLoss: outcome.meanLoss, units: outcome.units, validationPerplexity: nil)
            // eval_every 0 means only after the last step (docs/CONFIG.md).
            let periodic = config.evalEvery > 0 && step % config.evalEvery == 0
            if periodic || step == config.steps || outcome.halted {
                point.validationPerplexity = perplexity(of: workers, records: validation.allRecords, contextLength: config.contextLength)
            }
            training.curve.append(point)
            observe(.step(point, elapsed: Date().timeIntervalSince(trainStart), total: config.steps))
            if outcome.halted { break }
        }
        training.seconds = Date().timeIntervalSince(trainStart)
        training.aggregation = trainer.aggregation
        return training
    }

    /// Validation perplexity (the last step's, or measured now), test perplexity per record and
    /// per stream.
    private func evaluate(
        workers: ModelWorkers, inputs: ExperimentInputs, lastPoint: CurvePoint?, observe: (TrainingEvent) -> Void
    ) -> (validation: Double, test: Double, testStream: Double) {
        let L = config.contextLength
        let validation = lastPoint?.validationPerplexity
            ?? perplexity(of: workers, records: inputs.validation.allRecords, contextLength: L)
        let test = perplexity(of: workers, records: inputs.test.allRecords, contextLength: L)
        // Per-stream evaluation beside the per-record metric: how random-chunk training fares
        // on text shaped like its chunks (docs/RESULTS.md, random chunk).
        let testStream = streamPerplexity(of: workers, users: inputs.test, contextLength: L)
        observe(.message(String(format: "validation perplexity %.3f, test perplexity %.3f (per stream %.3f)", validation, test, testStream)))
        return (validation, test, testStream)
    }
}

/// A finished experiment: its result and its learning curve.
public struct ExperimentOutcome: Sendable {
    /// What goes into result.json.
    public var result: RunResult
    /// One point per step.
    public var curve: [CurvePoint]
}

/// What a run reports while it trains.
public enum TrainingEvent: Sendable {
    /// A line for the log.
    case message(String)
    /// A finished step (with the validation perplexity when it was evaluated).
    case step(CurvePoint, elapsed: Double, total: Int)
}

/// One row of `curve.csv`.
public struct CurvePoint: Sendable, Equatable, Codable {
    /// Step number, from 1.
    public var step: Int
    /// Mean per-sequence training loss of the step's batch (NaN for an empty batch).
    public var trainLoss: Double
    /// Privacy units in the step's Poisson batch.
    public var units: Int
    /// Validation perplexity, at evaluation steps only.
    public var validationPerplexity: Double?
}

extension TokenizedDataset {
    /// Every record's tokens, users in order.
    var allRecords: [[Int32]] { users.flatMap(\.records) }
}
