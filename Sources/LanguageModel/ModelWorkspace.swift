// Buffers that persist across steps: the forward activations the backward pass reads, and the
// "gradient record" (every activation gradient a parameter gradient needs). Keeping the whole
// record, rather than reusing one buffer per layer, is what lets per-unit parameter gradients
// come from ONE batched backward pass: any row range can be turned into a parameter gradient
// afterwards (docs/BASE_MODEL.md).

/// The buffers a model's passes write into, kept across calls so that a training step
/// allocates nothing: grown on demand, never shrunk, dropped when the adapters change (their
/// shapes depend on them). `passes` counts forward passes, so that a `ForwardRecord` or
/// `BackwardRecord`, which names these buffers rather than copying them, can tell whether they
/// still hold its pass.
struct ModelWorkspace {
    /// Forward passes begun (and workspaces released), the stamp of the current pass.
    private(set) var passes = 0
    private var activations: Activations?
    private var gradients: GradientRecord?
    private var scratchStorage: FloatStorage?

    /// Activations for a new forward pass over `rows` rows, reallocated when the current ones are
    /// too small. Records of earlier passes become stale.
    mutating func activations(config: GPTConfig, lora: LoRAConfig?, rows: Int, probabilities: Int, sequences: Int) -> Activations {
        passes &+= 1
        if let activations, activations.rowCapacity >= rows, activations.probabilityCapacity >= probabilities, activations.losses.count >= sequences {
            return activations
        }
        activations = nil  // free before allocating the larger set
        let fresh = Activations(config: config, lora: lora, rows: rows, probabilityCount: probabilities, sequenceCount: sequences)
        activations = fresh
        return fresh
    }

    /// The gradient record for a backward pass over `rows` rows, reallocated when too small.
    mutating func gradients(config: GPTConfig, lora: LoRAConfig?, rows: Int, probabilities: Int) -> GradientRecord {
        if let gradients, gradients.rowCapacity >= rows, gradients.probabilityCapacity >= probabilities {
            return gradients
        }
        gradients = nil
        let fresh = GradientRecord(config: config, lora: lora, rows: rows, probabilityCount: probabilities)
        gradients = fresh
        return fresh
    }

    /// At least `count` floats of scratch for work between passes (per-unit norms, scaled
    /// copies of activations), reallocated when too small. Contents are undefined; the buffer
    /// may be replaced by the next call, so take it once per computation and carve it up.
    mutating func scratch(count: Int) -> FloatStorage {
        if let scratchStorage, scratchStorage.count >= count { return scratchStorage }
        scratchStorage = nil
        let fresh = FloatStorage(count: count)
        scratchStorage = fresh
        return fresh
    }

    /// Drops the buffers (after the adapters change) and ends the current pass.
    mutating func release() {
        activations = nil
        gradients = nil
        scratchStorage = nil
        passes &+= 1
    }
}

/// Activations of one transformer block for N rows.
final class BlockActivations {
    let ln1, ln1Mean, ln1Rstd: FloatStorage
    let qkv: FloatStorage  // N × 3d, row = [q | k | v], heads contiguous inside each
    let probabilities: FloatStorage  // B × H × T × T causal softmax
    let attention: FloatStorage  // N × d, concatenated head outputs (before attn.c_proj)
    let residualMid: FloatStorage  // N × d, residual after the attention sub-block
    let ln2, ln2Mean, ln2Rstd: FloatStorage
    let fcPre, fcTanh, fcOut: FloatStorage  // N × 4d: c_fc output, its GELU tanh, GELU output
    /// x·A per adapted projection, N × rank.
    let loraHidden: [LoRATarget: FloatStorage]

