import Foundation
import LinearAlgebra

/// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019, "Decoupled Weight Decay
/// Regularization", Algorithm 2), over one flat parameter vector.
///
/// Per step t (from 1), for each coordinate with gradient g:
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`,
/// `θ ← θ − lr·(m̂/(√v̂ + ε) + λ·θ)` where λ applies only to coordinates in `decayMask` (as in
/// GPT-2 practice: matrices and embeddings decay, biases and LayerNorm gains do not). The decay
/// is multiplied by the scheduled lr, as in PyTorch's `AdamW`.
public struct AdamW: Sendable {
    /// Exponential decay of the first moment (β₁).
    public var beta1: Float
    /// Exponential decay of the second moment (β₂).
    public var beta2: Float
    /// Added to √v̂ for stability.
    public var epsilon: Float
    /// Decoupled weight decay λ (per unit learning rate).
    public var weightDecay: Float
    /// Whether each coordinate is decayed.
    public let decayMask: [Bool]
    /// First moments.
    public private(set) var firstMoment: [Float]
    /// Second moments.
    public private(set) var secondMoment: [Float]
    /// Steps taken.
    public private(set) var step = 0

    /// An optimizer for `decayMask.count` parameters with zero moments.
    public init(decayMask: [Bool], beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, weightDecay: Float = 0.1) {
        self.decayMask = decayMask
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        firstMoment = [Float](repeating: 0, count: decayMask.count)
        secondMoment = firstMoment
    }

    /// The decay mask for a model's trainable tensors: true on tensors of rank ≥ 2.
    public static func decayMask(for tensors: [TensorInfo], count: Int) -> [Bool] {
        var mask = [Bool](repeating: false, count: count)
        for info in tensors where info.shape.count >= 2 {
            for index in info.range { mask[index] = true }
        }
        return mask
    }

    /// Applies one update to `parameters` in place. Coordinates are independent, so the update
    /// runs in fixed chunks on `workers` threads (the caller's, as for its passes); the result
    /// is the same bits for every worker count.
    ///
    /// - Precondition: `parameters.count == gradient.count == decayMask.count`, `lr >= 0`.
    public mutating func update(_ parameters: UnsafeMutableBufferPointer<Float>, gradient: [Float], lr: Float, workers: Int) {
        precondition(parameters.count == decayMask.count && gradient.count == decayMask.count, "AdamW: \(parameters.count) parameters, \(gradient.count) gradients, \(decayMask.count) moments")
        step += 1
        let correction1 = 1 - Float(pow(Double(beta1), Double(step)))
        let correction2 = 1 - Float(pow(Double(beta2), Double(step)))
        let (beta1, beta2, epsilon, decay) = (self.beta1, self.beta2, self.epsilon, self.weightDecay)
        let count = gradient.count, chunk = 1 << 16
        decayMask.withUnsafeBufferPointer { mask in
            gradient.withUnsafeBufferPointer { gradient in
                firstMoment.withUnsafeMutableBufferPointer { m in
                    secondMoment.withUnsafeMutableBufferPointer { v in
                        _ = parallelMap((count + chunk - 1) / chunk, workers: count > chunk ? workers : 1) { index, _ in
                            for i in index * chunk ..< min(count, (index + 1) * chunk) {
                                let g = gradient[i]
                                m[i] = beta1 * m[i] + (1 - beta1) * g
                                v[i] = beta2 * v[i] + (1 - beta2) * g * g
                                let adaptive = (m[i] / correction1) / ((v[i] / correction2).squareRoot() + epsilon)
                                let decayTerm = mask[i] ? decay * parameters[i] : 0
                                parameters[i] -= lr * (adaptive + decayTerm)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Learning-rate schedule: linear warmup to `peak` over `warmupSteps`, then cosine decay to
/// `minimum` at `totalSteps` (Loshchilov & Hutter 2017, SGDR, without restarts; the shape used
/// for GPT-2/3 pretraining).
public struct LearningRateSchedule: Sendable, Equatable, Codable {
    /// Peak learning rate, reached at the end of warmup.
    public var peak: Float
    /// Final learning rate.
    public var minimum: Float
    /// Warmup steps (0 = start at the peak).
    public var warmupSteps: Int
    /// Total steps.
    public var totalSteps: Int

    /// Creates a schedule.
    public init(peak: Float, minimum: Float, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak
        self.minimum = minimum
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The rate for 0-based step `step`: `peak·(step+1)/warmup` during warmup, then
    /// `minimum + (peak−minimum)·(1 + cos(π·progress))/2` with progress from 0 (first step after
    /// warmup) to 1 (last step).
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let decaySteps = totalSteps - warmupSteps
        guard decaySteps > 1 else { return peak }
        let progress = Double(min(step - warmupSteps, decaySteps - 1)) / Double(decaySteps - 1)
        return minimum + (peak - minimum) * Float((1 + cos(Double.pi * progress)) / 2)
    }
}

/// Scales `gradient` so its Euclidean norm is at most `maximumNorm` (global-norm clipping,
/// Pascanu et al. 2013) and returns the norm before clipping.
@discardableResult
public func clipGlobalNorm(_ gradient: inout [Float], maximumNorm: Float) -> Float {
    var sum: Double = 0
    for value in gradient { sum += Double(value) * Double(value) }
    let norm = Float(sum.squareRoot())
    if norm > maximumNorm, norm > 0 {
        let factor = maximumNorm / norm
        for i in gradient.indices { gradient[i] *= factor }
    }
    return norm
}
