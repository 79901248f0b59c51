import Foundation
import Persistence
import Privacy

extension MechanismKind {
    /// Asi & Liu 2024 (arXiv 2311.03797) as userdp implements it (docs/ASI_LIU.md).
    public static let asiLiu = MechanismKind(declaring: "asi-liu")
}

/// `asi-liu`: Asi & Liu 2024 (arXiv 2311.03797) as userdp implements it (docs/ASI_LIU.md).
/// Users are sampled like `user`; each step privately tests whether the sampled users'
/// unclipped mean gradients are concentrated, drops outliers and adds noise scaled to the radius
/// τ; a failed test halts the run or skips the step (`mechanism_options.asi_liu.on_failure`).
///
/// The noise multiplier z of the test and the mean together is calibrated like `user`'s σ at
/// δ_acc = 0.9·δ; the event adds the test's failure probability (`AsiLiuCalibration`). An
/// infeasible test threshold fails in the calibration, before training.
struct AsiLiuMechanism: Mechanism {
    let kind = MechanismKind.asiLiu
    let isPrivate = true
    let eventUnit = PrivacyUnit.user
    let population = UnitPopulation.users
    /// Its sensitivity is bounded by the radius τ, not by `clip_norm`.
    let readKeys: Set<String> = ["accountant", "delta", "epsilon", "k", "selection"]
    let optionsKey: String? = "asi_liu"
    /// The calibration's numbers and the run's halting statistics (`AsiLiuRunStatistics`).
    let resultKeys: Set<String> = [
        "accountant", "calibrated_epsilon", "asi_liu_test_sigma", "asi_liu_mean_sigma", "asi_liu_pass_threshold",
        "asi_liu_margin", "asi_liu_core_lower_bound", "asi_liu_mean_sensitivity", "asi_liu_test_failure_probability",
        "asi_liu_steps_run", "asi_liu_steps_passed", "asi_liu_steps_skipped", "asi_liu_halted", "asi_liu_halted_at_step",
        "asi_liu_pass_rate", "asi_liu_mean_noisy_core_fraction", "asi_liu_diagnostic_mean_concentration_score",
        "asi_liu_diagnostic_mean_removed_fraction", "asi_liu_diagnostic_mean_core_fraction",
    ]

    /// Calibrates z with the shared noise search and cache, builds the run's `DPEvent` (with the
    /// test's failure probability), and checks that its ε at the full δ meets the target.
    func privacyPlan(config: RunConfig, plan: TrainingPlan, calibrationDirectory: URL) throws -> PrivacyPlan {
        let accountant = config.accountant
        let settings = config.mechanismOptions.asiLiu
        let expectedUsers = plan.samplingRate * Double(plan.populationSize)
        let calibration = try AsiLiuCalibration.calibrate(
            epsilon: config.epsilon, delta: config.delta, samplingRate: plan.samplingRate, steps: config.steps,
            expectedUsers: expectedUsers, settings: settings, accountantKind: accountant,
            noiseCalibration: NoiseCalibration(cache: try CalibrationCache(directory: calibrationDirectory)))
        let event = try calibration.privacyEvent()
        let (achieved, eventJSON) = try spentEpsilon(of: event, accountant: accountant, config: config)
        let noise = calibration.noise
        let extra: [String: JSONValue] = [
            "accountant": .string(accountant.summary), "calibrated_epsilon": JSONValue.number(achieved).normalized,
            "asi_liu_test_sigma": JSONValue.number(noise.testSigma).normalized,
            "asi_liu_mean_sigma": JSONValue.number(noise.meanSigma).normalized,
            "asi_liu_pass_threshold": JSONValue.number(noise.passThreshold).normalized,
            "asi_liu_margin": JSONValue.number(calibration.margin).normalized,
            "asi_liu_core_lower_bound": JSONValue.number(calibration.coreLowerBound).normalized,
            "asi_liu_mean_sensitivity": JSONValue.number(calibration.meanSensitivity).normalized,
            "asi_liu_test_failure_probability": JSONValue.number(calibration.testFailureProbability).normalized,
        ]
        let summary = String(
            format: "asi-liu: calibrated z = %.5f (test σ_W = %.3f users, mean σ_μ = %.4g per coordinate, pass at Ŵ ≥ %.2f, core bound Θ₀ = %.2f) for ε = %g, δ = %g, q = %.5g, T = %d (%@): ε spent %.5f",
            calibration.noiseMultiplier, noise.testSigma, noise.meanSigma, noise.passThreshold, calibration.coreLowerBound,
            config.epsilon, config.delta, plan.samplingRate, config.steps, accountant.summary, achieved)
        return PrivacyPlan(
            sigma: calibration.noiseMultiplier, userEpsilon: achieved, eventJSON: eventJSON,
            extra: extra, summary: summary, aggregation: AsiLiuAggregation(calibration: calibration, settings: settings))
    }

