import Foundation
import LinearAlgebra

// The model's layers as paired forward/backward kernels over flat row-major float32 buffers.
// Conventions: N = rows (tokens) of the batch, a "row range" selects tokens whose parameter
// gradient is wanted, and every `...ParameterGradient` function OVERWRITES its outputs with
// `alpha · Σ_{rows}` of the per-row contributions, so one call per (tensor, unit) yields that
// unit's gradient. Input-gradient functions ACCUMULATE into `dx` where a residual adds, as
// documented per function. `ReferenceGPT` is the slow, obviously-correct oracle for all of it.

/// Owned, zero-initialised float storage that lives across steps.
final class FloatStorage {
    let buffer: UnsafeMutableBufferPointer<Float>

    init(count: Int) {
        buffer = .allocate(capacity: max(count, 1))
        buffer.initialize(repeating: 0)
    }

    deinit { buffer.deallocate() }

    var pointer: UnsafeMutablePointer<Float> { buffer.baseAddress! }
    var count: Int { buffer.count }

    /// A read-only matrix view at `offset`.
    func matrix(_ offset: Int, rows: Int, columns: Int, stride: Int? = nil) -> MatrixView {
        MatrixView(UnsafeBufferPointer(buffer), offset: offset, rows: rows, columns: columns, rowStride: stride)
    }

    /// A writable matrix view at `offset`.
    func mutableMatrix(_ offset: Int, rows: Int, columns: Int, stride: Int? = nil) -> MutableMatrixView {
        MutableMatrixView(buffer, offset: offset, rows: rows, columns: columns, rowStride: stride)
    }
}

/// A writable matrix view over a raw gradient destination of `count` floats.
func mutableMatrix(_ base: UnsafeMutablePointer<Float>, count: Int, offset: Int, rows: Int, columns: Int) -> MutableMatrixView {
    MutableMatrixView(UnsafeMutableBufferPointer(start: base, count: count), offset: offset, rows: rows, columns: columns)
}

// MARK: - Vector helpers (SIMD accumulators: float reductions do not auto-vectorise)

