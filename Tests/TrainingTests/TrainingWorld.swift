import Foundation
import LanguageModel
import LinearAlgebra
import TestSupport
@testable import Training

/// A ``TinyWorld`` in a temporary folder of its own, with the token cache of its runs in the
/// folder and calibrations shared by every training test of the process (the same request is
/// calibrated once). The records come from seed 9, stream "world".
struct TrainingWorld {
    let root: URL
    let tiny: TinyWorld

    /// A world of `users` users in a fresh folder labelled `label`.
    init(users: Int, label: String) throws {
        root = try temporaryFolder(label)
        tiny = try TinyWorld(in: root, users: users, seed: 9, stream: "world")
    }

    var model: URL { tiny.model }
    var dataset: URL { tiny.dataset }

    /// Calibrations shared by the training tests.
    static let calibrations = FileManager.default.temporaryDirectory.appendingPathComponent("userdp-test-calibrations")

    /// Runs `config` into `root/name`.
    func train(_ config: RunConfig, _ name: String) throws -> ExperimentOutcome {
        try TrainingRun.execute(
            config: config, directory: root.appendingPathComponent(name), workers: defaultWorkerCount, cacheDirectory: root.appendingPathComponent("cache"),
            calibrationDirectory: TrainingWorld.calibrations)
    }
}

extension StepRunner {
    /// A runner of a DP-SGD mechanism (`record`, `group`, `user`) at noise multiplier σ, or of
    /// `nonprivate` (σ unused): the aggregation their privacy plans would hand over.
    init(
        config: RunConfig, plan: TrainingPlan, sigma: Double, workers: ModelWorkers,
        microBatchTokens: Int = StepRunner.defaultMicroBatchTokens
    ) {
        precondition(config.mechanism != .asiLiu, "asi-liu's aggregation needs its calibration")
        let aggregation: any StepAggregation =
            config.mechanism.isPrivate ? ClippedGaussianAggregation(sigma: sigma, clipNorm: config.clipNorm) : MeanGradientAggregation()
        self.init(config: config, plan: plan, aggregation: aggregation, workers: workers, microBatchTokens: microBatchTokens)
    }

    /// The same on one thread (no replicas).
    init(config: RunConfig, plan: TrainingPlan, sigma: Double, model: GPTModel, microBatchTokens: Int = StepRunner.defaultMicroBatchTokens) {
        self.init(config: config, plan: plan, sigma: sigma, workers: ModelWorkers(model, workers: 1), microBatchTokens: microBatchTokens)
    }
}
