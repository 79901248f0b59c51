import Foundation
import LinearAlgebra

// The three passes of a step, in order, each taking what the one before returned:
//   forward                 → ForwardRecord: activations and per-sequence losses; with
//                             `computeGradient`, the logits are replaced by
//                             d(per-sequence loss)/d(logits)
//   backward(ForwardRecord) → BackwardRecord: every activation gradient (the gradient record)
//   writeParameterGradient(BackwardRecord, sequences:)
//                             the parameter gradient of any contiguous range of sequences,
//                             alpha · Σ_{s∈range} ∇loss_s, one sgemm per weight over those rows
// Each weight gradient is Xᵀ·dY over rows, so splitting the rows by unit costs the same FLOPs
// as the batched gradient and needs no second backward pass. Records name the model's
// workspace buffers (ModelWorkspace.swift): no pass copies an activation.

/// What a forward pass leaves for the passes after it: its batch and its activations (after a
/// pass with `computeGradient`, d(per-sequence loss)/d(logits) in place of the logits). The
/// activations are the model's workspace buffers, not a copy, so a record is valid only until
/// the model's next forward pass; the passes that take one check that.
struct ForwardRecord {
    let batch: TokenBatch
    let activations: Activations
    /// The workspace's pass stamp when this pass ran.
    let pass: Int
    /// Whether the logits were replaced by the loss gradient (`backward` needs it).
    let hasLogitGradient: Bool

    /// The per-sequence losses (of a scoring pass).
    var losses: [Float] { Array(UnsafeBufferPointer(start: activations.losses.pointer, count: batch.sequenceCount)) }
}

/// What a backward pass leaves for the parameter gradients: its forward record and the gradient
/// record (workspace buffers as well, valid as long as the forward record).
struct BackwardRecord {
    let forward: ForwardRecord
    let gradients: GradientRecord
}

extension GPTModel {
    /// Where a projection reads its input and receives its output gradient, for one block.
    struct Site {
        let input: FloatStorage, inputWidth: Int
        let outputGradient: FloatStorage, outputWidth: Int
    }

    func site(_ target: LoRATarget, layer: Int, _ record: BackwardRecord) -> Site {
        let a = record.forward.activations.blocks[layer], g = record.gradients.blocks[layer]
        let d = config.width
        switch target {
        case .attentionQKV: return Site(input: a.ln1, inputWidth: d, outputGradient: g.dQkv, outputWidth: 3 * d)
        case .attentionProjection: return Site(input: a.attention, inputWidth: d, outputGradient: g.dResidualMid, outputWidth: d)
        case .mlpExpansion: return Site(input: a.ln2, inputWidth: d, outputGradient: g.dFcPre, outputWidth: 4 * d)
        case .mlpProjection: return Site(input: a.fcOut, inputWidth: 4 * d, outputGradient: record.gradients.dResidual[layer + 1], outputWidth: d)
        }
    }

    // MARK: - Forward

