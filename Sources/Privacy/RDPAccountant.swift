import Foundation

/// Rényi-DP accountant for (Poisson-subsampled) Gaussian mechanisms: a fast cross-check of
/// ``PLDAccountant``, looser by design.
///
/// - Rényi divergence of the Poisson-subsampled Gaussian: Mironov, Talwar, Zhang (2019),
///   "Rényi Differential Privacy of the Sampled Gaussian Mechanism", arXiv 1908.10530: the
///   binomial expansion of A_α for integer α (§3.2) and the two-sided series split at
///   z₀ = σ²·ln(1/q − 1) + 1/2 for fractional α (§3.3). As there (and in `dp_accounting`), the
///   remove direction A_α = E_{N(0,σ²)}[(μ/μ₀)^α] is used.
/// - Composition adds RDP order by order (Mironov 2017, Proposition 1).
/// - Conversion to (ε, δ): ε = min_α [ r_α + ln(1 − 1/α) − ln(δ·α)/(α − 1) ] over orders α > 1.01
///   (Balle, Barthe, Gaboardi, Hsu, Sato 2020, "Hypothesis testing interpretations and Rényi DP",
///   Theorem 21; the same bound as Canonne, Kamath, Steinke 2020, Proposition 12), together with
///   ε = 0 whenever δ ≥ √(1 − e^{−r_α}) (the total-variation bound via KL ≤ r_α). This is the
///   conversion `dp_accounting` 0.6.0 uses; δ(ε) uses the same pair of bounds.
///
/// Events: Gaussian, Poisson-sampled Gaussian and mixtures equivalent to them (sensitivities
/// {0, c} or {c}); a general mixture of Gaussians throws ``PrivacyError/unsupportedEvent(accountant:event:)``.
public struct RDPAccountant: Accountant {
    /// `dp_accounting`'s default orders: 1.1, 1.2, ..., 10.9, then 11 ... 63, 128, 256, 512, 1024.
    public static let defaultOrders: [Double] = {
        let fractional: [Double] = (1...99).map { 1 + Double($0) / 10 }
        let integer: [Double] = (11...63).map { Double($0) }
        return fractional + integer + [128, 256, 512, 1024]
    }()

    /// The Rényi orders α (each > 1) at which RDP is tracked.
    public let orders: [Double]

    public var name: String { "rdp" }

    /// - Parameter orders: Rényi orders, each > 1 (orders ≤ 1 are dropped).
    public init(orders: [Double] = RDPAccountant.defaultOrders) {
        self.orders = orders.filter { $0 > 1 }
    }

    /// RDP ε_α of `event` at each of ``orders`` (natural-log units); `.infinity` for a
    /// non-private event.
    /// - Throws: ``PrivacyError/failureProbabilityNotRepresentable(accountant:failureProbability:)``
    ///   when `event` has a failure probability > 0 (RDP has no place for it; use
    ///   ``privacyCurve(for:)``), and ``PrivacyError`` for invalid or unsupported events.
    public func renyiDivergences(for event: DPEvent) throws -> [Double] {
        let flattened = try MechanismSteps(event, accountant: name)
        if flattened.isNonPrivate { return orders.map { _ in .infinity } }
        var total = [Double](repeating: 0, count: orders.count)
        for (step, count) in flattened.steps {
            guard let (q, sigma) = step.asSubsampledGaussian else {
                throw PrivacyError.unsupportedEvent(accountant: name, event: "mixtureOfGaussians with more than one nonzero sensitivity")
            }
            for (index, order) in orders.enumerated() {
                total[index] += Double(count) * Self.subsampledGaussianRenyiDivergence(q: q, sigma: sigma, order: order)
            }
        }
        return total
    }

    /// The event's curve: the RDP curve of the event without its failure probability p
    /// (``DPEvent/separatingFailureProbability()``), with (1 + e^ε)·p added to δ after the
    /// conversion to (ε, δ) when p > 0 (``FailureProbabilityCurve``). A
    /// ``DPEvent/groupPrivacy(event:groupSize:conversion:)`` event is its conversion applied to
    /// this accountant's (ε, δ) curve of the inner event (the lemma over RDP).
    public func privacyCurve(for event: DPEvent) throws -> any PrivacyCurve {
        try event.validate()
        let (stripped, failureProbability) = event.separatingFailureProbability()
        let curve = try groupPrivacyCurve(for: stripped, innerCurve: privacyCurve(for:))
            ?? RenyiCurve(orders: orders, divergences: try renyiDivergences(for: stripped))
        return FailureProbabilityCurve.wrapping(curve, failureProbability: failureProbability)
    }

