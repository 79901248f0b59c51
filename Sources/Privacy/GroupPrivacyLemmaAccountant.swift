import Foundation

/// The classic group-privacy lemma over a record-level accountant: a record-level (ε′, δ′)
/// guarantee gives groups of k records (kε′, k·e^{(k−1)ε′}·δ′), by chaining the guarantee through
/// k − 1 intermediate datasets: δ′·(1 + e^{ε′} + … + e^{(k−1)ε′}) ≤ k·e^{(k−1)ε′}·δ′ (group privacy;
/// Dwork & Roth 2014, §2.3; Vadhan 2017, §2).
///
/// `epsilon(for:delta:)` takes the record-level event and the user-level target δ, and chooses the
/// record-level δ′ that gives the smallest user-level ε subject to k·e^{(k−1)ε′(δ′)}·δ′ ≤ δ: since
/// ε′ falls as δ′ grows, that is the largest feasible δ′, found by a scan down from δ/k in steps of
/// 1% followed by bisection on ln δ′ to 1e-9. The returned ε is always that of a feasible δ′.
/// It is looser than the tight mixture-of-Gaussians accounting (``DPEvent/groupOfRecords(k:q:sigma:steps:)``);
/// it is offered to compare with papers that use it.
public struct GroupPrivacyLemmaAccountant: Accountant {
    /// Records per group k ≥ 1.
    public let groupSize: Int
    /// The record-level accountant.
    public let base: any Accountant

    public var name: String { "group-lemma" }

    /// - Throws: ``PrivacyError/groupSizeOutOfRange(_:)`` for k < 1.
    public init(groupSize: Int, base: any Accountant) throws {
        guard groupSize >= 1 else { throw PrivacyError.groupSizeOutOfRange(groupSize) }
        self.groupSize = groupSize
        self.base = base
    }

    /// The lemma's curve over `base`'s curve of the record-level `event`.
    ///
    /// An event with a failure probability (``DPEvent/withFailureProbability(event:probability:)``)
    /// passes through unchanged for k = 1 (`base` handles it); for k > 1 and a total failure
    /// probability > 0 the lemma would also have to chain the failure through the group, which is
    /// not implemented.
    /// - Throws: ``PrivacyError/groupLemmaWithFailureProbability(groupSize:failureProbability:)``
    ///   for k > 1 and a failure probability > 0, and what `base` throws.
    public func privacyCurve(for event: DPEvent) throws -> any PrivacyCurve {
        if groupSize > 1 {
            try event.validate()
            let failureProbability = event.separatingFailureProbability().failureProbability
            guard failureProbability == 0 else {
                throw PrivacyError.groupLemmaWithFailureProbability(groupSize: groupSize, failureProbability: failureProbability)
            }
        }
        return GroupLemmaCurve(groupSize: groupSize, recordLevel: try base.privacyCurve(for: event))
    }
}

/// A record-level curve seen through the group-privacy lemma.
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
