import LanguageModel

/// The optimizers a run config may name (`"optimizer": "sgd" | "adam"`), acting on the flat
/// vector of trainable parameters.
///
/// Contract: `step(parameters:gradient:learningRate:)` updates `parameters` in place from a
/// gradient of the same length. For DP mechanisms the gradient is already the privatised one
/// (noisy clipped sum divided by the expected batch size), so the optimizer is post-processing
/// and costs no privacy.
public struct Optimizer: Sendable {
    /// Which update rule.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Plain gradient descent: θ ← θ − η·g.
        case sgd
        /// Adam (Kingma & Ba 2015, Algorithm 1) with bias correction, β₁ 0.9, β₂ 0.999, ε 1e-8.
        case adam
    }

    public let kind: Kind
    /// Adam's state: LanguageModel's AdamW with no weight decay (decoupled decay 0 is Adam).
    private var adam: AdamW?

    public init(kind: Kind) {
        self.kind = kind
    }

    /// Applies one update on `workers` threads (the bits do not depend on it).
    /// `gradient.count` must equal `parameters.count`.
    public mutating func step(parameters: inout [Float], gradient: [Float], learningRate: Float, workers: Int) {
        precondition(parameters.count == gradient.count, "gradient and parameters differ in length")
        switch kind {
        case .sgd:
            parameters.withUnsafeMutableBufferPointer { p in
                gradient.withUnsafeBufferPointer { g in
                    for i in 0..<p.count { p[i] -= learningRate * g[i] }
                }
            }
        case .adam:
            if adam?.decayMask.count != parameters.count {
                adam = AdamW(decayMask: [Bool](repeating: false, count: parameters.count), beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)
            }
            parameters.withUnsafeMutableBufferPointer { adam!.update($0, gradient: gradient, lr: learningRate, workers: workers) }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
