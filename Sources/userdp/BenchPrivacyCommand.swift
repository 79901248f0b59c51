import ArgumentParser
import Foundation
import Privacy

/// `userdp bench privacy`: timings of PLD ε and calibration against dp_accounting's, plus the
/// full-precision reference checks that the debug-build tests run on coarser grids.
struct BenchPrivacyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy",
        abstract: "PLD epsilon and calibration timings.",
        discussion: """
            Build with -c release. Times one PLD epsilon evaluation and one calibration at \
            q 0.01, T 1000 and at q 0.001, T 10000 (delta 1e-5; calibration to epsilon 3), the \
            tight Group Privacy calibration for k = 1...8 (epsilon 8, q 0.01, T 1000), and checks \
            every reference value of docs/PRIVACY.md at discretisation 1e-4. dp_accounting 0.6.0 times \
            are those measured on this machine (see docs/PERFORMANCE.md).
            """)

    @Option(help: "Repetitions of each epsilon timing (the median is reported).")
    var repeats = 5

    @Option(name: .customLong("group-sizes"), parsing: .upToNextOption, help: "Group sizes k for the tight calibration timing.")
    var groupSizes: [Int] = Array(1...8)

    @Flag(help: "Skip the reference checks.")
    var skipChecks = false

    func run() throws {
        try timeEpsilon()
        try timeCalibration()
        try timeGroupCalibration()
        if !skipChecks { try checkReferences() }
    }

    private func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }

    private func seconds<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = try body()
        return (value, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    private func timeEpsilon() throws {
        print("PLD epsilon (h = 1e-4, delta 1e-5, sigma 1.0), median of \(repeats):")
        print("  case                 epsilon     seconds   dp_accounting   speed-up")
        let pld = try PLDAccountant()
        for (q, steps, reference, theirs) in [(0.01, 1000, 1.8282436455855091, 0.82), (0.001, 10000, 0.4759870125935778, 0.48)] {
            let event = try DPEvent.poissonSubsampledGaussian(q: q, sigma: 1.0, steps: steps)
            var times: [Double] = []
            var epsilon = 0.0
            for _ in 0..<max(1, repeats) {
                let (value, time) = try seconds { try pld.epsilon(for: event, delta: 1e-5) }
                epsilon = value
                times.append(time)
            }
            let median = times.sorted()[times.count / 2]
            print(String(format: "  q %-5g T %-6d  %10.6f  %9.4f   %6.2f s        %6.0fx   (reference %.6f)",
                         q, steps, epsilon, median, theirs, theirs / median, reference))
        }
    }

    private func timeCalibration() throws {
        print("PLD calibration to epsilon 3 (delta 1e-5, h = 1e-4, sigma tolerance 1e-5 relative):")
        print("  case                 sigma       seconds   evaluations   dp_accounting   speed-up")
        for (q, steps, reference, theirs) in [(0.01, 1000, 0.8135858219562802, 11.0), (0.001, 10000, 0.572678576888725, 51.9)] {
            let request = CalibrationRequest(samplingRate: q, steps: steps, targetEpsilon: 3, delta: 1e-5)
            let (result, time) = try seconds { try NoiseCalibration().calibrate(request) }
            print(String(format: "  q %-5g T %-6d  %10.6f  %9.3f   %5d         %6.1f s       %6.0fx   (reference %.6f)",
                         q, steps, result.sigma, time, result.evaluations, theirs, theirs / time, reference))
        }
    }

    private func timeGroupCalibration() throws {
        guard !groupSizes.isEmpty else { return }
        print("Tight Group Privacy calibration, epsilon 8, delta 1e-5, q 0.01, T 1000 (h = 1e-4; dp_accounting 180-250 s each):")
        print("  k    sigma       reference   seconds   evaluations")
        let references: [Int: Double] = [1: 0.5863, 2: 0.7507, 4: 1.0534, 8: 1.7232]
        var total = 0.0
        for k in groupSizes {
            let request = CalibrationRequest(
                unit: .groupOfRecords(k), samplingRate: 0.01, steps: 1000, targetEpsilon: 8, delta: 1e-5)
            let (result, time) = try seconds { try NoiseCalibration().calibrate(request) }
            total += time
            let reference = references[k].map { String(format: "%.4f", $0) } ?? "-"
            print(String(format: "  %-3d  %9.6f   ", k, result.sigma) + padded(reference, 9)
                + String(format: "   %7.3f   %5d", time, result.evaluations))
        }
        print(String(format: "  total %.2f s", total))
    }

    private func checkReferences() throws {
        print("Reference checks at h = 1e-4 (relative error against dp_accounting 0.6.0; docs/PRIVACY.md):")
        let pld = try PLDAccountant(), rdp = RDPAccountant()
        func line(_ name: String, _ value: Double, _ reference: Double, _ limit: Double) {
            let error = abs(value - reference) / abs(reference)
            print("  " + padded(name, 52) + String(format: " %12.6f  ref %12.6f  rel %.1e  ", value, reference, error)
                + (error <= limit ? "ok" : "FAIL"))
        }
        for (q, sigma, steps, delta, pldReference, rdpReference) in [
            (0.01, 1.0, 1000, 1e-5, 1.82824, 2.10137), (0.05, 2.0, 2000, 1e-6, 6.10656, 6.54032), (0.1, 5.0, 100, 1e-6, 0.87584, 0.94989),
        ] {
            let event = try DPEvent.poissonSubsampledGaussian(q: q, sigma: sigma, steps: steps)
            line("PLD q \(q) sigma \(sigma) T \(steps) delta \(delta)", try pld.epsilon(for: event, delta: delta), pldReference, 5e-3)
            line("RDP q \(q) sigma \(sigma) T \(steps) delta \(delta)", try rdp.epsilon(for: event, delta: delta), rdpReference, 1e-3)
        }
        for (k, q, sigma, steps, delta, tight, lemma) in [(2, 0.01, 2.0, 1000, 1e-5, 1.33258, 1.36480), (4, 0.004, 1.5, 2500, 1e-6, 2.86093, 3.03128)] {
            let group = try DPEvent.groupOfRecords(k: k, q: q, sigma: sigma, steps: steps)
            line("tight group k \(k) q \(q) sigma \(sigma) T \(steps)", try pld.epsilon(for: group, delta: delta), tight, 5e-3)
            let record = try DPEvent.poissonSubsampledGaussian(q: q, sigma: sigma, steps: steps)
            let lemmaValue = try pld.epsilon(for: DPEvent.groupPrivacyLemma(groupSize: k, of: record), delta: delta)
            line("group lemma k \(k) q \(q) sigma \(sigma) T \(steps)", lemmaValue, lemma, 5e-3)
        }
        let gaussians = DPEvent.selfComposed(event: .gaussian(sigma: 3.0.squareRoot()), count: 3)
        line("delta(1): Gaussian sigma sqrt 3 x 3", try pld.delta(for: gaussians, epsilon: 1), 0.126936, 1e-5)
        let sampled = DPEvent.selfComposed(event: .poissonSampled(samplingProbability: 0.2, event: .gaussian(sigma: 0.5)), count: 3)
        line("delta(1): q 0.2 sigma 0.5 x 3", try pld.delta(for: sampled, epsilon: 1), 0.15594, 1e-4)
        let mixtures = DPEvent.composed([
            .selfComposed(event: .mixtureOfGaussians(sigma: 1, sensitivities: [0, 1, 2], probabilities: [0.2, 0.6, 0.2]), count: 3),
            .selfComposed(event: .mixtureOfGaussians(sigma: 2, sensitivities: [0, 2, 3], probabilities: [0.33, 0.34, 0.33]), count: 2),
        ])
        line("epsilon(1e-6): dp_accounting mixture test", try pld.epsilon(for: mixtures, delta: 1e-6), 17.193115, 1e-6)
        let opacus = try DPEvent.poissonSubsampledGaussian(q: 0.04, sigma: 1.5, steps: 2250)
        line("RDP epsilon(1e-5): Opacus q 0.04 sigma 1.5 T 2250", try rdp.epsilon(for: opacus, delta: 1e-5), 7.32911, 1e-5)
    }
}
