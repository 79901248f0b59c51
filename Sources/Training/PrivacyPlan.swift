import Foundation
import Privacy
import Persistence

/// The privacy side of a run: the calibrated noise multiplier, the run's DP event and the ε it
/// spends (docs/PRIVACY.md).
///
/// - `user`: Poisson-subsampled Gaussian over users, sensitivity C.
/// - `group`: record-level DP-SGD on k records per user; by default the tight user-level event
///   (a mixture of Gaussians with Binomial(k, q) weights, Ganesh 2024), or with
///   `mechanism_options.group.accounting = "lemma"` the record-level event inside a
///   group-privacy conversion with k (`DPEvent.groupPrivacy`, conversion lemma). Either way the
///   stored event is the user-level guarantee.
/// - `record`: calibrated at record level (its target is record-level; the stored event is
///   record-level); the user-level ε of the largest user, from the same event under the lemma
///   with k = that user's records (`PerUserPrivacy.lemmaEvent`), is reported beside it.
/// - `asi-liu`: the noise multiplier z of the test and the mean together, calibrated like
///   `user`'s σ at δ_acc = 0.9·δ; the event adds the test's failure probability
///   (`AsiLiuCalibration`, docs/ASI_LIU.md). An infeasible test threshold fails here, before
///   training.
/// - `nonprivate`: no noise, ε = ∞.
struct PrivacyPlan {
    let sigma: Double
    let userEpsilon: Double
    let eventJSON: JSONValue
    let extra: [String: JSONValue]
    let summary: String
    /// The `asi-liu` calibration (noise of the test and the mean); nil for other mechanisms.
    let asiLiu: AsiLiuCalibration?

    init(config: RunConfig, plan: TrainingPlan, calibrationDirectory: URL) throws {
        let accountant = config.accountantKind
        if config.mechanism == .asiLiu {
            self = try PrivacyPlan(asiLiu: config, plan: plan, accountant: accountant, calibrationDirectory: calibrationDirectory)
            return
        }
        asiLiu = nil
        let unit: PrivacyUnitEvent
        var kind = accountant
        switch config.mechanism {
        case .nonprivate:
            sigma = 0
            userEpsilon = .infinity
            eventJSON = .null
            extra = [:]
            summary = "nonprivate: no clipping, no noise, ε = ∞"
            return
        case .record:
            unit = .record
        case .group:
            unit = .groupOfRecords(config.k)
            if config.mechanismOptions.group.accounting == .lemma { kind = .groupLemma(base: accountant) }
        case .user, .asiLiu:
            unit = .user
        }
        let request = CalibrationRequest(
            unit: unit, samplingRate: plan.samplingRate, steps: config.steps, targetEpsilon: config.epsilon,
            delta: config.delta, accountant: kind)
        let cache = try CalibrationCache(directory: calibrationDirectory)
        let calibration = try NoiseCalibration(cache: cache).calibrate(request)
        sigma = calibration.sigma
        // Recompute ε for the exact event the run executes; never trust a cached number alone.
        let event = try kind.event(for: unit, q: plan.samplingRate, sigma: sigma, steps: config.steps)
        let achieved = try kind.makeAccountant().epsilon(for: event, delta: config.delta)
        guard achieved <= config.epsilon * (1 + 1e-12) else {
            throw TrainingError.epsilonExceedsTarget(achieved: achieved, target: config.epsilon)
        }
        eventJSON = try JSONValue(parsing: JSONEncoder().encode(event))
        // For the lemma, `event` is the user-level event itself (the record-level event inside a
        // group-privacy conversion with k). Results written before the lemma was an event stored
        // the record-level event with `extra.dp_event_unit` and `extra.dp_event_group_size`;
        // `RunResult.privacyEvent()` reads both forms.
        var extra: [String: JSONValue] = ["accountant": .string(kind.summary), "calibrated_epsilon": .number(achieved)]
        if config.mechanism == .record {
            // The record-level guarantee, and what it means for the user with the most records.
            extra["record_epsilon"] = .number(achieved)
            let largest = max(plan.largestUserRecords, 1)
            extra["largest_user_records"] = .integer(largest)
            let lemma = try? accountant.makeAccountant().epsilon(
                for: PerUserPrivacy.lemmaEvent(records: largest, recordLevel: event), delta: config.delta)
            userEpsilon = lemma ?? .infinity
        } else {
            userEpsilon = achieved
        }
        self.extra = extra
        summary = String(format: "calibrated σ = %.5f for ε = %g, δ = %g, q = %.5g, T = %d (%@): ε spent %.5f",
                         sigma, config.epsilon, config.delta, plan.samplingRate, config.steps, kind.summary, achieved)
    }
}

