import Foundation
import Randomness
import Testing
import Training

/// Runs the estimator on a scripted sequence of batches (concentrated, spread-out, with
/// outliers) under `skip`, then `halt`, and checks that the run record counts exactly what
/// the outcomes say.
@Test func runStatisticsMatchTheStepOutcomes() throws {
    var data = Philox(seed: 4, stream: "batches")
    let parameters = 30
    let center = [Float](repeating: 0.3, count: parameters)
    let concentrated = asiLiuConcentratedUsers(center: center, users: 40, radius: 0.05, rng: &data)
    let spread = asiLiuSpreadUsers(users: 40, parameters: parameters, scale: 1, rng: &data)
    let batches = [concentrated, spread, concentrated, spread, concentrated]
    let noise = AsiLiuNoise(testSigma: 0.5, meanSigma: 0.01, passThreshold: 20)
    let calibration = try AsiLiuCalibration.make(
        epsilon: 4, delta: 1e-5, samplingRate: 0.5, steps: 5, expectedUsers: 40,
        settings: AsiLiuSettings(tau: 0.05), noiseMultiplier: 0.2)

    for policy in AsiLiuFailurePolicy.allCases {
        var statistics = AsiLiuRunStatistics(calibration: calibration)
        var rng = Philox(seed: 4, stream: "noise")
        var outcomes: [AsiLiuStepOutcome] = []
        for (step, rows) in batches.enumerated() {
            let outcome = try asiLiuAggregate(
                userGradients: rows, users: 40, parameters: parameters,
                settings: AsiLiuSettings(tau: 0.05, onFailure: policy), noise: noise, rng: &rng)
            statistics.record(outcome, step: step)
            outcomes.append(outcome)
            if outcome.action == .halt { break }
        }
        #expect(statistics.stepsRun == outcomes.count)
        #expect(statistics.stepsPassed == outcomes.filter(\.passed).count)
        let scores = outcomes.map(\.meanScore).reduce(0, +) / Double(outcomes.count)
        let removed = outcomes.map(\.removedFraction).reduce(0, +) / Double(outcomes.count)
        let noisy = outcomes.map { $0.noisyCoreSize / 40 }.reduce(0, +) / Double(outcomes.count)
        #expect(abs(statistics.meanConcentrationScore! - scores) < 1e-12)
        #expect(abs(statistics.meanRemovedFraction! - removed) < 1e-12)
        #expect(abs(statistics.meanNoisyCoreFraction! - noisy) < 1e-12)
        switch policy {
        case .skip:
            #expect(statistics.stepsRun == 5 && statistics.stepsPassed == 3 && statistics.stepsSkipped == 2)
            #expect(statistics.haltedAtStep == nil && statistics.passRate == 0.6)
        case .halt:
            #expect(statistics.stepsRun == 2 && statistics.stepsPassed == 1 && statistics.haltedAtStep == 1)
            #expect(statistics.passRate == 0.5 && statistics.meanRemovedFraction == 0.5)
        }
    }
}

@Test func runStatisticsEncodeEveryKeyAndDecodeBack() throws {
    var statistics = AsiLiuRunStatistics()
    let empty = try JSONSerialization.jsonObject(with: JSONEncoder().encode(statistics)) as? [String: Any]
    for key in ["steps_run", "steps_passed", "steps_skipped", "halted_at_step", "pass_rate", "mean_concentration_score",
                "mean_removed_fraction", "mean_core_fraction", "mean_noisy_core_fraction", "calibration"] {
        #expect(empty?[key] != nil, "missing \(key)")
    }
    #expect(empty?["halted_at_step"] is NSNull && empty?["pass_rate"] is NSNull)

    let outcome = AsiLiuStepOutcome(
        estimate: nil, passed: false, action: .halt, users: 10, noisyCoreSize: 1, coreSize: 2,
        meanScore: 0.25, removedFraction: 0.5, noiseScale: 0)
    statistics.record(outcome, step: 7)
    let data = try JSONEncoder().encode(statistics)
    let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    #expect(object?["halted_at_step"] as? Int == 7)
    #expect(object?["pass_rate"] as? Double == 0)
    #expect(object?["mean_core_fraction"] as? Double == 0.2)
    #expect(try JSONDecoder().decode(AsiLiuRunStatistics.self, from: data) == statistics)
}
