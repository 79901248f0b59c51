import Foundation
import LinearAlgebra
import Randomness

/// A GPT-2-architecture language model in float32 with exact hand-written gradients
/// (docs/BASE_MODEL.md): token and learned position embeddings, pre-LayerNorm blocks (causal multi-head
/// attention, GELU-tanh MLP of width 4d), a final LayerNorm and an LM head tied to `wte`.
///
/// Parameters live in one flat vector described by a table of HuggingFace-named tensors
/// (`tensors`). Without LoRA every base parameter is trainable; after `enableLoRA` only the
/// adapter tensors are, and no base-weight gradient is computed.
///
/// Losses: a sequence's loss is the mask-weighted mean next-token NLL over its positions (0 if
/// its mask is all zero); a batch's loss is the mean of its sequences' losses.
///
/// Not thread-safe: a model owns scratch buffers reused across calls (grown on demand, never
/// shrunk), so use one model per thread; `replica()` gives another thread a model that shares
/// the parameters. BLAS may use several threads inside one call.
public final class GPTModel {
    /// The architecture.
    public let config: GPTConfig
    let base: BaseLayout
    let parameters: FloatStorage
    var lora: LoRALayout?
    var adapters: FloatStorage?
    /// Buffers the passes write into and return records of (ModelWorkspace.swift).
    var workspace = ModelWorkspace()
    /// Forward-only passes are split into sub-batches so the N × V logits stay below this many
    /// floats (GPT-2's 50257-token vocabulary would otherwise need gigabytes for long batches).
    static let forwardLogitBudget = 16 << 20

    /// A model initialised as GPT-2 (Radford et al. 2019, §2.3): weights N(0, 0.02²), the two
    /// residual projections (`attn.c_proj`, `mlp.c_proj`) N(0, (0.02/√(2·layers))²), biases 0,
    /// LayerNorm gains 1. Each tensor draws from its own Philox stream named after it, so the
    /// values of one tensor do not depend on the others.
    ///
    /// Precondition: `config.validate()` succeeds (use `init(validating:seed:)` for untrusted
    /// configurations).
    public init(config: GPTConfig, seed: UInt64) {
        do { try config.validate() } catch { preconditionFailure(error.localizedDescription) }
        self.config = config
        base = BaseLayout(config)
        parameters = FloatStorage(count: base.table.totalCount)
        let residualStd = 0.02 / (2 * Double(config.layerCount)).squareRoot()
        for info in base.table.tensors {
            let values = parameters.pointer + info.offset
            if info.name.hasSuffix(".bias") { continue }  // storage starts at zero
            if info.name.hasPrefix("ln_f") || info.name.contains(".ln_") {
                values.update(repeating: 1, count: info.count)
                continue
            }
            let std = info.name.hasSuffix("c_proj.weight") ? residualStd : 0.02
            var rng = Philox(seed: seed, stream: "init/" + info.name)
            for i in 0..<info.count { values[i] = Float(rng.nextGaussian() * std) }
        }
    }

    /// A replica sharing `other`'s parameter storage, with its own scratch buffers.
    private init(sharingParametersOf other: GPTModel) {
        config = other.config
        base = other.base
        parameters = other.parameters
        lora = other.lora
        adapters = other.adapters
    }

    /// A model that computes with THIS model's parameters (base and adapters: the same storage,
    /// not a copy) but owns its scratch buffers, so that it can run forward and backward passes
    /// on another thread at the same time as this model (data parallelism, see
    /// `parallelMap`). Writes through either model (`setTrainableParameters`,
    /// `updateTrainableParameters`, `setTensor`) are seen by both; they must not overlap a pass
    /// running on the other.
    ///
    /// A replica reflects the LoRA state at the time it is made: after `enableLoRA` or
    /// `mergeLoRA` on either model, make new replicas.
    public func replica() -> GPTModel {
        GPTModel(sharingParametersOf: self)
    }

    /// Validates `config` first and throws its error instead of stopping.
    public convenience init(validating config: GPTConfig, seed: UInt64) throws(ModelError) {
        try config.validate()
        self.init(config: config, seed: seed)
    }

    // MARK: - Named tensors (for checkpoints)

    /// The base tensors in HF GPT-2 order, with shapes and offsets into the base vector.
    public var tensors: [TensorInfo] { base.table.tensors }

