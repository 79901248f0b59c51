import Foundation
import LanguageModel
import LinearAlgebra
import Randomness
import Testing
import UserData
@testable import Training

/// A tiny random model and a population of short random sequences.
private func fixture(seed: UInt64 = 3, sequences count: Int = 12) -> (GPTModel, [[Int32]]) {
    let config = GPTConfig(vocabularySize: 40, contextLength: 16, width: 16, layerCount: 1, headCount: 2)
    let model = GPTModel(config: config, seed: seed)
    var rng = Philox(seed: seed, stream: "data")
    let sequences = (0..<count).map { i in
        (0..<(5 + i % 7)).map { _ in Int32(rng.next() % 40) }
    }
    return (model, sequences)
}

private func config(_ mechanism: MechanismKind, clipNorm: Double = 1, lr: Double = 0.1, k: Int = 2) -> RunConfig {
    var c = RunConfig()
    c.mechanism = mechanism
    c.clipNorm = clipNorm
    c.learningRate = lr
    c.optimizer = .sgd
    c.contextLength = 16
    c.k = k
    c.lora = nil
    return c
}

private func norm(_ v: [Float]) -> Double { v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

/// With σ = 0, a clip norm no gradient reaches and q = 1, record-level DP-SGD is exactly the
/// non-private step (both average every record's gradient).
@Test func dpStepWithoutNoiseOrClippingEqualsNonPrivateStep() throws {
    let (privateModel, sequences) = fixture()
    let (plainModel, _) = fixture()
    let plan = TrainingPlan(population: .sequences(sequences), samplingRate: 1)
    var dp = StepRunner(config: config(.record, clipNorm: 1e6), plan: plan, sigma: 0, model: privateModel, microBatchTokens: 40)
    var plain = StepRunner(config: config(.nonprivate), plan: plan, sigma: 0, model: plainModel)
    _ = try dp.step(1)
    _ = try plain.step(1)
    let a = privateModel.trainableParameters(), b = plainModel.trainableParameters()
    let maxDifference = zip(a, b).map { abs($0 - $1) }.max() ?? 0
    #expect(maxDifference < 1e-6, "max |Δθ| = \(maxDifference)")
    #expect(a != fixture().0.trainableParameters(), "the step changed nothing")
}

/// Every unit's contribution is clipped: with σ = 0 the SGD update has norm at most
/// η · (units · C) / (q · M).
@Test func clippingBoundsEveryUnitsContribution() throws {
    let (model, sequences) = fixture()
    let before = model.trainableParameters()
    let clip = 1e-3
    let plan = TrainingPlan(population: .sequences(sequences), samplingRate: 1)
    var runner = StepRunner(config: config(.record, clipNorm: clip, lr: 1), plan: plan, sigma: 0, model: model)
    let outcome = try runner.step(1)
    let update = zip(model.trainableParameters(), before).map { $0 - $1 }
    let bound = Double(outcome.units) * clip / Double(sequences.count)
    #expect(norm(update) <= bound * (1 + 1e-4), "update norm \(norm(update)) above bound \(bound)")
    // One unit alone, whose gradient norm is far above 1e-3, moves exactly C.
    let (single, _) = fixture()
    let start = single.trainableParameters()
    var alone = StepRunner(
        config: config(.record, clipNorm: clip, lr: 1), plan: TrainingPlan(population: .sequences([sequences[0]]), samplingRate: 1),
        sigma: 0, model: single)
    _ = try alone.step(1)
    let step = norm(zip(single.trainableParameters(), start).map { $0 - $1 })
    #expect(abs(step - clip) < 1e-3 * clip, "single-unit update norm \(step), clip \(clip)")
}

/// The noise added to the clipped sum is N(0, σ²C²) per coordinate: subtracting the noiseless
/// update leaves residuals whose standard deviation is σC/(qM) · η.
@Test func noiseHasTheCalibratedScale() throws {
    let (noisyModel, sequences) = fixture()
    let (cleanModel, _) = fixture()
    let before = cleanModel.trainableParameters()
    let sigma = 2.0, clip = 0.5
    let plan = TrainingPlan(population: .sequences(sequences), samplingRate: 1)
    var noisy = StepRunner(config: config(.record, clipNorm: clip, lr: 1), plan: plan, sigma: sigma, model: noisyModel)
    var clean = StepRunner(config: config(.record, clipNorm: clip, lr: 1), plan: plan, sigma: 0, model: cleanModel)
    _ = try noisy.step(1)
    _ = try clean.step(1)
    let scale = Double(sequences.count)
    let residuals = zip(noisyModel.trainableParameters(), cleanModel.trainableParameters()).map { Double($1 - $0) * scale }
    let n = Double(residuals.count)
    let mean = residuals.reduce(0, +) / n
    let std = (residuals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / (n - 1)).squareRoot()
    #expect(residuals.count == before.count)
    #expect(abs(std - sigma * clip) < 0.05 * sigma * clip, "noise std \(std), expected \(sigma * clip) over \(residuals.count) coordinates")
}

/// User-wise DP-SGD: a unit is a user; each sampled user contributes k sequences chosen afresh
/// every step; the same seed reproduces the run exactly.
@Test func userLevelStepsAreDeterministicAndUseKSequencesPerUser() throws {
    var rng = Philox(seed: 5, stream: "users")
    let users = (0..<6).map { u in
        TokenizedUser(user: "u\(u)", records: (0..<(1 + u)).map { _ in (0..<9).map { _ in Int32(rng.next() % 40) } })
    }
    func run() throws -> ([Float], [Int]) {
        let (model, _) = fixture()
        let plan = TrainingPlan(population: .users(users), samplingRate: 0.5)
        var runner = StepRunner(config: config(.user, k: 3), plan: plan, sigma: 1, model: model)
        var unitCounts: [Int] = []
        for step in 1...3 {
            let units = try runner.sampledUnits([0, 4], step: step)
            #expect(units.map(\.count) == [3, 3])
            unitCounts.append(try runner.step(step).units)
        }
        return (model.trainableParameters(), unitCounts)
    }
    let first = try run(), second = try run()
    #expect(first.0 == second.0)
    #expect(first.1 == second.1)
}

/// Micro-batches shared by several workers (model replicas on their own threads) give exactly
/// the parameters one worker gives: the partition and the order of the sum do not depend on
/// the worker count. Covers the clipped user-level step, the non-private step and several
/// rounds of micro-batches.
@Test(arguments: [MechanismKind.user, .nonprivate, .record])
func stepsAreIdenticalForEveryWorkerCount(mechanism: MechanismKind) throws {
    var rng = Philox(seed: 8, stream: "users")
    let users = (0..<10).map { u in
        TokenizedUser(user: "u\(u)", records: (0..<(1 + u % 4)).map { _ in (0..<(4 + u)).map { _ in Int32(rng.next() % 40) } })
    }
    func run(workers: Int) throws -> (parameters: [Float], losses: [Double]) {
        let (model, sequences) = fixture(sequences: 20)
        let population: TrainingPlan.Population = mechanism == .user ? .users(users) : .sequences(sequences)
        let plan = TrainingPlan(population: population, samplingRate: 0.8)
        var runner = StepRunner(
            config: config(mechanism, k: 2), plan: plan, sigma: 1, workers: ModelWorkers(model, workers: workers),
            microBatchTokens: 24)
        var losses: [Double] = []
        for step in 1...3 { losses.append(try runner.step(step).meanLoss) }
        return (model.trainableParameters(), losses)
    }
    // One worker inside a two-worker section: the same single BLAS thread the workers use, so
    // the comparison can be exact (a run with one worker on a 2-thread BLAS differs by
    // rounding only, as the model's own thread-count test shows).
    let one = try parallelMap(1, workers: 2) { _, _ in try run(workers: 1) }[0]
    for workers in [2, 3] {
        let many = try run(workers: workers)
        #expect(many.parameters == one.parameters, "\(workers) workers changed the parameters")
        #expect(many.losses == one.losses)
    }
    #expect(one.parameters != fixture(sequences: 20).0.trainableParameters(), "the steps changed nothing")
}

/// Evaluation spreads its batches over the workers and sums in batch order: the perplexities
/// do not depend on the worker count.
@Test func evaluationIsIdenticalForEveryWorkerCount() throws {
    let (model, sequences) = fixture(sequences: 150)
    let records = sequences + [Array(sequences.joined().prefix(40))]  // one record longer than the context
    let one = parallelMap(1, workers: 2) { _, _ in
        (perplexity(of: model, records: records, contextLength: 16, workers: 1),
         recordPerplexities(of: model, records: records, contextLength: 16, workers: 1))
    }[0]
    for workers in [2, 3] {
        #expect(perplexity(of: model, records: records, contextLength: 16, workers: workers) == one.0)
        #expect(recordPerplexities(of: model, records: records, contextLength: 16, workers: workers) == one.1)
    }
    #expect(one.0.isFinite && one.0 > 1)
}

/// The chunked, multi-threaded noise is the sequential loop's noise (`Philox.gaussian(index:)`),
/// bit for bit, for every worker count, and leaves the generator after the ⌈count / 2⌉ blocks
/// those draws use (two per block), for an odd and an even count.
@Test(arguments: [(1, 123), (2, 123), (3, 123), (2, 124)])
func parallelNoiseEqualsTheSequentialLoop(workers: Int, tail: Int) {
    let count = 3 * gaussianNoiseChunk + tail
    let base = (0..<count).map { Float($0 % 17) * 0.25 }
    var sequentialRNG = Philox(seed: 4, stream: "noise")
    _ = sequentialRNG.nextGaussian()  // not at the stream's start
    var parallelRNG = sequentialRNG
    var sequential = base
    for i in 0..<count { sequential[i] += Float(1.7 * sequentialRNG.gaussian(index: UInt64(i))) }
    for _ in 0 ..< (count + 1) / 2 { _ = sequentialRNG.nextGaussian() }
    var parallel = base
    addGaussianNoise(to: &parallel, standardDeviation: 1.7, rng: &parallelRNG, workers: workers)
    #expect(parallel == sequential)
    #expect(parallelRNG.nextGaussian() == sequentialRNG.nextGaussian())
}

/// Per-stream evaluation scores each user's records joined with the separator: with one record
/// per user it is per-record perplexity; with several, the joined sequences written out by hand.
@Test func streamPerplexityScoresEachUsersJoinedRecords() throws {
    let (model, sequences) = fixture(sequences: 12)
    let workers = ModelWorkers(model, workers: 1)
    let single = TokenizedDataset(
        datasetHash: "h", tokenizerIdentity: "t", separator: 3,
        users: sequences.enumerated().map { TokenizedUser(user: "u\($0.offset)", records: [$0.element]) })
    #expect(streamPerplexity(of: workers, users: single, contextLength: 16)
        == perplexity(of: workers, records: sequences, contextLength: 16))
    let paired = TokenizedDataset(
        datasetHash: "h", tokenizerIdentity: "t", separator: 3,
        users: stride(from: 0, to: 12, by: 2).map { TokenizedUser(user: "u\($0)", records: [sequences[$0], sequences[$0 + 1]]) })
    let joined = stride(from: 0, to: 12, by: 2).map { sequences[$0] + [3] + sequences[$0 + 1] }
    let stream = streamPerplexity(of: workers, users: paired, contextLength: 16)
    #expect(stream == perplexity(of: workers, records: joined, contextLength: 16))
    #expect(stream != perplexity(of: workers, records: sequences, contextLength: 16))
}
