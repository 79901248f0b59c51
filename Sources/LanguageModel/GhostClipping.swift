import LinearAlgebra

// Per-unit clipping without per-unit gradients, for full fine-tuning.
//
// DP-SGD needs Σ_u c_u·g_u with c_u = min(1, C/‖g_u‖). Materialising every g_u (P floats) costs
// three passes over P per unit beyond the batched gradient (write, norm, add) and products with
// a unit's few rows. Instead, following "ghost clipping" (Goodfellow 2015, "Efficient per-example
// gradient computations"; Li, Tramèr, Liang, Hashimoto 2022, "Large language models can be strong
// differentially private learners", §4 and eq. 3) with the per-layer choice of "mixed ghost
// clipping" (Bu, Mao, Xu 2022, "Scalable and efficient training of large convolutional neural
// networks with differential privacy", §3) and the book-keeping order of Bu, Wang, Zha, Karypis
// 2023 ("Differentially private optimization on large model at small cost", Alg. 1):
//
// 1. One forward and backward pass keeps every activation gradient (the gradient record).
// 2. Each unit's squared gradient norm comes from its rows of activations X_u (T_u × in) and of
//    output gradients G_u (T_u × out). A linear layer's weight gradient is X_uᵀ·G_u, and
//        ‖X_uᵀ·G_u‖²_F = ⟨X_u·X_uᵀ, G_u·G_uᵀ⟩_F                    (Li et al. 2022, eq. 3)
//    costs T_u²·(in + out) multiply-adds (two symmetric rank-k updates) against T_u·in·out to
//    instantiate the gradient; each weight takes the cheaper (`GhostNormRule.cheaper`).
//    LayerNorm parameters, biases and position embeddings are instantiated (T_u·d each).
// 3. Unit u's rows of every activation gradient depend only on unit u's loss (sequences do not
//    interact: attention stays inside a sequence, every other layer is row-wise), so
//    Σ_u c_u·g_u is the parameter gradient with unit u's rows weighted by c_u/|u|: ONE
//    row-weighted pass over the batch, the cost of the non-private gradient
//    (`writeWeightedParameterGradient`).
//
// The tied embedding and LM head form one parameter whose per-unit gradient is H + E, the LM
// head's part H = Zᵀ·X (Z the logit gradient, V wide; X the ln_f output) and the embedding's
// scatter E (rows of the block-0 input gradient added at the unit's token ids), so
// ‖H + E‖² = ‖H‖² + 2⟨H, E⟩ + ‖E‖², with ⟨H, E⟩ read from H's rows at the unit's tokens.

extension GPTModel {
    /// How a unit's squared gradient norm is formed for one weight matrix (a projection, or the
    /// LM head's part of the tied embedding).
    enum GhostNormRule: Sendable, Equatable {
        /// The cheaper of the two below by multiply-add count: Gram matrices when
        /// T·(in + out) < 2·in·out (a symmetric rank-k update does half a product's work).
        case cheaper
        /// Always `⟨X·Xᵀ, G·Gᵀ⟩` from two symmetric rank-k updates.
        case gram
        /// Always instantiate `Xᵀ·G` and sum its squares.
        case instantiate

        func usesGram(rows t: Int, inputWidth: Int, outputWidth: Int) -> Bool {
            switch self {
            case .gram: true
            case .instantiate: false
            case .cheaper: t * (inputWidth + outputWidth) < 2 * inputWidth * outputWidth
            }
        }
    }

    /// How `clippedGradientSum` forms the clipped sum.
    enum ClippingPath: Sendable, Equatable {
        /// The reference: every unit's gradient materialised (P floats), its norm taken, then
        /// scaled and added.
        case materialised
        /// Norms from activations and output gradients, then one row-weighted gradient (full
        /// fine-tuning only).
        case ghost(GhostNormRule)

        /// What `clippedGradientSum` uses for `units` of `length`-token sequences: the
        /// materialised path under LoRA (P is small, a unit's adapter gradient is cheap to
        /// instantiate), for a single unit (its gradient is the batch gradient, so
        /// materialising costs nothing extra), and whenever the norms' products cost more than
        /// materialising would (`ghostCost` against `materialisedCost`); ghost clipping
        /// otherwise.
        static func automatic(config: GPTConfig, hasLoRA: Bool, parameterCount: Int, units: [Range<Int>], length: Int) -> ClippingPath {
            if hasLoRA || units.count <= 1 { return .materialised }
            let ghost = units.reduce(0.0) { $0 + ghostCost(config: config, rows: $1.count * length) }
            return ghost < materialisedCost(parameterCount: parameterCount) * Double(units.count) ? .ghost(.cheaper) : .materialised
        }

