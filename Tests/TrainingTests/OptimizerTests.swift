import Testing
import Randomness
@testable import Training

@Test func sgdStepsAgainstTheGradient() {
    var optimizer = Optimizer(kind: .sgd)
    var theta: [Float] = [1, -2, 3]
    optimizer.step(parameters: &theta, gradient: [0.5, 0.5, -1], learningRate: 0.1, workers: 1)
    #expect(theta == [0.95, -2.05, 3.1])
}

/// Adam's first step moves every coordinate by η·sign(g) (bias correction makes m̂/√v̂ = ±1),
/// and a constant gradient keeps that step size (Kingma & Ba 2015, §2.1).
@Test func adamFirstStepsHaveLearningRateMagnitude() {
    var optimizer = Optimizer(kind: .adam)
    var theta: [Float] = [0, 0]
    optimizer.step(parameters: &theta, gradient: [3, -0.01], learningRate: 0.01, workers: 1)
    #expect(abs(theta[0] + 0.01) < 1e-6 && abs(theta[1] - 0.01) < 1e-5, "\(theta)")
    optimizer.step(parameters: &theta, gradient: [3, -0.01], learningRate: 0.01, workers: 1)
    #expect(abs(theta[0] + 0.02) < 1e-6 && abs(theta[1] - 0.02) < 1e-5, "\(theta)")
}

@Test func adamMinimisesAQuadratic() {
    var optimizer = Optimizer(kind: .adam)
    var theta: [Float] = [5, -3]
    for _ in 0..<2000 {
        let gradient = [2 * (theta[0] - 1), 2 * (theta[1] + 2)]
        optimizer.step(parameters: &theta, gradient: gradient, learningRate: 0.05, workers: 1)
    }
    #expect(abs(theta[0] - 1) < 1e-2 && abs(theta[1] + 2) < 1e-2, "\(theta)")
}

@Test func poissonBatchSizesHaveTheRightMeanAndVariance() {
    var generator = Philox(seed: 11, stream: "sampling")
    let count = 500, rate = 0.04, draws = 2000
    var sizes: [Double] = []
    for _ in 0..<draws {
        let batch = poissonSample(count: count, rate: rate, generator: &generator)
        #expect(batch == batch.sorted() && Set(batch).count == batch.count)
        sizes.append(Double(batch.count))
    }
    let mean = sizes.reduce(0, +) / Double(draws)
    let variance = sizes.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(draws - 1)
    // Binomial(500, 0.04): mean 20, variance 19.2; the standard error of the mean is ≈ 0.1.
    #expect(abs(mean - 20) < 0.5, "mean \(mean)")
    #expect(abs(variance - 19.2) < 2.5, "variance \(variance)")
    #expect(poissonSample(count: 7, rate: 1, generator: &generator) == Array(0..<7))
}