    /// The adapter tensors (`h.{i}.<module>.lora_A` in × r, `…lora_B` r × out), empty without
    /// LoRA. Offsets index the trainable vector when LoRA is on.
    public var adapterTensors: [TensorInfo] { lora?.table.tensors ?? [] }

    /// Names of every tensor `tensor(named:)` accepts: base tensors, then adapters.
    public var tensorNames: [String] { tensors.map(\.name) + adapterTensors.map(\.name) }

    /// Number of base parameters (LoRA adapters excluded).
    public var parameterCount: Int { base.table.totalCount }

    /// The active LoRA configuration, nil when the base model is trained directly.
    public var loRAConfig: LoRAConfig? { lora?.config }

    /// The values of a base or adapter tensor, row-major.
    public func tensor(named name: String) throws(ModelError) -> [Float] {
        let (storage, info) = try locate(name)
        return Array(UnsafeBufferPointer(start: storage.pointer + info.offset, count: info.count))
    }

    /// Replaces a base or adapter tensor. Throws `tensorShapeMismatch` unless `shape` equals the
    /// model's shape for `name` and `values` has that many elements.
    public func setTensor(named name: String, shape: [Int], values: [Float]) throws(ModelError) {
        let (storage, info) = try locate(name)
        guard shape == info.shape else { throw .tensorShapeMismatch(name: name, expected: info.shape, actual: shape) }
        guard values.count == info.count else { throw .tensorShapeMismatch(name: name, expected: info.shape, actual: [values.count]) }
        values.withUnsafeBufferPointer { (storage.pointer + info.offset).update(from: $0.baseAddress!, count: info.count) }
    }

    private func locate(_ name: String) throws(ModelError) -> (FloatStorage, TensorInfo) {
        if let info = base.table.info(name) { return (parameters, info) }
        if let lora, let adapters, let info = lora.table.info(name) { return (adapters, info) }
        throw .unknownTensor(name: name)
    }

    // MARK: - Trainable parameters

    /// The tensors of the trainable vector in order: `adapterTensors` with LoRA, else `tensors`.
    public var trainableTensors: [TensorInfo] { lora?.table.tensors ?? base.table.tensors }

    /// Length P of the trainable vector and of every gradient.
    public var trainableParameterCount: Int { lora?.table.totalCount ?? base.table.totalCount }

    var trainableStorage: FloatStorage { adapters ?? parameters }

    /// A copy of the trainable parameters in the layout of `trainableTensors`.
    public func trainableParameters() -> [Float] {
        Array(UnsafeBufferPointer(start: trainableStorage.pointer, count: trainableParameterCount))
    }

    /// Replaces the trainable parameters. Precondition: `values.count == trainableParameterCount`.
    public func setTrainableParameters(_ values: [Float]) {
        precondition(values.count == trainableParameterCount, "expected \(trainableParameterCount) trainable parameters, got \(values.count)")
        values.withUnsafeBufferPointer { trainableStorage.pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    /// Updates the trainable parameters in place (for optimizers that avoid a copy). The buffer
    /// is valid only inside `body`.
    public func updateTrainableParameters<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeMutableBufferPointer(start: trainableStorage.pointer, count: trainableParameterCount))
    }

    // MARK: - LoRA

    /// Freezes the base model and adds adapters on `lora.targets` of every block (Hu et al.
    /// 2021): A (in × r) drawn N(0, 1/(3·in)), the variance of the Kaiming-uniform initialiser
    /// used by PEFT, and B (r × out) zero, so the model's outputs are unchanged until B trains.
    /// Each adapter tensor draws from its own Philox stream of `seed`.
    ///
    /// Throws `invalidLoRA` for a bad configuration (including a rank above the width) and
    /// `loRAAlreadyEnabled` if adapters exist.
    public func enableLoRA(_ config: LoRAConfig, seed: UInt64) throws(ModelError) {
        try config.validate(for: self.config)
        if lora != nil { throw .loRAAlreadyEnabled }
        let layout = LoRALayout(config, model: self.config)
        let storage = FloatStorage(count: layout.table.totalCount)
        for info in layout.table.tensors where info.name.hasSuffix("lora_A") {
            let std = 1 / (3 * Double(info.shape[0])).squareRoot()
            var rng = Philox(seed: seed, stream: "lora-init/" + info.name)
            for i in 0..<info.count { storage.pointer[info.offset + i] = Float(rng.nextGaussian() * std) }
        }
        lora = layout
        adapters = storage
        workspace.release()  // buffer sets depend on the adapters
    }

