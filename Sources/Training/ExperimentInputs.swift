import Crypto
import Foundation
import LanguageModel
import LinearAlgebra
import Persistence
import UserData

/// The loaded inputs of a run: the base model, its tokenizer, and the tokenised dataset split
/// into train, validation and test users (docs/DATASETS.md; test text is only ever evaluated).
struct ExperimentInputs {
    let model: GPTModel
    let tokenizer: ModelTokenizer
    let modelDirectory: URL
    let dataset: Dataset
    let datasetHash: String
    let split: DatasetSplit
    let train: TokenizedDataset
    let validation: TokenizedDataset
    let test: TokenizedDataset

    static func load(config: RunConfig, cacheDirectory: URL, log: (TrainingEvent) -> Void) throws -> ExperimentInputs {
        let modelDirectory = try locateModel(config.model)
        let (model, bpe) = try Checkpoint.load(directory: modelDirectory)
        guard config.contextLength <= model.config.contextLength else {
            throw TrainingError.contextLongerThanModel(requested: config.contextLength, model: model.config.contextLength)
        }
        let tokenizer = ModelTokenizer(bpe)
        let location = try DatasetLocator.locate(config.dataset)
        let (dataset, _) = try Dataset.load(from: location)
        var settings = dataset.manifest.split
        settings.seed = UInt64(bitPattern: Int64(config.splitSeed))
        let split = try dataset.split(settings)
        let (tokenized, cached) = try TokenCache(directory: cacheDirectory.appendingPathComponent("tokens"))
            .tokenized(dataset, with: tokenizer)
        log(.message("dataset \(location.path): \(dataset.records.count) records, \(tokenized.users.count) users, \(tokenized.tokenCount) tokens (\(cached ? "token cache hit" : "tokenised now"))"))
        let train = tokenized.part(.train, of: split)
        let validation = tokenized.part(.validation, of: split)
        let test = tokenized.part(.test, of: split)
        // An empty validation or test split gives perplexity ∞ (or NaN) that looks like a result.
        for (part, tokenizedPart) in [("validation", validation), ("test", test)] where tokenizedPart.recordCount == 0 {
            throw TrainingError.emptySplit(
                part: part, dataset: location.path, users: tokenized.users.count,
                split: "\(settings.unit.rawValue) split, seed \(settings.seed)")
        }
        log(.message("split by \(settings.unit.rawValue) (seed \(settings.seed)): train \(train.users.count) users / \(train.recordCount) records, validation \(validation.users.count) / \(validation.recordCount), test \(test.users.count) / \(test.recordCount)"))
        return ExperimentInputs(
            model: model, tokenizer: tokenizer, modelDirectory: modelDirectory, dataset: dataset,
            datasetHash: tokenized.datasetHash, split: split, train: train, validation: validation, test: test)
    }

    /// A model directory given as a path: as is (absolute, or relative to the working directory),
    /// else relative to the repository root found from the working directory or the executable.
    static func locateModel(_ path: String) throws -> URL {
        let fileManager = FileManager.default
        let cwd = URL(fileURLWithPath: fileManager.currentDirectoryPath)
        var candidates = [URL(fileURLWithPath: path, relativeTo: cwd).standardizedFileURL]
        if !path.hasPrefix("/") {
            let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? cwd.path, relativeTo: cwd)
                .resolvingSymlinksInPath().deletingLastPathComponent()
            for start in [cwd, executable] {
                if let root = DatasetLocator.repositoryRoot(from: start) {
                    candidates.append(root.appendingPathComponent(path).standardizedFileURL)
                }
            }
        }
        for candidate in candidates
        where fileManager.fileExists(atPath: candidate.appendingPathComponent(Checkpoint.configFileName).path) {
            return candidate
        }
        throw TrainingError.modelNotFound(path: path, searched: candidates.map(\.path))
    }

    /// Hex SHA-256 of the model's weights file: the model's identity for score caches.
    func modelIdentity() throws -> String {
        let data = try Data(contentsOf: modelDirectory.appendingPathComponent(Checkpoint.weightsFileName), options: .mappedIfSafe)
        return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// The base model's validation perplexity, cached per (model weights, dataset, split, L)
    /// because every run of a sweep shares it; computed on `workers` threads.
    func baseValidationPerplexity(contextLength: Int, cacheDirectory: URL, workers: Int) throws -> Double {
        let key = "\(try modelIdentity().prefix(16))-\(datasetHash.prefix(16))-split\(split.settings.seed)-L\(contextLength)"
        let file = cacheDirectory.appendingPathComponent("baseline/\(key).json")
        if let data = try? Data(contentsOf: file), case .number(let value)? = (try? JSONValue(parsing: data))?.value(atKeyPath: "validation_perplexity") {
            return value
        }
        let value = perplexity(of: model, records: validation.allRecords, contextLength: contextLength, workers: workers)
        try AtomicFile.write(Data(JSONValue.object(["validation_perplexity": .number(value)]).canonicalText().utf8), to: file, createDirectories: true)
        return value
    }
}
