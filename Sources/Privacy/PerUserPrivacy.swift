import Foundation

/// What one user's records are worth under record-level DP-SGD: the study's motivation (Chua et
/// al. 2024, §1). Record-level DP-SGD protects one record; a user who contributed n records is a
/// group of n, and their guarantee weakens with n.
public struct PerUserEpsilon: Sendable, Equatable, Codable {
    /// How a user's ε was computed.
    public enum Method: String, Sendable, Codable {
        /// The tight group event: each of the user's n records is Poisson-sampled on its own, so a
        /// step is a mixture of Gaussians with Binomial(n, q) sensitivities
        /// (``DPEvent/groupOfRecords(k:q:sigma:steps:)``).
        case tight
        /// The group-privacy lemma over the record-level guarantee, for n above the tight limit:
        /// the event ``DPEvent/groupPrivacy(event:groupSize:conversion:)`` of the record-level
        /// event with k = n (``PerUserPrivacy/lemmaEvent(records:recordLevel:)``).
        case lemma
    }

    /// The user's number of records n.
    public var records: Int
    /// The user-level ε at the requested δ (`.infinity` when no finite ε reaches that δ).
    public var epsilon: Double
    /// How `epsilon` was computed.
    public var method: Method
}

/// Per-user ε of a record-level DP-SGD run, from each user's record count.
public enum PerUserPrivacy {
    /// The largest record count accounted with the tight mixture event by default. The tight
    /// event's cost grows with n (n + 1 mixture components per step); above it the lemma, which
    /// costs the same for every n, gives a valid but looser bound.
    public static let defaultTightLimit = 32

    /// The user-level event of a user with `records` records under the lemma: `recordLevel`
    /// (the run's record-level event) converted to a group of that many records.
    /// - Throws: ``PrivacyError/groupPrivacySizeOutOfRange(_:)`` for `records` < 1.
    public static func lemmaEvent(records: Int, recordLevel: DPEvent) throws -> DPEvent {
        try DPEvent.groupPrivacyLemma(groupSize: records, of: recordLevel)
    }

    /// The user-level ε at `delta` for every distinct count in `recordCounts`, under
    /// record-level DP-SGD with Poisson rate `q` per record, noise multiplier `sigma` and `steps`
    /// steps: tight for n ≤ `tightLimit`, the lemma above it. Each value is an upper bound on
    /// that user's ε (the PLD accountant's pessimistic discretisation). Lemma values are those
    /// of ``lemmaEvent(records:recordLevel:)`` by `accountant` (the record-level curve is built
    /// once and shared by all counts, as the accountant would build it for each).
    ///
    /// - Throws: ``PrivacyError`` for invalid q, σ, steps or δ, and what the accountant throws.
    public static func epsilons(
        recordCounts: some Sequence<Int>, q: Double, sigma: Double, steps: Int, delta: Double,
        tightLimit: Int = defaultTightLimit, accountant: PLDAccountant? = nil
    ) throws -> [Int: PerUserEpsilon] {
        let accountant = try accountant ?? PLDAccountant()
        let recordLevel = try DPEvent.poissonSubsampledGaussian(q: q, sigma: sigma, steps: steps)
        let recordCurve = try accountant.privacyCurve(for: recordLevel)
        var result: [Int: PerUserEpsilon] = [:]
        for n in Set(recordCounts).sorted() {
            guard n >= 1 else { throw PrivacyError.groupSizeOutOfRange(n) }
            if n <= tightLimit {
                let event = try DPEvent.groupOfRecords(k: n, q: q, sigma: sigma, steps: steps)
                result[n] = PerUserEpsilon(records: n, epsilon: try accountant.epsilon(for: event, delta: delta), method: .tight)
            } else {
                let event = try lemmaEvent(records: n, recordLevel: recordLevel)
                // The accountant's own conversion of this event, with the record-level curve
                // computed once for every n.
                let curve = try groupPrivacyCurve(for: event, innerCurve: { _ in recordCurve })!
                result[n] = PerUserEpsilon(records: n, epsilon: curve.epsilon(delta: delta), method: .lemma)
            }
        }
        return result
    }

    /// Empirical quantiles of per-user ε (nearest rank), for `probabilities` in [0, 1].
    public static func quantiles(_ epsilons: [Double], at probabilities: [Double]) -> [Double] {
        let sorted = epsilons.sorted()
        guard !sorted.isEmpty else { return probabilities.map { _ in .nan } }
        return probabilities.map { p in
            sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
        }
    }
}
