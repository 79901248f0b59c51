import Crypto
import Foundation
import Persistence

/// Base-model perplexity of every record of a dataset, for `perplexity` selection.
///
/// Scores come from the model (the caller computes them); UserData only ranks by them and
/// caches them. Keys are record keys (``Dataset/recordKey(_:)``).
///
/// JSON: `{"dataset_hash": ..., "model_identity": ..., "scores": {...}}`; files written before
/// the keys were snake_case (`datasetHash`, `modelIdentity`) are still read.
public struct PerplexityScores: Sendable, Equatable, Codable {
    /// ``Dataset/contentHash()`` of the scored dataset.
    public var datasetHash: String
    /// An identity of the scoring model (for example a hash of its weights and tokenizer).
    public var modelIdentity: String
    /// Perplexity (or any monotone transform, such as mean token loss) per record key.
    public var scores: [String: Double]

    /// Scores for one dataset under one model.
    public init(datasetHash: String, modelIdentity: String, scores: [String: Double]) {
        self.datasetHash = datasetHash
        self.modelIdentity = modelIdentity
        self.scores = scores
    }

    enum CodingKeys: String, CodingKey {
        case datasetHash = "dataset_hash"
        case modelIdentity = "model_identity"
        case scores
    }

    /// The camelCase keys of earlier score files, read when the snake_case key is absent.
    private enum FormerKeys: String, CodingKey {
        case datasetHash, modelIdentity
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let former = try decoder.container(keyedBy: FormerKeys.self)
        datasetHash = try container.decode(String.self, forKey: .datasetHash, formerly: .datasetHash, in: former)
        modelIdentity = try container.decode(String.self, forKey: .modelIdentity, formerly: .modelIdentity, in: former)
        scores = try container.decode([String: Double].self, forKey: .scores)
    }
}

/// Perplexity scores on disk, one JSON file per (dataset content hash, model identity), so each
/// model scores each dataset once across a sweep. Written atomically.
public struct PerplexityScoreCache: Sendable {
    /// Where score files live.
    public let directory: URL

    /// A cache in `directory` (created on first write).
    public init(directory: URL) {
        self.directory = directory
    }

    /// The score file for a dataset hash and model identity.
    public func url(datasetHash: String, modelIdentity: String) -> URL {
        directory.appendingPathComponent(cacheKey(datasetHash, modelIdentity) + ".scores.json")
    }

    /// The stored scores, or nil when none are stored for this pair.
    /// - Throws: ``UserDataError/corruptCache(path:reason:)`` when the file is unreadable JSON or
    ///   belongs to another pair.
    public func load(datasetHash: String, modelIdentity: String) throws -> PerplexityScores? {
        let file = url(datasetHash: datasetHash, modelIdentity: modelIdentity)
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        let stored: PerplexityScores
        do {
            stored = try JSONDecoder().decode(PerplexityScores.self, from: data)
        } catch {
            throw UserDataError.corruptCache(path: file.path, reason: "not a score file")
        }
        guard stored.datasetHash == datasetHash, stored.modelIdentity == modelIdentity else {
            throw UserDataError.corruptCache(path: file.path, reason: "scores of another dataset or model")
        }
        return stored
    }

    /// Stores scores (replacing any for the same pair).
    public func store(_ scores: PerplexityScores) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do {
            data = try encoder.encode(scores)
        } catch {
            // Only non-finite doubles fail to encode.
            throw UserDataError.invalidPerplexityScore(
                recordID: scores.scores.first { !$0.value.isFinite }?.key ?? "?", value: .nan)
        }
        try AtomicFile.write(data, to: url(datasetHash: scores.datasetHash, modelIdentity: scores.modelIdentity))
    }

    /// The cached scores for `dataset` under `modelIdentity`, computing (and storing) them with
    /// `score` when absent. `score` receives the dataset and returns a score per record key.
    public func scores(
        for dataset: Dataset, modelIdentity: String, score: (Dataset) throws -> [String: Double]
    ) throws -> PerplexityScores {
        let hash = dataset.contentHash()
        if let stored = try load(datasetHash: hash, modelIdentity: modelIdentity) { return stored }
        let computed = PerplexityScores(datasetHash: hash, modelIdentity: modelIdentity, scores: try score(dataset))
        try store(computed)
        return computed
    }
}
