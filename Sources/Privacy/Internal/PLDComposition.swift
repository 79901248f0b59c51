import Foundation

extension PrivacyLossDistribution {
    /// The composition of `parts[j].distribution` with itself `parts[j].count` times, all
    /// composed together, in one FFT (Koskela, Jälkö, Honkela 2020, "Computing tight differential
    /// privacy guarantees using FFT").
    ///
    /// The window. The composed loss S = Σ of independent per-step losses lives on a grid far
    /// wider than where its mass is; a cyclic convolution of length N folds every index modulo N.
    /// The window [w, w + N) is chosen with Chernoff bounds from the exact cumulant-generating
    /// function K(λ) = Σⱼ countⱼ·ln Σᵢ mⱼᵢ e^{λεⱼᵢ} of the finite parts:
    ///   P(S ≥ u) ≤ exp(K(λ) − λu) for λ > 0,   P(S ≤ l) ≤ exp(K(−λ) + λl),
    /// minimised over λ ∈ {2⁻⁴, …, 2⁷}, so that each tail outside the window is below `tailMass`.
    ///
    /// Aliased mass is accounted, not dropped: mass below the window folds onto higher losses
    /// (pessimistic, harmless); mass above it folds onto lower losses (optimistic), so its
    /// Chernoff bound β is added to the mass at +∞. The infinity mass is 1 − Πⱼ(1 − ∞ⱼ)^{countⱼ} + β.
    /// Negative values left by floating-point rounding of the transform (|·| ≲ 1e-17) are set to 0,
    /// and a rounding allowance (bins × the largest such |value|, at least bins × ulp × the largest
    /// mass) joins the mass at +∞: about 1e-13 for T = 1000, far below any δ of interest.
    static func composition(
        of parts: [(distribution: PrivacyLossDistribution, count: Int)], tailMass: Double, maximumPoints: Int
    ) throws -> PrivacyLossDistribution {
        precondition(!parts.isEmpty)
        let h = parts[0].distribution.valueDiscretization
        let parts = parts.filter { $0.count > 0 }
        guard !parts.isEmpty else { return .zeroLoss(valueDiscretization: h) }
        var logSurvival = 0.0  // ln P(no part reaches +∞)
        for (distribution, count) in parts {
            logSurvival += Double(count) * log1p(-distribution.infinityMass)
        }
        let composedInfinity = -expm1(logSurvival)
        if parts.count == 1 && parts[0].count == 1 { return parts[0].distribution }

        let trimmed = parts.map { (distribution: $0.distribution.trimmed(), count: $0.count) }
        let generating = trimmed.map { CumulantGenerating($0.distribution) }
        if generating.contains(where: { $0.isEmpty }) {
            // Some part has all its mass at +∞.
            return PrivacyLossDistribution(valueDiscretization: h, lowerIndex: 0, masses: [0], infinityMass: 1)
        }
        let possible = try possibleIndices(of: trimmed)
        // K(λ) and K(−λ) of the composition at each λ of `CumulantGenerating.lambdas`.
        let kPlus = CumulantGenerating.lambdas.indices.map { index in
            zip(generating, trimmed).reduce(0) { $0 + Double($1.1.count) * $1.0.positive[index] }
        }
        let kMinus = CumulantGenerating.lambdas.indices.map { index in
            zip(generating, trimmed).reduce(0) { $0 + Double($1.1.count) * $1.0.negative[index] }
        }
        let window = chernoffWindow(kPlus: kPlus, kMinus: kMinus, possible: possible, tailMass: tailMass, h: h)
        // Refuse oversized windows before searching for a fast length: 7-smooth numbers are
        // sparse at large sizes, so that search would run for a very long time.
        guard window.upperBound - window.lowerBound < maximumPoints else {
            throw PrivacyError.discretizationTooFine(requiredPoints: window.upperBound - window.lowerBound + 1, limit: maximumPoints)
        }
        let length = FourierTransform.fastLength(atLeast: window.upperBound - window.lowerBound + 1)
        guard length <= maximumPoints else {
            throw PrivacyError.discretizationTooFine(requiredPoints: length, limit: maximumPoints)
        }
        var aliasedFromAbove = 0.0
        if window.lowerBound + length - 1 < possible.upperBound {
            aliasedFromAbove = upperTailBound(kPlus: kPlus, above: Double(window.lowerBound + length) * h)
        }
        let (masses, roundingAllowance) = convolved(trimmed, length: length, windowLow: window.lowerBound)
        return PrivacyLossDistribution(
            valueDiscretization: h, lowerIndex: window.lowerBound, masses: masses,
            infinityMass: min(1, composedInfinity + aliasedFromAbove + roundingAllowance)
        ).trimmed()
    }