@inline(__always)
func vectorSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    let raw = UnsafeRawPointer(p)
    while i + 8 <= n {
        acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

@inline(__always)
func vectorDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    while i + 8 <= n {
        acc += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

// MARK: - Linear (HF Conv1D layout: weight in × out, y = x·W + b)

/// Forward: `y[N×out] = x[N×in] · weight[in×out] + bias[out]` (overwrites y).
func linearForward(x: MatrixView, weight: MatrixView, bias: UnsafePointer<Float>, y: MutableMatrixView) {
    let out = y.columns
    let base = y.buffer.baseAddress! + y.offset
    for r in 0..<y.rows { (base + r * y.rowStride).update(from: bias, count: out) }
    BLAS.gemm(x, weight, into: y, beta: 1)
}

/// Backward to the input: `dx[N×in] = dy[N×out] · weightᵀ + beta · dx`.
func linearBackwardInput(dy: MatrixView, weight: MatrixView, dx: MutableMatrixView, beta: Float) {
    BLAS.gemm(dy, weight.transposed, into: dx, beta: beta)
}

/// Parameter gradient over the rows of `x` and `dy` (already restricted to a row range):
/// `dWeight[in×out] = alpha · xᵀ·dy`, `dBias[out] = alpha · Σ_rows dy` (both overwritten).
func linearParameterGradient(x: MatrixView, dy: MatrixView, alpha: Float, dWeight: MutableMatrixView, dBias: UnsafeMutablePointer<Float>) {
    BLAS.gemm(x.transposed, dy, into: dWeight, alpha: alpha)
    columnSum(dy, alpha: alpha, into: dBias)
}

/// `out[j] = alpha · Σ_i m[i, j]` (overwrites).
func columnSum(_ m: MatrixView, alpha: Float, into out: UnsafeMutablePointer<Float>) {
    let n = m.columns
    out.update(repeating: 0, count: n)
    let base = m.buffer.baseAddress! + m.offset
    for r in 0..<m.rows {
        let row = base + r * m.rowStride
        for j in 0..<n { out[j] += row[j] }
    }
    if alpha != 1 { for j in 0..<n { out[j] *= alpha } }
}

/// `out[j] = Σ_i weights[i] · m[i, j]` (overwrites): the bias gradient of rows weighted one by
/// one (`weights` has `m.rows` entries).
func weightedColumnSum(_ m: MatrixView, weights: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
    let n = m.columns
    out.update(repeating: 0, count: n)
    let base = m.buffer.baseAddress! + m.offset
    for r in 0..<m.rows {
        let row = base + r * m.rowStride, w = weights[r]
        if w == 0 { continue }
        for j in 0..<n { out[j] += w * row[j] }
    }
}

/// `out[i, :] = weights[i] · x[i, :]` for `rows` dense rows of `width` (overwrites out): a
/// row-weighted copy, so that one product `(w ⊙ X)ᵀ·dY` gives a row-weighted gradient.
func scaleRows(_ x: UnsafePointer<Float>, rows: Int, width: Int, weights: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let w = weights[r], xr = x + r * width, yr = out + r * width
        if w == 0 {
            yr.update(repeating: 0, count: width)
        } else {
            for i in 0..<width { yr[i] = w * xr[i] }
        }
    }
}

// MARK: - LayerNorm (Ba et al. 2016), eps inside the square root as in GPT-2

/// Forward over N rows of width d: `y = (x − μ)/√(σ² + eps) · weight + bias`; stores μ and
/// 1/√(σ² + eps) per row for the backward pass.
func layerNormForward(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    rows: Int, width d: Int, epsilon: Float
) {
    for r in 0 ..< rows {
        let xr = x + r * d, yr = y + r * d
        let m = vectorSum(xr, d) / Float(d)
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= d {
            let c = load8(xr + i) - m
            acc += c * c
            i += 8
        }
        var v = acc.sum()
        while i < d { let c = xr[i] - m; v += c * c; i += 1 }
        let s = 1 / (v / Float(d) + epsilon).squareRoot()
        for i in 0..<d { yr[i] = (xr[i] - m) * s * weight[i] + bias[i] }
        mean[r] = m
        rstd[r] = s
    }
}

/// Backward to the input, ACCUMULATING into dx (the residual stream):
/// `dx += rstd · (g − mean(g) − x̂ · mean(g·x̂))` with `g = dy · weight`, x̂ the normalised input.
func layerNormBackwardInput(
    dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    rows: Int, width d: Int
) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * d) { scratch in
        let xhat = scratch.baseAddress!, g = xhat + d
        for r in 0 ..< rows {
            let dyr = dy + r * d, xr = x + r * d, dxr = dx + r * d
            let m = mean[r], s = rstd[r]
            for i in 0..<d {
                xhat[i] = (xr[i] - m) * s
                g[i] = dyr[i] * weight[i]
            }
            let gMean = vectorSum(g, d) / Float(d)
            let gxMean = vectorDot(g, xhat, d) / Float(d)
            for i in 0..<d { dxr[i] += s * (g[i] - gMean - xhat[i] * gxMean) }
        }
    }
}

/// Parameter gradient over rows `rows` (overwrites): `dWeight = alpha · Σ dy·x̂`,
/// `dBias = alpha · Σ dy`.
func layerNormParameterGradient(
    dy: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    rows: Range<Int>, width d: Int, alpha: Float, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>
) {
    dWeight.update(repeating: 0, count: d)
    dBias.update(repeating: 0, count: d)
    for r in rows {
        let dyr = dy + r * d, xr = x + r * d
        let m = mean[r], s = rstd[r]
        for i in 0..<d {
            dWeight[i] += dyr[i] * ((xr[i] - m) * s)
            dBias[i] += dyr[i]
        }
    }
    if alpha != 1 {
        for i in 0..<d {
            dWeight[i] *= alpha
            dBias[i] *= alpha
        }
    }
}