    /// Folds every adapter into its base weight, `W ← W + (α/r)·A·B`, and removes the
    /// adapters: the model computes the same function (up to float rounding) with plain
    /// GPT-2 tensors, ready for export, and all base parameters become trainable again.
    /// Does nothing without LoRA.
    public func mergeLoRA() {
        guard let lora, let adapters else { return }
        let s = lora.config.scale, r = lora.config.rank
        for (layer, sites) in lora.sites.enumerated() {
            for (target, site) in sites {
                let weightOffset = baseWeightOffset(target, layer: layer)
                BLAS.gemm(
                    adapters.matrix(site.a, rows: site.inputWidth, columns: r),
                    adapters.matrix(site.b, rows: r, columns: site.outputWidth),
                    into: parameters.mutableMatrix(weightOffset, rows: site.inputWidth, columns: site.outputWidth),
                    alpha: s, beta: 1)
            }
        }
        self.lora = nil
        self.adapters = nil
        workspace.release()
    }

    func baseWeightOffset(_ target: LoRATarget, layer: Int) -> Int {
        baseProjectionOffsets(target, layer: layer).weight
    }

    /// Offsets of a projection's weight and bias in the base vector.
    func baseProjectionOffsets(_ target: LoRATarget, layer: Int) -> (weight: Int, bias: Int) {
        let block = base.blocks[layer]
        switch target {
        case .attentionQKV: return (block.attentionWeight, block.attentionBias)
        case .attentionProjection: return (block.attentionProjectionWeight, block.attentionProjectionBias)
        case .mlpExpansion: return (block.fcWeight, block.fcBias)
        case .mlpProjection: return (block.mlpProjectionWeight, block.mlpProjectionBias)
        }
    }

    // MARK: - Losses and gradients

    /// Per-sequence losses (forward only), one per sequence of `batch`.
    ///
    /// Precondition: `batch.length <= config.contextLength`, input tokens in the vocabulary,
    /// targets under a non-zero mask in the vocabulary.
    public func sequenceLosses(_ batch: TokenBatch) -> [Float] {
        let perChunk = max(1, GPTModel.forwardLogitBudget / max(1, batch.length * config.vocabularySize))
        if batch.sequenceCount > perChunk {
            return stride(from: 0, to: batch.sequenceCount, by: perChunk).flatMap { start in
                sequenceLosses(batch.sequences(start ..< min(start + perChunk, batch.sequenceCount)))
            }
        }
        return forward(batch, computeGradient: false).losses
    }

    /// The logits for every position, a row-major (B·T) × V matrix (forward only; targets and
    /// mask are not read). For evaluation, sampling and tests.
    public func logits(_ batch: TokenBatch) -> [Float] {
        let record = forward(batch, computeGradient: false, scoring: false)
        return Array(UnsafeBufferPointer(start: record.activations.logits.pointer, count: batch.sequenceCount * batch.length * config.vocabularySize))
    }

