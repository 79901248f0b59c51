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
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    private var firstMoment: [Float] = []
    private var secondMoment: [Float] = []
    private var stepCount = 0

    public init(kind: Kind, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.kind = kind
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    /// Applies one update. `gradient.count` must equal `parameters.count`.
    public mutating func step(parameters: inout [Float], gradient: [Float], learningRate: Float) {
        precondition(parameters.count == gradient.count, "gradient and parameters differ in length")
        switch kind {
        case .sgd:
            parameters.withUnsafeMutableBufferPointer { p in
                gradient.withUnsafeBufferPointer { g in
                    for i in 0..<p.count { p[i] -= learningRate * g[i] }
                }
            }
        case .adam:
            if firstMoment.count != parameters.count {
                firstMoment = [Float](repeating: 0, count: parameters.count)
                secondMoment = firstMoment
                stepCount = 0
            }
            stepCount += 1
            let correction1 = 1 - Float(pow(Double(beta1), Double(stepCount)))
            let correction2 = 1 - Float(pow(Double(beta2), Double(stepCount)))
            let (b1, b2, eps) = (beta1, beta2, epsilon)
            let stepSize = learningRate / correction1
            firstMoment.withUnsafeMutableBufferPointer { m in
                secondMoment.withUnsafeMutableBufferPointer { v in
                    parameters.withUnsafeMutableBufferPointer { p in
                        gradient.withUnsafeBufferPointer { g in
                            for i in 0..<p.count {
                                m[i] = b1 * m[i] + (1 - b1) * g[i]
                                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                                p[i] -= stepSize * m[i] / ((v[i] / correction2).squareRoot() + eps)
                            }
                        }
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
