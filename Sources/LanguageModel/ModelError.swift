import Foundation

/// Failures of the model API: bad configurations and tensor access by name.
public enum ModelError: Error, Equatable, Sendable, LocalizedError {
    /// A configuration field (named by its config.json key) cannot describe a model.
    case invalidConfiguration(key: String, reason: String)
    /// A LoRA configuration cannot be applied.
    case invalidLoRA(reason: String)
    /// No tensor of that name exists in the model (base or adapter).
    case unknownTensor(name: String)
    /// Values offered for a tensor have the wrong shape or count.
    case tensorShapeMismatch(name: String, expected: [Int], actual: [Int])
    /// `enableLoRA` was called while adapters are already active.
    case loRAAlreadyEnabled

    /// A message a user can act on.
    public var errorDescription: String? {
        switch self {
        case .invalidConfiguration(let key, let reason):
            "invalid model configuration: '\(key)' \(reason)"
        case .invalidLoRA(let reason):
            "invalid LoRA configuration: \(reason)"
        case .unknownTensor(let name):
            "the model has no tensor named '\(name)' (expected HuggingFace GPT-2 names such as 'h.0.attn.c_attn.weight')"
        case .tensorShapeMismatch(let name, let expected, let actual):
            "tensor '\(name)' has shape \(actual) but the model expects \(expected)"
        case .loRAAlreadyEnabled:
            "LoRA adapters are already enabled; merge them with mergeLoRA() before enabling new ones"
        }
    }
}