    /// The batch loss (mean of per-sequence losses) and its gradient with respect to the
    /// trainable parameters (`trainableParameterCount` floats).
    public func lossAndGradient(_ batch: TokenBatch) -> (loss: Float, gradient: [Float]) {
        let record = forwardAndBackward(batch)
        let losses = record.forward.losses
        let count = trainableParameterCount
        let gradient = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            writeParameterGradient(record, sequences: 0 ..< batch.sequenceCount, alpha: 1 / Float(batch.sequenceCount), into: buffer.baseAddress!, count: count)
            initialized = count
        }
        return (losses.reduce(0, +) / Float(losses.count), gradient)
    }

    /// Per-unit gradients from one batched forward and backward pass.
    ///
    /// `units` are ranges of sequence indices (normally disjoint and contiguous: one privacy
    /// unit's sequences). Unit u's gradient is the MEAN over its sequences of the gradient of
    /// each sequence's loss (zero for an empty range). Returns the per-sequence losses and a
    /// row-major U × P matrix, P = `trainableParameterCount`. Memory is U·P floats: for full
    /// fine-tuning with many units prefer `clippedGradientSum`.
    public func perUnitGradients(_ batch: TokenBatch, units: [Range<Int>]) -> (losses: [Float], gradients: [Float]) {
        checkUnits(units, batch)
        let record = forwardAndBackward(batch)
        let p = trainableParameterCount
        let gradients = [Float](unsafeUninitializedCapacity: units.count * p) { buffer, initialized in
            for (u, unit) in units.enumerated() {
                writeUnitGradient(record, unit: unit, into: buffer.baseAddress! + u * p, count: p)
            }
            initialized = units.count * p
        }
        return (record.forward.losses, gradients)
    }

    /// `Σ_u clip(g_u, C)` with `clip(g) = g · min(1, C/‖g‖₂)` (Abadi et al. 2016, Alg. 1), where
    /// g_u is unit u's gradient as in `perUnitGradients`, plus every unit's ‖g_u‖₂ and the
    /// per-sequence losses, from one batched forward/backward.
    ///
    /// Full fine-tuning with several units uses ghost clipping (GhostClipping.swift) where it is
    /// the cheaper path (large models: `ClippingPath.automatic`): each norm from the unit's
    /// rows of activations and output gradients, then one row-weighted parameter gradient, so
    /// the cost is that of `lossAndGradient` plus the norms (about T_u²·(in + out)
    /// multiply-adds per unit and projection for T_u tokens). Otherwise (LoRA, a single unit,
    /// small models) unit gradients are materialised one at a time. Either way memory
    /// beyond the model is at most 2·P floats whatever the number of units. The paths sum in
    /// different orders, so they agree up to float32 rounding; each is deterministic.
    ///
    /// Precondition: `clipNorm > 0`.
    public func clippedGradientSum(_ batch: TokenBatch, units: [Range<Int>], clipNorm: Float) -> (losses: [Float], sum: [Float], norms: [Float]) {
        let path = ClippingPath.automatic(config: config, hasLoRA: lora != nil, parameterCount: trainableParameterCount, units: units, length: batch.length)
        return clippedGradientSum(batch, units: units, clipNorm: clipNorm, path: path)
    }

    func checkUnits(_ units: [Range<Int>], _ batch: TokenBatch) {
        for unit in units {
            precondition(unit.lowerBound >= 0 && unit.upperBound <= batch.sequenceCount, "unit \(unit) is outside the batch's sequences 0..<\(batch.sequenceCount)")
        }
    }

    func writeUnitGradient(_ record: BackwardRecord, unit: Range<Int>, into destination: UnsafeMutablePointer<Float>, count: Int) {
        if unit.isEmpty {
            destination.update(repeating: 0, count: count)
        } else {
            writeParameterGradient(record, sequences: unit, alpha: 1 / Float(unit.count), into: destination, count: count)
        }
    }

    private func forwardAndBackward(_ batch: TokenBatch) -> BackwardRecord {
        backward(forward(batch, computeGradient: true))
    }
}

extension GPTModel {
    /// Floating-point operations of the matrix products one `lossAndGradient` step performs on
    /// a batch of `sequenceCount` × `length` tokens, counted as executed: 2·m·n·k per product,
    /// attention over the full T × T score matrix (the causal half is masked after the product),
    /// and, under LoRA, no base-weight gradients and no input gradient below block 0.
    /// Elementwise work (LayerNorm, GELU, softmax, cross-entropy) is not counted.
    public func stepFLOPs(sequenceCount: Int, length: Int) -> (forward: Double, backward: Double) {
        let n = Double(sequenceCount * length), t = Double(length), b = Double(sequenceCount)
        let d = Double(config.width), v = Double(config.vocabularySize), layers = Double(config.layerCount)
        let linear = 2 * n * 12 * d * d  // Σ in·out over the four projections is 12d²
        let attention = 4 * b * t * t * d  // Q·Kᵀ and P·V over all heads
        let head = 2 * n * d * v
        var forward = layers * (linear + attention) + head
        var backward = layers * 2 * attention  // dP, dV, dQ, dK
        if let lora {
            let r = Double(lora.config.rank)
            var adapters = 0.0
            for sites in lora.sites {
                for (_, site) in sites { adapters += 2 * n * r * Double(site.inputWidth + site.outputWidth) }
            }
            forward += adapters
            backward += layers * linear - 2 * n * d * 3 * d  // input gradients, none into block 0's c_attn
            backward += 2 * adapters  // dh and dA, dB; the dx += dh·Aᵀ below block 0 is skipped
            if let first = lora.sites.first?[.attentionQKV] { backward -= 2 * n * r * Double(first.inputWidth) }
            backward += head  // d ln_f only
        } else {
            backward += layers * 2 * linear + 2 * head
        }
        return (forward, backward)
    }
}
