import Foundation
import LanguageModel
import Privacy
import Randomness
import Testing
import TestSupport
import UserData
@testable import Training

/// End-to-end `asi-liu` runs (`TrainingRun.execute`) on a tiny model and a tiny dataset with
/// enough users for the private test to be feasible: 120 users (96 in the training split),
/// 64 expected per step, T = 3, ε = 8.
extension TrainingWorld {
    /// An `asi-liu` run on the world: ε 8, k 2, 3 steps, validation every 2, threshold 0.75.
    fileprivate func config(tau: Double, onFailure: AsiLiuFailurePolicy, batch: Double = 64) -> RunConfig {
        var config = tiny.config(mechanism: .asiLiu, steps: 3)
        config.epsilon = 8
        config.batchSize = batch
        config.evalEvery = 2
        config.mechanismOptions.asiLiu = AsiLiuSettings(tau: tau, threshold: 0.75, onFailure: onFailure)
        return config
    }
}

/// The flat `extra` value at `key`, as a Double (nil if absent or not a number).
private func number(_ result: RunResult, _ key: String) -> Double? {
    switch result.extra[key]?.normalized {
    case .integer(let i)?: return Double(i)
    case .number(let d)?: return d
    default: return nil
    }
}

/// Reads back result.json and checks what every `asi-liu` result must hold: ε from the stored
/// event at the run's δ, never above the target; the noise multiplier is the event's.
private func checkedResult(_ world: TrainingWorld, _ name: String, _ outcome: ExperimentOutcome) throws -> RunResult {
    let result = try RunResult(contentsOf: world.root.appendingPathComponent(name).appendingPathComponent("result.json"))
    #expect(result == outcome.result)
    #expect(Set(result.extra.keys) == RunResult.commonExtraKeys.union(MechanismKind.asiLiu.definition.resultKeys))
    #expect(result.epsilon <= 8 && result.epsilon > 7, "ε spent \(result.epsilon)")
    let event = try JSONDecoder().decode(DPEvent.self, from: JSONEncoder().encode(result.dpEvent))
    let recomputed = try AccountantKind.pld().makeAccountant().epsilon(for: event, delta: result.delta)
    #expect(abs(recomputed - result.epsilon) <= 1e-9 * result.epsilon, "stored event gives ε \(recomputed), result says \(result.epsilon)")
    guard case .selfComposed(.withFailureProbability(.poissonSampled(_, .gaussian(let z)), let p), let steps) = event else {
        Issue.record("dp_event is not T steps of the subsampled Gaussian with a failure probability: \(event)")
        return result
    }
    #expect(steps == 3, "the accounting covers all T steps, also for a halted run")
    #expect(z == result.noiseMultiplier && p > 0)
    #expect(result.noiseMultiplier > 0)
    return result
}

/// The end-to-end scenarios share one world (building it is most of their cost).
@Test func asiLiuEndToEndRunsRecordWhatHappened() throws {
    let world = try TrainingWorld(users: 120, label: "asiliu")
    defer { try? FileManager.default.removeItem(at: world.root) }
    try hugeRadiusPassesEveryStepAndTrains(world)
    try tinyRadiusHaltsAtStepOneWithoutUpdating(world)
    try tinyRadiusUnderSkipRunsEveryStepWithoutUpdating(world)
    try infeasibleTestIsRefusedBeforeTraining(world)
}

private func hugeRadiusPassesEveryStepAndTrains(_ world: TrainingWorld) throws {
    // Every pair of users is within 2τ: every score is n − 1, no user is removed, W = n − 2.
    let outcome = try world.train(world.config(tau: 1e4, onFailure: .halt), "huge")
    let result = try checkedResult(world, "huge", outcome)
    #expect(result.steps == 3 && outcome.curve.count == 3)
    #expect(result.extra["asi_liu_halted"] == .bool(false) && result.extra["asi_liu_halted_at_step"] == .null)
    #expect(number(result, "asi_liu_steps_run") == 3 && number(result, "asi_liu_steps_passed") == 3)
    #expect(number(result, "asi_liu_steps_skipped") == 0 && number(result, "asi_liu_pass_rate") == 1)
    #expect(number(result, "asi_liu_diagnostic_mean_concentration_score") == 1)
    #expect(number(result, "asi_liu_diagnostic_mean_removed_fraction") == 0)
    // W / n = 1 − 2/n with n ≈ 100 users per step.
    let core = try #require(number(result, "asi_liu_diagnostic_mean_core_fraction"))
    #expect(core > 0.95 && core < 1)
    // The updates moved the model.
    #expect(result.validationPerplexity != number(result, "base_validation_perplexity"))
}

private func tinyRadiusHaltsAtStepOneWithoutUpdating(_ world: TrainingWorld) throws {
    // No two users are within 2τ: every weight is 0, so the noisy core never reaches Θ.
    let outcome = try world.train(world.config(tau: 1e-9, onFailure: .halt), "halt")
    let result = try checkedResult(world, "halt", outcome)
    #expect(result.steps == 1 && outcome.curve.count == 1)
    #expect(outcome.curve[0].validationPerplexity != nil, "the model is evaluated at the halting step")
    let curve = try String(contentsOf: world.root.appendingPathComponent("halt/curve.csv"), encoding: .utf8)
    #expect(curve.split(separator: "\n").count == 1 + 1)
    #expect(result.extra["asi_liu_halted"] == .bool(true) && result.extra["asi_liu_halted_at_step"] == .integer(1))
    #expect(number(result, "asi_liu_steps_run") == 1 && number(result, "asi_liu_steps_passed") == 0)
    #expect(number(result, "asi_liu_pass_rate") == 0)
    #expect(number(result, "asi_liu_diagnostic_mean_concentration_score") == 0)
    #expect(number(result, "asi_liu_diagnostic_mean_removed_fraction") == 1)
    // No update was made: the model is the base model (LoRA B starts at zero).
    #expect(result.validationPerplexity == number(result, "base_validation_perplexity"))
    let log = try String(contentsOf: world.root.appendingPathComponent("halt/log"), encoding: .utf8)
    #expect(log.contains("halted at step 1 of 3"))
}

