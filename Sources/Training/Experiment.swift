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

    /// An experiment with caches under `cacheDirectory` (default `$USERDP_CACHE`, else
    /// `~/.cache/userdp`) and calibrations in `calibrationDirectory` (default
    /// `$USERDP_CALIBRATION_CACHE`, which a sweep sets so its runs share calibrations, else
    /// `<cache>/calibration`).
    public init(
        config: RunConfig, cacheDirectory: URL? = nil, calibrationDirectory: URL? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.config = config
        let cache = cacheDirectory ?? TokenCache.defaultDirectory(environment: environment).deletingLastPathComponent()
        self.cacheDirectory = cache
        if let calibrationDirectory {
            self.calibrationDirectory = calibrationDirectory
        } else if let shared = environment["USERDP_CALIBRATION_CACHE"], !shared.isEmpty {
            self.calibrationDirectory = URL(fileURLWithPath: shared)
        } else {
            self.calibrationDirectory = cache.appendingPathComponent("calibration")
        }
    }

    /// Runs the experiment. `observe` receives each step's record and each evaluation as they
    /// happen (for the progress line, log and curve).
    public func run(observe: (TrainingEvent) -> Void = { _ in }) throws -> ExperimentOutcome {
        let started = Date()
        let inputs = try ExperimentInputs.load(config: config, cacheDirectory: cacheDirectory, log: observe)
        let model = inputs.model
        let L = config.contextLength
        // Checked before the (slow) base evaluation and calibration, not only when the
        // adapters are added: a huge rank would otherwise fail minutes into the run.
        try config.lora?.modelConfig.validate(for: model.config)

        let baseValidation = try inputs.baseValidationPerplexity(contextLength: L, cacheDirectory: cacheDirectory)
        observe(.message(String(format: "base model validation perplexity %.3f", baseValidation)))

        // The training population and its privacy accounting.
        let plan = try TrainingPlan(config: config, inputs: inputs, cacheDirectory: cacheDirectory, log: observe)
        let privacy = try config.mechanism.definition.privacyPlan(config: config, plan: plan, calibrationDirectory: calibrationDirectory)
        observe(.message(privacy.summary))

        if let lora = config.lora {
            var loraStream = Philox(seed: UInt64(bitPattern: Int64(config.seed)), stream: "lora")
            try model.enableLoRA(lora.modelConfig, seed: loraStream.next())
        }

        // One model replica per BLAS thread the process started with (a sweep's children get one).
        let workers = ModelWorkers(model)
        observe(.message("\(workers.count) worker\(workers.count == 1 ? "" : "s") (model replicas, one BLAS thread each), OpenBLAS core \(BLASEnvironment.coreName)"))
        var trainer = StepRunner(config: config, plan: plan, aggregation: privacy.aggregation, workers: workers)
        var curve: [CurvePoint] = []
        var trainingTokens = 0
        var unitsSeen = 0
        var stepsRun = 0
        let trainStart = Date()
        for step in 1...config.steps {
            let outcome = try trainer.step(step)
            stepsRun = step
            trainingTokens += outcome.tokens
            unitsSeen += outcome.units
            // A step may end training (`asi-liu` under `halt`); the model is evaluated as it is.
            let halted = outcome.halted
            if let message = outcome.message { observe(.message(message)) }
            var point = CurvePoint(step: step, trainLoss: outcome.meanLoss, units: outcome.units, validationPerplexity: nil)
            // eval_every 0 means only after the last step (docs/CONFIG.md).
            let periodic = config.evalEvery > 0 && step % config.evalEvery == 0
            if periodic || step == config.steps || halted {
                point.validationPerplexity = perplexity(of: workers, records: inputs.validation.allRecords, contextLength: L)
            }
            curve.append(point)
            observe(.step(point, elapsed: Date().timeIntervalSince(trainStart), total: config.steps))
            if halted { break }
        }
        let trainSeconds = Date().timeIntervalSince(trainStart)
        let validation = curve.last?.validationPerplexity
            ?? perplexity(of: workers, records: inputs.validation.allRecords, contextLength: L)
        let test = perplexity(of: workers, records: inputs.test.allRecords, contextLength: L)
        // Per-stream evaluation beside the per-record metric: how random-chunk training fares
        // on text shaped like its chunks (docs/RESULTS.md, random chunk).
        let testStream = streamPerplexity(of: workers, users: inputs.test, contextLength: L)
        observe(.message(String(format: "validation perplexity %.3f, test perplexity %.3f (per stream %.3f)", validation, test, testStream)))

        var extra = privacy.extra
        extra["base_validation_perplexity"] = .number(baseValidation)
        extra["test_stream_perplexity"] = .number(testStream)
        extra["population_units"] = .integer(plan.populationSize)
        extra["train_users"] = .integer(inputs.train.users.count)
        extra["train_records"] = .integer(inputs.train.recordCount)
        extra["trainable_parameters"] = .integer(model.trainableParameterCount)
        extra["dataset_hash"] = .string(inputs.datasetHash)
        extra["model_hash"] = .string(try InputFingerprint.modelHash(directory: inputs.modelDirectory))
        extra["train_seconds"] = .number(trainSeconds)
        extra.merge(trainer.aggregation.resultExtra) { _, new in new }
        for line in trainer.aggregation.closingMessages(plannedSteps: config.steps) { observe(.message(line)) }
        let result = RunResult(
            config: config, testPerplexity: test, validationPerplexity: validation,
            epsilon: privacy.userEpsilon, delta: config.delta, noiseMultiplier: privacy.sigma,
            samplingRate: plan.samplingRate, steps: stepsRun, dpEvent: privacy.eventJSON,
            unitsPerStepMean: Double(unitsSeen) / Double(stepsRun),
            wallSeconds: Date().timeIntervalSince(started),
            tokensPerSecond: trainSeconds > 0 ? Double(trainingTokens) / trainSeconds : 0,
            provenance: Provenance.current(openblasCore: BLASEnvironment.coreName, blasThreads: BLASEnvironment.threadCount),
            extra: extra)
        return ExperimentOutcome(result: result, curve: curve)
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
