import LanguageModel
import Testing

@Suite("Per-unit gradients and clipping")
struct PerUnitGradientTests {
    /// Five sequences in three units of sizes 2, 1, 2 (unit 1's sequence has a padded tail).
    static let units = [0 ..< 2, 2 ..< 3, 3 ..< 5]

    static func batch() -> TokenBatch {
        var b = ModelFixture.fullBatch(sequences: 5, length: 6, seed: 41)
        for t in 3..<6 { b.mask[2 * 6 + t] = 0 }
        return b
    }

    static func models() -> [(String, GPTModel)] {
        let lora = LoRAGradientTests.adaptedModel(LoRAConfig(rank: 2, alpha: 2, targets: [.attentionQKV, .mlpProjection]))
        return [("full", ModelFixture.model()), ("LoRA", lora)]
    }

    @Test("perUnitGradients equals one lossAndGradient call per unit", arguments: [0, 1])
    func perUnitMatchesSeparateCalls(modelIndex: Int) {
        let (label, model) = Self.models()[modelIndex]
        let batch = Self.batch()
        let units = Self.units + [3 ..< 3]  // an empty unit has a zero gradient
        let (losses, gradients) = model.perUnitGradients(batch, units: units)
        let p = model.trainableParameterCount
        #expect(gradients.count == units.count * p)
        #expect(losses == model.sequenceLosses(batch))
        for (u, unit) in Self.units.enumerated() {
            let expected = model.lossAndGradient(batch.sequences(unit)).gradient
            // The same sums as the batched pass, but over products with fewer rows: a kernel may
            // block (and so round) them differently. Sums of n ≤ 30 terms reordered differ by
            // about n·2⁻²⁴ ≈ 2e-6 of the terms' magnitudes per product; 1e-5 of the ∞-norm
            // leaves room for the chained products of the backward pass.
            let error = normwiseRelativeDifference(Array(gradients[u * p ..< (u + 1) * p]), expected)
            #expect(error < 1e-5, "\(label) unit \(u): ∞-norm relative difference \(error)")
        }
        #expect(gradients[3 * p ..< 4 * p].allSatisfy { $0 == 0 })
    }

    @Test("clippedGradientSum equals clipping each unit's gradient and summing", arguments: [0, 1])
    func clippedSumMatchesManualClipping(modelIndex: Int) {
        let (label, model) = Self.models()[modelIndex]
        let batch = Self.batch()
        let (_, gradients) = model.perUnitGradients(batch, units: Self.units)
        let p = model.trainableParameterCount
        let expectedNorms: [Float] = (0..<Self.units.count).map { u in
            Float(gradients[u * p ..< (u + 1) * p].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
        }
        // A clip norm between the smallest and largest unit norm: some units clipped, some not.
        let clipNorm = (expectedNorms.min()! + expectedNorms.max()!) / 2
        #expect(expectedNorms.contains { $0 > clipNorm } && expectedNorms.contains { $0 < clipNorm })
        var expectedSum = [Float](repeating: 0, count: p)
        for u in Self.units.indices {
            let factor = min(1, clipNorm / expectedNorms[u])
            for i in 0..<p { expectedSum[i] += factor * gradients[u * p + i] }
        }
        let (losses, sum, norms) = model.clippedGradientSum(batch, units: Self.units, clipNorm: clipNorm)
        #expect(losses == model.sequenceLosses(batch))
        let (normError, _) = maxRelativeDifference(norms, expectedNorms, floor: 1e-6)
        #expect(normError < 1e-5, "\(label): norms \(norms) vs \(expectedNorms)")
        let (error, index) = maxRelativeDifference(sum, expectedSum, floor: 1e-3)
        #expect(error < 1e-4, "\(label): clipped sum max relative error \(error) at \(index)")
        // Every clipped unit contributes norm exactly C.
        let (_, bigSum, _) = model.clippedGradientSum(batch, units: [0 ..< 2], clipNorm: expectedNorms[0] / 10)
        let bigNorm = bigSum.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        #expect(abs(bigNorm - Double(expectedNorms[0] / 10)) < 1e-5 * Double(expectedNorms[0]), "\(label): clipped norm \(bigNorm)")
    }
}