    init(rows n: Int, probabilityCount: Int, width d: Int, lora: LoRAConfig?) {
        ln1 = FloatStorage(count: n * d)
        ln1Mean = FloatStorage(count: n)
        ln1Rstd = FloatStorage(count: n)
        qkv = FloatStorage(count: n * 3 * d)
        probabilities = FloatStorage(count: probabilityCount)
        attention = FloatStorage(count: n * d)
        residualMid = FloatStorage(count: n * d)
        ln2 = FloatStorage(count: n * d)
        ln2Mean = FloatStorage(count: n)
        ln2Rstd = FloatStorage(count: n)
        fcPre = FloatStorage(count: n * 4 * d)
        fcTanh = FloatStorage(count: n * 4 * d)
        fcOut = FloatStorage(count: n * 4 * d)
        var hidden: [LoRATarget: FloatStorage] = [:]
        for target in lora?.targets ?? [] { hidden[target] = FloatStorage(count: n * lora!.rank) }
        loraHidden = hidden
    }
}

/// All forward activations for up to `rowCapacity` rows.
final class Activations {
    let rowCapacity: Int, probabilityCapacity: Int
    let residual: [FloatStorage]  // L + 1 buffers, N × d: block inputs, then ln_f's input
    let blocks: [BlockActivations]
    let lnf, lnfMean, lnfRstd: FloatStorage
    let logits: FloatStorage  // N × V; after a gradient forward, d(per-sequence loss)/d(logits)
    let losses: FloatStorage

    init(config: GPTConfig, lora: LoRAConfig?, rows n: Int, probabilityCount: Int, sequenceCount: Int) {
        rowCapacity = n
        probabilityCapacity = probabilityCount
        let d = config.width
        residual = (0...config.layerCount).map { _ in FloatStorage(count: n * d) }
        blocks = (0..<config.layerCount).map { _ in BlockActivations(rows: n, probabilityCount: probabilityCount, width: d, lora: lora) }
        lnf = FloatStorage(count: n * d)
        lnfMean = FloatStorage(count: n)
        lnfRstd = FloatStorage(count: n)
        logits = FloatStorage(count: n * config.vocabularySize)
        losses = FloatStorage(count: sequenceCount)
    }
}

/// Activation gradients of one block, all of the per-sequence losses (not yet scaled by a batch
/// or unit size).
final class BlockGradients {
    let dLn1: FloatStorage  // N × d, gradient at ln_1's output
    let dQkv: FloatStorage  // N × 3d
    let dAttention: FloatStorage  // N × d, at the concatenated head outputs
    let dResidualMid: FloatStorage  // N × d
    let dLn2: FloatStorage  // N × d
    let dFcPre: FloatStorage  // N × 4d, at c_fc's output
    let dFcOut: FloatStorage  // N × 4d, at GELU's output
    /// s · dY · Bᵀ per adapted projection, N × rank: the gradient at x·A.
    let loraDHidden: [LoRATarget: FloatStorage]

    init(rows n: Int, width d: Int, lora: LoRAConfig?) {
        dLn1 = FloatStorage(count: n * d)
        dQkv = FloatStorage(count: n * 3 * d)
        dAttention = FloatStorage(count: n * d)
        dResidualMid = FloatStorage(count: n * d)
        dLn2 = FloatStorage(count: n * d)
        dFcPre = FloatStorage(count: n * 4 * d)
        dFcOut = FloatStorage(count: n * 4 * d)
        var hidden: [LoRATarget: FloatStorage] = [:]
        for target in lora?.targets ?? [] { hidden[target] = FloatStorage(count: n * lora!.rank) }
        loraDHidden = hidden
    }
}

/// The gradient record for up to `rowCapacity` rows.
final class GradientRecord {
    let rowCapacity: Int
    let dResidual: [FloatStorage]  // L + 1, N × d; dResidual[0] is the embedding gradient
    let blocks: [BlockGradients]
    let dLnf: FloatStorage  // N × d
    let probabilityCapacity: Int
    let dScores: FloatStorage  // B × H × T × T, shared by the blocks (used one block at a time)

    init(config: GPTConfig, lora: LoRAConfig?, rows n: Int, probabilityCount: Int) {
        rowCapacity = n
        probabilityCapacity = probabilityCount
        let d = config.width
        dResidual = (0...config.layerCount).map { _ in FloatStorage(count: n * d) }
        blocks = (0..<config.layerCount).map { _ in BlockGradients(rows: n, width: d, lora: lora) }
        dLnf = FloatStorage(count: n * d)
        dScores = FloatStorage(count: probabilityCount)
    }
}
