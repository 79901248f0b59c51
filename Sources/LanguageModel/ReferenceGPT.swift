import Foundation

/// A slow, obviously-correct GPT-2 forward pass in Double: one position at a time, plain loops,
/// no BLAS, no batching, no shared buffers. It is the oracle the fast path is tested against
/// (losses, logits, and finite-difference gradients) and a way to debug a checkpoint.
///
/// It reads a snapshot of a model's tensors by HF name, including LoRA adapters if present;
/// change `values` to evaluate perturbed parameters.
public struct ReferenceGPT: Sendable {
    /// The architecture.
    public let config: GPTConfig
    /// The active adapters' configuration, if any.
    public let lora: LoRAConfig?
    /// Every tensor by name, widened to Double.
    public var values: [String: [Double]]

    /// Snapshots `model`'s current tensors.
    public init(model: GPTModel) {
        config = model.config
        lora = model.loRAConfig
        var values: [String: [Double]] = [:]
        for name in model.tensorNames {
            values[name] = try! model.tensor(named: name).map(Double.init)
        }
        self.values = values
    }

    /// Per-sequence losses: the mask-weighted mean NLL of each sequence (0 if its mask is 0).
    public func sequenceLosses(_ batch: TokenBatch) -> [Double] {
        (0..<batch.sequenceCount).map { s in
            let logits = sequenceLogits(batch, sequence: s)
            var total = 0.0, weight = 0.0
            for t in 0..<batch.length {
                let m = Double(batch.mask[s * batch.length + t])
                if m == 0 { continue }
                let row = logits[t]
                let top = row.max()!
                let logSum = Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - top) }) + top
                total += m * (logSum - row[Int(batch.targets[s * batch.length + t])])
                weight += m
            }
            return weight > 0 ? total / weight : 0
        }
    }

    /// The batch loss: the mean of `sequenceLosses`.
    public func batchLoss(_ batch: TokenBatch) -> Double {
        let losses = sequenceLosses(batch)
        return losses.reduce(0, +) / Double(losses.count)
    }

    /// Logits of sequence `s`, one row of V values per position.
    public func sequenceLogits(_ batch: TokenBatch, sequence s: Int) -> [[Double]] {
        let d = config.width, t = batch.length
        let wte = values["wte.weight"]!, wpe = values["wpe.weight"]!
        var x: [[Double]] = (0..<t).map { position in
            let token = Int(batch.tokens[s * t + position])
            return (0..<d).map { wte[token * d + $0] + wpe[position * d + $0] }
        }
        for layer in 0..<config.layerCount {
            let p = "h.\(layer)."
            let normed = x.map { layerNorm($0, p + "ln_1") }
            let qkv = normed.map { project($0, layer: layer, module: "attn.c_attn") }
            let heads = attention(qkv)
            for position in 0..<t {
                let update = project(heads[position], layer: layer, module: "attn.c_proj")
                for i in 0..<d { x[position][i] += update[i] }
            }
            for position in 0..<t {
                let hidden = project(layerNorm(x[position], p + "ln_2"), layer: layer, module: "mlp.c_fc").map(ReferenceGPT.gelu)
                let update = project(hidden, layer: layer, module: "mlp.c_proj")
                for i in 0..<d { x[position][i] += update[i] }
            }
        }
        return x.map { row in
            let normed = layerNorm(row, "ln_f")
            return (0..<config.vocabularySize).map { token in
                (0..<d).reduce(0.0) { $0 + normed[$1] * wte[token * d + $1] }
            }
        }
    }

    /// GELU, tanh form, in Double.
    static func gelu(_ x: Double) -> Double {
        0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }

    private func layerNorm(_ x: [Double], _ prefix: String) -> [Double] {
        let w = values[prefix + ".weight"]!, b = values[prefix + ".bias"]!
        let n = Double(x.count)
        let mean = x.reduce(0, +) / n
        let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        let inverse = 1 / (variance + Double(config.layerNormEpsilon)).squareRoot()
        return x.indices.map { (x[$0] - mean) * inverse * w[$0] + b[$0] }
    }

    /// `x·W + b`, plus `(α/r)·x·A·B` if the module has an adapter.
    private func project(_ x: [Double], layer: Int, module: String) -> [Double] {
        let stem = "h.\(layer).\(module)."
        let w = values[stem + "weight"]!, b = values[stem + "bias"]!
        let inWidth = x.count, outWidth = b.count
        var y = b
        for i in 0..<inWidth {
            for j in 0..<outWidth { y[j] += x[i] * w[i * outWidth + j] }
        }
        if let lora, let a = values[stem + "lora_A"], let bMatrix = values[stem + "lora_B"] {
            let r = lora.rank, scale = Double(lora.alpha) / Double(lora.rank)
            var hidden = [Double](repeating: 0, count: r)
            for i in 0..<inWidth {
                for k in 0..<r { hidden[k] += x[i] * a[i * r + k] }
            }
            for k in 0..<r {
                for j in 0..<outWidth { y[j] += scale * hidden[k] * bMatrix[k * outWidth + j] }
            }
        }
        return y
    }

    /// Causal multi-head attention over rows `[q | k | v]`.
    private func attention(_ qkv: [[Double]]) -> [[Double]] {
        let d = config.width, hd = config.headWidth
        var out = [[Double]](repeating: [Double](repeating: 0, count: d), count: qkv.count)
        for head in 0..<config.headCount {
            for i in qkv.indices {
                var scores = (0...i).map { j in
                    (0..<hd).reduce(0.0) { $0 + qkv[i][head * hd + $1] * qkv[j][d + head * hd + $1] } / Double(hd).squareRoot()
                }
                let top = scores.max()!
                scores = scores.map { Foundation.exp($0 - top) }
                let total = scores.reduce(0, +)
                for j in 0...i {
                    for c in 0..<hd { out[i][head * hd + c] += scores[j] / total * qkv[j][2 * d + head * hd + c] }
                }
            }
        }
        return out
    }
}
