import Randomness

/// Poisson sampling of privacy units, as the accountants assume: every unit is included
/// independently with probability `rate`, so the batch size is Binomial(count, rate) and may
/// be zero (Abadi et al. 2016; the subsampled-Gaussian analyses of Mironov et al. 2019 and of
/// PLD accounting are for exactly this sampling).
///
/// - Returns: the included indices in increasing order.
/// - Precondition: `0 < rate ≤ 1`.
public func poissonSample(count: Int, rate: Double, generator: inout Philox) -> [Int] {
    precondition(rate > 0 && rate <= 1, "sampling rate must lie in (0, 1]")
    if rate == 1 { return Array(0..<count) }
    var chosen: [Int] = []
    chosen.reserveCapacity(Int(Double(count) * rate * 1.5) + 4)
    for index in 0..<count where generator.nextBernoulli(rate) {
        chosen.append(index)
    }
    return chosen
}