/// The row-weighted parameter gradient over rows `0..<rows` (overwrites):
/// `dWeight = Σ_r weights[r] · dy_r·x̂_r`, `dBias = Σ_r weights[r] · dy_r`.
func layerNormWeightedParameterGradient(
    dy: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
    rows: Int, width d: Int, weights: UnsafePointer<Float>, dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>
) {
    dWeight.update(repeating: 0, count: d)
    dBias.update(repeating: 0, count: d)
    for r in 0..<rows {
        let w = weights[r]
        if w == 0 { continue }
        let dyr = dy + r * d, xr = x + r * d
        let m = mean[r], s = rstd[r]
        for i in 0..<d {
            let g = w * dyr[i]
            dWeight[i] += g * ((xr[i] - m) * s)
            dBias[i] += g
        }
    }
}

// MARK: - GELU, tanh approximation (Hendrycks & Gimpel 2016, §2), GPT-2's "gelu_new"

let geluScale: Float = 0.7978845608028654  // √(2/π)
let geluCubic: Float = 0.044715

/// tanh(u) = 1 − 2/(1 + e^{2u}) through `exp8`: absolute error ~1e-7, saturating cleanly.
@inline(__always)
func tanh8(_ u: SIMD8<Float>) -> SIMD8<Float> {
    1 - 2 / (1 + exp8(u + u))
}

/// Forward over `count` elements: `y = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))`; stores the tanh
/// for the backward pass.
func geluForward(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, tanhOut: UnsafeMutablePointer<Float>, count: Int) {
    for block in 0 ..< (count / 8) {
        let i = block * 8
        let v = load8(x + i)
        let t = tanh8(geluScale * (v + geluCubic * v * v * v))
        store8(t, tanhOut + i)
        store8(0.5 * v * (1 + t), y + i)
    }
    for i in count / 8 * 8 ..< count {
        let v = x[i]
        let t = tanh8(SIMD8(repeating: geluScale * (v + geluCubic * v * v * v)))[0]
        tanhOut[i] = t
        y[i] = 0.5 * v * (1 + t)
    }
}

/// Backward (overwrites dx): `dx = dy · (½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²))`.
func geluBackward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, tanhValues: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0 ..< count {
        let v = x[i], t = tanhValues[i]
        let local = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * geluScale * (1 + 3 * geluCubic * v * v)
        dx[i] = dy[i] * local
    }
}

// MARK: - Causal softmax over attention scores

/// In place over a T×T score matrix: row i becomes softmax(scores[i, 0...i]) and zeros after i.
func causalSoftmax(_ s: UnsafeMutablePointer<Float>, length t: Int) {
    for i in 0..<t {
        let row = s + i * t
        let m = vectorMax(row, i + 1)
        let inv = 1 / exponentiateShifted(row, i + 1, shift: m)
        for j in 0...i { row[j] *= inv }
        if i + 1 < t { (row + i + 1).update(repeating: 0, count: t - i - 1) }
    }
}

/// Softmax backward in place: `dP` (T×T, gradient w.r.t. probabilities) becomes the gradient
/// w.r.t. the scores times `scale`: `dS_ij = scale · P_ij (dP_ij − Σ_k P_ik dP_ik)` for j ≤ i.
func causalSoftmaxBackward(probabilities p: UnsafePointer<Float>, gradient dp: UnsafeMutablePointer<Float>, length t: Int, scale: Float) {
    for i in 0..<t {
        let pr = p + i * t, dr = dp + i * t
        let dotPD = vectorDot(pr, dr, i + 1)
        for j in 0...i { dr[j] = scale * pr[j] * (dr[j] - dotPD) }
        if i + 1 < t { (dr + i + 1).update(repeating: 0, count: t - i - 1) }
    }
}

// MARK: - Cross-entropy with per-sequence mean over masked positions