    /// The grid indices the composition can reach, Σ countⱼ·lowerⱼ ... Σ countⱼ·upperⱼ. Huge
    /// counts (nested compositions multiply) would overflow Int; that is a clean error
    /// (`PrivacyError.compositionTooLarge`), not a trap, as is a range whose width overflows.
    private static func possibleIndices(
        of trimmed: [(distribution: PrivacyLossDistribution, count: Int)]
    ) throws -> ClosedRange<Int> {
        var lowestPossible = 0, highestPossible = 0
        for (distribution, count) in trimmed {
            let (low, lowOverflow) = count.multipliedReportingOverflow(by: distribution.lowerIndex)
            let (high, highOverflow) = count.multipliedReportingOverflow(by: distribution.upperIndex)
            let (lowSum, lowSumOverflow) = lowestPossible.addingReportingOverflow(low)
            let (highSum, highSumOverflow) = highestPossible.addingReportingOverflow(high)
            guard !(lowOverflow || highOverflow || lowSumOverflow || highSumOverflow) else {
                throw PrivacyError.compositionTooLarge(count: count)
            }
            lowestPossible = lowSum
            highestPossible = highSum
        }
        // The window's width must itself be an Int.
        guard !highestPossible.subtractingReportingOverflow(lowestPossible).overflow else {
            throw PrivacyError.compositionTooLarge(count: trimmed.map(\.count).max() ?? 0)
        }
        return lowestPossible...highestPossible
    }

    /// The window of grid indices outside which each tail of the composed loss has Chernoff
    /// mass below `tailMass` (the type's summary), within `possible`.
    private static func chernoffWindow(
        kPlus: [Double], kMinus: [Double], possible: ClosedRange<Int>, tailMass: Double, h: Double
    ) -> ClosedRange<Int> {
        let logTail = log(tailMass)
        var upperLoss = Double.infinity, lowerLoss = -Double.infinity
        for (index, lambda) in CumulantGenerating.lambdas.enumerated() {
            upperLoss = min(upperLoss, (kPlus[index] - logTail) / lambda)
            lowerLoss = max(lowerLoss, -(kMinus[index] - logTail) / lambda)
        }
        // Chernoff bounds can be ±∞ or beyond Int's range; clamp in Double before converting.
        let windowLow = max(possible.lowerBound, min(possible.upperBound, clampedIndex((lowerLoss / h).rounded(.down))))
        let windowHigh = min(possible.upperBound, max(windowLow, clampedIndex((upperLoss / h).rounded(.up))))
        return windowLow...windowHigh
    }

    /// The Chernoff bound β on P(S ≥ `threshold`): the mass that folds from above the window
    /// onto lower losses, added to the mass at +∞.
    private static func upperTailBound(kPlus: [Double], above threshold: Double) -> Double {
        var bound = Double.infinity
        for (index, lambda) in CumulantGenerating.lambdas.enumerated() {
            bound = min(bound, exp(kPlus[index] - lambda * threshold))
        }
        return bound
    }

    /// The composed masses of the window starting at `windowLow`, from one cyclic convolution
    /// of length `length`, with negative rounding residue set to 0, and the rounding
    /// allowance that joins the mass at +∞ (the type's summary).
    private static func convolved(
        _ trimmed: [(distribution: PrivacyLossDistribution, count: Int)], length: Int, windowLow: Int
    ) -> (masses: [Double], roundingAllowance: Double) {
        let inputs = trimmed.map { part -> (values: [Double], power: Int) in
            var folded = [Double](repeating: 0, count: length)
            var position = modulo(part.distribution.lowerIndex, length)
            for mass in part.distribution.masses {
                folded[position] += mass
                position += 1
                if position == length { position = 0 }
            }
            return (folded, part.count)
        }
        let cyclic = FourierTransform.cyclicConvolutionPower(inputs, length: length)
        var masses = [Double](repeating: 0, count: length)
        var position = modulo(windowLow, length)
        var mostNegative = 0.0, largest = 0.0
        for offset in 0..<length {
            let value = cyclic[position]
            mostNegative = min(mostNegative, value)
            largest = max(largest, value)
            masses[offset] = max(0, value)
            position += 1
            if position == length { position = 0 }
        }
        // Rounding in the transform perturbs every bin by about the same absolute amount; the
        // bins whose true mass is below that show it as negative values. Allow that much in
        // every bin, as mass at +∞, so rounding cannot make δ optimistic either.
        return (masses, Double(length) * max(-mostNegative, Double.ulpOfOne * largest))
    }

