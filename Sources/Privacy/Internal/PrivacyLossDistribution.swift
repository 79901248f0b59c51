import Foundation

/// A discretised privacy-loss distribution (PLD) for one direction of adjacency.
///
/// Mass `masses[i]` sits at privacy loss (lowerIndex + i)·h, and `infinityMass` at +∞. The
/// hockey-stick divergence of the pair it stands for is
///   δ(ε) = infinityMass + Σᵢ masses[i]·(1 − e^{ε − εᵢ})₊
/// (Koskela, Jälkö, Honkela 2020; Meiser & Mohammadi 2018). Every construction here produces a
/// PLD whose δ(ε) is ≥ the true one for every ε (a "dominating pair"), which composition
/// preserves, so every ε derived from it is an upper bound.
struct PrivacyLossDistribution: Sendable {
    let valueDiscretization: Double
    let lowerIndex: Int
    let masses: [Double]
    let infinityMass: Double

    var upperIndex: Int { lowerIndex + masses.count - 1 }

    /// The PLD of a mechanism that costs nothing: all mass at loss 0.
    static func zeroLoss(valueDiscretization: Double) -> PrivacyLossDistribution {
        PrivacyLossDistribution(valueDiscretization: valueDiscretization, lowerIndex: 0, masses: [1], infinityMass: 0)
    }

    /// δ(ε) for ε ≥ 0 (see the type's documentation), capped at 1.
    func delta(epsilon: Double) -> Double {
        let h = valueDiscretization
        var total = infinityMass
        let first = max(lowerIndex, Int((epsilon / h).rounded(.down)) + 1)
        if first <= upperIndex {
            for index in first...upperIndex {
                total += masses[index - lowerIndex] * -expm1(epsilon - Double(index) * h)
            }
        }
        return min(1, total)
    }

    /// The smallest ε ≥ 0 with δ(ε) ≤ `delta`, exactly for this discrete distribution;
    /// `.infinity` when the mass at +∞ alone exceeds `delta`.
    ///
    /// Walks down from the top keeping A = infinityMass + Σ_{j≥i} mⱼ and S = Σ_{j≥i} mⱼe^{εᵢ−εⱼ}, so
    /// that on [ε_{i−1}, εᵢ] δ(ε) = A − e^{ε−εᵢ}·S, and solves that segment in closed form.
    func epsilon(delta: Double) -> Double {
        if infinityMass > delta { return .infinity }
        let h = valueDiscretization
        let decay = exp(-h)
        var tailMass = infinityMass
        var scaledSum = 0.0
        var index = upperIndex
        while index >= lowerIndex {
            let mass = masses[index - lowerIndex]
            scaledSum = mass + decay * scaledSum
            tailMass += mass
            if tailMass - decay * scaledSum > delta {
                return max(0, Double(index) * h + log((tailMass - delta) / scaledSum))
            }
            index -= 1
        }
        // Below the lowest atom δ(ε) keeps the same form; solve it there (usually ε < 0 → 0).
        guard tailMass > delta, scaledSum > 0 else { return 0 }
        return max(0, Double(lowerIndex) * h + log((tailMass - delta) / scaledSum))
    }
}

/// Which neighbour is the reference: under `remove` the pair is (P, Q) = (mixture, N(0,1)), the
/// unit present versus absent; under `add` it is (N(0,1), mixture). Add/remove adjacency needs
/// the worse of the two.
enum AdjacencyDirection: CaseIterable, Sendable {
    case remove, add
}

