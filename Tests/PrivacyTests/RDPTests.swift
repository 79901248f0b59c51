import Foundation
import Testing

@testable import Privacy

@Suite("RDP accountant")
struct RDPTests {
    /// dp_accounting 0.6.0 `RdpAccountant()` (default orders), add/remove: the reference table of docs/PRIVACY.md.
    @Test("reference table within 0.1% of dp_accounting", arguments: [
        (0.01, 1.0, 1000, 1e-5, 2.101366525420273),
        (0.05, 2.0, 2000, 1e-6, 6.5403175447030275),
        (0.1, 5.0, 100, 1e-6, 0.9498941151991396),
    ])
    func table(_ q: Double, _ sigma: Double, _ steps: Int, _ delta: Double, _ reference: Double) throws {
        let event = try DPEvent.poissonSubsampledGaussian(q: q, sigma: sigma, steps: steps)
        let epsilon = try RDPAccountant().epsilon(for: event, delta: delta)
        #expect(relativeError(epsilon, reference) <= 1e-3, "ε = \(epsilon), reference \(reference)")
    }

    /// ln A_α = ln E_{z∼N(0,σ²)}[((1−q) + q·e^{(2z−1)/(2σ²)})^α] by 40-digit adaptive quadrature
    /// (mpmath 1.3 `quad`, script in docs/PRIVACY.md): an oracle independent of both series.
    @Test("ln A_α matches 40-digit quadrature at integer and fractional orders", arguments: [
        (0.01, 0.864602, 5.7, 0.005234192551757019705),
        (0.01, 1.0, 8.0, 0.006255507353242222931),
        (0.05, 2.0, 2.5, 0.001340650520557156862),
        (0.2, 0.7, 32.0, 960.7428847612924614822),
    ])
    func logA(_ q: Double, _ sigma: Double, _ order: Double, _ reference: Double) {
        let value = order == order.rounded()
            ? RDPAccountant.logAIntegerOrder(q: q, sigma: sigma, order: Int(order))
            : RDPAccountant.logAFractionalOrder(q: q, sigma: sigma, order: order)
        #expect(relativeError(value, reference) <= 1e-9, "ln A = \(value), reference \(reference)")
    }

    @Test("fractional series agrees with the binomial sum at integer orders")
    func seriesAgree() {
        var worst = 0.0
        for order in [2, 3, 7, 20] {
            for (q, sigma) in [(0.01, 0.8), (0.1, 2.0), (0.3, 1.1)] {
                let integer = RDPAccountant.logAIntegerOrder(q: q, sigma: sigma, order: order)
                let fractional = RDPAccountant.logAFractionalOrder(q: q, sigma: sigma, order: Double(order))
                worst = max(worst, relativeError(fractional, integer))
            }
        }
        #expect(worst <= 1e-9, "max relative difference \(worst)")
    }

    @Test("without sampling the RDP of a Gaussian is α/(2σ²)")
    func unsampled() throws {
        let accountant = RDPAccountant(orders: [2, 5.5, 32])
        let divergences = try accountant.renyiDivergences(for: .selfComposed(event: .gaussian(sigma: 2), count: 3))
        let expected: [Double] = [0.75, 2.0625, 12]
        let worst = zip(divergences, expected).map { relativeError($0, $1) }.max()!
        #expect(worst <= 1e-14, "max relative error \(worst)")
    }

    @Test("δ(ε(δ)) ≤ δ and RDP is never below PLD")
    func consistency() throws {
        let event = try DPEvent.poissonSubsampledGaussian(q: 0.02, sigma: 1.2, steps: 500)
        let rdp = try RDPAccountant().privacyCurve(for: event)
        for delta in [1e-3, 1e-5, 1e-8] {
            let epsilon = rdp.epsilon(delta: delta)
            #expect(rdp.delta(epsilon: epsilon) <= delta * (1 + 1e-9))
            #expect(epsilon >= (try PLDAccountant().epsilon(for: event, delta: delta)))
        }
    }

    @Test("a mixture with two nonzero sensitivities is unsupported")
    func unsupported() throws {
        let event = try DPEvent.groupOfRecords(k: 2, q: 0.01, sigma: 1, steps: 10)
        #expect(throws: PrivacyError.unsupportedEvent(accountant: "rdp", event: "mixtureOfGaussians with more than one nonzero sensitivity")) {
            try RDPAccountant().epsilon(for: event, delta: 1e-5)
        }
    }
}
