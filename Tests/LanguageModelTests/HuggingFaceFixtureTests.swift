import Foundation
import LanguageModel
import Testing

/// The fixture in Fixtures/hf-gpt2-tiny, made by Fixtures/make_hf_gpt2_fixture.py with Hugging
/// Face's `GPT2LMHeadModel` in float64: an independent implementation, run as an oracle. It holds
/// the model's float32 checkpoint as `save_pretrained` wrote it, a padded batch, and float64
/// logits, losses, gradients (batch and per unit) and parameters after a few optimizer steps,
/// for the base model and for LoRA adapters on all four projections (the script's docstring
/// lists the tensor names).
struct HuggingFaceFixture {
    struct Settings: Decodable {
        struct Batch: Decodable {
            let sequences: Int, length: Int
            let tokens: [Int32], targets: [Int32], mask: [Float]
        }
        struct Optimizer: Decodable {
            let lr: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float, steps: Int
            enum CodingKeys: String, CodingKey {
                case lr, beta1, beta2, epsilon, steps
                case weightDecay = "weight_decay"
            }
        }
        struct LoRA: Decodable {
            let rank: Int, alpha: Float, modules: [String], adam: Optimizer
        }
        let version: Int
        let batch: Batch
        let units: [[Int]]
        let adamw: Optimizer
        let lora: LoRA
        /// What torch's own float32 run of the same computations measured, by quantity.
        let torchFloat32Error: [String: Double]
        enum CodingKeys: String, CodingKey {
            case version, batch, units, adamw, lora
            case torchFloat32Error = "torch_float32_normwise_error"
        }
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/hf-gpt2-tiny")

    let settings: Settings
    let reference: SafeTensorsFile
    let batch: TokenBatch
    let units: [Range<Int>]

    init() throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("fixture.json"))
        settings = try JSONDecoder().decode(Settings.self, from: data)
        guard settings.version == 1 else { throw FixtureVersionError(version: settings.version) }
        reference = try SafeTensorsFile(contentsOf: Self.directory.appendingPathComponent("reference.safetensors"))
        let b = settings.batch
        batch = TokenBatch(tokens: b.tokens, targets: b.targets, mask: b.mask, sequenceCount: b.sequences, length: b.length)
        units = settings.units.map { $0[0] ..< $0[1] }
    }

    struct FixtureVersionError: Error { let version: Int }

    /// The base model through userdp's own loader: HF's `transformer.` names, float32.
    func model() throws -> GPTModel {
        try Checkpoint.loadModel(directory: Self.directory)
    }

    /// The base model with the fixture's adapters.
    func adaptedModel() throws -> GPTModel {
        let model = try model()
        let targets = settings.lora.modules.map { module in LoRATarget.allCases.first { $0.modulePath == module }! }
        try model.enableLoRA(LoRAConfig(rank: settings.lora.rank, alpha: settings.lora.alpha, targets: Set(targets)), seed: 0)
        for info in model.adapterTensors {
            // The script drew float32 values and stored them in float64: the conversion is exact.
            try model.setTensor(named: info.name, shape: info.shape, values: try values("lora/initial/" + info.name).map(Float.init))
        }
        return model
    }

    func values(_ name: String) throws -> [Double] { try reference.doubles(name) }
}

/// max|actual − expected| over a tensor and max|expected|, the scale it is judged against.
struct Deviation: CustomStringConvertible {
    var difference = 0.0, scale = 0.0, worst = -1

    init(_ actual: some Collection<Float>, _ expected: [Double], skipping skipped: Range<Int> = 0 ..< 0) {
        precondition(actual.count == expected.count, "\(actual.count) values against \(expected.count)")
        for (i, (a, e)) in zip(actual, expected).enumerated() where !skipped.contains(i) {
            let d = abs(Double(a) - e)
            if d > difference { difference = d; worst = i }
            scale = max(scale, abs(e))
        }
    }

    /// max|actual − expected| / max|expected|.
    var relative: Double { scale == 0 ? difference : difference / scale }
    var description: String { "max difference \(difference) at index \(worst), relative to max |expected| \(scale): \(relative)" }
}

