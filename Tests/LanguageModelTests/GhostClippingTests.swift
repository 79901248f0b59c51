@testable import LanguageModel
import Testing

/// Ghost clipping (GhostClipping.swift) against the materialised reference path and against
/// finite differences of the Double reference model.
@Suite("Ghost clipping")
struct GhostClippingTests {
    static let rules: [GPTModel.GhostNormRule] = [.gram, .instantiate, .cheaper]

    /// Five sequences in three units of 2, 1 and 2 sequences (unit 1's sequence padded after
    /// three positions), as in `PerUnitGradientTests`.
    static let units = [0 ..< 2, 2 ..< 3, 3 ..< 5]

    static func batch() -> TokenBatch {
        var b = ModelFixture.fullBatch(sequences: 5, length: 6, seed: 41)
        for t in 3..<6 { b.mask[2 * 6 + t] = 0 }
        return b
    }

    /// Unit gradients by the reference path (`perUnitGradients`: one materialised gradient per
    /// unit) and their norms in Double.
    static func referenceNorms(_ model: GPTModel, _ batch: TokenBatch, _ units: [Range<Int>]) -> (gradients: [Float], norms: [Double]) {
        let p = model.trainableParameterCount
        let (_, gradients) = model.perUnitGradients(batch, units: units)
        let norms = units.indices.map { u in gradients[u * p ..< (u + 1) * p].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
        return (gradients, norms)
    }

    @Test("every unit's norm equals the norm of its materialised gradient, for each rule", arguments: rules)
    func normsMatchMaterialisedGradients(rule: GPTModel.GhostNormRule) {
        let model = ModelFixture.model()
        // ModelFixture.batch(): a padded sequence, a masked hole, a sequence with no target.
        for (batch, units) in [(Self.batch(), Self.units), (ModelFixture.batch(), [0 ..< 1, 1 ..< 3, 3 ..< 4, 2 ..< 2])] {
            let (_, expected) = Self.referenceNorms(model, batch, units)
            let (_, _, norms) = model.clippedGradientSum(batch, units: units, clipNorm: 1e9, path: .ghost(rule))
            for u in units.indices {
                // Tolerance: both are float32 computations of the same norm: products over at most
                // 4d = 32 terms (Gram entries, or the gradient's coordinates), summed over ≤ 12
                // rows; each is within about 40·2⁻²⁴ ≈ 2.4e-6 of the exact value relative to the
                // magnitudes involved, so 1e-5 relative leaves room for cancellation.
                let error = abs(Double(norms[u]) - expected[u])
                #expect(error <= 1e-5 * max(expected[u], 1e-30), "\(rule) unit \(u) (\(units[u])): ghost norm \(norms[u]) vs materialised \(expected[u])")
            }
        }
    }

    @Test("the clipped sum equals the materialised path's, some units clipped and some not", arguments: rules)
    func clippedSumMatchesMaterialisedPath(rule: GPTModel.GhostNormRule) {
        let model = ModelFixture.model()
        let batch = Self.batch()
        // Overlapping units too: the rows of sequence 1 then count for two units.
        for units in [Self.units, [0 ..< 2, 1 ..< 3, 4 ..< 5]] {
            let (_, norms) = Self.referenceNorms(model, batch, units)
            let clipNorm = Float((norms.min()! + norms.max()!) / 2)
            #expect(norms.contains { $0 > Double(clipNorm) } && norms.contains { $0 < Double(clipNorm) })
            let reference = model.clippedGradientSum(batch, units: units, clipNorm: clipNorm, path: .materialised)
            let ghost = model.clippedGradientSum(batch, units: units, clipNorm: clipNorm, path: .ghost(rule))
            #expect(ghost.losses == reference.losses)
            // Tolerance: the materialised path sums each unit's rows in its own products, the
            // ghost path all rows in one product with per-row weights; each coordinate is a
            // float32 sum of ≤ 30 row terms (error ≤ 30·2⁻²⁴ ≈ 1.8e-6 of the terms' magnitudes,
            // which are of the order of the largest coordinate), and the clip factors agree to
            // the 1e-5 of the norms. So 2e-5 of the ∞-norm.
            let error = normwiseRelativeDifference(ghost.sum, reference.sum)
            #expect(error < 2e-5, "\(rule) units \(units): ∞-norm relative difference \(error)")
        }
    }

    @Test("a clipped unit contributes norm C, up to float32 rounding", arguments: rules)
    func clippedUnitHasNormC(rule: GPTModel.GhostNormRule) {
        let model = ModelFixture.model()
        let batch = Self.batch()
        let (_, norms) = Self.referenceNorms(model, batch, Self.units)
        for (u, unit) in Self.units.enumerated() {
            let clipNorm = Float(norms[u] / 10)
            let (_, sum, _) = model.clippedGradientSum(batch, units: [unit], clipNorm: clipNorm, path: .ghost(rule))
            let contribution = sum.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            // Tolerance: the factor C/‖g‖ uses the ghost norm (within 1e-5 of the exact norm, see
            // above), and the weighted gradient's coordinates are float32 sums of ≤ 12 rows.
            #expect(abs(contribution - Double(clipNorm)) <= 2e-5 * Double(clipNorm), "\(rule) unit \(u): contribution \(contribution), C \(clipNorm)")
        }
    }

    @Test("uniform row weights give lossAndGradient's gradient")
    func uniformWeightsGiveTheBatchGradient() {
        let model = ModelFixture.model()
        let batch = ModelFixture.batch()
        let (_, expected) = model.lossAndGradient(batch)
        let record = model.backward(model.forward(batch, computeGradient: true))
        let weights = [Float](repeating: 1 / Float(batch.sequenceCount), count: batch.sequenceCount * batch.length)
        var gradient = [Float](repeating: .nan, count: model.trainableParameterCount)
        weights.withUnsafeBufferPointer { w in
            gradient.withUnsafeMutableBufferPointer { model.writeWeightedParameterGradient(record, rowWeights: w.baseAddress!, into: $0.baseAddress!, count: $0.count) }
        }
        // Tolerance: the same products with the 1/B scale applied to one factor's rows before
        // the product instead of to the result: one extra rounding per term, 2⁻²⁴ relative.
        let error = normwiseRelativeDifference(gradient, expected)
        #expect(error < 1e-6, "∞-norm relative difference \(error)")
    }

    @Test("finite differences of the weighted loss Σ_s ω_s·loss_s give the ghost clipped sum")
    func clippedSumMatchesFiniteDifferences() {
        let model = ModelFixture.model()
        let batch = Self.batch()
        let units = Self.units
        let (_, norms) = Self.referenceNorms(model, batch, units)
        let clipNorm = Float((norms.min()! + norms.max()!) / 2)
        let (_, sum, ghostNorms) = model.clippedGradientSum(batch, units: units, clipNorm: clipNorm, path: .ghost(.cheaper))
        // The clipped sum is the gradient of Σ_s ω_s·loss_s with ω_s = min(1, C/‖g_u‖)/|u| for
        // sequence s of unit u (the factors held fixed).
        var omega = [Double](repeating: 0, count: batch.sequenceCount)
        for (u, unit) in units.enumerated() {
            let factor = min(1, Double(clipNorm) / Double(ghostNorms[u]))
            for s in unit { omega[s] += factor / Double(unit.count) }
        }
        var reference = ReferenceGPT(model: model)
        func weightedLoss() -> Double { zip(reference.sequenceLosses(batch), omega).reduce(0) { $0 + $1.0 * $1.1 } }
        var worst = 0.0, worstAt = ""
        let h = 1e-4
        for info in model.trainableTensors {
            let original = reference.values[info.name]!
            for i in Set((0..<4).map { ($0 * 7919 + info.offset) % info.count }).sorted() {
                reference.values[info.name]![i] = original[i] + h
                let plus = weightedLoss()
                reference.values[info.name]![i] = original[i] - h
                let minus = weightedLoss()
                reference.values[info.name]![i] = original[i]
                let numeric = (plus - minus) / (2 * h), analytic = Double(sum[info.offset + i])
                let error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-3)
                if error > worst { worst = error; worstAt = "\(info.name)[\(i)]: analytic \(analytic), numeric \(numeric)" }
            }
        }
        // Tolerance: as for lossAndGradient's check (ModelGradientTests): a float32 analytic
        // gradient against Double central differences with h = 1e-4.
        #expect(worst < 2e-3, "max relative error \(worst) at \(worstAt)")
    }