    /// Forward over the whole batch into the workspace's activations (losses included), which
    /// the returned record names until the model's next forward pass.
    /// With `scoring == false` it stops at the logits (targets and mask unread).
    func forward(_ batch: TokenBatch, computeGradient: Bool, scoring: Bool = true) -> ForwardRecord {
        let b = batch.sequenceCount, t = batch.length, n = b * t
        let d = config.width, h = config.headCount, v = config.vocabularySize
        precondition(t <= config.contextLength, "sequence length \(t) exceeds the context length \(config.contextLength)")
        let act = workspace.activations(config: config, lora: lora?.config, rows: n, probabilities: n * h * t, sequences: b)
        let record = ForwardRecord(batch: batch, activations: act, pass: workspace.passes, hasLogitGradient: computeGradient && scoring)
        let p = parameters.pointer
        batch.tokens.withUnsafeBufferPointer { tokens in
            embeddingForward(tokens: tokens.baseAddress!, wte: p + base.wte, wpe: p + base.wpe, x: act.residual[0].pointer, rows: n, length: t, width: d, vocabulary: v)
        }
        for layer in 0..<config.layerCount {
            let w = base.blocks[layer], a = act.blocks[layer]
            let input = act.residual[layer], output = act.residual[layer + 1]
            layerNormForward(x: input.pointer, weight: p + w.ln1Weight, bias: p + w.ln1Bias, y: a.ln1.pointer, mean: a.ln1Mean.pointer, rstd: a.ln1Rstd.pointer, rows: n, width: d, epsilon: config.layerNormEpsilon)
            projectionForward(.attentionQKV, layer: layer, a, x: a.ln1, inputWidth: d, weight: w.attentionWeight, bias: w.attentionBias, y: a.qkv, outputWidth: 3 * d, residual: nil, rows: n)
            attentionForward(a, sequences: b, length: t)
            projectionForward(.attentionProjection, layer: layer, a, x: a.attention, inputWidth: d, weight: w.attentionProjectionWeight, bias: w.attentionProjectionBias, y: a.residualMid, outputWidth: d, residual: input, rows: n)
            layerNormForward(x: a.residualMid.pointer, weight: p + w.ln2Weight, bias: p + w.ln2Bias, y: a.ln2.pointer, mean: a.ln2Mean.pointer, rstd: a.ln2Rstd.pointer, rows: n, width: d, epsilon: config.layerNormEpsilon)
            projectionForward(.mlpExpansion, layer: layer, a, x: a.ln2, inputWidth: d, weight: w.fcWeight, bias: w.fcBias, y: a.fcPre, outputWidth: 4 * d, residual: nil, rows: n)
            geluForward(x: a.fcPre.pointer, y: a.fcOut.pointer, tanhOut: a.fcTanh.pointer, count: n * 4 * d)
            projectionForward(.mlpProjection, layer: layer, a, x: a.fcOut, inputWidth: 4 * d, weight: w.mlpProjectionWeight, bias: w.mlpProjectionBias, y: output, outputWidth: d, residual: a.residualMid, rows: n)
        }
        let last = act.residual[config.layerCount]
        layerNormForward(x: last.pointer, weight: p + base.lnfWeight, bias: p + base.lnfBias, y: act.lnf.pointer, mean: act.lnfMean.pointer, rstd: act.lnfRstd.pointer, rows: n, width: d, epsilon: config.layerNormEpsilon)
        // Tied LM head: logits = ln_f(x) · wteᵀ.
        BLAS.gemm(act.lnf.matrix(0, rows: n, columns: d), parameters.matrix(base.wte, rows: v, columns: d).transposed, into: act.logits.mutableMatrix(0, rows: n, columns: v))
        if !scoring { return record }
        batch.targets.withUnsafeBufferPointer { targets in
            batch.mask.withUnsafeBufferPointer { mask in
                crossEntropy(logits: act.logits.pointer, targets: targets.baseAddress!, mask: mask.baseAddress!, sequenceCount: b, length: t, vocabulary: v, computeGradient: computeGradient, losses: act.losses.pointer)
            }
        }
        return record
    }

    /// `y[N×out] = x·W + bias (+ residual) (+ (α/r)·(x·A)·B` when the projection is adapted,
    /// x·A kept in the block's activations `a`).
    private func projectionForward(_ target: LoRATarget, layer: Int, _ a: BlockActivations, x: FloatStorage, inputWidth: Int, weight: Int, bias: Int, y: FloatStorage, outputWidth: Int, residual: FloatStorage?, rows n: Int) {
        let p = parameters.pointer
        let yView = y.mutableMatrix(0, rows: n, columns: outputWidth)
        if let residual {
            for r in 0..<n {
                let yr = y.pointer + r * outputWidth, rr = residual.pointer + r * outputWidth
                for j in 0..<outputWidth { yr[j] = rr[j] + p[bias + j] }
            }
            BLAS.gemm(x.matrix(0, rows: n, columns: inputWidth), parameters.matrix(weight, rows: inputWidth, columns: outputWidth), into: yView, beta: 1)
        } else {
            linearForward(x: x.matrix(0, rows: n, columns: inputWidth), weight: parameters.matrix(weight, rows: inputWidth, columns: outputWidth), bias: p + bias, y: yView)
        }
        if let lora, let adapters, let site = lora.sites[layer][target] {
            let r = lora.config.rank
            let hidden = a.loraHidden[target]!
            BLAS.gemm(x.matrix(0, rows: n, columns: inputWidth), adapters.matrix(site.a, rows: inputWidth, columns: r), into: hidden.mutableMatrix(0, rows: n, columns: r))
            BLAS.gemm(hidden.matrix(0, rows: n, columns: r), adapters.matrix(site.b, rows: r, columns: outputWidth), into: yView, alpha: lora.config.scale, beta: 1)
        }
    }