/// Float32 rounding bounds for one model and batch, from Higham (Accuracy and Stability of
/// Numerical Algorithms, 2002, §3.1): a sum of n products computed in floating point is off by
/// at most γ_n ≈ n·u times the sum of the terms' magnitudes, u = 2⁻²⁴. Adding the lengths of
/// the reductions along a computation's longest chain gives a first-order bound on its relative
/// error, to first order and without amplification by cancellation. The errors measured are one
/// to two orders of magnitude smaller, as are those of torch's own float32 run of the fixture
/// (fixture.json, printed beside userdp's); a mistake in a formula moves a value by far more
/// than the bound (a 3% error in one term of GELU's derivative gives 30 times the bound).
struct Float32Bounds {
    static let u = Double(Float.ulpOfOne) / 2
    /// An `exp8`/`tanh8` evaluation (relative error below 3e-7, FastMath.swift), in units of u.
    static let elementwise = 8.0

    /// Roundings on the path from the embeddings to one logit: per block, LayerNorm's mean and
    /// variance (2d), c_attn (d), q·k (hd), the softmax (T and one exp), P·V (T), c_proj and the
    /// residual (d + 1), LayerNorm (2d), c_fc (d), GELU (one tanh), the MLP's c_proj and the
    /// residual (4d + 1); then ln_f (2d), the tied head (d) and the embeddings' sum (1).
    let forwardRoundings: Double
    /// Backward retraces the same chain with transposed products, after the loss's softmax
    /// (V and one exp) and the head's dlogits·wte (V); a weight gradient then sums N = B·T rows.
    let gradientRoundings: Double
    let vocabulary: Double, length: Double

    init(config: GPTConfig, batch: TokenBatch) {
        let d = Double(config.width), hd = Double(config.headWidth), t = Double(batch.length)
        let v = Double(config.vocabularySize), n = Double(batch.sequenceCount * batch.length), e = Self.elementwise
        let block = 2 * d + d + hd + (t + e) + t + (d + 1) + 2 * d + d + e + (4 * d + 1)
        forwardRoundings = Double(config.layerCount) * block + 2 * d + d + 1
        gradientRoundings = 2 * forwardRoundings + (v + e) + v + n
        vocabulary = v
        length = t
    }

    /// Relative (to the largest logit) bound on every logit.
    var logits: Double { forwardRoundings * Self.u }
    /// Relative (to the tensor's largest entry) bound on every gradient tensor.
    var gradient: Double { gradientRoundings * Self.u }

    /// Absolute bound on a sequence or batch loss ℓ: logsumexp(z) − z_target moves by at most
    /// 2·max|Δz|, plus the rounding of the log of a V-term sum and of the mean over T positions.
    func loss(largestLogit: Double, loss: Double) -> Double {
        2 * logits * largestLogit + (vocabulary + Self.elementwise + length) * Self.u * max(1, loss)
    }

    /// Absolute bound on a parameter after `steps` Adam(W) steps of rate `lr`. Adam moves each
    /// coordinate by lr·m̂/(√v̂ + ε), a ratio of order one whatever the gradient's scale, which a
    /// relative gradient error δ changes by about 2δ. The ratio is allowed an error of 1e-3 a
    /// step (δ up to 5e-4 on a coordinate: far above the gradients' normwise bound, which
    /// coordinates much smaller than their tensor's largest entry need). Where a gradient
    /// vanishes exactly (the key biases) nothing holds; they are compared apart. A wrong rule
    /// moves the ratio by more than 1e-2: decoupled decay alone adds λ·|θ| ≈ 0.1 · 0.3. Plus the
    /// rounding of θ itself.
    static func adam(steps: Int, lr: Float, largestParameter: Double) -> Double {
        Double(steps) * Double(lr) * 1e-3 + Double(steps) * 2 * u * largestParameter
    }

    /// The most `steps` Adam steps of rate `lr` can move one coordinate, whatever its gradients:
    /// at step t, |m̂|/√v̂ ≤ (1 − β₁)/(1 − β₁ᵗ) · √((1 − β₂ᵗ)/(1 − β₂)) · √(Σ_{k<t} (β₁²/β₂)ᵏ)
    /// by Cauchy–Schwarz over the gradients' weights in m and v (about 1 for β₁² < β₂; ε only
    /// shrinks the step). Decay not included.
    static func adamReach(steps: Int, lr: Float, beta1: Float, beta2: Float) -> Double {
        let b1 = Double(beta1), b2 = Double(beta2)
        guard steps > 0 else { return 0 }
        var total = 0.0
        for t in 1 ... steps {
            let weights = (0 ..< t).reduce(0.0) { $0 + pow(b1 * b1 / b2, Double($1)) }
            total += (1 - b1) / (1 - pow(b1, Double(t))) * ((1 - pow(b2, Double(t))) / (1 - b2)).squareRoot() * weights.squareRoot()
        }
        return Double(lr) * total
    }
}

