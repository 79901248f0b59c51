import Foundation
import Privacy

/// The privacy side of a run: the calibrated noise multiplier, the run's DP event and the ε it
/// spends (DESIGN §4).
///
/// - `user`: Poisson-subsampled Gaussian over users, sensitivity C.
/// - `group`: record-level DP-SGD on k records per user; by default the tight user-level event
///   (a mixture of Gaussians with Binomial(k, q) weights, Ganesh 2024), or with
///   `mechanism_options.group.accounting = "lemma"` the group-privacy lemma.
/// - `record`: calibrated at record level (its target is record-level); the user-level ε that
///   the group-privacy lemma gives for the largest user is reported beside it.
/// - `nonprivate`: no noise, ε = ∞.
struct PrivacyPlan {
    let sigma: Double
    let userEpsilon: Double
    let eventJSON: JSONValue
    let extra: [String: JSONValue]
    let summary: String

    init(config: RunConfig, plan: TrainingPlan, calibrationDirectory: URL) throws {
        let accountant: AccountantKind = config.accountant == .rdp ? .rdp : .pld()
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
        let achieved = try kind.makeAccountant(groupSize: unit.groupSize).epsilon(for: event, delta: config.delta)
        guard achieved <= config.epsilon * (1 + 1e-12) else {
            throw TrainingError.epsilonExceedsTarget(achieved: achieved, target: config.epsilon)
        }
        eventJSON = try JSONValue(parsing: JSONEncoder().encode(event))
        var extra: [String: JSONValue] = ["accountant": .string(kind.summary), "calibrated_epsilon": .number(achieved)]
        if config.mechanism == .record {
            // The record-level guarantee, and what it means for the user with the most records.
            extra["record_epsilon"] = .number(achieved)
            let largest = max(plan.largestUserRecords, 1)
            extra["largest_user_records"] = .integer(largest)
            let lemma = try? GroupPrivacyLemmaAccountant(groupSize: largest, base: accountant.makeAccountant())
                .epsilon(for: event, delta: config.delta)
            userEpsilon = lemma ?? .infinity
        } else {
            userEpsilon = achieved
        }
        self.extra = extra
        summary = String(format: "calibrated σ = %.5f for ε = %g, δ = %g, q = %.5g, T = %d (%@): ε spent %.5f",
                         sigma, config.epsilon, config.delta, plan.samplingRate, config.steps, kind.summary, achieved)
    }
}
