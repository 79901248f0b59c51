import Foundation

/// What to calibrate: the privacy unit, the sampling rate, the number of steps, the target
/// (ε, δ), the accountant, and the tolerance on σ. Part of the cache key as a whole.
///
/// JSON: snake_case keys (`unit`, `sampling_rate`, `steps`, `target_epsilon`, `delta`,
/// `accountant`, `sigma_tolerance`); the camelCase keys of earlier versions are still read.
public struct CalibrationRequest: Hashable, Sendable {
    /// Record, user, or group of k records (tight mixture, or the lemma if `accountant` says so).
    public var unit: PrivacyUnitEvent
    /// Poisson sampling probability q per step, in (0, 1].
    public var samplingRate: Double
    /// Number of steps T ≥ 1.
    public var steps: Int
    /// Target ε > 0.
    public var targetEpsilon: Double
    /// Target δ in (0, 1).
    public var delta: Double
    /// Accountant and its parameters.
    public var accountant: AccountantKind
    /// Relative tolerance on σ: the returned σ exceeds the smallest feasible σ by at most this
    /// fraction (up to the accountant's own monotonicity). In (0, 0.1); default 1e-5.
    public var sigmaTolerance: Double

    public init(
        unit: PrivacyUnitEvent = .record, samplingRate: Double, steps: Int, targetEpsilon: Double, delta: Double,
        accountant: AccountantKind = .default, sigmaTolerance: Double = 1e-5
    ) {
        self.unit = unit
        self.samplingRate = samplingRate
        self.steps = steps
        self.targetEpsilon = targetEpsilon
        self.delta = delta
        self.accountant = accountant
        self.sigmaTolerance = sigmaTolerance
    }

    /// Throws the first invalid field as a ``PrivacyError``.
    public func validate() throws {
        try validateSamplingRate(samplingRate)
        try validateSteps(steps)
        guard targetEpsilon > 0, targetEpsilon.isFinite else { throw PrivacyError.epsilonOutOfRange(targetEpsilon) }
        try validateDelta(delta)
        try validateGroupSize(unit.groupSize)
        guard sigmaTolerance > 0, sigmaTolerance < 0.1 else { throw PrivacyError.toleranceOutOfRange(sigmaTolerance) }
        _ = try accountant.makeAccountant()
    }
}

/// The calibrated noise multiplier with the evidence for it.
///
/// JSON: snake_case keys (`sigma`, `achieved_epsilon`, `lower_sigma`, `event`, `evaluations`);
/// the camelCase keys of earlier versions are still read.
public struct CalibrationResult: Hashable, Sendable {
    /// The noise multiplier: ε(σ) ≤ target by the requested accountant (checked at this σ).
    public var sigma: Double
    /// ε at `sigma` by the requested accountant (≤ the target).
    public var achievedEpsilon: Double
    /// The largest σ found with ε > target (the bracket's other end); the smallest feasible σ lies
    /// in (`lowerSigma`, `sigma`].
    public var lowerSigma: Double
    /// The DP event at `sigma`, as the accountant saw it: `request.accountant.event(for:q:sigma:steps:)`
    /// (for groups under the lemma, the record-level event inside a group-privacy conversion).
    public var event: DPEvent
    /// Accountant evaluations spent (coarse and fine).
    public var evaluations: Int
}

extension CalibrationRequest: Codable {
    private enum CodingKeys: String, CodingKey {
        case unit, steps, delta, accountant
        case samplingRate = "sampling_rate", targetEpsilon = "target_epsilon", sigmaTolerance = "sigma_tolerance"
        /// The spellings of earlier versions: still read, and written for the cache key only
        /// (StoredKeys.swift).
        case legacySamplingRate = "samplingRate", legacyTargetEpsilon = "targetEpsilon", legacySigmaTolerance = "sigmaTolerance"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            unit: try container.decode(PrivacyUnitEvent.self, forKey: .unit),
            samplingRate: try container.decode(Double.self, forKey: .samplingRate, legacy: .legacySamplingRate),
            steps: try container.decode(Int.self, forKey: .steps),
            targetEpsilon: try container.decode(Double.self, forKey: .targetEpsilon, legacy: .legacyTargetEpsilon),
            delta: try container.decode(Double.self, forKey: .delta),
            accountant: try container.decode(AccountantKind.self, forKey: .accountant),
            sigmaTolerance: try container.decode(Double.self, forKey: .sigmaTolerance, legacy: .legacySigmaTolerance))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let camelCase = encoder.writesCamelCaseStoredKeys
        try container.encode(unit, forKey: .unit)
        try container.encode(samplingRate, forKey: camelCase ? .legacySamplingRate : .samplingRate)
        try container.encode(steps, forKey: .steps)
        try container.encode(targetEpsilon, forKey: camelCase ? .legacyTargetEpsilon : .targetEpsilon)
        try container.encode(delta, forKey: .delta)
        try container.encode(accountant, forKey: .accountant)
        try container.encode(sigmaTolerance, forKey: camelCase ? .legacySigmaTolerance : .sigmaTolerance)
    }
}