/// Turns logits (N×V, in place) into per-row losses and, if `computeGradient`, into the
/// gradient of the per-sequence losses: row r of sequence s becomes
/// `mask[r] / Σ_{r'∈s} mask[r'] · (softmax(logits_r) − onehot(target_r))`, rows with mask 0
/// become 0. `losses[s]` receives sequence s's mask-weighted mean NLL (0 if its mask sums to
/// 0). Without `computeGradient` the logits are left unchanged. Sequences run in parallel.
func crossEntropy(
    logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, mask: UnsafePointer<Float>,
    sequenceCount: Int, length: Int, vocabulary v: Int, computeGradient: Bool, losses: UnsafeMutablePointer<Float>
) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: computeGradient ? 0 : v) { scratch in
        for s in 0 ..< sequenceCount {
            var weight: Float = 0
            for t in 0..<length { weight += mask[s * length + t] }
            var total: Double = 0
            for t in 0..<length {
                let r = s * length + t
                let row = logits + r * v
                let m = mask[r]
                if m == 0 {
                    if computeGradient { row.update(repeating: 0, count: v) }
                    continue
                }
                let target = Int(targets[r])
                precondition(target >= 0 && target < v, "target \(target) at row \(r) is outside the vocabulary of \(v)")
                let targetLogit = row[target]
                let maxLogit = vectorMax(row, v)
                // Exponentiate in place when the gradient is wanted, else in scratch.
                let work = computeGradient ? row : scratch.baseAddress!
                if !computeGradient { work.update(from: row, count: v) }
                let sum = exponentiateShifted(work, v, shift: maxLogit)
                total += Double(m) * Double(Foundation.log(sum) + maxLogit - targetLogit)
                if computeGradient {
                    let factor = m / (weight * sum)
                    for j in 0..<v { row[j] *= factor }
                    row[target] -= m / weight
                }
            }
            losses[s] = weight > 0 ? Float(total / Double(weight)) : 0
        }
    }
}

// MARK: - Embeddings

/// Forward: `x[r] = wte[tokens[r]] + wpe[r mod T]` for N = B·T rows of width d.
func embeddingForward(tokens: UnsafePointer<Int32>, wte: UnsafePointer<Float>, wpe: UnsafePointer<Float>, x: UnsafeMutablePointer<Float>, rows: Int, length: Int, width d: Int, vocabulary: Int) {
    for r in 0..<rows {
        let token = Int(tokens[r])
        precondition(token >= 0 && token < vocabulary, "input token \(token) at row \(r) is outside the vocabulary of \(vocabulary)")
        let te = wte + token * d, pe = wpe + (r % length) * d, xr = x + r * d
        for i in 0..<d { xr[i] = te[i] + pe[i] }
    }
}

/// Parameter gradient of the embeddings over `rows` (ACCUMULATES into dWte, overwrites
/// dWpe): `dWte[tokens[r]] += alpha·dx[r]`, `dWpe[r mod T] = alpha · Σ dx[r]`. dWpe covers
/// all `contextLength` rows; positions ≥ T get zero.
func embeddingParameterGradient(
    tokens: UnsafePointer<Int32>, dx: UnsafePointer<Float>, rows: Range<Int>, length: Int, width d: Int,
    contextLength: Int, alpha: Float, dWte: UnsafeMutablePointer<Float>, dWpe: UnsafeMutablePointer<Float>
) {
    dWpe.update(repeating: 0, count: contextLength * d)
    for r in rows {
        let te = dWte + Int(tokens[r]) * d, pe = dWpe + (r % length) * d, g = dx + r * d
        for i in 0..<d {
            let v = alpha * g[i]
            te[i] += v
            pe[i] += v
        }
    }
}

/// The row-weighted parameter gradient of the embeddings over rows `0..<rows` (ACCUMULATES
/// into dWte, overwrites dWpe): `dWte[tokens[r]] += weights[r]·dx[r]`,
/// `dWpe[r mod T] = Σ weights[r]·dx[r]`.
func embeddingWeightedParameterGradient(
    tokens: UnsafePointer<Int32>, dx: UnsafePointer<Float>, rows: Int, length: Int, width d: Int,
    contextLength: Int, weights: UnsafePointer<Float>, dWte: UnsafeMutablePointer<Float>, dWpe: UnsafeMutablePointer<Float>
) {
    dWpe.update(repeating: 0, count: contextLength * d)
    for r in 0..<rows {
        let w = weights[r]
        if w == 0 { continue }
        let te = dWte + Int(tokens[r]) * d, pe = dWpe + (r % length) * d, g = dx + r * d
        for i in 0..<d {
            let v = w * g[i]
            te[i] += v
            pe[i] += v
        }
    }
}
