import LanguageModel
import LinearAlgebra
import Testing

@Suite("Model forward and gradients against the Double reference")
struct ModelGradientTests {
    @Test("fast per-sequence losses and logits equal the reference")
    func forwardMatchesReference() {
        let model = ModelFixture.model()
        let batch = ModelFixture.batch()
        let reference = ReferenceGPT(model: model)
        let expected = reference.sequenceLosses(batch).map(Float.init)
        let losses = model.sequenceLosses(batch)
        let (error, index) = maxRelativeDifference(losses, expected, floor: 1e-3)
        #expect(error < 1e-5, "loss max relative error \(error) at sequence \(index): \(losses) vs \(expected)")
        #expect(losses[3] == 0, "a sequence without targets has loss 0")
        let logits = model.logits(batch)
        let v = ModelFixture.config.vocabularySize
        var expectedLogits: [Float] = []
        for s in 0..<batch.sequenceCount { expectedLogits += reference.sequenceLogits(batch, sequence: s).flatMap { $0.map(Float.init) } }
        let (logitError, logitIndex) = maxRelativeDifference(logits, expectedLogits, floor: 1e-2)
        #expect(logitError < 1e-4, "logit max relative error \(logitError) at row \(logitIndex / v)")
    }

    @Test("finite-difference check of every base tensor (full fine-tuning)")
    func fullGradientMatchesFiniteDifferences() {
        let model = ModelFixture.model()
        let batch = ModelFixture.batch()
        let (loss, gradient) = model.lossAndGradient(batch)
        #expect(gradient.count == model.parameterCount)
        let reference = ReferenceGPT(model: model)
        #expect(abs(Double(loss) - reference.batchLoss(batch)) < 1e-5 * reference.batchLoss(batch))
        let check = checkGradient(model: model, batch: batch, gradient: gradient, samples: 6)
        // Tolerance: float32 analytic gradient vs. Double central differences with h = 1e-4.
        #expect(check.maxRelativeError < 2e-3, "max relative error \(check.maxRelativeError) at \(check.worst)")
        #expect(check.checkedTensors == model.tensors.map(\.name))
        print("full fine-tuning gradient check: \(check.checkedCoordinates) coordinates in \(check.checkedTensors.count) tensors, max relative error \(check.maxRelativeError) (\(check.worst))")
    }

    @Test("the batch loss is the mean of single-sequence losses, gradients included")
    func batchIsMeanOfSequences() {
        let model = ModelFixture.model()
        let batch = ModelFixture.batch()
        let (loss, gradient) = model.lossAndGradient(batch)
        var meanLoss: Float = 0
        var meanGradient = [Float](repeating: 0, count: gradient.count)
        for s in 0..<batch.sequenceCount {
            let single = batch.sequences(s ..< s + 1)
            let (l, g) = model.lossAndGradient(single)
            #expect(abs(model.sequenceLosses(single)[0] - l) < 1e-6)
            meanLoss += l / Float(batch.sequenceCount)
            for i in g.indices { meanGradient[i] += g[i] / Float(batch.sequenceCount) }
        }
        #expect(abs(loss - meanLoss) < 1e-5, "batch loss \(loss) vs mean of single losses \(meanLoss)")
        let (error, index) = maxRelativeDifference(gradient, meanGradient, floor: 1e-3)
        #expect(error < 1e-4, "gradient max relative error \(error) at \(index)")
    }

    @Test("a sequence without targets has zero gradient")
    func emptySequenceHasZeroGradient() {
        let model = ModelFixture.model()
        let (loss, gradient) = model.lossAndGradient(ModelFixture.batch().sequences(3 ..< 4))
        #expect(loss == 0)
        #expect(gradient.allSatisfy { $0 == 0 })
    }

