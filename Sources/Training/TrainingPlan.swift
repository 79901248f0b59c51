import Foundation
import LanguageModel
import LinearAlgebra
import Randomness
import UserData

/// The population a run samples its privacy units from, as its mechanism declares it
/// (``Mechanism/population``, ``UnitPopulation``; docs/TRAINING.md), with the sampling rate and
/// what turns a sampled user into sequences (the selection strategy and its scores).
struct TrainingPlan {
    /// The units: token sequences (one each), or users (k sequences selected per step).
    enum Population {
        case sequences([[Int32]])
        case users([TokenizedUser])

        /// The number of units.
        var count: Int {
            switch self {
            case .sequences(let s): return s.count
            case .users(let u): return u.count
            }
        }
    }

    let population: Population
    let samplingRate: Double
    let strategy: SelectionStrategy
    let scores: [String: Double]?
    let separator: Int32
    /// Records of the largest training user (for the `record` mechanism's group bound).
    let largestUserRecords: Int

    var populationSize: Int { population.count }

    /// A plan given directly (tests, benchmarks).
    init(population: Population, samplingRate: Double, strategy: SelectionStrategy = .random, scores: [String: Double]? = nil, separator: Int32 = 0, largestUserRecords: Int = 1) {
        self.population = population
        self.samplingRate = samplingRate
        self.strategy = strategy
        self.scores = scores
        self.separator = separator
        self.largestUserRecords = largestUserRecords
    }

    /// The plan of a run of `config` on `inputs`' training users. Perplexity scores are computed
    /// (or read from the cache) only when the mechanism reads the selection and the strategy
    /// ranks by perplexity, on `workers` threads.
    /// - Throws: `TrainingError.noTrainingUnits` for an empty population,
    ///   `.batchLargerThanPopulation` when `batch_size` exceeds it.
    init(config: RunConfig, inputs: ExperimentInputs, cacheDirectory: URL, workers: Int, log: (TrainingEvent) -> Void) throws {
        let train = inputs.train
        let mechanism = config.mechanism.definition
        separator = train.separator
        largestUserRecords = train.users.map(\.records.count).max() ?? 0
        strategy = config.selection
        if strategy.needsScores, config.mechanism.reads(keyPath: "selection") {
            scores = try ExperimentInputs.perplexityScores(
                inputs: inputs, cacheDirectory: cacheDirectory, contextLength: config.contextLength, workers: workers, log: log)
        } else {
            scores = nil
        }
        let units = try mechanism.population.units(of: train, config: config, strategy: strategy, scores: scores)
        population = units.population
        let count = units.population.count
        guard count > 0 else { throw TrainingError.noTrainingUnits(mechanism: config.mechanism.rawValue) }
        guard config.batchSize <= Double(count) else {
            throw TrainingError.batchLargerThanPopulation(batchSize: config.batchSize, units: count, unitName: units.name)
        }
        samplingRate = config.batchSize / Double(count)
        log(.message("\(config.mechanism.rawValue): \(count) \(units.name), sampling rate q = \(samplingRate)"))
    }
}

extension ExperimentInputs {
    /// Perplexity of every training record under the base model, cached per (dataset, model).
    static func perplexityScores(
        inputs: ExperimentInputs, cacheDirectory: URL, contextLength: Int, workers: Int, log: (TrainingEvent) -> Void
    ) throws -> [String: Double] {
        let cache = PerplexityScoreCache(directory: cacheDirectory.appendingPathComponent("perplexity"))
        let identity = try inputs.modelIdentity() + "-L\(contextLength)-split\(inputs.split.settings.seed)"
        let scores = try cache.scores(for: inputs.dataset, modelIdentity: identity) { _ in
            log(.message("scoring training records by base-model perplexity (cached afterwards)"))
            let users = inputs.train.users
            let records = users.flatMap(\.records)
            let keys = users.flatMap(\.recordKeys)
            let values = recordPerplexities(of: inputs.model, records: records, contextLength: contextLength, workers: workers)
            // Records too short to score rank last under either order (a large finite value).
            return Dictionary(uniqueKeysWithValues: zip(keys, values.map { $0.isFinite ? $0 : 1e30 }))
        }
        return scores.scores
    }
}
