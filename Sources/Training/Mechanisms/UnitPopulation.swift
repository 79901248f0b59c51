import UserData

/// The privacy units a mechanism Poisson-samples at each step, and how they are made from the
/// training users (docs/TRAINING.md). A sequence holds at most L+1 tokens (L next-token
/// predictions).
enum UnitPopulation: Sendable {
    /// Every training record with at least two tokens, cut to its first L+1 tokens.
    case records
    /// k records per user, chosen once by the selection strategy (resampling users with fewer);
    /// the N·k records are the units.
    case recordsPerUser
    /// The users with a record of at least two tokens; each sampled user contributes k sequences
    /// chosen afresh at every step (``StepRunner/sampledUnits(_:step:)``).
    case users

    /// The units of `train` for a run of `config`, and their name for messages.
    func units(
        of train: TokenizedDataset, config: RunConfig, strategy: SelectionStrategy, scores: [String: Double]?
    ) throws -> (population: TrainingPlan.Population, name: String) {
        let windowLength = config.contextLength + 1
        switch self {
        case .records:
            return (.sequences(train.users.flatMap(\.records).filter { $0.count >= 2 }.map { Array($0.prefix(windowLength)) }), "records")
        case .recordsPerUser:
            let units = try train.groupPrivacyUnits(
                strategy: strategy, unitsPerUser: config.k, contextLength: windowLength, scores: scores,
                seed: UInt64(bitPattern: Int64(config.seed)))
            return (.sequences(units.flatMap { $0 }), "records (k per user)")
        case .users:
            return (.users(train.users.filter { user in user.records.contains { $0.count >= 2 } }), "users")
        }
    }

    /// An upper bound on the number of units, from split sizes alone (pre-flight: training also
    /// drops records shorter than two tokens), and their name for messages.
    func bound(of facts: InputFacts, k: Int) -> (units: Int, name: String) {
        switch self {
        case .records: return (facts.trainRecords, "training records")
        case .recordsPerUser: return (facts.trainUsers * k, "records (k per training user)")
        case .users: return (facts.trainUsers, "training users")
        }
    }
}
