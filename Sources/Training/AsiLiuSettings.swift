import Foundation

/// What the `asi-liu` mechanism does when its private concentration test fails at a step.
public enum AsiLiuFailurePolicy: String, Codable, Hashable, Sendable, CaseIterable {
    /// Stop the run at the failing step, as in Asi & Liu (2024): the mean estimator outputs ⊥.
    case halt
    /// Make no update at the failing step and continue. The step's privacy budget is spent
    /// all the same (the test's outcome is released).
    case skip
}

/// The options of the `asi-liu` mechanism: the run config's `"asi_liu"` object.
///
/// See docs/ASI_LIU.md for the algorithm and its privacy analysis. Keys are snake_case in
/// JSON (`tau`, `threshold`, `on_failure`, `test_budget_fraction`); every key is optional and
/// takes the documented default. They are rows of the run config's schema
/// (`mechanism_options.asi_liu.*` in RunConfigSchema.swift), so unknown keys and out-of-range
/// values in a config file are `RunConfigError`s naming the key path like every other config
/// key; `validate(keyPath:)` checks values built in code against the same rows.
public struct AsiLiuSettings: Hashable, Sendable {
    /// Concentration radius τ, in units of the L2 norm of a user's averaged gradient. Two
    /// users are neighbours when their gradients are within 2τ. The mean's noise scales with
    /// τ. Must be finite and > 0. Default 1.0.
    public var tau: Double
    /// The test passes when the noisy soft core size reaches `threshold` · B, where B is the
    /// expected number of users per step (the run's `batch_size`). In (0, 1]. Default 0.75.
    public var threshold: Double
    /// What a failed test does. Default `.halt`.
    public var onFailure: AsiLiuFailurePolicy
    /// Share φ of the per-step Gaussian budget 1/z² that the test receives (the mean gets
    /// 1 − φ): 1/z_test² = φ/z², 1/z_mean² = (1 − φ)/z². In (0, 1). Default 0.5.
    public var testBudgetFraction: Double

    /// Default concentration radius.
    public static let defaultTau = 1.0
    /// Default pass threshold as a fraction of expected users per step.
    public static let defaultThreshold = 0.75
    /// Default failure policy.
    public static let defaultOnFailure = AsiLiuFailurePolicy.halt
    /// Default share of the per-step budget spent on the test.
    public static let defaultTestBudgetFraction = 0.5

    /// Settings with the given values (defaults for those omitted). Call `validate(keyPath:)`
    /// before use when the values come from a user.
    public init(
        tau: Double = AsiLiuSettings.defaultTau,
        threshold: Double = AsiLiuSettings.defaultThreshold,
        onFailure: AsiLiuFailurePolicy = AsiLiuSettings.defaultOnFailure,
        testBudgetFraction: Double = AsiLiuSettings.defaultTestBudgetFraction
    ) {
        self.tau = tau
        self.threshold = threshold
        self.onFailure = onFailure
        self.testBudgetFraction = testBudgetFraction
    }

    /// Checks every value against the range its row of the run config's schema gives it
    /// (``RunConfig/schema``, `mechanism_options.asi_liu.*`: the one statement of the ranges,
    /// which also checks config files), and that it is finite; throws
    /// `AsiLiuError.invalidValue` naming `keyPath.<key>` for the first one out of range.
    public func validate(keyPath: String = "asi_liu") throws {
        var config = RunConfig()
        config.mechanismOptions.asiLiu = self
        for key in RunConfig.schema.children(of: "mechanism_options.asi_liu") {
            guard let codec = key.codec as? NumberCodec, let range = codec.range else { continue }
            let value = config[keyPath: codec.field]
            guard !(value.isFinite && range.contains(value)) else { continue }
            throw AsiLiuError.invalidValue(
                keyPath: keyPath.isEmpty ? key.name : "\(keyPath).\(key.name)", value: "\(value)", allowed: range.expected)
        }
    }
}

/// Failures of the `asi-liu` mechanism: bad settings, impossible calibrations, bad input
/// shapes. Messages say what to change.
public enum AsiLiuError: Error, Equatable, Sendable, LocalizedError {
    /// A key holds a value outside its allowed range or set.
    case invalidValue(keyPath: String, value: String, allowed: String)
    /// The flat gradient buffer does not hold `users` × `parameters` values.
    case shapeMismatch(count: Int, users: Int, parameters: Int)
    /// A calibration input is out of range (ε, δ, sampling rate, steps or expected users).
    case invalidCalibrationInput(name: String, value: Double)
    /// The test's safety margin swallows the threshold: Θ₀ = Θ − margin must exceed the
    /// core size's sensitivity (3). Carries the numbers and the smallest expected number of
    /// users per step that would work at the same noise multiplier, threshold and budget split
    /// (at a fixed ε and dataset, a larger batch also needs more noise, so this is a floor).
    case thresholdInfeasible(passThreshold: Double, margin: Double, minimumExpectedUsers: Double)
    /// No noise multiplier up to `largest` meets the target ε at the accountant's δ.
    case calibrationFailed(epsilon: Double, delta: Double, largest: Double)

    public var errorDescription: String? {
        switch self {
        case .invalidValue(let keyPath, let value, let allowed):
            return "'\(keyPath)' is \(value); it must be \(allowed)"
        case .shapeMismatch(let count, let users, let parameters):
            return "asi-liu aggregate got \(count) gradient values for \(users) users × \(parameters) parameters (\(users * parameters) expected)"
        case .invalidCalibrationInput(let name, let value):
            return "asi-liu calibration input \(name) = \(value) is out of range"
        case .thresholdInfeasible(let passThreshold, let margin, let minimumExpectedUsers):
            return String(
                format: "asi-liu test cannot work at this privacy level: the pass threshold %.2f users minus the test's safety margin %.2f users leaves at most 3; at this noise the test needs about %.0f expected users per step. Raise epsilon, asi_liu.threshold or asi_liu.test_budget_fraction, or train on more users (a larger batch_size alone also raises the noise at a fixed epsilon)",
                passThreshold, margin, minimumExpectedUsers.rounded(.up))
        case .calibrationFailed(let epsilon, let delta, let largest):
            return "no noise multiplier up to \(largest) reaches epsilon \(epsilon) at delta \(delta); raise epsilon or delta, or use fewer steps"
        }
    }
}