extension PrivacyPlan {
    /// The `asi-liu` plan: calibrate z with the shared noise search and cache, build the run's
    /// `DPEvent` (with the test's failure probability), and check that its ε at the full δ
    /// meets the target.
    private init(asiLiu config: RunConfig, plan: TrainingPlan, accountant: AccountantKind, calibrationDirectory: URL) throws {
        let settings = config.mechanismOptions.asiLiu
        let expectedUsers = plan.samplingRate * Double(plan.populationSize)
        let calibration = try AsiLiuCalibration.calibrate(
            epsilon: config.epsilon, delta: config.delta, samplingRate: plan.samplingRate, steps: config.steps,
            expectedUsers: expectedUsers, settings: settings, accountantKind: accountant,
            noiseCalibration: NoiseCalibration(cache: try CalibrationCache(directory: calibrationDirectory)))
        let event = try calibration.privacyEvent()
        // Recompute ε for the exact event the run executes, as for the other mechanisms.
        let achieved = try accountant.makeAccountant().epsilon(for: event, delta: config.delta)
        guard achieved <= config.epsilon * (1 + 1e-12) else {
            throw TrainingError.epsilonExceedsTarget(achieved: achieved, target: config.epsilon)
        }
        sigma = calibration.noiseMultiplier
        userEpsilon = achieved
        asiLiu = calibration
        eventJSON = try JSONValue(parsing: JSONEncoder().encode(event))
        let noise = calibration.noise
        extra = [
            "accountant": .string(accountant.summary), "calibrated_epsilon": JSONValue.number(achieved).normalized,
            "asi_liu_test_sigma": JSONValue.number(noise.testSigma).normalized,
            "asi_liu_mean_sigma": JSONValue.number(noise.meanSigma).normalized,
            "asi_liu_pass_threshold": JSONValue.number(noise.passThreshold).normalized,
            "asi_liu_margin": JSONValue.number(calibration.margin).normalized,
            "asi_liu_core_lower_bound": JSONValue.number(calibration.coreLowerBound).normalized,
            "asi_liu_mean_sensitivity": JSONValue.number(calibration.meanSensitivity).normalized,
            "asi_liu_test_failure_probability": JSONValue.number(calibration.testFailureProbability).normalized,
        ]
        summary = String(
            format: "asi-liu: calibrated z = %.5f (test σ_W = %.3f users, mean σ_μ = %.4g per coordinate, pass at Ŵ ≥ %.2f, core bound Θ₀ = %.2f) for ε = %g, δ = %g, q = %.5g, T = %d (%@): ε spent %.5f",
            calibration.noiseMultiplier, noise.testSigma, noise.meanSigma, noise.passThreshold, calibration.coreLowerBound,
            config.epsilon, config.delta, plan.samplingRate, config.steps, accountant.summary, achieved)
    }
}

extension RunConfig {
    /// The Privacy module's accountant for `accountant`: PLD at its default discretisation
    /// (1e-4) or RDP. Calibration, the reported ε and re-accounting a stored event use it.
    public var accountantKind: AccountantKind { accountant == .rdp ? .rdp : .pld() }
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
        return try PrivacyPlan(config: config, plan: plan, calibrationDirectory: calibrationDirectory).sigma
    }
}