        /// Multiply-adds of one unit's norms under `GhostNormRule.cheaper` for `rows` tokens:
        /// every projection's and the LM head's cheaper of the Gram and instantiated forms.
        static func ghostCost(config: GPTConfig, rows t: Int) -> Double {
            let d = config.width, v = config.vocabularySize
            func cheaper(_ input: Int, _ output: Int) -> Double {
                Double(min(t * t * (input + output), 2 * t * input * output))
            }
            let block = cheaper(d, 3 * d) + cheaper(d, d) + cheaper(d, 4 * d) + cheaper(4 * d, d)
            return Double(config.layerCount) * block + cheaper(d, v)
        }

        /// What materialising one unit's gradient costs beyond the batched gradient, in the same
        /// units: three passes over its P floats (write, norm, add) that run at memory speed,
        /// about 64 multiply-adds' time per parameter on the development machine (2-core AMD
        /// EPYC: ghost clipping measured faster at 6 layers, d 384, 13.8M parameters, slower at
        /// 2 layers, d 128, 0.48M parameters; docs/PERFORMANCE.md).
        static func materialisedCost(parameterCount: Int) -> Double {
            64 * Double(parameterCount)
        }
    }

    /// `clippedGradientSum` along a chosen path (tests compare the paths).
    func clippedGradientSum(_ batch: TokenBatch, units: [Range<Int>], clipNorm: Float, path: ClippingPath) -> (losses: [Float], sum: [Float], norms: [Float]) {
        precondition(clipNorm > 0, "clip norm must be positive, got \(clipNorm)")
        checkUnits(units, batch)
        let record = backward(forward(batch, computeGradient: true))
        switch path {
        case .materialised:
            let (sum, norms) = materialisedClippedSum(record, units: units, clipNorm: clipNorm)
            return (record.forward.losses, sum, norms)
        case .ghost(let rule):
            precondition(lora == nil, "ghost clipping covers full fine-tuning; use the materialised path under LoRA")
            let (sum, norms) = ghostClippedSum(record, units: units, clipNorm: clipNorm, rule: rule)
            return (record.forward.losses, sum, norms)
        }
    }