extension PrivacyLossDistribution {
    /// The pessimistic PLD of one mixture-of-Gaussians step in one direction.
    ///
    /// Discretisation ("connect the dots", Doroshenko, Ghazi, Kamath, Kumar, Manurangsi 2022,
    /// arXiv 2207.04380): the loss is monotone in the output y, so every grid interval
    /// (εᵢ, εᵢ₊₁] of losses is an interval of outputs, with P-mass Pᵢ and Q-mass Qᵢ. That mass is
    /// split between the two grid points so that both P- and Q-mass are preserved:
    ///   to εᵢ₊₁: (Pᵢ − e^{εᵢ}Qᵢ)/(1 − e^{−h}),   to εᵢ: the rest of Pᵢ.
    /// Each atom's hockey-stick curve is replaced by its chord in e^ε, which lies above it
    /// (convexity), so the result dominates the true pair for every ε; at grid points it is exact.
    /// Only first differences of normal tails enter, each taken on the side where it has no
    /// cancellation, and the split moves rounding error between neighbouring bins only.
    ///
    /// Tails: outputs whose P-tail is below `tailMass` per mixture component are not gridded.
    /// Losses below the lowest grid point are rounded up to it (pessimistic); above the top grid
    /// point ε_top, the mass e^{ε_top}·Q(L > ε_top) goes to ε_top and P(L > ε_top) − e^{ε_top}·Q(L > ε_top)
    /// = δ(ε_top) to +∞, which again dominates and preserves both masses.
    init(
        step: GaussianMixtureStep, direction: AdjacencyDirection, valueDiscretization h: Double,
        tailMass: Double, maximumPoints: Int
    ) throws {
        let pair = DirectedPair(step: step, direction: direction)
        let outputs = pair.outputRange(tailMass: tailMass)
        let lowerIndex = Int((pair.loss(outputs.lowest) / h).rounded(.down))
        let upperIndex = max(lowerIndex, Int((pair.loss(outputs.highest) / h).rounded(.up)))
        let count = upperIndex - lowerIndex + 1
        guard count <= maximumPoints else {
            throw PrivacyError.discretizationTooFine(requiredPoints: count, limit: maximumPoints)
        }
        let thresholds = pair.thresholds(lowerIndex: lowerIndex, count: count, valueDiscretization: h, outputs: outputs)
        let (masses, infinityMass) = pair.connectTheDots(thresholds: thresholds, lowerIndex: lowerIndex, valueDiscretization: h)
        self.init(valueDiscretization: h, lowerIndex: lowerIndex, masses: masses, infinityMass: infinityMass)
    }
}

/// One mixture-of-Gaussians step in one direction, in the output coordinate y (y = x for remove,
/// y = −x for add) in which the privacy loss L(y) is increasing, so that {L > ε} = {y > u(ε)}:
/// P and Q as lists of (shift, weight) normal components in y.
private struct DirectedPair {
    typealias Component = (shift: Double, weight: Double)

    let ratio: MixtureLogRatio
    let direction: AdjacencyDirection
    let p: [Component]
    let q: [Component]

    init(step: GaussianMixtureStep, direction: AdjacencyDirection) {
        ratio = MixtureLogRatio(step)
        self.direction = direction
        let mixture = zip(step.shifts, step.weights).map { (shift: $0, weight: $1) }
        let standard = [(shift: 0.0, weight: 1.0)]
        switch direction {
        case .remove:
            p = mixture
            q = standard
        case .add:
            p = standard
            q = mixture.map { (shift: -$0.shift, weight: $0.weight) }
        }
    }

    /// The privacy loss L(y).
    func loss(_ y: Double) -> Double {
        switch direction {
        case .remove: return ratio.value(y)
        case .add: return -ratio.value(-y)
        }
    }

    /// The outputs beyond which every P component's tail is below `tailMass` per component: the
    /// range that is gridded.
    func outputRange(tailMass: Double) -> (lowest: Double, highest: Double) {
        var lowestOutput = Double.infinity, highestOutput = -Double.infinity
        for component in p {
            let reach = NormalDistribution.upperQuantile(tailMass / component.weight)
            lowestOutput = min(lowestOutput, component.shift - reach)
            highestOutput = max(highestOutput, component.shift + reach)
        }
        return (lowestOutput, highestOutput)
    }

    /// The output thresholds u(εᵢ) of the `count` grid points from `lowerIndex`, increasing in i;
    /// solved in the order in which Newton's warm start comes from the right of the root (see
    /// MixtureLogRatio.inverse).
    func thresholds(lowerIndex: Int, count: Int, valueDiscretization h: Double, outputs: (lowest: Double, highest: Double)) -> [Double] {
        var thresholds = [Double](repeating: 0, count: count)
        switch direction {
        case .remove:
            var guess = outputs.highest
            for offset in stride(from: count - 1, through: 0, by: -1) {
                guess = ratio.inverse(Double(lowerIndex + offset) * h, guess: guess)
                thresholds[offset] = guess
            }
        case .add:
            var guess = -outputs.lowest
            for offset in 0..<count {
                guess = ratio.inverse(-Double(lowerIndex + offset) * h, guess: guess)
                thresholds[offset] = -guess
            }
        }
        return thresholds
    }