@Suite("userdp's GPT-2 against Hugging Face's GPT2LMHeadModel in float64 (Fixtures/hf-gpt2-tiny)")
struct HuggingFaceFixtureTests {
    let fixture: HuggingFaceFixture
    let bounds: Float32Bounds

    init() throws {
        fixture = try HuggingFaceFixture()
        bounds = Float32Bounds(config: try Checkpoint.loadConfig(directory: HuggingFaceFixture.directory), batch: fixture.batch)
    }

    /// The rows of `values` (laid out as `tensors`) for one tensor.
    static func slice(_ values: ArraySlice<Float>, _ info: TensorInfo) -> ArraySlice<Float> {
        values[values.startIndex + info.offset ..< values.startIndex + info.offset + info.count]
    }

    /// Compares every tensor of a parameter-shaped vector with `prefix + name` in the reference
    /// and returns the worst relative deviation.
    @discardableResult
    func expectTensors(_ values: ArraySlice<Float>, of model: GPTModel, prefix: String, _ label: String) throws -> Double {
        var worst = 0.0
        for info in model.trainableTensors {
            let deviation = Deviation(Self.slice(values, info), try fixture.values(prefix + info.name))
            // Tolerance: `bounds.gradient`, the float32 rounding bound of a gradient relative to
            // its tensor's largest entry (Float32Bounds).
            #expect(deviation.relative <= bounds.gradient, "\(label) \(info.name): \(deviation), tolerance \(bounds.gradient)")
            #expect(deviation.scale > 0, "\(label) \(info.name): the reference is zero, so the check proves nothing")
            worst = max(worst, deviation.relative)
        }
        return worst
    }

    @Test("HF's save_pretrained checkpoint loads through Checkpoint.loadModel, every tensor accounted for")
    func checkpointLoads() throws {
        let model = try fixture.model()
        #expect(model.config == GPTConfig(vocabularySize: 45, contextLength: 10, width: 20, layerCount: 2, headCount: 4, layerNormEpsilon: 1e-5))
        let gradientNames = fixture.reference.names.filter { $0.hasPrefix("grad/") }.map { String($0.dropFirst("grad/".count)) }
        #expect(gradientNames.sorted() == model.tensors.map(\.name).sorted(), "the fixture has a gradient for each of userdp's tensors and no other")
        let adapterNames = fixture.reference.names.filter { $0.hasPrefix("lora/grad/") }.map { String($0.dropFirst("lora/grad/".count)) }
        let adapted = try fixture.adaptedModel()
        #expect(adapterNames.sorted() == adapted.adapterTensors.map(\.name).sorted())
    }

    @Test("logits, per-sequence losses and the batch loss")
    func forward() throws {
        let model = try fixture.model()
        try expectForward(model, prefix: "")
    }

    @Test("LoRA: logits, per-sequence losses and the batch loss")
    func loraForward() throws {
        try expectForward(try fixture.adaptedModel(), prefix: "lora/")
    }

    func expectForward(_ model: GPTModel, prefix: String) throws {
        let batch = fixture.batch
        let expectedLogits = try fixture.values(prefix + "logits")
        let logits = Deviation(model.logits(batch), expectedLogits)
        // Tolerance: the float32 rounding bound along the forward chain (Float32Bounds.logits).
        #expect(logits.relative <= bounds.logits, "\(prefix)logits: \(logits), tolerance \(bounds.logits)")
        let largestLogit = expectedLogits.map(abs).max()!
        let expectedLosses = try fixture.values(prefix + "sequence_losses")
        let losses = Deviation(model.sequenceLosses(batch), expectedLosses)
        let lossTolerance = bounds.loss(largestLogit: largestLogit, loss: expectedLosses.max()!)
        // Tolerance: absolute, from the logits' bound through logsumexp (Float32Bounds.loss).
        #expect(losses.difference <= lossTolerance, "\(prefix)sequence losses: \(losses), tolerance \(lossTolerance)")
        let expectedLoss = try fixture.values(prefix + "loss")[0]
        let loss = Double(model.lossAndGradient(batch).loss)
        // Tolerance: the same; the mean of B sequence losses adds B·u·ℓ, inside the bound's T·u·ℓ.
        #expect(abs(loss - expectedLoss) <= lossTolerance, "\(prefix)loss \(loss) vs \(expectedLoss), tolerance \(lossTolerance)")
        print("HF fixture \(prefix.isEmpty ? "base" : "LoRA") forward: logits \(logits.relative) (bound \(bounds.logits), torch float32 \(fixture.settings.torchFloat32Error[prefix + "logits"] ?? .nan)); losses max |Δ| \(losses.difference), batch loss |Δ| \(abs(loss - expectedLoss)) (bound \(lossTolerance))")
    }