    /// RDP of one step of the Poisson-subsampled Gaussian (sensitivity 1, noise multiplier σ) at
    /// order α > 1: ln(A_α)/(α − 1) (Mironov, Talwar, Zhang 2019).
    public static func subsampledGaussianRenyiDivergence(q: Double, sigma: Double, order: Double) -> Double {
        if q == 1 { return order / (2 * sigma * sigma) }
        let logA = order == order.rounded() && order < 1e6
            ? logAIntegerOrder(q: q, sigma: sigma, order: Int(order))
            : logAFractionalOrder(q: q, sigma: sigma, order: order)
        return max(0, logA / (order - 1))
    }

    /// ln A_α for integer α: Σₖ C(α,k)(1−q)^{α−k} q^k exp((k² − k)/(2σ²)) (MTZ 2019 §3.2), in log space.
    static func logAIntegerOrder(q: Double, sigma: Double, order: Int) -> Double {
        let logQ = log(q), logOneMinusQ = log1p(-q), alpha = Double(order)
        var total = -Double.infinity
        for k in 0...order {
            let kk = Double(k)
            let logChoose = lgamma(alpha + 1) - lgamma(kk + 1) - lgamma(alpha - kk + 1)
            let term = logChoose + kk * logQ + (alpha - kk) * logOneMinusQ + (kk * kk - kk) / (2 * sigma * sigma)
            total = logAddExp(total, term)
        }
        return total
    }

    /// ln A_α for fractional α (MTZ 2019 §3.3): the integral split at z₀ = σ² ln(1/q − 1) + 1/2 into
    /// two binomial series with generalised coefficients C(α, k), summed until both terms fall
    /// below e^{−30} (A_α ≥ 1, so that is a relative accuracy of 1e-13 per term).
    static func logAFractionalOrder(q: Double, sigma: Double, order alpha: Double) -> Double {
        var positive = -Double.infinity, negative = -Double.infinity
        let z0 = sigma * sigma * log(1 / q - 1) + 0.5
        let logQ = log(q), logOneMinusQ = log1p(-q)
        let scale = 1 / (2.0.squareRoot() * sigma)
        var logAbsChoose = 0.0  // ln |C(α, k)|, updated by the ratio (α − k)/(k + 1)
        var sign = 1.0
        for k in 0..<200_000 {
            let kk = Double(k), j = alpha - kk
            let logTerm0 = logAbsChoose + kk * logQ + j * logOneMinusQ + (kk * kk - kk) / (2 * sigma * sigma)
                + log(0.5) + NormalDistribution.logErfc((kk - z0) * scale)
            let logTerm1 = logAbsChoose + j * logQ + kk * logOneMinusQ + (j * j - j) / (2 * sigma * sigma)
                + log(0.5) + NormalDistribution.logErfc((z0 - j) * scale)
            if sign > 0 {
                positive = logAddExp(positive, logAddExp(logTerm0, logTerm1))
            } else {
                negative = logAddExp(negative, logAddExp(logTerm0, logTerm1))
            }
            if max(logTerm0, logTerm1) < -30 { break }
            let ratio = (alpha - kk) / (kk + 1)
            if ratio == 0 { break }
            logAbsChoose += log(abs(ratio))
            if ratio < 0 { sign = -sign }
        }
        return logSubtractExp(positive, negative)
    }
}

/// An RDP curve: ε_α at each order, converted to (ε, δ) on demand.
struct RenyiCurve: PrivacyCurve {
    let orders: [Double]
    let divergences: [Double]

    func epsilon(delta: Double) -> Double {
        var best = Double.infinity
        for (alpha, r) in zip(orders, divergences) {
            if r == .infinity { continue }
            if r <= 0 || delta * delta + expm1(-r) > 0 { return 0 }
            guard alpha > 1.01 else { continue }  // the bound below is unstable as α → 1
            best = min(best, r + log1p(-1 / alpha) - log(delta * alpha) / (alpha - 1))
        }
        return max(0, best)
    }

    func delta(epsilon: Double) -> Double {
        var bestLog = 0.0
        for (alpha, r) in zip(orders, divergences) {
            if r == .infinity { continue }
            if r <= 0 { return 0 }
            var logDelta = 0.5 * log1p(-exp(-r))
            if alpha > 1.01 {
                logDelta = min(logDelta, (alpha - 1) * (r - epsilon + log1p(-1 / alpha)) - log(alpha))
            }
            bestLog = min(bestLog, logDelta)
        }
        return min(1, exp(bestLog))
    }
}
