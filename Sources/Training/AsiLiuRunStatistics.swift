import Persistence
/// The halting and concentration record of one `asi-liu` run: what result.json stores under
/// `extra.asi_liu` (docs/ASI_LIU.md).
///
/// Feed it every step's outcome with `record(_:step:)`. Means are over the steps recorded.
/// `meanConcentrationScore`, `meanRemovedFraction` and `meanCoreFraction` are diagnostics
/// computed from raw gradients (outside the DP guarantee); `meanNoisyCoreFraction`, the pass
/// counts and the halting step are private.
public struct AsiLiuRunStatistics: Codable, Hashable, Sendable {
    /// Steps at which the mechanism ran (including the one that halted).
    public private(set) var stepsRun = 0
    /// Steps whose test passed (an update was made).
    public private(set) var stepsPassed = 0
    /// Steps whose test failed under `skip`.
    public private(set) var stepsSkipped = 0
    /// The step index (as given to `record`) at which the run halted; nil if it never did.
    public private(set) var haltedAtStep: Int?
    private var scoreSum = 0.0
    private var removedSum = 0.0
    private var coreFractionSum = 0.0
    private var noisyCoreFractionSum = 0.0
    /// The calibration the run used, stored beside the statistics so the run can be
    /// re-accounted; nil until set.
    public var calibration: AsiLiuCalibration?

    /// An empty record, optionally carrying the run's calibration.
    public init(calibration: AsiLiuCalibration? = nil) {
        self.calibration = calibration
    }

    /// Adds one step's outcome. `step` is the loop's step index (0-based or 1-based, as the
    /// loop numbers its steps; it is stored as given in `haltedAtStep`).
    ///
    /// Precondition: the run has not halted yet.
    public mutating func record(_ outcome: AsiLiuStepOutcome, step: Int) {
        precondition(haltedAtStep == nil, "asi-liu run already halted at step \(haltedAtStep!)")
        stepsRun += 1
        switch outcome.action {
        case .update: stepsPassed += 1
        case .skip: stepsSkipped += 1
        case .halt: haltedAtStep = step
        }
        scoreSum += outcome.meanScore
        removedSum += outcome.removedFraction
        coreFractionSum += outcome.users == 0 ? 0 : outcome.coreSize / Double(outcome.users)
        if let calibration {
            noisyCoreFractionSum += outcome.noisyCoreSize / calibration.expectedUsers
        }
    }

    /// Fraction of steps run whose test passed; nil before any step.
    public var passRate: Double? { stepsRun == 0 ? nil : Double(stepsPassed) / Double(stepsRun) }
    /// Mean over steps of the mean concentration score (diagnostic); nil before any step.
    public var meanConcentrationScore: Double? { mean(scoreSum) }
    /// Mean over steps of the fraction of users removed as outliers (diagnostic).
    public var meanRemovedFraction: Double? { mean(removedSum) }
    /// Mean over steps of W / n, the soft core as a fraction of the batch (diagnostic).
    public var meanCoreFraction: Double? { mean(coreFractionSum) }
    /// Mean over steps of Ŵ / B, the noisy core over expected users (private); nil without
    /// a calibration.
    public var meanNoisyCoreFraction: Double? { calibration == nil ? nil : mean(noisyCoreFractionSum) }

    private func mean(_ sum: Double) -> Double? { stepsRun == 0 ? nil : sum / Double(stepsRun) }

