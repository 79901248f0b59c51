import Privacy

extension AsiLiuCalibration {
    /// The run's privacy event: T Poisson-subsampled Gaussian steps (q, z) and the per-step
    /// test failure probability p. Store it with the result; `AsiLiuEvent.epsilon(delta:
    /// accountant:)` gives the ε the run spent at the run's δ (never above the target).
    public func privacyEvent() throws -> AsiLiuEvent {
        try AsiLiuEvent(
            samplingRate: samplingRate, noiseMultiplier: noiseMultiplier, steps: steps,
            testFailureProbability: testFailureProbability)
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
