import Foundation

/// Every way a privacy-accounting request can fail.
///
/// Each case carries the offending values so that a message can say what to change. The enum is
/// `Equatable` so tests can assert the exact failure.
public enum PrivacyError: Error, Equatable, Sendable {
    /// A sampling probability outside (0, 1] (or not finite).
    case samplingProbabilityOutOfRange(Double)
    /// A noise multiplier (standard deviation in units of the sensitivity) that is not > 0 and finite.
    case nonPositiveSigma(Double)
    /// A δ outside the open interval (0, 1).
    case deltaOutOfRange(Double)
    /// An ε that is negative or not finite where a finite ε ≥ 0 is needed
    /// (for `delta(for:epsilon:)`), or a calibration target that is not > 0 and finite.
    case epsilonOutOfRange(Double)
    /// A number of steps (compositions) below 1 or above ``DPEvent/maximumSteps``.
    case stepsOutOfRange(Int)
    /// A composition count below 0 in a `selfComposed` event.
    case compositionCountOutOfRange(Int)
    /// A group size (records per user) below 1 or above ``DPEvent/maximumGroupSize``.
    case groupSizeOutOfRange(Int)
    /// A mixture of Gaussians whose parameters do not describe a mechanism; `reason` says which rule failed.
    case invalidMixture(reason: String)
    /// A PLD value-discretisation interval that is not > 0 and finite, or too coarse (> 0.1).
    case discretizationOutOfRange(Double)
    /// An accountant asked about an event it cannot account for.
    case unsupportedEvent(accountant: String, event: String)
    /// A PLD tail-mass bound outside (0, 1e-6].
    case tailMassOutOfRange(Double)
    /// An event composes a mechanism so many times (`count`, after multiplying nested
    /// compositions) that the privacy-loss grid's indices would overflow.
    case compositionTooLarge(count: Int)
    /// The event's privacy-loss distribution would need more grid points than the accountant allows.
    case discretizationTooFine(requiredPoints: Int, limit: Int)
    /// No σ in the searched range reaches the target ε: at the largest σ tried, ε is still above target.
    case unreachableEpsilon(target: Double, epsilonAtLargestSigma: Double, largestSigma: Double)
    /// A calibration tolerance that is not in (0, 0.1).
    case toleranceOutOfRange(Double)
    /// A calibration cache file could not be read, decoded or written.
    case cacheFailure(path: String, reason: String)
    /// A failure probability (``DPEvent/withFailureProbability(event:probability:)``) outside
    /// [0, 1) or not finite.
    case failureProbabilityOutOfRange(Double)
    /// A privacy-loss distribution or Rényi divergences asked for an event with a nonzero
    /// failure probability, which neither can hold; `failureProbability` is the one found.
    case failureProbabilityNotRepresentable(accountant: String, failureProbability: Double)
    /// The group-privacy lemma asked for groups of `groupSize` > 1 over an event whose total
    /// failure probability is `failureProbability` > 0 (not implemented).
    case groupLemmaWithFailureProbability(groupSize: Int, failureProbability: Double)
    /// A ``DPEvent/groupPrivacy(event:groupSize:conversion:)`` event with a group size below 1.
    case groupPrivacySizeOutOfRange(Int)
    /// A ``DPEvent/groupPrivacy(event:groupSize:conversion:)`` event inside a composition or a
    /// Poisson sample (`enclosing` is that event's kind): the conversion applies to a whole
    /// guarantee, so it must be the outermost event.
    case groupPrivacyInsideComposition(enclosing: String)
}

extension PrivacyError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case .samplingProbabilityOutOfRange(let q):
            return "sampling probability q = \(q) is outside (0, 1]; pass the expected fraction of units per step, e.g. 0.01"
        case .nonPositiveSigma(let sigma):
            return "noise multiplier sigma = \(sigma) must be a finite number > 0"
        case .deltaOutOfRange(let delta):
            return "delta = \(delta) is outside (0, 1); typical values are 1e-5 or 1/(number of units)"
        case .epsilonOutOfRange(let epsilon):
            return "epsilon = \(epsilon) must be finite and > 0 (>= 0 when asking for delta)"
        case .stepsOutOfRange(let steps):
            return "steps = \(steps) is outside 1...\(DPEvent.maximumSteps) (the most steps userdp accounts for is 10^7)"
        case .compositionCountOutOfRange(let count):
            return "a self-composed event has count \(count); it must be >= 0"
        case .groupSizeOutOfRange(let k):
            return "group size k = \(k) is outside 1...\(DPEvent.maximumGroupSize) (records per user)"
        case .invalidMixture(let reason):
            return "invalid mixture of Gaussians: \(reason)"
        case .discretizationOutOfRange(let h):
            return "PLD value discretisation interval \(h) must be finite and in (0, 0.1]; the default is 1e-4"
        case .tailMassOutOfRange(let tail):
            return "PLD tail-mass bound \(tail) must be in (0, 1e-6]; the default is 1e-15"
        case .unsupportedEvent(let accountant, let event):
            return "the \(accountant) accountant cannot account for a \(event) event; use the PLD accountant"
                + " (for groups under RDP, the group-privacy lemma over RDP applies to the record-level event)"
        case .compositionTooLarge(let count):
            return "an event composes a mechanism \(count) times, too many to account for; at most \(DPEvent.maximumSteps) steps per event are supported"
        case .discretizationTooFine(let required, let limit):
            return "the privacy-loss distribution needs \(required) grid points (limit \(limit)); use a coarser discretisation or a larger sigma"
        case .unreachableEpsilon(let target, let epsilon, let sigma):
            return "no noise multiplier reaches epsilon = \(target): even sigma = \(sigma) gives epsilon = \(epsilon); raise the target epsilon or delta, or lower q or steps"
        case .toleranceOutOfRange(let tolerance):
            return "calibration tolerance \(tolerance) must be in (0, 0.1) (relative, on sigma)"
        case .cacheFailure(let path, let reason):
            return "calibration cache file \(path): \(reason)"
        case .failureProbabilityOutOfRange(let probability):
            return "failure probability \(probability) must be a finite number in [0, 1)"
        case .failureProbabilityNotRepresentable(let accountant, let probability):
            return "the \(accountant) accountant's privacy-loss distribution or Rényi divergences cannot hold a failure probability"
                + " (here \(probability)); ask for privacyCurve(for:), epsilon(for:delta:) or delta(for:epsilon:), which add it to delta"
        case .groupLemmaWithFailureProbability(let k, let probability):
            return "the group-privacy lemma is not implemented for events with a failure probability (group size k = \(k),"
                + " failure probability \(probability)); account for the user-level event with the pld or rdp accountant instead"
        case .groupPrivacySizeOutOfRange(let k):
            return "a groupPrivacy event has group size k = \(k); it must be at least 1 (units per group, e.g. records per user)"
        case .groupPrivacyInsideComposition(let enclosing):
            return "a groupPrivacy event sits inside a \(enclosing) event; the group-privacy conversion applies to a whole run's"
                + " guarantee, so compose or sample the record-level events first and put groupPrivacy outermost"
        }
    }
}

/// Throws unless `delta` is in (0, 1).
func validateDelta(_ delta: Double) throws {
    guard delta > 0, delta < 1 else { throw PrivacyError.deltaOutOfRange(delta) }
}

/// Throws unless `epsilon` is finite and ≥ 0.
func validateEpsilon(_ epsilon: Double) throws {
    guard epsilon >= 0, epsilon.isFinite else { throw PrivacyError.epsilonOutOfRange(epsilon) }
}