private func tinyRadiusUnderSkipRunsEveryStepWithoutUpdating(_ world: TrainingWorld) throws {
    let outcome = try world.train(world.config(tau: 1e-9, onFailure: .skip), "skip")
    let result = try checkedResult(world, "skip", outcome)
    #expect(result.steps == 3 && outcome.curve.count == 3)
    #expect(result.extra["asi_liu_halted"] == .bool(false) && result.extra["asi_liu_halted_at_step"] == .null)
    #expect(number(result, "asi_liu_steps_run") == 3 && number(result, "asi_liu_steps_skipped") == 3)
    #expect(number(result, "asi_liu_steps_passed") == 0 && number(result, "asi_liu_pass_rate") == 0)
    #expect(result.validationPerplexity == number(result, "base_validation_perplexity"))
}

private func infeasibleTestIsRefusedBeforeTraining(_ world: TrainingWorld) throws {
    // Six expected users per step cannot clear the test's safety margin at ε = 8.
    #expect {
        try world.train(world.config(tau: 1, onFailure: .halt, batch: 6), "small")
    } throws: { error in
        guard case AsiLiuError.thresholdInfeasible(let threshold, let margin, let needed)? = error as? AsiLiuError else { return false }
        return threshold == 4.5 && margin > threshold - 3 && needed > 6
    }
    let out = world.root.appendingPathComponent("small")
    #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
    #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("curve.csv").path))
}

/// One `asi-liu` step at the StepRunner level, against an independent computation: every user
/// sampled (q = 1), τ so large that all weights are equal, so the estimate is the plain mean
/// of the users' gradients (each the mean over its k sequences, computed here one user at a
/// time) plus N(0, σ_μ²) per coordinate; SGD then moves θ by exactly −η · estimate. With a
/// tiny τ under `skip` nothing moves.
@Test func asiLiuStepUpdatesWithTheNoisyMeanOfUserGradientsOrNotAtAll() throws {
    var rng = Philox(seed: 5, stream: "asi-liu-users")
    let users = (0..<40).map { u in
        TokenizedUser(user: "u\(u)", records: (0..<(1 + u % 3)).map { _ in (0..<(6 + u % 5)).map { _ in Int32(rng.next() % 40) } })
    }
    let modelConfig = GPTConfig(vocabularySize: 40, contextLength: 16, width: 16, layerCount: 1, headCount: 2)
    var config = RunConfig()
    config.mechanism = .asiLiu
    config.optimizer = .sgd
    config.learningRate = 0.5
    config.contextLength = 16
    config.k = 2
    config.lora = nil
    let plan = TrainingPlan(population: .users(users), samplingRate: 1)

    for (tau, policy) in [(1e6, AsiLiuFailurePolicy.halt), (1e-9, .skip)] {
        // Θ = 30 of 40 users; a full core is W = 40 − 2.
        config.mechanismOptions.asiLiu = AsiLiuSettings(tau: tau, threshold: 0.75, onFailure: policy)
        let calibration = try AsiLiuCalibration.make(
            epsilon: 8, delta: 1e-5, samplingRate: 1, steps: 1, expectedUsers: 40,
            settings: config.mechanismOptions.asiLiu, noiseMultiplier: 0.5)
        let model = GPTModel(config: modelConfig, seed: 3)
        let reference = GPTModel(config: modelConfig, seed: 3)
        let before = model.trainableParameters()
        var runner = StepRunner(
            config: config, plan: plan, aggregation: AsiLiuAggregation(calibration: calibration, settings: config.mechanismOptions.asiLiu),
            model: model, microBatchTokens: 256)
        let units = try runner.sampledUnits(Array(users.indices), step: 1)
        _ = try runner.step(1)
        let outcome = try #require((runner.aggregation as? AsiLiuAggregation)?.lastOutcome)
        let after = model.trainableParameters()

        if tau > 1 {
            #expect(outcome.action == .update && outcome.removedFraction == 0)
            let estimate = try #require(outcome.estimate)
            // θ ← θ − η·ĝ, bit for bit.
            #expect(zip(zip(before, estimate), after).allSatisfy { pair, updated in pair.0 - Float(config.learningRate) * pair.1 == updated })
            // The users' mean gradient, one user at a time.
            var mean = [Double](repeating: 0, count: before.count)
            for sequences in units {
                let length = max(1, min(config.contextLength, sequences.map(\.count).max()! - 1))
                let gradient = reference.lossAndGradient(TokenBatch(sequences: sequences, length: length)).gradient
                for j in mean.indices { mean[j] += Double(gradient[j]) / Double(units.count) }
            }
            let residuals = zip(estimate, mean).map { Double($0) - $1 }
            let n = Double(residuals.count)
            let average = residuals.reduce(0, +) / n
            let std = (residuals.map { ($0 - average) * ($0 - average) }.reduce(0, +) / (n - 1)).squareRoot()
            let sigma = calibration.noise.meanSigma
            #expect(abs(average) < 5 * sigma / n.squareRoot(), "residual mean \(average), σ_μ \(sigma), P \(residuals.count)")
            #expect(abs(std - sigma) < 0.05 * sigma, "residual std \(std), σ_μ \(sigma) over \(residuals.count) coordinates")
        } else {
            #expect(outcome.action == .skip && outcome.estimate == nil && outcome.removedFraction == 1)
            #expect(after == before)
        }
    }
}