    @Test("the cheaper rule picks Gram matrices for short units and instantiation for long ones")
    func cheaperRuleChoosesByCost() {
        // d = 384: c_attn (384 → 1152) and attn.c_proj (384 → 384).
        #expect(GPTModel.GhostNormRule.cheaper.usesGram(rows: 128, inputWidth: 384, outputWidth: 1152))
        #expect(GPTModel.GhostNormRule.cheaper.usesGram(rows: 512, inputWidth: 384, outputWidth: 1152))
        #expect(!GPTModel.GhostNormRule.cheaper.usesGram(rows: 512, inputWidth: 384, outputWidth: 384))
        #expect(GPTModel.GhostNormRule.gram.usesGram(rows: 4096, inputWidth: 8, outputWidth: 8))
        #expect(!GPTModel.GhostNormRule.instantiate.usesGram(rows: 1, inputWidth: 384, outputWidth: 384))
    }

    @Test("clippedGradientSum takes ghost clipping for several units of a large model's full fine-tuning only")
    func automaticPath() {
        let large = GPTConfig(vocabularySize: 8192, contextLength: 128, width: 384, layerCount: 6, headCount: 6)
        let small = GPTConfig(vocabularySize: 512, contextLength: 128, width: 128, layerCount: 2, headCount: 4)
        let records = (0..<4).map { $0 ..< $0 + 1 }
        // 13.8M and 0.48M parameters: the shapes of bench dp-step in docs/PERFORMANCE.md.
        #expect(GPTModel.ClippingPath.automatic(config: large, hasLoRA: false, parameterCount: 13_800_000, units: records, length: 128) == .ghost(.cheaper))
        #expect(GPTModel.ClippingPath.automatic(config: small, hasLoRA: false, parameterCount: 480_000, units: records, length: 128) == .materialised)
        #expect(GPTModel.ClippingPath.automatic(config: large, hasLoRA: false, parameterCount: 13_800_000, units: [0 ..< 4], length: 128) == .materialised)
        #expect(GPTModel.ClippingPath.automatic(config: large, hasLoRA: true, parameterCount: 73_000, units: records, length: 128) == .materialised)
        // Ghost cost: Gram forms at 128 tokens (16d·T² per block plus (d + V)·T² for the head).
        #expect(GPTModel.ClippingPath.ghostCost(config: large, rows: 128) == Double(6 * 16 * 384 * 128 * 128 + (384 + 8192) * 128 * 128))
    }

    @Test("a single materialised unit gives the bits of the unit loop")
    func singleUnitFastPathIsTheLoop() {
        let model = ModelFixture.model()
        let batch = Self.batch()
        let (_, gradients) = model.perUnitGradients(batch, units: [0 ..< 5])
        let norm = gradients.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        for clipNorm in [Float(norm / 3), Float(norm * 3)] {
            let single = model.clippedGradientSum(batch, units: [0 ..< 5], clipNorm: clipNorm, path: .materialised)
            // The same unit twice, as two units of half weight each, goes through the loop:
            // compare against one unit in the loop by adding an empty unit instead.
            let loop = model.clippedGradientSum(batch, units: [0 ..< 5, 5 ..< 5], clipNorm: clipNorm, path: .materialised)
            #expect(single.sum == loop.sum, "clip \(clipNorm)")
            #expect(single.norms[0] == loop.norms[0])
        }
    }
}