extension CalibrationResult: Codable {
    private enum CodingKeys: String, CodingKey {
        case sigma, event, evaluations
        case achievedEpsilon = "achieved_epsilon", lowerSigma = "lower_sigma"
        /// The spellings of earlier versions, still read (StoredKeys.swift).
        case legacyAchievedEpsilon = "achievedEpsilon", legacyLowerSigma = "lowerSigma"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            sigma: try container.decode(Double.self, forKey: .sigma),
            achievedEpsilon: try container.decode(Double.self, forKey: .achievedEpsilon, legacy: .legacyAchievedEpsilon),
            lowerSigma: try container.decode(Double.self, forKey: .lowerSigma, legacy: .legacyLowerSigma),
            event: try container.decode(DPEvent.self, forKey: .event),
            evaluations: try container.decode(Int.self, forKey: .evaluations))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sigma, forKey: .sigma)
        try container.encode(achievedEpsilon, forKey: .achievedEpsilon)
        try container.encode(lowerSigma, forKey: .lowerSigma)
        try container.encode(event, forKey: .event)
        try container.encode(evaluations, forKey: .evaluations)
    }
}

/// Finds the smallest noise multiplier σ whose ε, by a given accountant, is at most a target.
///
/// ε(σ) is decreasing in σ, so the search brackets the answer (doubling or halving σ from a
/// rough guess) and shrinks the bracket in ln σ with the Illinois variant of regula falsi on
/// ln ε(σ) − ln ε_target, falling back to bisection whenever a step does not halve the bracket and
/// keeping every trial at least tolerance/2 inside it. The returned σ is always the bracket's
/// upper end, at which ε ≤ target has been evaluated with the requested accountant.
///
/// PLD requests (directly or under the lemma) with h < 1e-3 first run the whole search with a
/// coarser grid h_c = m·h ≈ 2e-3 (nested in h, so its ε is pessimistic relative to the fine one
/// up to the ≤ 1e-15 tail terms) to tolerance 1e-3, then finish with the fine accountant near
/// the coarse answer. Evaluations that would need more than ``PLDAccountant/maximumPoints`` grid
/// points (tiny σ) count as ε > target.
public struct NoiseCalibration: Sendable {
    /// Changes whenever a change to accounting or search could change a result; part of the
    /// cache key, so results of older code are not reused.
    public static let codeVersion = "userdp-privacy-1"
    /// The search gives up above this σ with ``PrivacyError/unreachableEpsilon(target:epsilonAtLargestSigma:largestSigma:)``.
    public static let maximumSigma = 1e4
    /// The search does not go below this σ; if even it meets the target, it is returned.
    public static let minimumSigma = 1e-3

    /// Optional on-disk cache of results.
    public let cache: CalibrationCache?

    public init(cache: CalibrationCache? = nil) {
        self.cache = cache
    }

