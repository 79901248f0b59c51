import LanguageModel
import Randomness

/// Shared fixtures for the model tests: a tiny model with parameters far from initialisation
/// (so every gradient is non-trivial) and batches with padding and masks.
enum ModelFixture {
    static let config = GPTConfig(vocabularySize: 13, contextLength: 8, width: 8, layerCount: 2, headCount: 2)

    /// A tiny model whose every tensor is randomised (LayerNorm gains near 1).
    static func model(seed: UInt64 = 7) -> GPTModel {
        let model = GPTModel(config: config, seed: seed)
        randomise(model, tensors: model.tensors, seed: seed)
        return model
    }

    /// Overwrites the named tensors with random values of a scale that keeps softmaxes soft.
    static func randomise(_ model: GPTModel, tensors: [TensorInfo], seed: UInt64) {
        for info in tensors {
            var rng = Philox(seed: seed, stream: "fixture/" + info.name)
            let isGain = info.name.contains("ln_") && info.name.hasSuffix(".weight")
            let values = (0..<info.count).map { _ -> Float in
                let g = Float(rng.nextGaussian())
                return isGain ? 1 + 0.2 * g : 0.4 * g
            }
            try! model.setTensor(named: info.name, shape: info.shape, values: values)
        }
    }

    static func randomTokens(_ count: Int, seed: UInt64, vocabulary: Int = config.vocabularySize) -> [Int32] {
        var rng = Philox(seed: seed, stream: "fixture/tokens")
        return (0..<count).map { _ in Int32(rng.next() % UInt64(vocabulary)) }
    }

    /// B = 4 sequences of T = 6: a full one, one padded after 4 positions (padding targets are
    /// -1 to prove they are never read), one with a hole in its mask, one with no target at all.
    static func batch(seed: UInt64 = 11) -> TokenBatch {
        let b = 4, t = 6
        let tokens = randomTokens(b * t, seed: seed)
        var targets = randomTokens(b * t, seed: seed + 1)
        var mask = [Float](repeating: 1, count: b * t)
        for position in 4..<t {
            mask[1 * t + position] = 0
            targets[1 * t + position] = -1
        }
        mask[2 * t + 2] = 0
        for position in 0..<t { mask[3 * t + position] = 0 }
        return TokenBatch(tokens: tokens, targets: targets, mask: mask, sequenceCount: b, length: t)
    }

    /// B sequences of T, all positions scored.
    static func fullBatch(sequences b: Int, length t: Int, seed: UInt64) -> TokenBatch {
        TokenBatch(tokens: randomTokens(b * t, seed: seed), targets: randomTokens(b * t, seed: seed + 1),
                   mask: [Float](repeating: 1, count: b * t), sequenceCount: b, length: t)
    }
}

/// Largest |a − b| / max(|a|, |b|, floor) over two equal-length vectors, with its index.
func maxRelativeDifference(_ a: [Float], _ b: [Float], floor: Float) -> (error: Float, index: Int) {
    precondition(a.count == b.count)
    var worst: Float = 0, index = -1
    for i in a.indices {
        let e = abs(a[i] - b[i]) / max(abs(a[i]), abs(b[i]), floor)
        if e > worst { worst = e; index = i }
    }
    return (worst, index)
}

/// max|a − b| / max|b| (the ∞-norm relative difference), for comparing one computation done in
/// two summation orders. Float32 sums of n terms in different orders differ by up to about
/// n·2⁻²⁴ of the sum of the terms' magnitudes; in a gradient a coordinate can cancel to near
/// zero while its terms stay large, so an elementwise relative bound is not meaningful there,
/// while the terms' magnitudes are of the order of the largest coordinate.
func normwiseRelativeDifference(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var difference = 0.0, scale = 0.0
    for i in a.indices {
        difference = max(difference, abs(Double(a[i]) - Double(b[i])))
        scale = max(scale, abs(Double(b[i])))
    }
    return scale == 0 ? difference : difference / scale
}

/// The result of comparing analytic gradients with central differences.
struct GradientCheck {
    var maxRelativeError = 0.0
    var worst = ""
    var checkedTensors: [String] = []
    var checkedCoordinates = 0
}

/// Central differences of the Double reference batch loss, step h, on up to `samples` random
/// coordinates of every trainable tensor, compared with `gradient` (the model's analytic
/// gradient in the trainable layout). Error: |analytic − numeric| / max(|analytic|, |numeric|,
/// floor).
func checkGradient(model: GPTModel, batch: TokenBatch, gradient: [Float], samples: Int, step h: Double = 1e-4, floor: Double = 1e-3) -> GradientCheck {
    var check = GradientCheck()
    var reference = ReferenceGPT(model: model)
    for info in model.trainableTensors {
        var rng = Philox(seed: 3, stream: "fd/" + info.name)
        var indices = Set<Int>()
        while indices.count < min(samples, info.count) { indices.insert(Int(rng.next() % UInt64(info.count))) }
        let original = reference.values[info.name]!
        for i in indices.sorted() {
            reference.values[info.name]![i] = original[i] + h
            let plus = reference.batchLoss(batch)
            reference.values[info.name]![i] = original[i] - h
            let minus = reference.batchLoss(batch)
            reference.values[info.name]![i] = original[i]
            let numeric = (plus - minus) / (2 * h)
            let analytic = Double(gradient[info.offset + i])
            let error = abs(analytic - numeric) / max(abs(analytic), abs(numeric), floor)
            if error > check.maxRelativeError {
                check.maxRelativeError = error
                check.worst = "\(info.name)[\(i)]: analytic \(analytic), numeric \(numeric)"
            }
            check.checkedCoordinates += 1
        }
        check.checkedTensors.append(info.name)
    }
    return check
}