    /// The flat entries result.json's `extra` gets (results.csv turns them into `extra.<key>`
    /// columns). Keys without `diagnostic` are outputs of the mechanism itself (covered by the
    /// run's DP guarantee); keys with `diagnostic` are computed from raw gradients and are
    /// outside it (docs/ASI_LIU.md). Undefined values (no step run, never halted) are null.
    ///
    /// - `asi_liu_steps_run`, `asi_liu_steps_passed`, `asi_liu_steps_skipped`;
    /// - `asi_liu_halted` (bool), `asi_liu_halted_at_step` (1-based step, or null);
    /// - `asi_liu_pass_rate`, `asi_liu_mean_noisy_core_fraction` (Ŵ / B);
    /// - `asi_liu_diagnostic_mean_concentration_score`, `asi_liu_diagnostic_mean_removed_fraction`,
    ///   `asi_liu_diagnostic_mean_core_fraction` (W / n).
    public var resultExtra: [String: JSONValue] {
        // Normalised, so that the values equal what result.json decodes back to.
        func number(_ value: Double?) -> JSONValue { value.map { JSONValue.number($0).normalized } ?? .null }
        return [
            "asi_liu_steps_run": .integer(stepsRun),
            "asi_liu_steps_passed": .integer(stepsPassed),
            "asi_liu_steps_skipped": .integer(stepsSkipped),
            "asi_liu_halted": .bool(haltedAtStep != nil),
            "asi_liu_halted_at_step": haltedAtStep.map(JSONValue.integer) ?? .null,
            "asi_liu_pass_rate": number(passRate),
            "asi_liu_mean_noisy_core_fraction": number(meanNoisyCoreFraction),
            "asi_liu_diagnostic_mean_concentration_score": number(meanConcentrationScore),
            "asi_liu_diagnostic_mean_removed_fraction": number(meanRemovedFraction),
            "asi_liu_diagnostic_mean_core_fraction": number(meanCoreFraction),
        ]
    }

    enum CodingKeys: String, CodingKey {
        case stepsRun = "steps_run"
        case stepsPassed = "steps_passed"
        case stepsSkipped = "steps_skipped"
        case haltedAtStep = "halted_at_step"
        case passRate = "pass_rate"
        case meanConcentrationScore = "mean_concentration_score"
        case meanRemovedFraction = "mean_removed_fraction"
        case meanCoreFraction = "mean_core_fraction"
        case meanNoisyCoreFraction = "mean_noisy_core_fraction"
        case calibration
        case scoreSum = "score_sum"
        case removedSum = "removed_sum"
        case coreFractionSum = "core_fraction_sum"
        case noisyCoreFractionSum = "noisy_core_fraction_sum"
    }

    /// Writes every field, with explicit nulls, so result.json always has the same keys.
    /// The running sums are written too so a decoded record can keep accumulating.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(stepsRun, forKey: .stepsRun)
        try c.encode(stepsPassed, forKey: .stepsPassed)
        try c.encode(stepsSkipped, forKey: .stepsSkipped)
        try c.encode(haltedAtStep, forKey: .haltedAtStep)
        try c.encode(passRate, forKey: .passRate)
        try c.encode(meanConcentrationScore, forKey: .meanConcentrationScore)
        try c.encode(meanRemovedFraction, forKey: .meanRemovedFraction)
        try c.encode(meanCoreFraction, forKey: .meanCoreFraction)
        try c.encode(meanNoisyCoreFraction, forKey: .meanNoisyCoreFraction)
        try c.encode(calibration, forKey: .calibration)
        try c.encode(scoreSum, forKey: .scoreSum)
        try c.encode(removedSum, forKey: .removedSum)
        try c.encode(coreFractionSum, forKey: .coreFractionSum)
        try c.encode(noisyCoreFractionSum, forKey: .noisyCoreFractionSum)
    }

    /// Reads a record written by `encode(to:)`; the derived means are recomputed from the sums.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stepsRun = try c.decode(Int.self, forKey: .stepsRun)
        stepsPassed = try c.decode(Int.self, forKey: .stepsPassed)
        stepsSkipped = try c.decode(Int.self, forKey: .stepsSkipped)
        haltedAtStep = try c.decodeIfPresent(Int.self, forKey: .haltedAtStep)
        calibration = try c.decodeIfPresent(AsiLiuCalibration.self, forKey: .calibration)
        scoreSum = try c.decode(Double.self, forKey: .scoreSum)
        removedSum = try c.decode(Double.self, forKey: .removedSum)
        coreFractionSum = try c.decode(Double.self, forKey: .coreFractionSum)
        noisyCoreFractionSum = try c.decode(Double.self, forKey: .noisyCoreFractionSum)
    }
}
