import Foundation
import LanguageModel
import Persistence
import Privacy

/// DP-SGD's step, shared by `record`, `group` and `user` (Abadi et al. 2016): clip each unit's
/// gradient (the mean over its sequences) to L2 norm C, sum in micro-batch order, add
/// N(0, σ²C²) to every coordinate of the sum and divide by the expected batch q·M.
struct ClippedGaussianAggregation: StepAggregation {
    /// The noise multiplier σ.
    let sigma: Double
    /// The clipping norm C.
    let clipNorm: Double

    mutating func aggregate(_ units: [[[Int32]]], step: Int, context: inout StepContext) throws -> StepUpdate {
        var sum = [Float](repeating: 0, count: context.parameterCount)
        var tally = StepTally()
        let clipNorm = Float(self.clipNorm)
        let workers = context.workers.count
        context.forEachMicroBatch(
            units,
            compute: { batch, ranges, model in model.clippedGradientSum(batch.tokens, units: ranges, clipNorm: clipNorm) },
            combine: { batch, result in
                addInPlace(&sum, result.sum, workers: workers)
                tally.add(result.losses, of: batch)
            })
        addGaussianNoise(to: &sum, standardDeviation: sigma * self.clipNorm, rng: &context.noise, workers: workers)
        return StepUpdate(gradient: divided(sum, by: Float(context.expectedUnits)), tally: tally)
    }
}

/// The calibration of a DP-SGD mechanism: the smallest σ (from the shared search and cache)
/// whose event for `unit` under `accountant` spends at most the target ε, and that event with
/// its ε recomputed (never a cached number alone).
struct DPSGDCalibration {
    /// The noise multiplier σ.
    let sigma: Double
    /// The event of the whole run, at the unit it was calibrated for.
    let event: DPEvent
    /// ε of `event` at the config's δ, ≤ the target.
    let achievedEpsilon: Double
    /// `event` as `result.json` stores it.
    let eventJSON: JSONValue
    /// The accountant (and, for the lemma, the conversion) the event was calibrated with.
    let accountant: AccountantKind

    /// Calibrates σ for `config`'s (ε, δ, T) at `plan`'s sampling rate.
    /// - Throws: the calibration's error, or `TrainingError.epsilonExceedsTarget`.
    init(unit: PrivacyUnitEvent, accountant: AccountantKind, config: RunConfig, plan: TrainingPlan, calibrationDirectory: URL) throws {
        let request = CalibrationRequest(
            unit: unit, samplingRate: plan.samplingRate, steps: config.steps, targetEpsilon: config.epsilon,
            delta: config.delta, accountant: accountant)
        let cache = try CalibrationCache(directory: calibrationDirectory)
        sigma = try NoiseCalibration(cache: cache).calibrate(request).sigma
        event = try accountant.event(for: unit, q: plan.samplingRate, sigma: sigma, steps: config.steps)
        (achievedEpsilon, eventJSON) = try spentEpsilon(of: event, accountant: accountant, config: config)
        self.accountant = accountant
    }

    /// The run's privacy plan: the event as stored, `accountant` and `calibrated_epsilon` (plus
    /// `extra`) in the result, and the clipped Gaussian step. `userEpsilon` defaults to the
    /// calibrated ε (the event is user-level).
    func privacyPlan(config: RunConfig, plan: TrainingPlan, userEpsilon: Double? = nil, extra: [String: JSONValue] = [:]) -> PrivacyPlan {
        let calibrated: [String: JSONValue] = ["accountant": .string(accountant.summary), "calibrated_epsilon": .number(achievedEpsilon)]
        return PrivacyPlan(
            sigma: sigma, userEpsilon: userEpsilon ?? achievedEpsilon, eventJSON: eventJSON,
            extra: calibrated.merging(extra) { _, new in new },
            summary: String(
                format: "calibrated σ = %.5f for ε = %g, δ = %g, q = %.5g, T = %d (%@): ε spent %.5f",
                sigma, config.epsilon, config.delta, plan.samplingRate, config.steps, accountant.summary, achievedEpsilon),
            aggregation: ClippedGaussianAggregation(sigma: sigma, clipNorm: config.clipNorm))
    }
}

/// The readKeys of every DP-SGD mechanism: the budget, its accountant and the clipping norm.
let dpSGDReadKeys: Set<String> = ["accountant", "clip_norm", "delta", "epsilon"]
