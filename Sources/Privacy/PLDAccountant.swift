import Foundation

/// Privacy-loss-distribution accountant: tight (ε, δ) for compositions of (Poisson-subsampled)
/// Gaussian and mixture-of-Gaussians mechanisms under add/remove adjacency. The default.
///
/// - Each distinct mechanism step gets a PLD per direction (remove: unit present vs absent; add:
///   the reverse), discretised pessimistically on the grid h·ℤ with the connect-the-dots split
///   (Doroshenko et al. 2022), so δ(ε) from it is never below the true δ(ε) and equals it at grid
///   points (up to the tail mass, which goes to +∞).
/// - Compositions are one FFT per direction: each distinct step's transform raised to its count
///   (Koskela et al. 2020). The FFT window comes from Chernoff bounds and the mass that could
///   alias from above the window is added to the +∞ mass (see docs/PRIVACY.md), so nothing is
///   dropped.
/// - ε(δ) is the maximum over the two directions, solved exactly for the discrete distribution.
///
/// Accuracy: the composed curve dominates the true one; the excess comes from the discretisation
/// (exact at grid points, chords in between), the tail masses (about T·`tailMass`/1000 +
/// `tailMass` in δ) and an empirical allowance for rounding in the FFT (about 1e-13 in δ at
/// T = 1000). ε agrees with `dp_accounting`'s pessimistic PLD at the same h to about 1e-9.
public struct PLDAccountant: Accountant {
    /// The default value-discretisation interval, 1e-4 (as `dp_accounting`).
    public static let defaultValueDiscretization = 1e-4
    /// The largest grid (single step or FFT length) the accountant builds: 2²⁴ points.
    public static let maximumPoints = 1 << 24

    /// Grid spacing h of privacy-loss values (natural-log units).
    public let valueDiscretization: Double
    /// Bound on each truncated tail: per mixture component per step when building a step's PLD,
    /// and for the aliasing of a composition. Both are added to δ, never dropped.
    public let tailMass: Double

    public var name: String { "pld" }

    /// - Parameters:
    ///   - valueDiscretization: grid spacing h in (0, 0.1]; smaller is tighter and slower (cost ∝ 1/h).
    ///   - tailMass: truncation bound in (0, 1e-6]; the default 1e-15 is negligible for δ ≥ 1e-12.
    /// - Throws: ``PrivacyError/discretizationOutOfRange(_:)``, ``PrivacyError/tailMassOutOfRange(_:)``.
    public init(valueDiscretization: Double = PLDAccountant.defaultValueDiscretization, tailMass: Double = 1e-15) throws {
        guard valueDiscretization > 0, valueDiscretization <= 0.1 else {
            throw PrivacyError.discretizationOutOfRange(valueDiscretization)
        }
        guard tailMass > 0, tailMass <= 1e-6 else { throw PrivacyError.tailMassOutOfRange(tailMass) }
        self.valueDiscretization = valueDiscretization
        self.tailMass = tailMass
    }

    /// The event's curve: the composed PLDs of the event without its failure probability p
    /// (``DPEvent/separatingFailureProbability()``), with (1 + e^ε)·p added to δ when p > 0
    /// (``FailureProbabilityCurve``). A ``DPEvent/groupPrivacy(event:groupSize:conversion:)``
    /// event is its conversion applied to this accountant's curve of the inner event.
    public func privacyCurve(for event: DPEvent) throws -> any PrivacyCurve {
        try event.validate()
        let (stripped, failureProbability) = event.separatingFailureProbability()
        let curve = try groupPrivacyCurve(for: stripped, innerCurve: privacyCurve(for:)) ?? privacyLossCurve(for: stripped)
        return FailureProbabilityCurve.wrapping(curve, failureProbability: failureProbability)
    }

    /// The composed PLDs of `event` in both directions.
    /// - Throws: ``PrivacyError/failureProbabilityNotRepresentable(accountant:failureProbability:)``
    ///   when `event` has a failure probability > 0 (a PLD has no place for it; use
    ///   ``privacyCurve(for:)``), ``PrivacyError/unsupportedEvent(accountant:event:)`` for a
    ///   group-privacy conversion (not a PLD; use ``privacyCurve(for:)``), and ``PrivacyError``
    ///   for invalid or too fine events.
    public func privacyLossCurve(for event: DPEvent) throws -> PLDCurve {
        let flattened = try MechanismSteps(event, accountant: name)
        if flattened.isNonPrivate { return PLDCurve(directions: [], isNonPrivate: true) }
        let h = valueDiscretization
        guard !flattened.steps.isEmpty else {
            return PLDCurve(directions: [.zeroLoss(valueDiscretization: h)], isNonPrivate: false)
        }
        // A per-component tail well below `tailMass`: it is paid once per step, T times.
        let stepTail = tailMass * 1e-3
        let directions = try AdjacencyDirection.allCases.map { direction in
            let parts = try flattened.steps.map { step, count in
                (
                    distribution: try PrivacyLossDistribution(
                        step: step, direction: direction, valueDiscretization: h, tailMass: stepTail,
                        maximumPoints: Self.maximumPoints),
                    count: count
                )
            }
            return try PrivacyLossDistribution.composition(of: parts, tailMass: tailMass, maximumPoints: Self.maximumPoints)
        }
        return PLDCurve(directions: directions, isNonPrivate: false)
    }
}

/// The composed privacy-loss distributions of one event, both directions of adjacency.
public struct PLDCurve: PrivacyCurve {
    let directions: [PrivacyLossDistribution]
    let isNonPrivate: Bool

    /// Grid points held by the composed distributions (a size measure for diagnostics).
    public var gridPoints: Int { directions.reduce(0) { $0 + $1.masses.count } }

    /// Mass at +∞ in the worse direction: δ can never be certified below it.
    public var infinityMass: Double { isNonPrivate ? 1 : directions.map(\.infinityMass).max() ?? 0 }

    public func epsilon(delta: Double) -> Double {
        if isNonPrivate { return .infinity }
        return directions.map { $0.epsilon(delta: delta) }.max() ?? 0
    }

    public func delta(epsilon: Double) -> Double {
        if isNonPrivate { return 1 }
        return directions.map { $0.delta(epsilon: epsilon) }.max() ?? 0
    }
}