    /// Causal multi-head self-attention (Vaswani et al. 2017, eq. 1) for every (sequence, head):
    /// `P = softmax_causal(Q·Kᵀ/√hd)`, `O = P·V`, with Q, K, V column blocks of `qkv` (N × 3d)
    /// and O written into `attention` (N × d) at the head's columns. All score products run
    /// first, then the softmaxes, then the products with V.
    private func attentionForward(_ a: BlockActivations, sequences b: Int, length t: Int) {
        let d = config.width, h = config.headCount, hd = config.headWidth
        let scale = 1 / Float(hd).squareRoot()
        for pair in 0 ..< b * h {
            let (s, head) = pair.quotientAndRemainder(dividingBy: h)
            let rowBase = s * t * 3 * d + head * hd
            let q = a.qkv.matrix(rowBase, rows: t, columns: hd, stride: 3 * d)
            let k = a.qkv.matrix(rowBase + d, rows: t, columns: hd, stride: 3 * d)
            BLAS.gemm(q, k.transposed, into: a.probabilities.mutableMatrix(pair * t * t, rows: t, columns: t), alpha: scale)
        }
        let probabilities = a.probabilities.pointer
        for pair in 0 ..< (b * h) { causalSoftmax(probabilities + pair * t * t, length: t) }
        for pair in 0 ..< b * h {
            let (s, head) = pair.quotientAndRemainder(dividingBy: h)
            let v = a.qkv.matrix(s * t * 3 * d + head * hd + 2 * d, rows: t, columns: hd, stride: 3 * d)
            BLAS.gemm(a.probabilities.matrix(pair * t * t, rows: t, columns: t), v, into: a.attention.mutableMatrix(s * t * d + head * hd, rows: t, columns: hd, stride: d))
        }
    }

    // MARK: - Backward (activation gradients)

    /// Fills the workspace's gradient record from the d(loss)/d(logits) that
    /// `forward(computeGradient: true)` left in `record`, and returns both for
    /// `writeParameterGradient`, valid until the model's next forward pass.
    func backward(_ record: ForwardRecord) -> BackwardRecord {
        precondition(record.hasLogitGradient, "backward needs a forward pass that computed the loss gradient")
        precondition(record.pass == workspace.passes, "a forward record is valid only until the model's next forward pass")
        let batch = record.batch
        let b = batch.sequenceCount, t = batch.length, n = b * t
        let d = config.width, v = config.vocabularySize
        let act = record.activations
        let g = workspace.gradients(config: config, lora: lora?.config, rows: n, probabilities: n * config.headCount * t)
        let p = parameters.pointer
        let baseTrainable = lora == nil
        // LM head (tied): d ln_f = dlogits · wte.
        BLAS.gemm(act.logits.matrix(0, rows: n, columns: v), parameters.matrix(base.wte, rows: v, columns: d), into: g.dLnf.mutableMatrix(0, rows: n, columns: d))
        let top = g.dResidual[config.layerCount]
        top.pointer.update(repeating: 0, count: n * d)
        layerNormBackwardInput(dy: g.dLnf.pointer, x: act.residual[config.layerCount].pointer, weight: p + base.lnfWeight, mean: act.lnfMean.pointer, rstd: act.lnfRstd.pointer, dx: top.pointer, rows: n, width: d)
        for layer in (0..<config.layerCount).reversed() {
            let w = base.blocks[layer], a = act.blocks[layer], gb = g.blocks[layer]
            let dOutput = g.dResidual[layer + 1], dInput = g.dResidual[layer]
            // MLP sub-block.
            projectionBackward(.mlpProjection, layer: layer, gb, dy: dOutput, outputWidth: d, weight: w.mlpProjectionWeight, dx: gb.dFcOut, inputWidth: 4 * d, rows: n, needInput: true)
            geluBackward(dy: gb.dFcOut.pointer, x: a.fcPre.pointer, tanhValues: a.fcTanh.pointer, dx: gb.dFcPre.pointer, count: n * 4 * d)
            projectionBackward(.mlpExpansion, layer: layer, gb, dy: gb.dFcPre, outputWidth: 4 * d, weight: w.fcWeight, dx: gb.dLn2, inputWidth: d, rows: n, needInput: true)
            gb.dResidualMid.pointer.update(from: dOutput.pointer, count: n * d)
            layerNormBackwardInput(dy: gb.dLn2.pointer, x: a.residualMid.pointer, weight: p + w.ln2Weight, mean: a.ln2Mean.pointer, rstd: a.ln2Rstd.pointer, dx: gb.dResidualMid.pointer, rows: n, width: d)
            // Attention sub-block.
            projectionBackward(.attentionProjection, layer: layer, gb, dy: gb.dResidualMid, outputWidth: d, weight: w.attentionProjectionWeight, dx: gb.dAttention, inputWidth: d, rows: n, needInput: true)
            attentionBackward(a, gb, dScores: g.dScores, sequences: b, length: t)
            // Below block 0 only the embeddings remain: frozen under LoRA, so stop there.
            let needInput = baseTrainable || layer > 0
            projectionBackward(.attentionQKV, layer: layer, gb, dy: gb.dQkv, outputWidth: 3 * d, weight: w.attentionWeight, dx: gb.dLn1, inputWidth: d, rows: n, needInput: needInput)
            if needInput {
                dInput.pointer.update(from: gb.dResidualMid.pointer, count: n * d)
                layerNormBackwardInput(dy: gb.dLn1.pointer, x: act.residual[layer].pointer, weight: p + w.ln1Weight, mean: a.ln1Mean.pointer, rstd: a.ln1Rstd.pointer, dx: dInput.pointer, rows: n, width: d)
            }
        }
        return BackwardRecord(forward: record, gradients: g)
    }