    /// The grid's masses and the mass at +∞ by connect-the-dots (see
    /// ``PrivacyLossDistribution/init(step:direction:valueDiscretization:tailMass:maximumPoints:)``):
    /// everything at or below the lowest threshold goes to the lowest grid point; each interval's
    /// P-mass is split between its two grid points so that P- and Q-mass are both preserved; above
    /// the top grid point, e^{ε_top}·Q(L > ε_top) goes to it and the rest of P's mass to +∞.
    func connectTheDots(thresholds: [Double], lowerIndex: Int, valueDiscretization h: Double) -> (masses: [Double], infinityMass: Double) {
        let count = thresholds.count
        var masses = [Double](repeating: 0, count: count)
        var pTails = p.map { SidedTail(thresholds[0] - $0.shift) }
        var qTails = q.map { SidedTail(thresholds[0] - $0.shift) }
        masses[0] = zip(p, pTails).reduce(0) { $0 + $1.0.weight * $1.1.massBelow }
        let splitScale = 1 / -expm1(-h)
        var grid = ExponentialGrid(step: h, firstIndex: lowerIndex)
        for offset in 0..<(count - 1) {
            let u = thresholds[offset + 1]
            let pMass = Self.mass(of: p, tails: &pTails, upTo: u)
            let qMass = Self.mass(of: q, tails: &qTails, upTo: u)
            let excess = pMass - grid.scale(qMass)
            grid.advance()
            let up = min(pMass, max(0, excess * splitScale))
            masses[offset + 1] += up
            masses[offset] += pMass - up
        }
        let topLoss = Double(lowerIndex + count - 1) * h
        let pAbove = zip(p, pTails).reduce(0) { $0 + $1.0.weight * $1.1.massAbove }
        let qAbove = zip(q, qTails).reduce(0) { $0 + $1.0.weight * $1.1.massAbove }
        let toTop = min(pAbove, scaledByExp(qAbove, topLoss))
        masses[count - 1] += toTop
        return (masses, max(0, pAbove - toTop))
    }

    /// The mass of `components` between each one's current tail and `u`, summed in component
    /// order; the tails move on to `u`.
    private static func mass(of components: [Component], tails: inout [SidedTail], upTo u: Double) -> Double {
        var mass = 0.0
        for c in components.indices {
            let next = SidedTail(u - components[c].shift)
            mass += components[c].weight * tails[c].mass(upTo: next)
            tails[c] = next
        }
        return mass
    }
}

/// e^{i·h}·value along consecutive grid indices i, by multiplying with e^h and refreshing with
/// an exact exponential every 64 steps (relative drift < 64 ulp), without overflow for large i·h.
private struct ExponentialGrid {
    let step: Double
    let ratio: Double
    var index: Int
    var factor: Double
    var sinceRefresh = 0

    init(step: Double, firstIndex: Int) {
        self.step = step
        ratio = exp(step)
        index = firstIndex
        factor = exp(Double(firstIndex) * step)
    }

    func scale(_ value: Double) -> Double {
        factor.isFinite ? value * factor : scaledByExp(value, Double(index) * step)
    }

    mutating func advance() {
        index += 1
        sinceRefresh += 1
        if sinceRefresh == 64 {
            sinceRefresh = 0
            factor = exp(Double(index) * step)
        } else {
            factor *= ratio
        }
    }
}

/// e^{exponent}·value without overflow when value is tiny and the exponent large.
@inline(__always)
private func scaledByExp(_ value: Double, _ exponent: Double) -> Double {
    if exponent < 700 { return value * exp(exponent) }
    return value > 0 ? exp(exponent + log(value)) : 0
}

/// A standard normal tail at y, kept on the side (upper for y ≥ 0, lower otherwise) where it is
/// computed without cancellation, so that masses of short intervals keep their relative accuracy.
private struct SidedTail {
    /// P(Z > y) when `isUpper`, else P(Z < y).
    let value: Double
    let isUpper: Bool

    init(_ y: Double) {
        isUpper = y >= 0
        value = isUpper ? NormalDistribution.upperTail(y) : NormalDistribution.lowerTail(y)
    }

    var massBelow: Double { isUpper ? 1 - value : value }
    var massAbove: Double { isUpper ? value : 1 - value }

    /// P(y < Z ≤ next.y) for next.y ≥ y.
    func mass(upTo next: SidedTail) -> Double {
        switch (isUpper, next.isUpper) {
        case (true, true): return max(0, value - next.value)
        case (false, false): return max(0, next.value - value)
        case (false, true): return max(0, 1 - value - next.value)
        case (true, false): return 0
        }
    }
}
