import Privacy

extension AsiLiuCalibration {
    /// The run's privacy event: T steps, each the Poisson-subsampled Gaussian (rate q, noise
    /// multiplier z: the test and the mean together) with the test's failure probability p,
    ///
    ///     .selfComposed(event: .withFailureProbability(
    ///         event: .poissonSampled(samplingProbability: q, event: .gaussian(sigma: z)),
    ///         probability: p), count: T)
    ///
    /// i.e. User-wise DP-SGD's event (`DPEvent.poissonSubsampledGaussian(q:sigma:steps:)`)
    /// with p per step. Every accountant of the Privacy module handles it: δ(ε) is the
    /// Gaussian part's δ plus T·(1 + e^ε)·p (docs/ASI_LIU.md). Store it with the result;
    /// `accountant.epsilon(for:delta:)` at the run's δ gives the ε the run spent (never above
    /// the target for the calibrated z).
    /// - Throws: `PrivacyError` for q ∉ (0, 1], z ≤ 0, T < 1 or p ∉ [0, 1).
    public func privacyEvent() throws -> DPEvent {
        guard steps >= 1 else { throw PrivacyError.stepsOutOfRange(steps) }
        let step = DPEvent.poissonSampled(samplingProbability: samplingRate, event: .gaussian(sigma: noiseMultiplier))
        let event = DPEvent.selfComposed(
            event: .withFailureProbability(event: step, probability: testFailureProbability), count: steps)
        try event.validate()
        return event
    }

    /// Calibrates with the Privacy module's noise search, exactly as for User-wise DP-SGD:
    /// z is the σ that `noiseCalibration` finds for the user-level event (q, T) at the target
    /// ε and δ_acc = (1 − `testDeltaFraction`)·δ, with the chosen accountant (and its disk
    /// cache, if any). The rest follows `make`.
    /// - Throws: ``PrivacyError`` from the search (for example an unreachable ε) and
    ///   `AsiLiuError` for the settings or an infeasible threshold.
    public static func calibrate(
        epsilon: Double, delta: Double, samplingRate: Double, steps: Int, expectedUsers: Double,
        settings: AsiLiuSettings, accountantKind: AccountantKind = .default,
        noiseCalibration: NoiseCalibration = NoiseCalibration()
    ) throws -> AsiLiuCalibration {
        try settings.validate()
        let request = CalibrationRequest(
            unit: .user, samplingRate: samplingRate, steps: steps, targetEpsilon: epsilon,
            delta: (1 - testDeltaFraction) * delta, accountant: accountantKind)
        let result = try noiseCalibration.calibrate(request)
        return try make(
            epsilon: epsilon, delta: delta, samplingRate: samplingRate, steps: steps,
            expectedUsers: expectedUsers, settings: settings, noiseMultiplier: result.sigma)
    }
}