    /// The reference path: unit gradients materialised one at a time, so memory beyond the model
    /// is 2·P floats whatever the number of units; a single unit is written straight into the
    /// sum (the same bits: `0 + f·g` is `f·g`).
    private func materialisedClippedSum(_ record: BackwardRecord, units: [Range<Int>], clipNorm: Float) -> (sum: [Float], norms: [Float]) {
        let p = trainableParameterCount
        var norms = [Float](repeating: 0, count: units.count)
        if units.count == 1 {
            let unit = units[0]
            var sum = [Float](unsafeUninitializedCapacity: p) { buffer, initialized in
                writeUnitGradient(record, unit: unit, into: buffer.baseAddress!, count: p)
                initialized = p
            }
            let norm = BLAS.norm2(sum)
            norms[0] = norm
            if norm > clipNorm { BLAS.scale(&sum, by: clipNorm / norm) }
            return (sum, norms)
        }
        var sum = [Float](repeating: 0, count: p)
        let unitGradient = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(p, 1))
        defer { unitGradient.deallocate() }
        sum.withUnsafeMutableBufferPointer { total in
            for (u, unit) in units.enumerated() {
                writeUnitGradient(record, unit: unit, into: unitGradient.baseAddress!, count: p)
                let g = UnsafeBufferPointer(start: unitGradient.baseAddress!, count: p)
                let norm = BLAS.norm2(g)
                norms[u] = norm
                let factor = norm > clipNorm ? clipNorm / norm : 1
                BLAS.axpy(factor, g, total)
            }
        }
        return (sum, norms)
    }

    /// Ghost clipping (see the top of this file): every unit's norm from its rows, then one
    /// row-weighted gradient with weight c_u/|u| on unit u's rows (weights of overlapping units
    /// add up, as their clipped gradients do).
    private func ghostClippedSum(_ record: BackwardRecord, units: [Range<Int>], clipNorm: Float, rule: GhostNormRule) -> (sum: [Float], norms: [Float]) {
        let batch = record.forward.batch
        let t = batch.length
        var weights = [Float](repeating: 0, count: batch.sequenceCount * t)
        var norms = [Float](repeating: 0, count: units.count)
        for (u, unit) in units.enumerated() {
            // A unit without a scored position has a zero gradient (and weight 0 on zero rows).
            guard let rows = contributingRows(batch, unit) else { continue }
            let squared = unitSquaredNorm(record, rows: rows, rule: rule)
            let norm = Float(squared.squareRoot() / Double(unit.count))
            norms[u] = norm
            let factor = norm > clipNorm ? clipNorm / norm : 1
            let weight = factor / Float(unit.count)
            for r in unit.lowerBound * t ..< unit.upperBound * t { weights[r] += weight }
        }
        let p = trainableParameterCount
        let sum = [Float](unsafeUninitializedCapacity: p) { buffer, initialized in
            weights.withUnsafeBufferPointer { writeWeightedParameterGradient(record, rowWeights: $0.baseAddress!, into: buffer.baseAddress!, count: p) }
            initialized = p
        }
        return (sum, norms)
    }

    /// The rows of `unit` that can carry a gradient: from its first row to its last scored one
    /// (mask ≠ 0). Rows after the last scored position of a sequence have exactly zero
    /// activation gradients (attention is causal and their own loss weight is 0), so leaving
    /// them out changes no norm. Nil when no position of the unit is scored.
    private func contributingRows(_ batch: TokenBatch, _ unit: Range<Int>) -> Range<Int>? {
        let t = batch.length
        let first = unit.lowerBound * t
        var end = unit.upperBound * t
        while end > first, batch.mask[end - 1] == 0 { end -= 1 }
        return end > first ? first ..< end : nil
    }

    /// ‖Σ_{r∈rows} ∇‖² over every base parameter: the squared norm of the unweighted row sum of
    /// the parameter gradient, accumulated in Double.
    func unitSquaredNorm(_ record: BackwardRecord, rows: Range<Int>, rule: GhostNormRule) -> Double {
        precondition(record.forward.pass == workspace.passes, "a backward record is valid only until the model's next forward pass")
        let d = config.width
        let act = record.forward.activations, g = record.gradients
        let k = rows.count, r0 = rows.lowerBound
        var total = 0.0
        for layer in 0..<config.layerCount {
            let a = act.blocks[layer], gb = g.blocks[layer]
            total += layerNormSquaredNorm(dy: gb.dLn1, x: act.residual[layer], mean: a.ln1Mean, rstd: a.ln1Rstd, rows: rows)
            for target in LoRATarget.allCases {
                let s = site(target, layer: layer, record)
                let x = s.input.matrix(r0 * s.inputWidth, rows: k, columns: s.inputWidth)
                let dy = s.outputGradient.matrix(r0 * s.outputWidth, rows: k, columns: s.outputWidth)
                total += weightSquaredNorm(x: x, dy: dy, gram: rule.usesGram(rows: k, inputWidth: s.inputWidth, outputWidth: s.outputWidth))
                let bias = workspace.scratch(count: s.outputWidth)
                columnSum(dy, alpha: 1, into: bias.pointer)
                total += sumOfSquares(bias.pointer, s.outputWidth)
            }
            total += layerNormSquaredNorm(dy: gb.dLn2, x: a.residualMid, mean: a.ln2Mean, rstd: a.ln2Rstd, rows: rows)
        }
        total += layerNormSquaredNorm(dy: g.dLnf, x: act.residual[config.layerCount], mean: act.lnfMean, rstd: act.lnfRstd, rows: rows)
        total += embeddingSquaredNorm(record, rows: rows, rule: rule)
        return total
    }

    /// ‖xᵀ·dy‖²_F, from Gram matrices or by instantiating the product.
    private func weightSquaredNorm(x: MatrixView, dy: MatrixView, gram: Bool) -> Double {
        let k = x.rows, input = x.columns, output = dy.columns
        if gram {
            let scratch = workspace.scratch(count: 2 * k * k)
            BLAS.syrkLower(x, into: scratch.mutableMatrix(0, rows: k, columns: k))
            BLAS.syrkLower(dy, into: scratch.mutableMatrix(k * k, rows: k, columns: k))
            return lowerTriangleFrobeniusProduct(scratch.pointer, scratch.pointer + k * k, order: k)
        }
        let scratch = workspace.scratch(count: input * output)
        BLAS.gemm(x.transposed, dy, into: scratch.mutableMatrix(0, rows: input, columns: output))
        return sumOfSquares(scratch.pointer, input * output)
    }

    /// Squared norm of a LayerNorm's weight and bias gradient over `rows`.
    private func layerNormSquaredNorm(dy: FloatStorage, x: FloatStorage, mean: FloatStorage, rstd: FloatStorage, rows: Range<Int>) -> Double {
        let d = config.width
        let scratch = workspace.scratch(count: 2 * d)
        layerNormParameterGradient(dy: dy.pointer, x: x.pointer, mean: mean.pointer, rstd: rstd.pointer, rows: rows, width: d, alpha: 1, dWeight: scratch.pointer, dBias: scratch.pointer + d)
        return sumOfSquares(scratch.pointer, 2 * d)
    }

    /// Squared norm of the tied `wte` (LM head part H plus embedding part E) and of `wpe` over
    /// `rows`: ‖H + E‖² = ‖H‖² + 2⟨H, E⟩ + ‖E‖² when H's norm comes from Gram matrices (⟨H, E⟩
    /// needs only H's rows at the unit's distinct tokens: gathered logit-gradient columns times
    /// X), else H instantiated (V × d) and E added into it.
    private func embeddingSquaredNorm(_ record: BackwardRecord, rows: Range<Int>, rule: GhostNormRule) -> Double {
        let batch = record.forward.batch
        let act = record.forward.activations, dx = record.gradients.dResidual[0].pointer
        let d = config.width, v = config.vocabularySize, t = batch.length
        let k = rows.count, r0 = rows.lowerBound
        // Distinct tokens of the rows, ascending, and each row's index among them.
        let tokens = batch.tokens[rows]
        let distinct = Array(Set(tokens)).sorted()
        let index = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($0.element, $0.offset) })
        let m = distinct.count
        let gram = rule.usesGram(rows: k, inputWidth: d, outputWidth: v)
        let scratch = workspace.scratch(count: m * d + t * d + (gram ? 2 * k * k + k * m + m * d : v * d))
        let e = scratch.pointer, positions = e + m * d, rest = positions + t * d
        // E: the rows of dx summed per token; the position embedding's gradient likewise.
        e.update(repeating: 0, count: m * d)
        positions.update(repeating: 0, count: t * d)
        for (i, token) in tokens.enumerated() {
            let r = r0 + i
            let source = dx + r * d, te = e + index[token]! * d, pe = positions + (r % t) * d
            for j in 0..<d {
                te[j] += source[j]
                pe[j] += source[j]
            }
        }
        var total = sumOfSquares(positions, t * d)
        let logits = act.logits.matrix(r0 * v, rows: k, columns: v), x = act.lnf.matrix(r0 * d, rows: k, columns: d)
        if gram {
            let gramZ = rest, gramX = rest + k * k, gathered = gramX + k * k, headRows = gathered + k * m
            BLAS.syrkLower(logits, into: scratch.mutableMatrix(gramZ - scratch.pointer, rows: k, columns: k))
            BLAS.syrkLower(x, into: scratch.mutableMatrix(gramX - scratch.pointer, rows: k, columns: k))
            total += lowerTriangleFrobeniusProduct(gramZ, gramX, order: k)
            // H's rows at the distinct tokens: (columns of Z at those tokens)ᵀ · X.
            let z = act.logits.pointer + r0 * v
            for i in 0..<k {
                for (c, token) in distinct.enumerated() { gathered[i * m + c] = z[i * v + Int(token)] }
            }
            BLAS.gemm(
                scratch.matrix(gathered - scratch.pointer, rows: k, columns: m).transposed, x,
                into: scratch.mutableMatrix(headRows - scratch.pointer, rows: m, columns: d))
            var cross = 0.0
            for c in 0..<m { cross += Double(vectorDot(headRows + c * d, e + c * d, d)) }
            total += 2 * cross + sumOfSquares(e, m * d)
        } else {
            let head = rest
            BLAS.gemm(logits.transposed, x, into: scratch.mutableMatrix(head - scratch.pointer, rows: v, columns: d))
            for (c, token) in distinct.enumerated() {
                let row = head + Int(token) * d, source = e + c * d
                for j in 0..<d { row[j] += source[j] }
            }
            total += sumOfSquares(head, v * d)
        }
        return total
    }

    // MARK: - The row-weighted parameter gradient

    /// Overwrites `destination` (P = `trainableParameterCount` floats, laid out as `tensors`)
    /// with `Σ_r rowWeights[r] · ∇_r`, the parameter gradient of the batch of `record` with each
    /// row's contribution weighted (`rowWeights` has sequences × length entries). Uniform weights
    /// α give `writeParameterGradient`'s `alpha`, in the same products with a scaled factor:
    /// each projection scales the narrower of its input and output gradient (a copy, n × d).
    /// Full fine-tuning only.
    func writeWeightedParameterGradient(_ record: BackwardRecord, rowWeights w: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(record.forward.pass == workspace.passes, "a backward record is valid only until the model's next forward pass")
        precondition(lora == nil, "the row-weighted gradient covers full fine-tuning")
        let batch = record.forward.batch
        let t = batch.length, n = batch.sequenceCount * t
        let d = config.width, v = config.vocabularySize
        let act = record.forward.activations, g = record.gradients
        let scaled = workspace.scratch(count: n * d)
        for layer in 0..<config.layerCount {
            let block = base.blocks[layer], a = act.blocks[layer], gb = g.blocks[layer]
            layerNormWeightedParameterGradient(dy: gb.dLn1.pointer, x: act.residual[layer].pointer, mean: a.ln1Mean.pointer, rstd: a.ln1Rstd.pointer, rows: n, width: d, weights: w, dWeight: destination + block.ln1Weight, dBias: destination + block.ln1Bias)
            for target in LoRATarget.allCases {
                let s = site(target, layer: layer, record)
                let (weight, bias) = baseProjectionOffsets(target, layer: layer)
                let dWeight = mutableMatrix(destination, count: count, offset: weight, rows: s.inputWidth, columns: s.outputWidth)
                let x = s.input.matrix(0, rows: n, columns: s.inputWidth), dy = s.outputGradient.matrix(0, rows: n, columns: s.outputWidth)
                if s.outputWidth < s.inputWidth {
                    scaleRows(s.outputGradient.pointer, rows: n, width: s.outputWidth, weights: w, into: scaled.pointer)
                    let weightedDy = scaled.matrix(0, rows: n, columns: s.outputWidth)
                    BLAS.gemm(x.transposed, weightedDy, into: dWeight)
                    columnSum(weightedDy, alpha: 1, into: destination + bias)
                } else {
                    scaleRows(s.input.pointer, rows: n, width: s.inputWidth, weights: w, into: scaled.pointer)
                    BLAS.gemm(scaled.matrix(0, rows: n, columns: s.inputWidth).transposed, dy, into: dWeight)
                    weightedColumnSum(dy, weights: w, into: destination + bias)
                }
            }
            layerNormWeightedParameterGradient(dy: gb.dLn2.pointer, x: a.residualMid.pointer, mean: a.ln2Mean.pointer, rstd: a.ln2Rstd.pointer, rows: n, width: d, weights: w, dWeight: destination + block.ln2Weight, dBias: destination + block.ln2Bias)
        }
        layerNormWeightedParameterGradient(dy: g.dLnf.pointer, x: act.residual[config.layerCount].pointer, mean: act.lnfMean.pointer, rstd: act.lnfRstd.pointer, rows: n, width: d, weights: w, dWeight: destination + base.lnfWeight, dBias: destination + base.lnfBias)
        // wte: the tied LM head's part from the weighted ln_f output, then the embedding rows.
        scaleRows(act.lnf.pointer, rows: n, width: d, weights: w, into: scaled.pointer)
        BLAS.gemm(act.logits.matrix(0, rows: n, columns: v).transposed, scaled.matrix(0, rows: n, columns: d),
                  into: mutableMatrix(destination, count: count, offset: base.wte, rows: v, columns: d))
        batch.tokens.withUnsafeBufferPointer { tokens in
            embeddingWeightedParameterGradient(tokens: tokens.baseAddress!, dx: g.dResidual[0].pointer, rows: n, length: t, width: d, contextLength: config.contextLength, weights: w, dWte: destination + base.wte, dWpe: destination + base.wpe)
        }
    }
}

// MARK: - Reductions for the norms (Double accumulation)

/// Σ pᵢ² over n floats: float SIMD partial sums over blocks of 256, added in Double, so the
/// relative error stays near 256·2⁻²⁴ whatever n.
func sumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < n {
        let length = min(256, n - start)
        total += Double(vectorDot(p + start, p + start, length))
        start += length
    }
    return total
}

/// ⟨A, B⟩_F of two symmetric `order` × `order` matrices stored densely (row stride `order`) of
/// which only the lower triangles are read: 2·Σ_{i>j} A_ij·B_ij + Σ_i A_ii·B_ii, each row's
/// partial sum in float and the rows added in Double.
func lowerTriangleFrobeniusProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, order n: Int) -> Double {
    var offDiagonal = 0.0, diagonal = 0.0
    for i in 0..<n {
        let row = i * n
        offDiagonal += Double(vectorDot(a + row, b + row, i))
        diagonal += Double(a[row + i]) * Double(b[row + i])
    }
    return 2 * offDiagonal + diagonal
}
