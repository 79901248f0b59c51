import Foundation

/// How ``DPEvent/groupPrivacy(event:groupSize:conversion:)`` turns a guarantee for one unit into
/// one for groups of k units.
///
/// JSON: the raw value (`"lemma"`). New conversions are new cases with new spellings; the
/// spelling of existing ones does not change.
public enum GroupPrivacyConversion: String, Hashable, Sendable, Codable, CaseIterable {
    /// The standard group-privacy lemma for approximate DP: if the inner event is (ε′, δ′)-DP,
    /// groups of k units get (kε′, k·e^{(k−1)ε′}·δ′). Chaining the guarantee through the k − 1
    /// datasets between two that differ in k units gives δ′·(1 + e^{ε′} + … + e^{(k−1)ε′}), which
    /// is at most k·e^{(k−1)ε′}·δ′ (Dwork & Roth 2014, §2.3, Theorem 2.2 for ε-DP and the
    /// (ε, δ) statement after it; Vadhan 2017, §2.1, group privacy). It is what Chua et al. 2024
    /// use for Group Privacy; userdp's tight alternative is the mixture event
    /// (``DPEvent/groupOfRecords(k:q:sigma:steps:)``).
    ///
    /// The curve at a user-level δ takes the record-level δ′ that gives the smallest kε′ with
    /// k·e^{(k−1)ε′(δ′)}·δ′ ≤ δ (docs/PRIVACY.md, §4). For k > 1 the inner event must have no
    /// failure probability (chaining it through the group is not implemented).
    case lemma
}

extension DPEvent {
    /// `event`'s guarantee converted to groups of `groupSize` units by the standard group-privacy
    /// lemma: ``groupPrivacy(event:groupSize:conversion:)`` with ``GroupPrivacyConversion/lemma``.
    ///
    /// For Group Privacy under the lemma, `event` is record-level DP-SGD's
    /// (``poissonSubsampledGaussian(q:sigma:steps:)``) and k the records per user.
    /// - Throws: ``PrivacyError/groupPrivacySizeOutOfRange(_:)`` for k < 1, and what
    ///   `event.validate()` throws (a ``groupPrivacy(event:groupSize:conversion:)`` may nest
    ///   inside another, but not inside a composition or a Poisson sample).
    public static func groupPrivacyLemma(groupSize: Int, of event: DPEvent) throws -> DPEvent {
        let group = DPEvent.groupPrivacy(event: event, groupSize: groupSize, conversion: .lemma)
        try group.validate()
        return group
    }
}

/// The curve of a (stripped) event that is a group-privacy conversion, built by the accountant's
/// own curve of the inner event; nil when `event` is not a ``DPEvent/groupPrivacy(event:groupSize:conversion:)``.
///
/// Every ``Accountant`` calls this first (after validating and stripping failure probabilities),
/// so a stored group event means the same guarantee to all of them.
/// - Throws: ``PrivacyError/groupLemmaWithFailureProbability(groupSize:failureProbability:)`` for
///   k > 1 over an inner event with a failure probability > 0, and what `innerCurve` throws.
func groupPrivacyCurve(
    for event: DPEvent, innerCurve: (DPEvent) throws -> any PrivacyCurve
) throws -> (any PrivacyCurve)? {
    guard case .groupPrivacy(let inner, let groupSize, let conversion) = event else { return nil }
    switch conversion {
    case .lemma:
        if groupSize > 1 {
            let failureProbability = inner.separatingFailureProbability().failureProbability
            guard failureProbability == 0 else {
                throw PrivacyError.groupLemmaWithFailureProbability(groupSize: groupSize, failureProbability: failureProbability)
            }
        }
        return GroupLemmaCurve(groupSize: groupSize, recordLevel: try innerCurve(inner))
    }
}

/// A record-level curve seen through the group-privacy lemma (``GroupPrivacyConversion/lemma``).
///
/// ``epsilon(delta:)`` chooses the record-level δ′ that gives the smallest user-level ε subject to
/// k·e^{(k−1)ε′(δ′)}·δ′ ≤ δ: since ε′ falls as δ′ grows, that is the largest feasible δ′, found by
/// a scan down from δ/k in steps of 0.01 in ln δ′ followed by bisection on ln δ′ to 1e-9. The
/// returned ε is always that of a feasible δ′, so it is an upper bound whenever the record-level
/// curve is.
struct GroupLemmaCurve: PrivacyCurve {
    let groupSize: Int
    let recordLevel: any PrivacyCurve

    func delta(epsilon: Double) -> Double {
        let k = Double(groupSize)
        let recordEpsilon = epsilon / k
        return min(1, k * exp((k - 1) * recordEpsilon) * recordLevel.delta(epsilon: recordEpsilon))
    }

    func epsilon(delta: Double) -> Double {
        if groupSize == 1 { return recordLevel.epsilon(delta: delta) }
        let k = Double(groupSize)
        let logTarget = log(delta)
        // Feasibility margin at ln δ′: ≤ 0 when the user-level δ meets the target.
        func margin(_ logRecordDelta: Double) -> (value: Double, epsilon: Double) {
            let recordEpsilon = recordLevel.epsilon(delta: exp(logRecordDelta))
            return (log(k) + (k - 1) * recordEpsilon + logRecordDelta - logTarget, recordEpsilon)
        }
        var infeasible = logTarget - log(k)
        var current = margin(infeasible)
        if current.value <= 0 { return k * current.epsilon }
        var feasible = infeasible
        var found = false
        for _ in 0..<5_000 {  // down to δ′ = δ/k·e^{-50}
            feasible -= 0.01
            current = margin(feasible)
            if current.epsilon == .infinity { return .infinity }
            if current.value <= 0 { found = true; break }
            infeasible = feasible
        }
        guard found else { return .infinity }
        var best = current.epsilon
        while infeasible - feasible > 1e-9 {
            let middle = 0.5 * (infeasible + feasible)
            let trial = margin(middle)
            if trial.value <= 0 {
                feasible = middle
                best = trial.epsilon
            } else {
                infeasible = middle
            }
        }
        return k * best
    }
}