    /// Calibrates σ for `request`, reading and filling the cache when there is one.
    ///
    /// The cache is optional: an unreadable or corrupt cache file counts as a miss and a failed
    /// cache write (a full disk, a read-only folder) leaves the result valid; both are reported
    /// to `cacheWarning` as ``PrivacyError/cacheFailure(path:reason:)`` and never fail the call.
    /// - Throws: ``PrivacyError`` for invalid requests and unreachable targets.
    public func calibrate(
        _ request: CalibrationRequest, cacheWarning: (PrivacyError) -> Void = { _ in }
    ) throws -> CalibrationResult {
        try request.validate()
        if let cache {
            do {
                if var cached = try cache.load(request) {
                    // The event is a function of the request and σ. Rebuilt, so that entries
                    // written before the lemma became an event (they hold the record-level event
                    // for lemma requests, with the same key and σ) give today's event.
                    cached.event = try request.accountant.event(
                        for: request.unit, q: request.samplingRate, sigma: cached.sigma, steps: request.steps)
                    return cached
                }
            } catch let error as PrivacyError {
                cacheWarning(error)
            }
        }
        let result = try search(request)
        if let cache {
            do {
                try cache.store(result, for: request)
            } catch let error as PrivacyError {
                cacheWarning(error)
            }
        }
        return result
    }

    private func search(_ request: CalibrationRequest) throws -> CalibrationResult {
        var evaluations = 0
        let fine = try Objective(request: request, accountant: request.accountant)
        var start = initialGuess(request)
        var knownFeasible: (sigma: Double, epsilon: Double)?
        if let coarseKind = coarseAccountant(for: request.accountant) {
            let coarse = try Objective(request: request, accountant: coarseKind)
            let coarseBracket = try bracket(coarse, from: start, evaluations: &evaluations)
            let shrunk = try shrink(coarseBracket, objective: coarse, tolerance: max(1e-3, request.sigmaTolerance), evaluations: &evaluations)
            start = shrunk.upper.sigma
            // One fine evaluation at the coarse answer, then the slope of the coarse bracket
            // predicts where the fine answer lies.
            let fineAtStart = try fine.epsilon(start)
            evaluations += 1
            if fineAtStart <= request.targetEpsilon {
                knownFeasible = (start, fineAtStart)
                let slope = log(shrunk.lower.epsilon / shrunk.upper.epsilon) / log(shrunk.lower.sigma / shrunk.upper.sigma)
                var guess = start * exp(log(request.targetEpsilon / max(fineAtStart, 1e-300)) / slope)
                if !(guess.isFinite && guess > 0 && guess < start) { guess = start * 0.999 }
                start = min(guess * (1 - 4 * request.sigmaTolerance), start * (1 - request.sigmaTolerance))
            }
        }
        var fineBracket = try bracket(fine, from: start, evaluations: &evaluations)
        if let known = knownFeasible, known.sigma < fineBracket.upper.sigma {
            fineBracket.upper = known
        }
        let final = try shrink(fineBracket, objective: fine, tolerance: request.sigmaTolerance, evaluations: &evaluations)
        return CalibrationResult(
            sigma: final.upper.sigma, achievedEpsilon: final.upper.epsilon, lowerSigma: final.lower.sigma,
            event: try request.accountant.event(
                for: request.unit, q: request.samplingRate, sigma: final.upper.sigma, steps: request.steps),
            evaluations: evaluations)
    }

    /// A coarser nested PLD grid (h_c = m·h ≈ 2e-3) for the first stage, or nil when not worth it.
    private func coarseAccountant(for kind: AccountantKind) -> AccountantKind? {
        switch kind {
        case .pld(let h):
            guard h < 1e-3 else { return nil }
            return .pld(valueDiscretization: h * (2e-3 / h).rounded(.down))
        case .groupLemma(let base):
            return coarseAccountant(for: base).map { .groupLemma(base: $0) }
        case .rdp:
            return nil
        }
    }

    /// A rough σ from the Gaussian-composition heuristic σ ≈ k·q·√(2T ln(1.25/δ))/ε, clamped.
    private func initialGuess(_ request: CalibrationRequest) -> Double {
        let k = Double(request.unit.groupSize)
        let guess = k * request.samplingRate * (2 * Double(request.steps) * log(1.25 / request.delta)).squareRoot()
            / request.targetEpsilon
        return min(100, max(0.3, guess))
    }

    private struct Point {
        var sigma: Double
        var epsilon: Double
    }

    private struct Bracket {
        var lower: Point  // ε > target
        var upper: (sigma: Double, epsilon: Double)  // ε ≤ target
    }

    /// ε as a function of σ for one request and accountant.
    private struct Objective {
        let request: CalibrationRequest
        let accountant: any Accountant
        let kind: AccountantKind

