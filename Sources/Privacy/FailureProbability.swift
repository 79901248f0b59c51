import Foundation

extension DPEvent {
    /// The event without its ``withFailureProbability(event:probability:)`` wrappers, and the
    /// total failure probability they add to the whole event (capped at 1).
    ///
    /// Contract: if the stripped event's pairs are (ε, δ(ε))-DP, the event's are
    /// (ε, δ(ε) + (1 + e^ε)·`failureProbability`)-DP. Rules, with (e′, p′) the result for an
    /// inner event:
    /// - `gaussian`, `mixtureOfGaussians`, `nonPrivate`, `noOp`: (self, 0);
    /// - `groupPrivacy`: (self, 0): the conversion decides what an inner failure probability
    ///   means (the lemma refuses one for k > 1), so the accountant handles it there;
    /// - `withFailureProbability(e, p)`: (e′, p′ + p);
    /// - `selfComposed(e, n)`: (selfComposed(e′, n), n·p′);
    /// - `composed(es)`: (composed(es′), Σ p′);
    /// - `poissonSampled(q, e)`: (poissonSampled(q, e′), p′): sampling amplifies the stripped
    ///   event only; the failure part keeps its full p′ (total variation of a mixture is at most
    ///   the largest over its components, so this is a valid bound, not a tight one).
    ///
    /// Why composition adds: each adaptive step's output is, given the earlier outputs, within
    /// total variation pᵢ of a step dominated by its stripped event, on either side of the pair;
    /// replacing the steps one at a time (a hybrid argument) moves the joint output by at most
    /// Σ pᵢ in total variation, and the fully replaced run is dominated by the composition of the
    /// stripped events. The same holds for a pair dominated through Poisson subsampling (Zhu,
    /// Dong & Wang 2022; Balle, Barthe & Gaboardi 2018): the mixture over batches moves by at most
    /// the largest component's distance. The cap at 1 is harmless: with a failure probability of
    /// 1, δ(ε) = 1 and ε is infinite.
    ///
    /// The function is pure and does not validate; accountants call ``validate()`` first.
    public func separatingFailureProbability() -> (event: DPEvent, failureProbability: Double) {
        let (event, probability) = separatingUncappedFailureProbability()
        return (event, min(1, probability))
    }

    /// ``separatingFailureProbability()`` without the cap, so that a cap applies only once, at
    /// the top.
    private func separatingUncappedFailureProbability() -> (event: DPEvent, failureProbability: Double) {
        switch self {
        case .gaussian, .mixtureOfGaussians, .nonPrivate, .noOp, .groupPrivacy:
            return (self, 0)
        case .withFailureProbability(let inner, let probability):
            let (event, innerProbability) = inner.separatingUncappedFailureProbability()
            return (event, innerProbability + probability)
        case .selfComposed(let inner, let count):
            let (event, probability) = inner.separatingUncappedFailureProbability()
            return (.selfComposed(event: event, count: count), Double(count) * probability)
        case .composed(let events):
            let parts = events.map { $0.separatingUncappedFailureProbability() }
            return (.composed(parts.map(\.event)), parts.reduce(0) { $0 + $1.failureProbability })
        case .poissonSampled(let q, let inner):
            let (event, probability) = inner.separatingUncappedFailureProbability()
            return (.poissonSampled(samplingProbability: q, event: event), probability)
        }
    }
}

/// A privacy curve plus a failure probability p: δ(ε) = min(1, δ_inner(ε) + (1 + e^ε)·p)
/// (``DPEvent/withFailureProbability(event:probability:)`` states why this is valid on top of
/// any accountant's curve).
///
/// ``epsilon(delta:)`` is the smallest ε at which that sum is ≤ δ, found by bisection to a
/// relative tolerance of 1e-6 and rounded up; the returned ε always satisfies the inequality
/// (every candidate is checked). It is `.infinity` when no ε up to 100 is found to satisfy it.
/// With p = 0 both functions are exactly the inner curve's.
public struct FailureProbabilityCurve: PrivacyCurve {
    /// The curve of the event without its failure probability.
    public let inner: any PrivacyCurve
    /// The total failure probability p in [0, 1].
    public let failureProbability: Double

    /// The largest ε the search in ``epsilon(delta:)`` considers.
    public static let largestEpsilon = 100.0

    /// - Parameters:
    ///   - inner: the stripped event's curve (from any accountant).
    ///   - failureProbability: p in [0, 1] (callers validate; ``DPEvent/separatingFailureProbability()``
    ///     returns it capped at 1).
    public init(inner: any PrivacyCurve, failureProbability: Double) {
        self.inner = inner
        self.failureProbability = failureProbability
    }

    /// `inner` itself when `failureProbability` is 0, the wrapped curve otherwise.
    public static func wrapping(_ inner: any PrivacyCurve, failureProbability: Double) -> any PrivacyCurve {
        failureProbability == 0 ? inner : FailureProbabilityCurve(inner: inner, failureProbability: failureProbability)
    }

    /// (1 + e^ε)·p: what the failure probability adds to δ at `epsilon`.
    public func failureDelta(epsilon: Double) -> Double {
        (1 + exp(epsilon)) * failureProbability
    }

    public func delta(epsilon: Double) -> Double {
        if failureProbability == 0 { return inner.delta(epsilon: epsilon) }
        return min(1, inner.delta(epsilon: epsilon) + failureDelta(epsilon: epsilon))
    }

    public func epsilon(delta: Double) -> Double {
        if failureProbability == 0 { return inner.epsilon(delta: delta) }
        func total(_ epsilon: Double) -> Double { inner.delta(epsilon: epsilon) + failureDelta(epsilon: epsilon) }
        // ε can be no smaller than the inner curve's own ε at δ.
        var lower = inner.epsilon(delta: delta)
        guard lower.isFinite, lower <= Self.largestEpsilon else { return .infinity }
        if total(lower) <= delta { return lower }
        // An upper end from a fixed split of δ between the two terms, trying larger failure
        // shares until one satisfies the total.
        var upper = Double.infinity
        for share in [0.1, 0.3, 0.5, 0.7, 0.9, 0.99] {
            let candidate = inner.epsilon(delta: (1 - share) * delta)
            if candidate.isFinite, candidate <= Self.largestEpsilon, total(candidate) <= delta {
                upper = candidate
                break
            }
        }
        guard upper.isFinite else { return .infinity }
        // Invariant: total(lower) > δ ≥ total(upper). For a curve convex in e^ε (the PLD's) the
        // feasible set is an interval, so `upper` converges to its left end.
        while upper - lower > 1e-6 * max(upper, 1e-9) {
            let middle = (lower + upper) / 2
            if total(middle) <= delta { upper = middle } else { lower = middle }
        }
        return upper
    }
}