    /// `dx = dy·Wᵀ (+ dh·Aᵀ)` and, for an adapted projection, `dh = (α/r)·dy·Bᵀ` kept in the
    /// block's gradients `g` for the adapter gradients. With `needInput == false` only dh is
    /// computed.
    private func projectionBackward(_ target: LoRATarget, layer: Int, _ g: BlockGradients, dy: FloatStorage, outputWidth: Int, weight: Int, dx: FloatStorage, inputWidth: Int, rows n: Int, needInput: Bool) {
        let dyView = dy.matrix(0, rows: n, columns: outputWidth)
        let dxView = dx.mutableMatrix(0, rows: n, columns: inputWidth)
        if needInput {
            linearBackwardInput(dy: dyView, weight: parameters.matrix(weight, rows: inputWidth, columns: outputWidth), dx: dxView, beta: 0)
        }
        if let lora, let adapters, let site = lora.sites[layer][target] {
            let r = lora.config.rank
            let dHidden = g.loraDHidden[target]!
            BLAS.gemm(dyView, adapters.matrix(site.b, rows: r, columns: outputWidth).transposed, into: dHidden.mutableMatrix(0, rows: n, columns: r), alpha: lora.config.scale)
            if needInput {
                BLAS.gemm(dHidden.matrix(0, rows: n, columns: r), adapters.matrix(site.a, rows: inputWidth, columns: r).transposed, into: dxView, beta: 1)
            }
        }
    }

    /// Backward of `attentionForward` for every (sequence, head): with dO the head's columns
    /// of dAttention, `dV = Pᵀ·dO`, `dP = dO·Vᵀ`, `dS = P ⊙ (dP − rowsum(P ⊙ dP)) / √hd`,
    /// `dQ = dS·K`, `dK = dSᵀ·Q`, all written into dQkv; `dScores` is B·H·T² floats of scratch.
    private func attentionBackward(_ a: BlockActivations, _ g: BlockGradients, dScores: FloatStorage, sequences b: Int, length t: Int) {
        let d = config.width, h = config.headCount, hd = config.headWidth
        let scale = 1 / Float(hd).squareRoot()
        for pair in 0 ..< b * h {
            let (s, head) = pair.quotientAndRemainder(dividingBy: h)
            let rowBase = s * t * 3 * d + head * hd
            let v = a.qkv.matrix(rowBase + 2 * d, rows: t, columns: hd, stride: 3 * d)
            let dOut = g.dAttention.matrix(s * t * d + head * hd, rows: t, columns: hd, stride: d)
            BLAS.gemm(a.probabilities.matrix(pair * t * t, rows: t, columns: t).transposed, dOut, into: g.dQkv.mutableMatrix(rowBase + 2 * d, rows: t, columns: hd, stride: 3 * d))
            BLAS.gemm(dOut, v.transposed, into: dScores.mutableMatrix(pair * t * t, rows: t, columns: t))
        }
        let probabilities = a.probabilities.pointer, gradients = dScores.pointer
        for pair in 0 ..< (b * h) {
            causalSoftmaxBackward(probabilities: probabilities + pair * t * t, gradient: gradients + pair * t * t, length: t, scale: scale)
        }
        for pair in 0 ..< b * h {
            let (s, head) = pair.quotientAndRemainder(dividingBy: h)
            let rowBase = s * t * 3 * d + head * hd
            let q = a.qkv.matrix(rowBase, rows: t, columns: hd, stride: 3 * d)
            let k = a.qkv.matrix(rowBase + d, rows: t, columns: hd, stride: 3 * d)
            let dS = dScores.matrix(pair * t * t, rows: t, columns: t)
            BLAS.gemm(dS, k, into: g.dQkv.mutableMatrix(rowBase, rows: t, columns: hd, stride: 3 * d))
            BLAS.gemm(dS.transposed, q, into: g.dQkv.mutableMatrix(rowBase + d, rows: t, columns: hd, stride: 3 * d))
        }
    }