    func guarantee(of config: RunConfig, event: DPEvent?, steps: String) -> String {
        "Asi & Liu (\(steps)); user-level event: subsampled Gaussian with the concentration test's failure probability"
    }

    /// The options object: τ, threshold, failure policy and budget split all set z.
    func calibrationDetails(of config: RunConfig) -> [String] {
        [config.json.value(atKeyPath: "mechanism_options.asi_liu")?.canonicalText() ?? ""]
    }
}

/// The `asi-liu` step (docs/ASI_LIU.md): each sampled user's unclipped mean gradient (a users ×
/// P matrix gathered over micro-batches) goes into `asiLiuAggregate`. On a passed test the
/// optimizer steps with the private mean estimate (no division by q·N: it is already a mean);
/// on a failed test nothing is updated and the run halts or skips the step. Every step's outcome
/// is recorded in the run's statistics.
struct AsiLiuAggregation: StepAggregation {
    /// The calibrated test and mean noise.
    let calibration: AsiLiuCalibration
    /// τ and the failure policy.
    let settings: AsiLiuSettings
    /// Every step's outcome so far.
    private(set) var statistics: AsiLiuRunStatistics
    /// The outcome of the last step.
    private(set) var lastOutcome: AsiLiuStepOutcome?

    init(calibration: AsiLiuCalibration, settings: AsiLiuSettings) {
        self.calibration = calibration
        self.settings = settings
        statistics = AsiLiuRunStatistics(calibration: calibration)
    }

    mutating func aggregate(_ units: [[[Int32]]], step: Int, context: inout StepContext) throws -> StepUpdate {
        var rows: [Float] = []
        rows.reserveCapacity(units.count * context.parameterCount)
        var tally = StepTally()
        context.forEachMicroBatch(
            units,
            compute: { batch, ranges, model in model.perUnitGradients(batch.tokens, units: ranges) },
            combine: { batch, result in
                rows.append(contentsOf: result.gradients)
                tally.add(result.losses, of: batch)
            })
        let outcome = try asiLiuAggregate(
            userGradients: rows, users: units.count, parameters: context.parameterCount, settings: settings,
            noise: calibration.noise, rng: &context.noise)
        statistics.record(outcome, step: step)
        lastOutcome = outcome
        var update = StepUpdate(gradient: outcome.action == .update ? outcome.estimate : nil, tally: tally)
        // Under `halt` a failed test ends training here; the model is evaluated as it is (the
        // failing step made no update).
        if outcome.action == .halt {
            update.halt = true
            update.message = String(
                format: "asi-liu: concentration test failed at step %d (noisy core %.2f < %.2f users): halting", step,
                outcome.noisyCoreSize, calibration.noise.passThreshold)
        }
        return update
    }

    var resultExtra: [String: JSONValue] { statistics.resultExtra }

    func closingMessages(plannedSteps: Int) -> [String] {
        guard let halt = statistics.haltedAtStep else { return [] }
        return ["asi-liu: halted at step \(halt) of \(plannedSteps); the privacy accounting covers all \(plannedSteps)"]
    }
}

