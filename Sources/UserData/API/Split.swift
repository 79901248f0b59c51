import Randomness

/// What a split keeps together.
public enum SplitUnit: String, Sendable, Hashable, Codable, CaseIterable {
    /// Whole users go to one part: the test users are never seen in training (the default, and
    /// the setting of Chua et al. 2024, where test perplexity is measured on held-out users).
    case user
    /// Each user's records are divided between the parts: every user can appear in every part,
    /// but no record appears in two.
    case record
}

/// One part of a split.
public enum SplitPart: String, Sendable, Hashable, Codable, CaseIterable {
    case train, validation, test
}

/// How a dataset is divided into train, validation and test parts.
///
/// Deterministic: the same settings on the same dataset give the same parts on every machine
/// (Philox stream `"split"` of `seed`).
public struct SplitSettings: Sendable, Hashable, Codable {
    /// Whether users or records are assigned to parts.
    public var unit: SplitUnit
    /// Fraction of units (users or, per user, records) in the training part.
    public var train: Double
    /// Fraction in the validation part (used for tuning).
    public var validation: Double
    /// Fraction in the test part (used only for the final test perplexity).
    public var test: Double
    /// Seed of the shuffle.
    public var seed: UInt64

    /// 80 / 10 / 10 by user with seed 0 unless told otherwise.
    public init(unit: SplitUnit = .user, train: Double = 0.8, validation: Double = 0.1, test: Double = 0.1, seed: UInt64 = 0) {
        self.unit = unit
        self.train = train
        self.validation = validation
        self.test = test
        self.seed = seed
    }

    static let knownKeys: Set<String> = ["unit", "train", "validation", "test", "seed"]

    enum CodingKeys: String, CodingKey { case unit, train, validation, test, seed }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = SplitSettings()
        unit = try container.decodeIfPresent(SplitUnit.self, forKey: .unit) ?? defaults.unit
        train = try container.decodeIfPresent(Double.self, forKey: .train) ?? defaults.train
        validation = try container.decodeIfPresent(Double.self, forKey: .validation) ?? defaults.validation
        test = try container.decodeIfPresent(Double.self, forKey: .test) ?? defaults.test
        seed = try container.decodeIfPresent(UInt64.self, forKey: .seed) ?? defaults.seed
    }

    /// Checks that the fractions are finite, non-negative and sum to 1 within 1e-9.
    public func validate() throws {
        let parts = [train, validation, test]
        guard parts.allSatisfy({ $0.isFinite && $0 >= 0 }), abs(parts.reduce(0, +) - 1) <= 1e-9 else {
            throw UserDataError.invalidSplitFractions(train: train, validation: validation, test: test)
        }
    }

    /// How many of `n` shuffled units go to (train, validation, test): validation and test get
    /// their fraction of n rounded to the nearest integer (halves up) and train the rest, so the
    /// three always add up to n and small users (n < 5 at 10 %) stay wholly in training.
    func counts(_ n: Int) -> (train: Int, validation: Int, test: Int) {
        let testCount = min(n, Int((Double(n) * test).rounded(.toNearestOrAwayFromZero)))
        let validationCount = min(n - testCount, Int((Double(n) * validation).rounded(.toNearestOrAwayFromZero)))
        return (n - testCount - validationCount, validationCount, testCount)
    }
}

/// The record indices of each part of a split. Parts are disjoint and together hold every
/// record; indices within a part are ascending (file order).
public struct DatasetSplit: Sendable, Equatable {
    /// The settings that produced this split.
    public var settings: SplitSettings
    /// Record indices of the training part.
    public var train: [Int]
    /// Record indices of the validation part.
    public var validation: [Int]
    /// Record indices of the test part.
    public var test: [Int]

    /// The indices of one part.
    public func indices(of part: SplitPart) -> [Int] {
        switch part {
        case .train: return train
        case .validation: return validation
        case .test: return test
        }
    }
}

extension Dataset {
    /// Splits the dataset with `settings` (the manifest's split by default).
    ///
    /// By user: users (in order of first appearance) are shuffled with Philox stream `"split"`
    /// of the seed; the first test-count users form the test part, the next validation-count the
    /// validation part, the rest training. By record: each user's records are shuffled with a
    /// per-user substream and divided the same way, so the assignment of one user's records does
    /// not depend on any other user.
    ///
    /// No test text reaches training: parts never share a record, and in the by-user split they
    /// never share a user.
    public func split(_ settings: SplitSettings? = nil) throws -> DatasetSplit {
        let settings = settings ?? manifest.split
        try settings.validate()
        let groups = recordsByUser()
        var part = [SplitPart](repeating: .train, count: records.count)
        let root = Philox(seed: settings.seed, stream: "split")
        switch settings.unit {
        case .user:
            var rng = root
            let order = shuffled(Array(groups.indices), using: &rng)
            let counts = settings.counts(groups.count)
            for (rank, group) in order.enumerated() {
                let assigned: SplitPart =
                    rank < counts.test ? .test : rank < counts.test + counts.validation ? .validation : .train
                for index in groups[group].records { part[index] = assigned }
            }
        case .record:
            for (number, group) in groups.enumerated() {
                var rng = root.substream(UInt64(number))
                let order = shuffled(group.records, using: &rng)
                let counts = settings.counts(order.count)
                for (rank, index) in order.enumerated() {
                    part[index] =
                        rank < counts.test ? .test : rank < counts.test + counts.validation ? .validation : .train
                }
            }
        }
        var split = DatasetSplit(settings: settings, train: [], validation: [], test: [])
        for (index, assigned) in part.enumerated() {
            switch assigned {
            case .train: split.train.append(index)
            case .validation: split.validation.append(index)
            case .test: split.test.append(index)
            }
        }
        return split
    }
}

/// A Fisher–Yates shuffle driven by Philox (the standard library's `shuffled(using:)` does not
/// promise a stable algorithm across Swift versions, so results could change with the toolchain).
func shuffled<T>(_ items: [T], using rng: inout Philox) -> [T] {
    var items = items
    if items.count < 2 { return items }
    for i in stride(from: items.count - 1, to: 0, by: -1) {
        let j = uniformIndex(below: i + 1, using: &rng)
        items.swapAt(i, j)
    }
    return items
}

/// A uniform integer in `0..<bound` without modulo bias (Lemire's multiply-and-reject on 64-bit
/// draws), for `bound >= 1`.
func uniformIndex(below bound: Int, using rng: inout Philox) -> Int {
    precondition(bound >= 1)
    let range = UInt64(bound)
    var product = rng.next().multipliedFullWidth(by: range)
    if product.low < range {
        let threshold = (0 &- range) % range
        while product.low < threshold {
            product = rng.next().multipliedFullWidth(by: range)
        }
    }
    return Int(product.high)
}