    // MARK: - Parameter gradients for a range of sequences

    /// Overwrites `destination` (P = `trainableParameterCount` floats, laid out as
    /// `trainableTensors`) with `alpha · Σ_{s ∈ sequences} ∇ loss_s` for the batch of `record`.
    func writeParameterGradient(_ record: BackwardRecord, sequences: Range<Int>, alpha: Float, into destination: UnsafeMutablePointer<Float>, count: Int) {
        precondition(record.forward.pass == workspace.passes, "a backward record is valid only until the model's next forward pass")
        let batch = record.forward.batch
        let t = batch.length
        let rows = sequences.lowerBound * t ..< sequences.upperBound * t
        let k = rows.count, r0 = rows.lowerBound
        if let lora {
            let r = lora.config.rank
            for layer in 0..<config.layerCount {
                for (target, adapter) in lora.sites[layer] {
                    let s = site(target, layer: layer, record)
                    let hidden = record.forward.activations.blocks[layer].loraHidden[target]!
                    let dHidden = record.gradients.blocks[layer].loraDHidden[target]!
                    // dA = xᵀ·dh (in × r); dB = (α/r)·hᵀ·dy (r × out).
                    BLAS.gemm(s.input.matrix(r0 * s.inputWidth, rows: k, columns: s.inputWidth).transposed, dHidden.matrix(r0 * r, rows: k, columns: r),
                              into: mutableMatrix(destination, count: count, offset: adapter.a, rows: s.inputWidth, columns: r), alpha: alpha)
                    BLAS.gemm(hidden.matrix(r0 * r, rows: k, columns: r).transposed, s.outputGradient.matrix(r0 * s.outputWidth, rows: k, columns: s.outputWidth),
                              into: mutableMatrix(destination, count: count, offset: adapter.b, rows: r, columns: s.outputWidth), alpha: alpha * lora.config.scale)
                }
            }
            return
        }
        let d = config.width, v = config.vocabularySize
        let act = record.forward.activations, g = record.gradients
        for layer in 0..<config.layerCount {
            let w = base.blocks[layer], a = act.blocks[layer], gb = g.blocks[layer]
            layerNormParameterGradient(dy: gb.dLn1.pointer, x: act.residual[layer].pointer, mean: a.ln1Mean.pointer, rstd: a.ln1Rstd.pointer, rows: rows, width: d, alpha: alpha, dWeight: destination + w.ln1Weight, dBias: destination + w.ln1Bias)
            for target in LoRATarget.allCases {
                let s = site(target, layer: layer, record)
                let (weight, bias) = baseProjectionOffsets(target, layer: layer)
                linearParameterGradient(
                    x: s.input.matrix(r0 * s.inputWidth, rows: k, columns: s.inputWidth),
                    dy: s.outputGradient.matrix(r0 * s.outputWidth, rows: k, columns: s.outputWidth), alpha: alpha,
                    dWeight: mutableMatrix(destination, count: count, offset: weight, rows: s.inputWidth, columns: s.outputWidth),
                    dBias: destination + bias)
            }
            layerNormParameterGradient(dy: gb.dLn2.pointer, x: a.residualMid.pointer, mean: a.ln2Mean.pointer, rstd: a.ln2Rstd.pointer, rows: rows, width: d, alpha: alpha, dWeight: destination + w.ln2Weight, dBias: destination + w.ln2Bias)
        }
        layerNormParameterGradient(dy: g.dLnf.pointer, x: act.residual[config.layerCount].pointer, mean: act.lnfMean.pointer, rstd: act.lnfRstd.pointer, rows: rows, width: d, alpha: alpha, dWeight: destination + base.lnfWeight, dBias: destination + base.lnfBias)
        // wte: dense part from the tied LM head, then the rows the inputs selected.
        BLAS.gemm(act.logits.matrix(r0 * v, rows: k, columns: v).transposed, act.lnf.matrix(r0 * d, rows: k, columns: d),
                  into: mutableMatrix(destination, count: count, offset: base.wte, rows: v, columns: d), alpha: alpha)
        batch.tokens.withUnsafeBufferPointer { tokens in
            embeddingParameterGradient(tokens: tokens.baseAddress!, dx: g.dResidual[0].pointer, rows: rows, length: t, width: d, contextLength: config.contextLength, alpha: alpha, dWte: destination + base.wte, dWpe: destination + base.wpe)
        }
    }
}
