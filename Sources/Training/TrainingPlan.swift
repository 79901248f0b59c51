import Foundation
import LanguageModel
import LinearAlgebra
import Randomness
import UserData

/// What a mechanism samples each step (its privacy unit) and how it turns sampled units into
/// token sequences (docs/TRAINING.md).
///
/// - `nonprivate` and `record`: every training record (first L+1 tokens) is a unit.
/// - `group`: the selection strategy is applied once per user to get exactly k records per user
///   (resampling users with fewer); the N·k records are the units.
/// - `user` (and `asi-liu`): users are the units; each sampled user contributes k sequences
///   chosen afresh at every step.
/// A sequence holds at most L+1 tokens, i.e. L next-token predictions.
struct TrainingPlan {
    enum Population {
        case sequences([[Int32]])
        case users([TokenizedUser])
    }

    let population: Population
    let samplingRate: Double
    let strategy: SelectionStrategy
    let scores: [String: Double]?
    let separator: Int32
    /// Records of the largest training user (for the `record` mechanism's group bound).
    let largestUserRecords: Int

    var populationSize: Int {
        switch population {
        case .sequences(let s): return s.count
        case .users(let u): return u.count
        }
    }

    /// A plan given directly (tests, benchmarks).
    init(population: Population, samplingRate: Double, strategy: SelectionStrategy = .random, scores: [String: Double]? = nil, separator: Int32 = 0, largestUserRecords: Int = 1) {
        self.population = population
        self.samplingRate = samplingRate
        self.strategy = strategy
        self.scores = scores
        self.separator = separator
        self.largestUserRecords = largestUserRecords
    }

    init(config: RunConfig, inputs: ExperimentInputs, cacheDirectory: URL, log: (TrainingEvent) -> Void) throws {
        let train = inputs.train
        let windowLength = config.contextLength + 1
        separator = train.separator
        largestUserRecords = train.users.map(\.records.count).max() ?? 0
        strategy = try SelectionStrategy(name: config.selection.strategy.rawValue, order: config.selection.order)
        if strategy.needsScores, config.mechanism == .group || config.mechanism == .user || config.mechanism == .asiLiu {
            scores = try ExperimentInputs.perplexityScores(inputs: inputs, cacheDirectory: cacheDirectory, contextLength: config.contextLength, log: log)
        } else {
            scores = nil
        }
        let unitName: String
        switch config.mechanism {
        case .nonprivate, .record:
            population = .sequences(train.users.flatMap(\.records).filter { $0.count >= 2 }.map { Array($0.prefix(windowLength)) })
            unitName = "records"
        case .group:
            let units = try train.groupPrivacyUnits(
                strategy: strategy, unitsPerUser: config.k, contextLength: windowLength, scores: scores,
                seed: UInt64(bitPattern: Int64(config.seed)))
            population = .sequences(units.flatMap { $0 })
            unitName = "records (k per user)"
        case .user, .asiLiu:
            population = .users(train.users.filter { user in user.records.contains { $0.count >= 2 } })
            unitName = "users"
        }
        let count: Int
        switch population {
        case .sequences(let s): count = s.count
        case .users(let u): count = u.count
        }
        guard count > 0 else { throw TrainingError.noTrainingUnits(mechanism: config.mechanism.rawValue) }
        guard config.batchSize <= Double(count) else {
            throw TrainingError.batchLargerThanPopulation(batchSize: config.batchSize, units: count, unitName: unitName)
        }
        samplingRate = config.batchSize / Double(count)
        log(.message("\(config.mechanism.rawValue): \(count) \(unitName), sampling rate q = \(samplingRate)"))
    }
}

extension SelectionStrategy {
    /// The strategy a run config names.
    init(name: String, order: RunConfig.Selection.Order?) throws {
        if name == "perplexity" {
            self = .perplexity(order == .highest ? .highest : .lowest)
        } else {
            try self.init(name: name)
        }
    }
}

extension ExperimentInputs {
    /// Perplexity of every training record under the base model, cached per (dataset, model).
    static func perplexityScores(inputs: ExperimentInputs, cacheDirectory: URL, contextLength: Int, log: (TrainingEvent) -> Void) throws -> [String: Double] {
        let cache = PerplexityScoreCache(directory: cacheDirectory.appendingPathComponent("perplexity"))
        let identity = try inputs.modelIdentity() + "-L\(contextLength)-split\(inputs.split.settings.seed)"
        let scores = try cache.scores(for: inputs.dataset, modelIdentity: identity) { _ in
            log(.message("scoring training records by base-model perplexity (cached afterwards)"))
            let users = inputs.train.users
            let records = users.flatMap(\.records)
            let keys = users.flatMap(\.recordKeys)
            let values = recordPerplexities(of: inputs.model, records: records, contextLength: contextLength, workers: defaultWorkerCount)
            // Records too short to score rank last under either order (a large finite value).
            return Dictionary(uniqueKeysWithValues: zip(keys, values.map { $0.isFinite ? $0 : 1e30 }))
        }
        return scores.scores
    }
}
