import Foundation

/// Why a training run could not start or finish. Every case carries the facts a user needs to
/// fix the config or the inputs.
public enum TrainingError: Error, Equatable, Sendable, LocalizedError {
    /// No model directory at the configured path (searched relative to the working directory
    /// and to the repository root).
    case modelNotFound(path: String, searched: [String])
    /// The config's context length exceeds what the model was built for.
    case contextLongerThanModel(requested: Int, model: Int)
    /// The validation or test part of the split has no record (too few users for the
    /// manifest's split fractions): its perplexity would be ∞ or NaN, not a result.
    case emptySplit(part: String, dataset: String, users: Int, split: String)
    /// The split has no unit the mechanism can train on.
    case noTrainingUnits(mechanism: String)
    /// `batch_size` asks for more units per step than exist, so q = batch/units > 1.
    case batchLargerThanPopulation(batchSize: Double, units: Int, unitName: String)
    /// The accountant's ε for the run exceeds the target: refuse to report an optimistic claim.
    case epsilonExceedsTarget(achieved: Double, target: Double)
    /// The mechanism is declared but this build cannot run it.
    case mechanismUnavailable(String)
    /// Training diverged (a non-finite loss or gradient).
    case diverged(step: Int)

    public var errorDescription: String? {
        switch self {
        case let .modelNotFound(path, searched):
            return "model: no model directory '\(path)' (looked in \(searched.joined(separator: ", ")))"
        case let .contextLongerThanModel(requested, model):
            return "context_length: \(requested) exceeds the model's context of \(model) positions"
        case let .emptySplit(part, dataset, users, split):
            return "dataset: \(dataset): the \(part) split is empty (\(users) users, \(split)); add users or change the manifest's split fractions"
        case let .noTrainingUnits(mechanism):
            return "dataset: the training split has no record with two or more tokens for mechanism '\(mechanism)'"
        case let .batchLargerThanPopulation(batchSize, units, unitName):
            return "batch_size: \(batchSize) expected \(unitName) per step, but the training split has only \(units); lower batch_size"
        case let .epsilonExceedsTarget(achieved, target):
            return "privacy: the run spends ε = \(achieved), above its target ε = \(target); refusing to report it"
        case let .mechanismUnavailable(name):
            return "mechanism: '\(name)' is not available in this build"
        case let .diverged(step):
            return "training diverged at step \(step) (non-finite loss or gradient); lower learning_rate"
        }
    }
}
