import Crypto
import Foundation
import LanguageModel
import Persistence
import UserData

/// The content of a run's inputs, as hashes: what the dataset and the base model *are*, as
/// opposed to the names a config gives them. Part of the run identity (docs/SWEEPS.md), so a
/// changed dataset or model gives new run ids instead of silently reusing old results.
///
/// Contract:
/// - `datasetHash` is `Dataset.contentHash()` (users, record keys and text in order; the
///   manifest's description does not count), the same value the trainer records as
///   `extra.dataset_hash` in `result.json`.
/// - `modelHash` is a SHA-256 over the checkpoint files that determine the model (config,
///   weights, vocabulary, merges; each length-prefixed by name and size), recorded as
///   `extra.model_hash`.
public struct InputFingerprint: Sendable, Hashable {
    /// Content hash of the dataset (lowercase hex SHA-256).
    public var datasetHash: String
    /// Content hash of the base model checkpoint (lowercase hex SHA-256).
    public var modelHash: String

    /// A fingerprint with both hashes given.
    public init(datasetHash: String, modelHash: String) {
        self.datasetHash = datasetHash
        self.modelHash = modelHash
    }

    /// The JSON form hashed into run ids: `{"dataset_hash": ..., "model_hash": ...}`.
    public var json: JSONValue {
        .object(["dataset_hash": .string(datasetHash), "model_hash": .string(modelHash)])
    }

    /// The checkpoint files hashed into `modelHash`, in hashing order. A missing tokenizer file
    /// hashes as empty.
    public static let modelFiles = [
        Checkpoint.configFileName, Checkpoint.weightsFileName, BPETokenizer.vocabularyFileName, BPETokenizer.mergesFileName,
    ]

    /// The content hash of a model directory (see `modelHash`).
    public static func modelHash(directory: URL) throws -> String {
        var hasher = SHA256()
        for name in modelFiles {
            let url = directory.appendingPathComponent(name)
            let data = FileManager.default.fileExists(atPath: url.path) ? try Data(contentsOf: url, options: .mappedIfSafe) : Data()
            for field in [Data(name.utf8), data] {
                var length = UInt64(field.count).littleEndian
                withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
                hasher.update(data: field)
            }
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Resolves the config's dataset and model the way `userdp train` does (relative to the
    /// working directory, then the repository) and hashes their content. Throws the
    /// locator's error (`UserDataError.datasetNotFound`, `TrainingError.modelNotFound`) or a
    /// dataset parse error when an input cannot be read.
    public static func resolve(dataset: String, model: String) throws -> InputFingerprint {
        let location = try DatasetLocator.locate(dataset)
        let (loaded, _) = try Dataset.load(from: location)
        let modelDirectory = try ExperimentInputs.locateModel(model)
        return InputFingerprint(datasetHash: loaded.contentHash(), modelHash: try modelHash(directory: modelDirectory))
    }
}

/// Resolves fingerprints once per distinct (dataset, model) pair, remembering failures too:
/// a sweep of a thousand runs over one dataset reads it once. Used by one thread (planning).
public final class InputFingerprintResolver {
    private var cache: [String: Result<InputFingerprint, any Error>] = [:]
    private let resolveInputs: (String, String) throws -> InputFingerprint

    /// A resolver; `resolve` defaults to `InputFingerprint.resolve(dataset:model:)`.
    public init(resolve: @escaping (String, String) throws -> InputFingerprint = InputFingerprint.resolve) {
        self.resolveInputs = resolve
    }

    /// The fingerprint of the config's inputs, or the error that prevented reading them.
    public func fingerprint(dataset: String, model: String) -> Result<InputFingerprint, any Error> {
        let key = "\(dataset)\u{0}\(model)"
        if let known = cache[key] { return known }
        let result = Result { try resolveInputs(dataset, model) }
        cache[key] = result
        return result
    }
}

/// What pre-flight (`sweep run --dry-run`) needs to know about a run's inputs without
/// training: split sizes and the model's positions.
public struct InputFacts: Sendable, Equatable {
    /// Users and records in each part of the split.
    public var trainUsers: Int, trainRecords: Int
    /// See `trainUsers`.
    public var validationUsers: Int, validationRecords: Int
    /// See `trainUsers`.
    public var testUsers: Int, testRecords: Int
    /// Token positions of the base model (the largest `context_length` it takes).
    public var modelContextLength: Int

    /// A fact sheet with every field given.
    public init(trainUsers: Int, trainRecords: Int, validationUsers: Int, validationRecords: Int, testUsers: Int, testRecords: Int, modelContextLength: Int) {
        (self.trainUsers, self.trainRecords) = (trainUsers, trainRecords)
        (self.validationUsers, self.validationRecords) = (validationUsers, validationRecords)
        (self.testUsers, self.testRecords) = (testUsers, testRecords)
        self.modelContextLength = modelContextLength
    }

    /// The privacy units a mechanism samples from (its ``UnitPopulation``): records for
    /// `nonprivate` and `record`, k records per user for `group`, users for `user` and
    /// `asi-liu`. An upper bound: training also drops records shorter than two tokens.
    public func population(mechanism: MechanismKind, k: Int) -> (units: Int, name: String) {
        mechanism.definition.population.bound(of: self, k: k)
    }

    /// Reads the dataset, splits it with the config's split seed and reads the model's
    /// config. Throws the locator's or parser's error.
    public static func read(dataset: String, model: String, splitSeed: Int) throws -> InputFacts {
        let (loaded, _) = try Dataset.load(from: try DatasetLocator.locate(dataset))
        var settings = loaded.manifest.split
        settings.seed = UInt64(bitPattern: Int64(splitSeed))
        let split = try loaded.split(settings)
        func users(_ indices: [Int]) -> Int { Set(indices.map { loaded.records[$0].user }).count }
        let gpt = try Checkpoint.loadConfig(directory: try ExperimentInputs.locateModel(model))
        return InputFacts(
            trainUsers: users(split.train), trainRecords: split.train.count, validationUsers: users(split.validation),
            validationRecords: split.validation.count, testUsers: users(split.test), testRecords: split.test.count,
            modelContextLength: gpt.contextLength)
    }
}