        init(request: CalibrationRequest, accountant kind: AccountantKind) throws {
            self.request = request
            self.kind = kind
            self.accountant = try kind.makeAccountant()
        }

        func epsilon(_ sigma: Double) throws -> Double {
            let event = try kind.event(for: request.unit, q: request.samplingRate, sigma: sigma, steps: request.steps)
            do {
                return try accountant.epsilon(for: event, delta: request.delta)
            } catch PrivacyError.discretizationTooFine {
                return .infinity
            }
        }
    }

    /// Doubles or halves σ from `start` until ε brackets the target.
    private func bracket(_ objective: Objective, from start: Double, evaluations: inout Int) throws -> Bracket {
        let target = objective.request.targetEpsilon
        var sigma = start
        var epsilon = try objective.epsilon(sigma)
        evaluations += 1
        if epsilon <= target {
            var upper = (sigma: sigma, epsilon: epsilon)
            while true {
                let next = upper.sigma / 2
                if next < Self.minimumSigma {
                    return Bracket(lower: Point(sigma: 0, epsilon: .infinity), upper: upper)
                }
                let nextEpsilon = try objective.epsilon(next)
                evaluations += 1
                if nextEpsilon > target { return Bracket(lower: Point(sigma: next, epsilon: nextEpsilon), upper: upper) }
                upper = (next, nextEpsilon)
            }
        }
        while true {
            let lower = Point(sigma: sigma, epsilon: epsilon)
            sigma *= 2
            if sigma > Self.maximumSigma {
                throw PrivacyError.unreachableEpsilon(
                    target: target, epsilonAtLargestSigma: epsilon, largestSigma: lower.sigma)
            }
            epsilon = try objective.epsilon(sigma)
            evaluations += 1
            if epsilon <= target { return Bracket(lower: lower, upper: (sigma, epsilon)) }
        }
    }

    /// Shrinks the bracket until (upper − lower)/upper ≤ tolerance (Illinois regula falsi in ln σ
    /// on ln ε − ln target, with bisection fallback).
    private func shrink(_ start: Bracket, objective: Objective, tolerance: Double, evaluations: inout Int) throws -> Bracket {
        var bracket = start
        if bracket.lower.sigma == 0 { return bracket }
        let logTarget = log(objective.request.targetEpsilon)
        func residual(_ epsilon: Double) -> Double { log(epsilon) - logTarget }
        var lowerResidual = residual(bracket.lower.epsilon)
        var upperResidual = residual(bracket.upper.epsilon)
        var lastKept = 0  // −1: upper end moved last, +1: lower end moved last (Illinois)
        var checkpointWidth = log(bracket.upper.sigma / bracket.lower.sigma)
        var stepsSinceHalving = 0
        while (bracket.upper.sigma - bracket.lower.sigma) / bracket.upper.sigma > tolerance {
            let a = log(bracket.lower.sigma), b = log(bracket.upper.sigma)
            let width = b - a
            if width <= 0.5 * checkpointWidth {
                checkpointWidth = width
                stepsSinceHalving = 0
            }
            var trial: Double
            if lowerResidual.isFinite && upperResidual.isFinite && lowerResidual != upperResidual && stepsSinceHalving < 3 {
                trial = b - upperResidual * (b - a) / (upperResidual - lowerResidual)
            } else {
                trial = 0.5 * (a + b)
                checkpointWidth = width
                stepsSinceHalving = 0
            }
            // Stay tolerance/2 inside the bracket so that a trial next to one end closes it.
            let margin = min(0.5 * tolerance, width / 2)
            trial = min(max(trial, a + margin), b - margin)
            stepsSinceHalving += 1
            let sigma = exp(trial)
            let epsilon = try objective.epsilon(sigma)
            evaluations += 1
            let r = residual(epsilon)
            if epsilon <= objective.request.targetEpsilon {
                bracket.upper = (sigma, epsilon)
                upperResidual = r
                if lastKept == -1 { lowerResidual /= 2 }
                lastKept = -1
            } else {
                bracket.lower = Point(sigma: sigma, epsilon: epsilon)
                lowerResidual = r
                if lastKept == 1 { upperResidual /= 2 }
                lastKept = 1
            }
        }
        return bracket
    }
}
