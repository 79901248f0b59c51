/// The shape of a GPT-2-architecture model (docs/BASE_MODEL.md).
///
/// Codable with the keys of HuggingFace's GPT-2 `config.json` (`vocab_size`, `n_positions`,
/// `n_embd`, `n_layer`, `n_head`, `layer_norm_epsilon`), so a real GPT-2 configuration decodes
/// directly; other keys in such a file are ignored, and a missing `layer_norm_epsilon` means
/// GPT-2's 1e-5. Call `validate()` before building a model from decoded values.
public struct GPTConfig: Codable, Equatable, Hashable, Sendable {
    /// Number of token ids, `wte` has this many rows.
    public var vocabularySize: Int
    /// Maximum sequence length (positions in `wpe`).
    public var contextLength: Int
    /// Model width d (embedding size).
    public var width: Int
    /// Number of transformer blocks.
    public var layerCount: Int
    /// Number of attention heads; must divide `width`.
    public var headCount: Int
    /// The ε added to the variance in every LayerNorm (GPT-2: 1e-5).
    public var layerNormEpsilon: Float

    /// A configuration; see the properties for meanings. Not validated here: see `validate()`.
    public init(vocabularySize: Int, contextLength: Int, width: Int, layerCount: Int, headCount: Int, layerNormEpsilon: Float = 1e-5) {
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.width = width
        self.layerCount = layerCount
        self.headCount = headCount
        self.layerNormEpsilon = layerNormEpsilon
    }

    /// GPT-2 small (124M parameters) as published by OpenAI / HuggingFace.
    public static let gpt2Small = GPTConfig(vocabularySize: 50257, contextLength: 1024, width: 768, layerCount: 12, headCount: 12)

    enum CodingKeys: String, CodingKey {
        case vocabularySize = "vocab_size"
        case contextLength = "n_positions"
        case width = "n_embd"
        case layerCount = "n_layer"
        case headCount = "n_head"
        case layerNormEpsilon = "layer_norm_epsilon"
    }

    /// Decodes HF GPT-2 `config.json` keys; `layer_norm_epsilon` defaults to 1e-5.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabularySize = try c.decode(Int.self, forKey: .vocabularySize)
        contextLength = try c.decode(Int.self, forKey: .contextLength)
        width = try c.decode(Int.self, forKey: .width)
        layerCount = try c.decode(Int.self, forKey: .layerCount)
        headCount = try c.decode(Int.self, forKey: .headCount)
        layerNormEpsilon = try c.decodeIfPresent(Float.self, forKey: .layerNormEpsilon) ?? 1e-5
    }

    /// Width of one attention head, `width / headCount`.
    public var headWidth: Int { width / headCount }

    /// Throws `ModelError.invalidConfiguration` naming the first field that cannot describe a
    /// model: non-positive sizes, a width the heads do not divide, or a non-positive ε.
    public func validate() throws(ModelError) {
        let positive: [(String, Int)] = [
            ("vocab_size", vocabularySize), ("n_positions", contextLength), ("n_embd", width),
            ("n_layer", layerCount), ("n_head", headCount),
        ]
        for (key, value) in positive where value <= 0 {
            throw .invalidConfiguration(key: key, reason: "must be positive, got \(value)")
        }
        if width % headCount != 0 {
            throw .invalidConfiguration(key: "n_head", reason: "\(headCount) heads do not divide n_embd = \(width)")
        }
        if !(layerNormEpsilon > 0) {
            throw .invalidConfiguration(key: "layer_norm_epsilon", reason: "must be positive, got \(layerNormEpsilon)")
        }
        // Every buffer index must fit comfortably; 2^31 elements is far beyond a CPU model.
        if vocabularySize > Int(Int32.max) || width > 1 << 20 || contextLength > 1 << 20 {
            throw .invalidConfiguration(key: "n_embd", reason: "model dimensions exceed the supported range")
        }
    }
}

/// The projections LoRA can adapt, named by their HuggingFace GPT-2 module names.
public enum LoRATarget: String, Codable, CaseIterable, Comparable, Sendable {
    /// `attn.c_attn`: the fused query/key/value projection, d → 3d.
    case attentionQKV = "c_attn"
    /// `attn.c_proj`: the attention output projection, d → d.
    case attentionProjection = "attn.c_proj"
    /// `mlp.c_fc`: the MLP expansion, d → 4d.
    case mlpExpansion = "c_fc"
    /// `mlp.c_proj`: the MLP output projection, 4d → d.
    case mlpProjection = "mlp.c_proj"

    /// The tensor-name stem under `h.{i}.`, e.g. `attn.c_attn`.
    public var modulePath: String {
        switch self {
        case .attentionQKV: "attn.c_attn"
        case .attentionProjection: "attn.c_proj"
        case .mlpExpansion: "mlp.c_fc"
        case .mlpProjection: "mlp.c_proj"
        }
    }

    /// Canonical order (the order adapters are laid out in the trainable vector).
    public static func < (a: LoRATarget, b: LoRATarget) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// Low-rank adaptation (Hu et al. 2021, "LoRA", arXiv 2106.09685, eq. 3): a frozen projection
/// `y = x·W + b` becomes `y = x·W + b + (alpha / rank) · x·A·B` with A: in × rank and
/// B: rank × out, A random and B zero at initialisation so the adapted model starts equal to
/// the base model.
public struct LoRAConfig: Codable, Equatable, Hashable, Sendable {
    /// The rank r of every adapter; at least 1.
    public var rank: Int
    /// The α of the scale α / r (Hu et al. §4.1); positive.
    public var alpha: Float
    /// Which projections of every block get an adapter; not empty.
    public var targets: Set<LoRATarget>

    /// An adapter configuration; checked by `validate()` (and by `GPTModel.enableLoRA`).
    public init(rank: Int, alpha: Float, targets: Set<LoRATarget>) {
        self.rank = rank
        self.alpha = alpha
        self.targets = targets
    }

    /// The multiplier α / r applied to `x·A·B`.
    public var scale: Float { alpha / Float(rank) }

    /// Throws `ModelError.invalidLoRA` when the rank is below 1, α is not positive or there is
    /// no target.
    public func validate() throws(ModelError) {
        if rank < 1 { throw .invalidLoRA(reason: "rank must be at least 1, got \(rank)") }
        if !(alpha > 0) || !alpha.isFinite { throw .invalidLoRA(reason: "alpha must be positive and finite, got \(alpha)") }
        if targets.isEmpty { throw .invalidLoRA(reason: "no target projections; choose from \(LoRATarget.allCases.map(\.rawValue))") }
    }

    /// Also throws `ModelError.invalidLoRA` when the rank exceeds the model's width `n_embd`
    /// (the smallest side of every adapted projection): a larger rank adds no expressiveness,
    /// and a huge one would try to allocate rank × width floats per adapter.
    public func validate(for model: GPTConfig) throws(ModelError) {
        try validate()
        if rank > model.width {
            throw .invalidLoRA(reason: "rank \(rank) exceeds the model's width n_embd = \(model.width); use a rank in 1...\(model.width)")
        }
    }
}
