/// One named tensor inside a flat parameter vector: `count` floats starting at `offset`,
/// row-major with `shape`.
public struct TensorInfo: Equatable, Hashable, Sendable {
    /// HuggingFace GPT-2 name, e.g. `h.3.mlp.c_fc.weight`, or an adapter name such as
    /// `h.3.mlp.c_fc.lora_A`.
    public let name: String
    /// Row-major shape; HF Conv1D weights are in × out.
    public let shape: [Int]
    /// Index of the first element in the flat vector.
    public let offset: Int

    /// Number of elements, the product of `shape`.
    public var count: Int { shape.reduce(1, *) }
    /// The flat-vector range this tensor occupies.
    public var range: Range<Int> { offset ..< offset + count }
}

/// An ordered list of tensors packed back to back into one flat vector.
struct TensorTable: Sendable {
    private(set) var tensors: [TensorInfo] = []
    private var index: [String: Int] = [:]
    private(set) var totalCount = 0

    /// Appends a tensor and returns its offset.
    @discardableResult
    mutating func append(_ name: String, _ shape: [Int]) -> Int {
        precondition(index[name] == nil, "duplicate tensor \(name)")
        let info = TensorInfo(name: name, shape: shape, offset: totalCount)
        index[name] = tensors.count
        tensors.append(info)
        totalCount += info.count
        return info.offset
    }

    func info(_ name: String) -> TensorInfo? { index[name].map { tensors[$0] } }

    /// The offset of a tensor known to exist (layout code only).
    func offset(_ name: String) -> Int { info(name)!.offset }
}

/// Offsets of one transformer block's tensors in the base parameter vector.
struct BlockLayout: Sendable {
    var ln1Weight = 0, ln1Bias = 0
    var attentionWeight = 0, attentionBias = 0
    var attentionProjectionWeight = 0, attentionProjectionBias = 0
    var ln2Weight = 0, ln2Bias = 0
    var fcWeight = 0, fcBias = 0
    var mlpProjectionWeight = 0, mlpProjectionBias = 0
}

/// The base parameter layout of a GPT-2 model, in HF tensor order.
struct BaseLayout: Sendable {
    var table = TensorTable()
    var wte = 0, wpe = 0
    var blocks: [BlockLayout] = []
    var lnfWeight = 0, lnfBias = 0

    init(_ config: GPTConfig) {
        let d = config.width
        wte = table.append("wte.weight", [config.vocabularySize, d])
        wpe = table.append("wpe.weight", [config.contextLength, d])
        for i in 0..<config.layerCount {
            let p = "h.\(i)."
            var b = BlockLayout()
            b.ln1Weight = table.append(p + "ln_1.weight", [d])
            b.ln1Bias = table.append(p + "ln_1.bias", [d])
            b.attentionWeight = table.append(p + "attn.c_attn.weight", [d, 3 * d])
            b.attentionBias = table.append(p + "attn.c_attn.bias", [3 * d])
            b.attentionProjectionWeight = table.append(p + "attn.c_proj.weight", [d, d])
            b.attentionProjectionBias = table.append(p + "attn.c_proj.bias", [d])
            b.ln2Weight = table.append(p + "ln_2.weight", [d])
            b.ln2Bias = table.append(p + "ln_2.bias", [d])
            b.fcWeight = table.append(p + "mlp.c_fc.weight", [d, 4 * d])
            b.fcBias = table.append(p + "mlp.c_fc.bias", [4 * d])
            b.mlpProjectionWeight = table.append(p + "mlp.c_proj.weight", [4 * d, d])
            b.mlpProjectionBias = table.append(p + "mlp.c_proj.bias", [d])
            blocks.append(b)
        }
        lnfWeight = table.append("ln_f.weight", [d])
        lnfBias = table.append("ln_f.bias", [d])
    }
}

/// One adapter: its A (in × rank) and B (rank × out) offsets in the adapter vector.
struct AdapterLayout: Sendable {
    var a: Int, b: Int, inputWidth: Int, outputWidth: Int
}

/// The adapter layout: per block, per target in canonical order, A then B.
struct LoRALayout: Sendable {
    let config: LoRAConfig
    var table = TensorTable()
    /// `sites[layer][target]`, nil where the target is not adapted.
    var sites: [[LoRATarget: AdapterLayout]] = []

    init(_ lora: LoRAConfig, model: GPTConfig) {
        config = lora
        let d = model.width, r = lora.rank
        for i in 0..<model.layerCount {
            var layer: [LoRATarget: AdapterLayout] = [:]
            for target in LoRATarget.allCases where lora.targets.contains(target) {
                let (inWidth, outWidth) = LoRALayout.widths(target, d)
                let stem = "h.\(i).\(target.modulePath)."
                let a = table.append(stem + "lora_A", [inWidth, r])
                let b = table.append(stem + "lora_B", [r, outWidth])
                layer[target] = AdapterLayout(a: a, b: b, inputWidth: inWidth, outputWidth: outWidth)
            }
            sites.append(layer)
        }
    }

    static func widths(_ target: LoRATarget, _ d: Int) -> (Int, Int) {
        switch target {
        case .attentionQKV: (d, 3 * d)
        case .attentionProjection: (d, d)
        case .mlpExpansion: (d, 4 * d)
        case .mlpProjection: (4 * d, d)
        }
    }
}