    @Test("padding after a sequence does not change its loss")
    func paddingDoesNotChangeLoss() {
        let model = ModelFixture.model()
        let short = ModelFixture.fullBatch(sequences: 1, length: 4, seed: 21)
        var tokens = short.tokens, targets = short.targets, mask = short.mask
        tokens += [5, 12, 0, 3]  // arbitrary padding inputs
        targets += [-1, -1, -1, -1]
        mask += [0, 0, 0, 0]
        let padded = TokenBatch(tokens: tokens, targets: targets, mask: mask, sequenceCount: 1, length: 8)
        let (shortLoss, shortGradient) = model.lossAndGradient(short)
        let (paddedLoss, paddedGradient) = model.lossAndGradient(padded)
        #expect(abs(shortLoss - paddedLoss) < 1e-6, "unpadded \(shortLoss) vs padded \(paddedLoss)")
        // Positions ≥ 4 of wpe see padding only; everything else must agree.
        let (error, index) = maxRelativeDifference(shortGradient, paddedGradient, floor: 1e-3)
        #expect(error < 1e-4, "gradient max relative error \(error) at \(index)")
    }

    @Test("attention is causal: a later token never changes earlier logits")
    func causalMasking() {
        let model = ModelFixture.model()
        let batch = ModelFixture.fullBatch(sequences: 2, length: 7, seed: 31)
        let before = model.logits(batch)
        var changed = batch.tokens
        let position = 4
        changed[position] = (changed[position] + 1) % 13
        changed[7 + position] = (changed[7 + position] + 5) % 13
        let after = model.logits(TokenBatch(tokens: changed, targets: batch.targets, mask: batch.mask, sequenceCount: 2, length: 7))
        let v = 13
        for s in 0..<2 {
            for t in 0..<7 {
                let row = (s * 7 + t) * v
                let same = (0..<v).allSatisfy { before[row + $0] == after[row + $0] }
                if t < position {
                    #expect(same, "sequence \(s) position \(t) changed when position \(position) changed")
                } else {
                    #expect(!same, "sequence \(s) position \(t) ignored its own or an earlier input")
                }
            }
        }
    }
}

@Suite("Model kernels at sizes that split work across threads")
struct ModelParallelTests {
    /// Large enough that every row-, element- and sequence-parallel kernel splits into chunks.
    static let config = GPTConfig(vocabularySize: 50, contextLength: 64, width: 32, layerCount: 1, headCount: 2)

    @Test("losses match the reference; sharded gradients and losses do not depend on the worker count")
    func parallelKernels() {
        let model = GPTModel(config: Self.config, seed: 3)
        ModelFixture.randomise(model, tensors: model.tensors, seed: 4)
        let batch = TokenBatch(
            tokens: ModelFixture.randomTokens(4 * 64, seed: 5, vocabulary: 50), targets: ModelFixture.randomTokens(4 * 64, seed: 6, vocabulary: 50),
            mask: [Float](repeating: 1, count: 4 * 64), sequenceCount: 4, length: 64)
        let expected = ReferenceGPT(model: model).sequenceLosses(batch).map(Float.init)
        let (error, index) = maxRelativeDifference(model.sequenceLosses(batch), expected, floor: 1e-3)
        #expect(error < 1e-5, "loss max relative error \(error) at sequence \(index)")
        // Every BLAS call is single-threaded and the shards (64 tokens: one sequence each) are
        // fixed by the batch, so one, two and three workers give the same bits on any kernel.
        let results = [1, 2, 3].map { workers in
            let pool = ModelWorkers(model, workers: workers)
            return (pool.lossAndGradient(batch, shardTokens: 64), pool.sequenceLosses(batch, shardTokens: 64))
        }
        for (workers, result) in zip([2, 3], results.dropFirst()) {
            #expect(result.0.gradient == results[0].0.gradient, "gradient with \(workers) workers differs from 1 worker")
            #expect(result.0.loss == results[0].0.loss && result.1 == results[0].1, "losses with \(workers) workers differ from 1 worker")
        }
        // The sharded gradient is the single-call gradient summed in another order (4 shards of
        // 64 rows against one product over 256 rows, through every layer's backward): float32
        // reorderings of sums of n ≤ 256 terms differ by about n·2⁻²⁴ ≈ 1.5e-5 of the terms'
        // magnitudes per product; a few chained products give the 1e-4 bound.
        let shardError = normwiseRelativeDifference(results[0].0.gradient, model.lossAndGradient(batch).gradient)
        #expect(shardError < 1e-4, "sharded vs single-call gradient: ∞-norm relative difference \(shardError)")
    }
}
