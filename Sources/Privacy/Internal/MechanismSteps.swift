import Foundation

/// One step of a Gaussian-type mechanism in normalised units (noise N(0, 1)).
///
/// The unit is present with shift `shifts[j]` (sensitivity / σ) with probability `weights[j]`:
/// the pair of output distributions is P = Σⱼ wⱼ·N(sⱼ, 1) (unit present) and Q = N(0, 1) (absent).
/// Shifts are ascending and distinct, weights are > 0 and sum to 1. Every event this module
/// accounts for reduces to a multiset of these steps.
struct GaussianMixtureStep: Hashable, Comparable {
    let shifts: [Double]
    let weights: [Double]

    /// Merges equal shifts, drops zero weights and sorts by shift.
    init(sigma: Double, sensitivities: [Double], probabilities: [Double]) {
        var merged: [Double: Double] = [:]
        for (sensitivity, probability) in zip(sensitivities, probabilities) where probability > 0 {
            merged[sensitivity / sigma, default: 0] += probability
        }
        let sorted = merged.sorted { $0.key < $1.key }
        shifts = sorted.map(\.key)
        weights = sorted.map(\.value)
    }

    /// True when the unit never changes the output (all shifts are zero): no privacy cost.
    var isTrivial: Bool { shifts.allSatisfy { $0 == 0 } }

    /// The largest shift (sensitivity / σ).
    var maximumShift: Double { shifts.last ?? 0 }

    /// Weight of the zero shift (the probability that the unit is not in the batch).
    var weightOfZeroShift: Double { shifts.first == 0 ? weights[0] : 0 }

    /// The same step applied to a Poisson sample with probability `q`.
    func poissonSampled(_ q: Double) -> GaussianMixtureStep {
        GaussianMixtureStep(
            sigma: 1, sensitivities: [0] + shifts, probabilities: [1 - q] + weights.map { q * $0 })
    }

    /// If the step is a Poisson-subsampled Gaussian (shifts [0, s] or [s]), its (q, σ = 1/s).
    var asSubsampledGaussian: (q: Double, sigma: Double)? {
        switch shifts.count {
        case 1 where shifts[0] > 0: return (1, 1 / shifts[0])
        case 2 where shifts[0] == 0: return (weights[1], 1 / shifts[1])
        default: return nil
        }
    }

    static func < (lhs: GaussianMixtureStep, rhs: GaussianMixtureStep) -> Bool {
        if lhs.shifts != rhs.shifts { return lhs.shifts.lexicographicallyPrecedes(rhs.shifts) }
        return lhs.weights.lexicographicallyPrecedes(rhs.weights)
    }
}

/// An event reduced to the distinct mechanism steps it composes, each with its count, in a
/// deterministic order (so floating-point results do not depend on hashing order).
struct MechanismSteps {
    var steps: [(step: GaussianMixtureStep, count: Int)]
    /// True when the event contains a ``DPEvent/nonPrivate`` part (ε = ∞).
    var isNonPrivate: Bool

    /// Validates and flattens `event`. `accountant` names the caller in unsupported-event errors.
    init(_ event: DPEvent, accountant: String) throws {
        try event.validate()
        var counts: [GaussianMixtureStep: Int] = [:]
        var nonPrivate = false
        try Self.collect(event, multiplicity: 1, into: &counts, nonPrivate: &nonPrivate, accountant: accountant)
        steps = counts.filter { $0.value > 0 && !$0.key.isTrivial }
            .map { (step: $0.key, count: $0.value) }
            .sorted { $0.step < $1.step }
        isNonPrivate = nonPrivate
    }

    private static func collect(
        _ event: DPEvent, multiplicity: Int, into counts: inout [GaussianMixtureStep: Int],
        nonPrivate: inout Bool, accountant: String
    ) throws {
        switch event {
        case .noOp:
            return
        case .nonPrivate:
            if multiplicity > 0 { nonPrivate = true }
        case .selfComposed(let inner, let count):
            let (product, overflow) = multiplicity.multipliedReportingOverflow(by: count)
            guard !overflow else { throw PrivacyError.compositionTooLarge(count: count) }
            try collect(inner, multiplicity: product, into: &counts, nonPrivate: &nonPrivate, accountant: accountant)
        case .composed(let events):
            for inner in events {
                try collect(inner, multiplicity: multiplicity, into: &counts, nonPrivate: &nonPrivate, accountant: accountant)
            }
        case .withFailureProbability(let inner, let probability):
            // The accountants strip failure probabilities first (`separatingFailureProbability`);
            // one reaching here was passed to a PLD or Rényi representation, which has no place for it.
            guard probability == 0 else {
                throw PrivacyError.failureProbabilityNotRepresentable(accountant: accountant, failureProbability: probability)
            }
            try collect(inner, multiplicity: multiplicity, into: &counts, nonPrivate: &nonPrivate, accountant: accountant)
        case .groupPrivacy:
            // A conversion of a whole guarantee, not a mechanism step: accountants take it apart
            // in `privacyCurve(for:)` (`groupPrivacyCurve`) before flattening.
            throw PrivacyError.unsupportedEvent(accountant: accountant, event: "groupPrivacy (as a privacy-loss distribution or Rényi divergences)")
        case .gaussian, .mixtureOfGaussians, .poissonSampled:
            switch try singleStep(event, accountant: accountant) {
            case .none: return
            case .some(nil): if multiplicity > 0 { nonPrivate = true }
            case .some(let step?):
                let (total, overflow) = counts[step, default: 0].addingReportingOverflow(multiplicity)
                guard !overflow else { throw PrivacyError.compositionTooLarge(count: multiplicity) }
                counts[step] = total
            }
        }
    }

    /// A single mechanism step: `nil` for a no-op, `.some(nil)` for a non-private step.
    private static func singleStep(_ event: DPEvent, accountant: String) throws -> GaussianMixtureStep??{
        switch event {
        case .gaussian(let sigma):
            return .some(GaussianMixtureStep(sigma: sigma, sensitivities: [1], probabilities: [1]))
        case .mixtureOfGaussians(let sigma, let sensitivities, let probabilities):
            return .some(GaussianMixtureStep(sigma: sigma, sensitivities: sensitivities, probabilities: probabilities))
        case .poissonSampled(let q, let inner):
            switch try singleStep(inner, accountant: accountant) {
            case .none: return .none
            case .some(nil): return .some(nil)
            case .some(let step?): return .some(step.poissonSampled(q))
            }
        case .noOp:
            return .none
        case .nonPrivate:
            return .some(nil)
        case .withFailureProbability(let inner, let probability):
            guard probability == 0 else {
                throw PrivacyError.failureProbabilityNotRepresentable(accountant: accountant, failureProbability: probability)
            }
            return try singleStep(inner, accountant: accountant)
        case .selfComposed, .composed:
            throw PrivacyError.unsupportedEvent(accountant: accountant, event: "poissonSampled of a composition")
        case .groupPrivacy:
            throw PrivacyError.groupPrivacyInsideComposition(enclosing: "poissonSampled")
        }
    }
}