    @Test("the gradient of every base tensor")
    func gradients() throws {
        let model = try fixture.model()
        let gradient = model.lossAndGradient(fixture.batch).gradient
        let worst = try expectTensors(gradient[...], of: model, prefix: "grad/", "gradient")
        print("HF fixture base gradients: worst tensor \(worst) (bound \(bounds.gradient), torch float32 \(fixture.settings.torchFloat32Error["grad"] ?? .nan))")
    }

    @Test("LoRA: the gradient of every adapter tensor")
    func loraGradients() throws {
        let model = try fixture.adaptedModel()
        let gradient = model.lossAndGradient(fixture.batch).gradient
        let worst = try expectTensors(gradient[...], of: model, prefix: "lora/grad/", "LoRA gradient")
        print("HF fixture LoRA gradients: worst tensor \(worst) (bound \(bounds.gradient), torch float32 \(fixture.settings.torchFloat32Error["lora/grad"] ?? .nan))")
    }

    @Test("per-unit gradients and their clipped sum, base and LoRA", arguments: ["", "lora/"])
    func perUnitGradients(prefix: String) throws {
        let model = prefix.isEmpty ? try fixture.model() : try fixture.adaptedModel()
        let units = fixture.units
        let p = model.trainableParameterCount
        let (losses, gradients) = model.perUnitGradients(fixture.batch, units: units)
        #expect(losses == model.sequenceLosses(fixture.batch))
        var expectedUnits: [[Double]] = []
        var worst = 0.0
        for u in units.indices {
            let unitPrefix = "\(prefix)unit\(u)/grad/"
            worst = max(worst, try expectTensors(gradients[u * p ..< (u + 1) * p], of: model, prefix: unitPrefix, "\(prefix)unit \(u)"))
            expectedUnits.append(try model.trainableTensors.flatMap { try fixture.values(unitPrefix + $0.name) })
        }
        // The DP aggregate Σ_u g_u·min(1, C/‖g_u‖) with C between the units' norms, so that one
        // unit is clipped and the other is not.
        let norms = expectedUnits.map { g in g.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        let clipNorm = (norms[0] * norms[1]).squareRoot()
        var expectedSum = [Double](repeating: 0, count: p)
        for (g, norm) in zip(expectedUnits, norms) {
            let factor = min(1, clipNorm / norm)
            for i in 0..<p { expectedSum[i] += factor * g[i] }
        }
        let clipped = model.clippedGradientSum(fixture.batch, units: units, clipNorm: Float(clipNorm))
        for (u, norm) in norms.enumerated() {
            // Tolerance: a norm is within the gradient's relative bound of the exact norm.
            #expect(abs(Double(clipped.norms[u]) - norm) <= bounds.gradient * norm, "\(prefix)unit \(u) norm \(clipped.norms[u]) vs \(norm)")
        }
        let sum = Deviation(clipped.sum, expectedSum)
        // Tolerance: the gradient bound plus the clip factor C/‖g‖, whose relative error is that
        // of the norm (the same bound), so twice it.
        #expect(sum.relative <= 2 * bounds.gradient, "\(prefix)clipped sum: \(sum), tolerance \(2 * bounds.gradient)")
        print("HF fixture \(prefix.isEmpty ? "base" : "LoRA") per-unit gradients: worst tensor \(worst), clipped sum \(sum.relative) (bound \(bounds.gradient))")
    }

    @Test("AdamW steps on the base model (LanguageModel's AdamW with the pretraining settings)")
    func adamWSteps() throws {
        let model = try fixture.model()
        let s = fixture.settings.adamw
        let mask = AdamW.decayMask(for: model.trainableTensors, count: model.trainableParameterCount)
        var optimizer = AdamW(decayMask: mask, beta1: s.beta1, beta2: s.beta2, epsilon: s.epsilon, weightDecay: s.weightDecay)
        try expectSteps(model, settings: s, prefix: "adamw/") { optimizer.update($0, gradient: $1, lr: s.lr, workers: 1) }
    }

    @Test("Adam steps on the LoRA adapters (AdamW without decay, the fine-tuning optimizer)")
    func loraAdamSteps() throws {
        let model = try fixture.adaptedModel()
        let s = fixture.settings.lora.adam
        #expect(s.weightDecay == 0)
        var optimizer = AdamW(decayMask: [Bool](repeating: false, count: model.trainableParameterCount), beta1: s.beta1, beta2: s.beta2, epsilon: s.epsilon, weightDecay: 0)
        try expectSteps(model, settings: s, prefix: "lora/adam/") { optimizer.update($0, gradient: $1, lr: s.lr, workers: 1) }
    }

    /// Takes `settings.steps` steps on the fixture's batch and compares the loss before each
    /// step and the parameters after the last with the reference.
    func expectSteps(_ model: GPTModel, settings s: HuggingFaceFixture.Settings.Optimizer, prefix: String, update: (UnsafeMutableBufferPointer<Float>, [Float]) -> Void) throws {
        let gradientPrefix = prefix.hasPrefix("lora/") ? "lora/grad/" : "grad/"
        // ‖∇L‖₁ at the start: a parameter error δ changes the loss by at most ‖∇L‖₁·δ (first order).
        let gradientL1 = try model.trainableTensors.reduce(0.0) { total, info in try fixture.values(gradientPrefix + info.name).reduce(total) { $0 + abs($1) } }
        let largestParameter = Double(model.trainableParameters().map(abs).max()!)
        let parameterTolerance = Float32Bounds.adam(steps: s.steps, lr: s.lr, largestParameter: largestParameter)
        let expectedLosses = try fixture.values(prefix + "losses")
        let largestLogit = try fixture.values((prefix.hasPrefix("lora/") ? "lora/" : "") + "logits").map(abs).max()!
        var lossDifference = 0.0
        for step in 0..<s.steps {
            let (loss, gradient) = model.lossAndGradient(fixture.batch)
            let difference = abs(Double(loss) - expectedLosses[step])
            lossDifference = max(lossDifference, difference)
            // Tolerance: the loss bound, plus the effect of the parameters' own bound after
            // `step` steps through ‖∇L‖₁ (the logits' scale grows little in three steps, so the
            // first step's largest logit stands in, doubled).
            let tolerance = bounds.loss(largestLogit: 2 * largestLogit, loss: expectedLosses[step])
                + gradientL1 * Float32Bounds.adam(steps: step, lr: s.lr, largestParameter: largestParameter)
            #expect(difference <= tolerance, "\(prefix) loss before step \(step + 1): \(loss) vs \(expectedLosses[step]), tolerance \(tolerance)")
            model.updateTrainableParameters { update($0, gradient) }
        }
        let parameters = model.trainableParameters()
        var worst = 0.0
        for info in model.trainableTensors {
            // The key part of each c_attn bias has a gradient of exactly zero (q·b_k shifts a whole
            // row of attention scores, and softmax ignores shifts), so Adam divides rounding noise
            // by its own size and moves it by about ±lr a step, in HF's float64 as in float32:
            // there is nothing to compare. The key bias does not change the model's function.
            let width = model.config.width
            let keyBias = info.name.hasSuffix("attn.c_attn.bias") ? width ..< 2 * width : 0 ..< 0
            let deviation = Deviation(Self.slice(parameters[...], info), try fixture.values(prefix + "final/" + info.name), skipping: keyBias)
            // Tolerance: absolute, Float32Bounds.adam.
            #expect(deviation.difference <= parameterTolerance, "\(prefix)final \(info.name): \(deviation), tolerance \(parameterTolerance)")
            worst = max(worst, deviation.difference)
            if !keyBias.isEmpty {
                let moved = zip(Self.slice(parameters[...], info)[keyBias.shifted(by: info.offset)], try fixture.values(prefix + "final/" + info.name)[keyBias])
                // Tolerance: each side moved at most Adam's reach (Float32Bounds.adamReach).
                let reach = 2 * Float32Bounds.adamReach(steps: s.steps, lr: s.lr, beta1: s.beta1, beta2: s.beta2)
                for (actual, expected) in moved {
                    #expect(abs(Double(actual) - expected) <= reach, "\(prefix)final key bias of \(info.name): \(actual) vs \(expected), tolerance \(reach)")
                }
            }
        }
        print("HF fixture \(prefix) \(s.steps) steps: worst parameter |Δ| \(worst) (bound \(parameterTolerance), torch float32 normwise \(fixture.settings.torchFloat32Error[prefix + "final"] ?? .nan)); worst loss |Δ| \(lossDifference)")
    }
}

extension Range where Bound == Int {
    fileprivate func shifted(by offset: Int) -> Range<Int> { lowerBound + offset ..< upperBound + offset }
}
