import Foundation
import Privacy
import Persistence

/// The privacy side of a run, as its mechanism calibrated it
/// (``Mechanism/privacyPlan(config:plan:calibrationDirectory:)``, docs/PRIVACY.md): the noise
/// multiplier, the ε spent at user level, the run's DP event as stored in `result.json`, the
/// calibration's `extra` fields, a line for the log, and the per-step aggregation that adds the
/// calibrated noise.
struct PrivacyPlan {
    /// σ (z for `asi-liu`); 0 for `nonprivate`.
    let sigma: Double
    /// The user-level ε spent (for `record`, the largest user's); ∞ for `nonprivate`.
    let userEpsilon: Double
    /// The run's DP event as JSON; null for `nonprivate`.
    let eventJSON: JSONValue
    /// The calibration's fields of `result.json`'s `extra`.
    let extra: [String: JSONValue]
    /// One line for the log.
    let summary: String
    /// The step that uses the calibrated noise.
    let aggregation: any StepAggregation
}

/// The noise multiplier a config would be calibrated to, without loading its data: for
/// pre-flight (`sweep run --dry-run` shows σ per distinct privacy setting).
public enum NoisePreview {
    /// σ (z for `asi-liu`) that `userdp train` would calibrate for `config` when the
    /// mechanism samples from `population` units (q = batch_size / population), using and
    /// filling the calibration cache in `calibrationDirectory`. 0 for `nonprivate`. Throws
    /// the calibration's error when no σ meets the target (the run would fail the same way).
    public static func sigma(config: RunConfig, population: Int, calibrationDirectory: URL) throws -> Double {
        guard config.mechanism.isPrivate else { return 0 }
        // Only the sampling rate and the population size reach the privacy side; the units
        // themselves are not needed.
        let plan = TrainingPlan(
            population: .sequences(Array(repeating: [], count: population)), samplingRate: config.batchSize / Double(population))
        return try config.mechanism.definition.privacyPlan(config: config, plan: plan, calibrationDirectory: calibrationDirectory).sigma
    }
}