    /// The same distribution without zero masses at either end.
    func trimmed() -> PrivacyLossDistribution {
        guard let first = masses.firstIndex(where: { $0 > 0 }), let last = masses.lastIndex(where: { $0 > 0 }) else {
            return PrivacyLossDistribution(
                valueDiscretization: valueDiscretization, lowerIndex: 0, masses: [0], infinityMass: infinityMass)
        }
        if first == 0 && last == masses.count - 1 { return self }
        return PrivacyLossDistribution(
            valueDiscretization: valueDiscretization, lowerIndex: lowerIndex + first,
            masses: Array(masses[first...last]), infinityMass: infinityMass)
    }
}

/// `value` as an Int, with NaN as 0 and values beyond ±2⁶² clamped (callers clamp again to the
/// possible index range, which lies within ±2⁶²·… of it only for absurd inputs caught earlier).
private func clampedIndex(_ value: Double) -> Int {
    guard !value.isNaN else { return 0 }
    let limit = Double(1 << 62)
    return Int(min(limit, max(-limit, value)))
}

@inline(__always)
private func modulo(_ value: Int, _ modulus: Int) -> Int {
    let remainder = value % modulus
    return remainder < 0 ? remainder + modulus : remainder
}

/// ln E[e^{±λL}] over the finite masses of a PLD at λ = 2^m/16, m = 0 … 11.
///
/// Computed with one exponential per mass: b = e^{λ₀(ε − ε_ref)} is squared in place to reach
/// each next λ, with ε_ref the extreme loss carrying mass, so every power stays ≤ 1 (no overflow;
/// underflowing terms are smaller than the reference term by > 1e300).
private struct CumulantGenerating {
    static let lambdas: [Double] = (0..<12).map { Double(1 << $0) / 16 }
    /// ln Σ mᵢe^{λεᵢ} for each λ in `lambdas`.
    let positive: [Double]
    /// ln Σ mᵢe^{−λεᵢ} for each λ in `lambdas`.
    let negative: [Double]
    let isEmpty: Bool

    init(_ pld: PrivacyLossDistribution) {
        let h = pld.valueDiscretization
        guard let first = pld.masses.firstIndex(where: { $0 > 0 }),
            let last = pld.masses.lastIndex(where: { $0 > 0 })
        else {
            positive = []
            negative = []
            isEmpty = true
            return
        }
        isEmpty = false
        let highest = Double(pld.lowerIndex + last) * h
        let lowest = Double(pld.lowerIndex + first) * h
        positive = Self.chain(pld, reference: highest, sign: 1)
        negative = Self.chain(pld, reference: lowest, sign: -1)
    }

    private static func chain(_ pld: PrivacyLossDistribution, reference: Double, sign: Double) -> [Double] {
        let h = pld.valueDiscretization
        let lambda0 = lambdas[0]
        // e^{±λ₀(εᵢ − ε_ref)} along the grid by a running product, refreshed exactly every 64 bins.
        let ratio = exp(sign * lambda0 * h)
        var powers = [Double](repeating: 0, count: pld.masses.count)
        var running = 0.0
        for index in powers.indices {
            if index % 64 == 0 {
                running = exp(sign * lambda0 * (Double(pld.lowerIndex + index) * h - reference))
            } else {
                running *= ratio
            }
            powers[index] = running
        }
        var results: [Double] = []
        for lambda in lambdas {
            var sum = 0.0
            for index in powers.indices { sum += pld.masses[index] * powers[index] }
            results.append(sign * lambda * reference + log(sum))
            for index in powers.indices { powers[index] *= powers[index] }
        }
        return results
    }
}
