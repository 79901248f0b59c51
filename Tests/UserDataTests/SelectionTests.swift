import Foundation
import Randomness
import Testing

@testable import UserData

/// Four records of 3, 1, 5 and 2 tokens; token values name their record (10s, 20s, ...).
let tinyUser = TokenizedUser(
    user: "ann",
    records: [[11, 12, 13], [21], [31, 32, 33, 34, 35], [41, 42]],
    recordKeys: ["a", "b", "c", "d"])

let separatorToken: Int32 = 0

@Suite struct DeterministicStrategyTests {
    func select(_ strategy: SelectionStrategy, k: Int, length: Int = 4, scores: [String: Double]? = nil, seed: UInt64 = 1)
        throws -> [[Int32]]
    {
        var rng = Philox(seed: seed, stream: "test")
        return try strategy.select(
            from: tinyUser, k: k, contextLength: length, separator: separatorToken, scores: scores, rng: &rng)
    }

    @Test func longestTakesMostTokensAndTruncatesToL() throws {
        #expect(try select(.longest, k: 2) == [[31, 32, 33, 34], [11, 12, 13]])
        #expect(try select(.longest, k: 4, length: 2) == [[31, 32], [11, 12], [41, 42], [21]])
    }

    @Test func shortestTakesFewestTokens() throws {
        #expect(try select(.shortest, k: 2) == [[21], [41, 42]])
        #expect(try select(.shortest, k: 3) == [[21], [41, 42], [11, 12, 13]])
    }

    @Test func tiesKeepRecordOrder() throws {
        let user = TokenizedUser(user: "t", records: [[1, 1], [2], [3, 3], [4]])
        var rng = Philox(seed: 0)
        #expect(try SelectionStrategy.longest.select(from: user, k: 2, contextLength: 9, separator: 0, rng: &rng) == [[1, 1], [3, 3]])
        #expect(try SelectionStrategy.shortest.select(from: user, k: 2, contextLength: 9, separator: 0, rng: &rng) == [[2], [4]])
    }

    @Test func perplexityRanksByScoreInEitherOrder() throws {
        let scores = ["a": 3.0, "b": 1.0, "c": 2.0, "d": 5.0]
        #expect(try select(.perplexity(.lowest), k: 2, scores: scores) == [[21], [31, 32, 33, 34]])
        #expect(try select(.perplexity(.highest), k: 2, scores: scores) == [[41, 42], [11, 12, 13]])
    }

    @Test func perplexityNeedsEveryScore() {
        #expect(throws: UserDataError.missingPerplexityScore(user: "ann", recordID: "c")) {
            try select(.perplexity(.lowest), k: 1, scores: ["a": 1, "b": 2, "d": 3])
        }
        #expect(throws: UserDataError.invalidPerplexityScore(recordID: "a", value: .infinity)) {
            try select(.perplexity(.lowest), k: 1, scores: ["a": .infinity, "b": 2, "c": 1, "d": 3])
        }
    }

    @Test func fewerRecordsThanKTakesAllThenResamplesWithReplacement() throws {
        let units = try select(.longest, k: 7)
        #expect(units.count == 7)
        #expect(Array(units.prefix(4)) == [[31, 32, 33, 34], [11, 12, 13], [41, 42], [21]])
        let all: Set<[Int32]> = [[31, 32, 33, 34], [11, 12, 13], [41, 42], [21]]
        #expect(units.dropFirst(4).allSatisfy { all.contains($0) })
        #expect(try select(.longest, k: 7) == units, "same seed, same fill")
    }

    @Test func invalidArguments() {
        #expect(throws: UserDataError.invalidUnitsPerUser(0)) { try select(.random, k: 0) }
        #expect(throws: UserDataError.invalidContextLength(0)) { try select(.longest, k: 1, length: 0) }
        var rng = Philox(seed: 0)
        #expect(throws: UserDataError.userWithoutRecords(user: "nobody")) {
            try SelectionStrategy.random.select(
                from: TokenizedUser(user: "nobody", records: []), k: 1, contextLength: 4, separator: 0, rng: &rng)
        }
    }
}

@Suite struct RandomStrategyTests {
    @Test func randomPicksDistinctRecordsWhenItCan() throws {
        for seed in 0..<50 as Range<UInt64> {
            var rng = Philox(seed: seed)
            let units = try SelectionStrategy.random.select(from: tinyUser, k: 3, contextLength: 9, separator: 0, rng: &rng)
            #expect(Set(units).count == 3)
            #expect(Set(units).isSubset(of: Set(tinyUser.records)))
        }
    }

    @Test func randomIsUniformOverRecords() throws {
        // Each of the 4 records is in a 2-of-4 sample with probability 1/2; over 8,000 draws the
        // standard error of a frequency is 0.0056, so 0.03 is more than five standard errors.
        var counts: [[Int32]: Int] = [:]
        var rng = Philox(seed: 7, stream: "uniformity")
        let draws = 8_000
        for _ in 0..<draws {
            for unit in try SelectionStrategy.random.select(from: tinyUser, k: 2, contextLength: 9, separator: 0, rng: &rng) {
                counts[unit, default: 0] += 1
            }
        }
        let deviations = tinyUser.records.map { abs(Double(counts[$0] ?? 0) / Double(draws) - 0.5) }
        #expect(deviations.max()! < 0.03, "max deviation from 1/2: \(deviations.max()!)")
    }

    @Test func randomDrawsWithReplacementWhenFewerRecordsThanK() throws {
        var rng = Philox(seed: 3)
        let units = try SelectionStrategy.random.select(from: tinyUser, k: 10, contextLength: 9, separator: 0, rng: &rng)
        #expect(units.count == 10)
        #expect(Set(units).isSubset(of: Set(tinyUser.records)))
        #expect(Set(units).count < 10, "ten draws from four records must repeat")
    }

    @Test func sameSeedSameUnitsAndSeedsMatter() throws {
        func run(_ strategy: SelectionStrategy, _ seed: UInt64) throws -> [[Int32]] {
            var rng = Philox(seed: seed, stream: "selection")
            return try strategy.select(from: tinyUser, k: 3, contextLength: 4, separator: 0, rng: &rng)
        }
        for strategy in [SelectionStrategy.random, .randomChunk] {
            #expect(try run(strategy, 11) == run(strategy, 11))
            let distinct = Set(try (0..<20 as Range<UInt64>).map { try run(strategy, $0) })
            #expect(distinct.count > 1, "\(strategy) ignores its seed")
        }
    }
}

@Suite struct RandomChunkTests {
    /// The concatenation of tinyUser's records with separator 0.
    let stream: [Int32] = [11, 12, 13, 0, 21, 0, 31, 32, 33, 34, 35, 0, 41, 42]

    func isWindow(_ unit: [Int32]) -> Bool {
        (0...(stream.count - unit.count)).contains { Array(stream[$0..<($0 + unit.count)]) == unit }
    }

    @Test func windowsAreLTokensOfTheConcatenation() throws {
        var rng = Philox(seed: 5)
        let units = try SelectionStrategy.randomChunk.select(from: tinyUser, k: 50, contextLength: 4, separator: 0, rng: &rng)
        #expect(units.count == 50)
        #expect(units.allSatisfy { $0.count == 4 && isWindow($0) })
    }

    @Test func windowsCrossRecordBoundaries() throws {
        // Records of three tokens and L = 6: a record with a separator on each side is only five
        // tokens, so every window of six holds tokens of exactly two records.
        let user = TokenizedUser(user: "u", records: [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
        var rng = Philox(seed: 9)
        let units = try SelectionStrategy.randomChunk.select(from: user, k: 40, contextLength: 6, separator: 0, rng: &rng)
        for unit in units {
            #expect(unit.contains(0))
            let records = Set(unit.filter { $0 != 0 }.map { ($0 - 1) / 3 })
            #expect(records.count == 2, "window \(unit) should hold tokens of two records")
        }
    }

    @Test func offsetsAreUniformIncludingBothEnds() throws {
        // 14 tokens, L = 4: offsets 0...10, each with probability 1/11.
        var counts = [Int](repeating: 0, count: 11)
        var rng = Philox(seed: 12, stream: "offsets")
        let draws = 22_000
        for unit in try SelectionStrategy.randomChunk.select(from: tinyUser, k: draws, contextLength: 4, separator: 0, rng: &rng) {
            let offset = (0...10).first { Array(stream[$0..<($0 + 4)]) == unit }!
            counts[offset] += 1
        }
        // Standard error of each frequency: sqrt(p(1-p)/n) = 0.0020; allow 0.01.
        let deviations = counts.map { abs(Double($0) / Double(draws) - 1.0 / 11.0) }
        #expect(deviations.max()! < 0.01, "max deviation \(deviations.max()!), counts \(counts)")
        #expect(counts.allSatisfy { $0 > 0 })
    }

    @Test func shortUserGivesTheWholeConcatenation() throws {
        var rng = Philox(seed: 1)
        let units = try SelectionStrategy.randomChunk.select(from: tinyUser, k: 3, contextLength: 64, separator: 0, rng: &rng)
        #expect(units == Array(repeating: stream, count: 3))
    }
}

@Suite struct StrategyNamesAndGroupPrivacyTests {
    @Test func namesRoundTrip() throws {
        for strategy in SelectionStrategy.allCases {
            #expect(try SelectionStrategy(name: strategy.name) == strategy)
        }
        #expect(SelectionStrategy.allCases.map(\.name) == [
            "random", "longest", "shortest", "perplexity(order=lowest)", "perplexity(order=highest)", "random-chunk",
        ])
        // The spellings of earlier versions still read.
        for (alias, strategy) in [
            ("perplexity", SelectionStrategy.perplexity(.lowest)), ("perplexity-lowest", .perplexity(.lowest)),
            ("perplexity(lowest)", .perplexity(.lowest)), ("perplexity-highest", .perplexity(.highest)),
            ("perplexity(highest)", .perplexity(.highest)),
        ] {
            #expect(try SelectionStrategy(name: alias) == strategy)
        }
        #expect(throws: UserDataError.unknownSelectionStrategy("longst")) { try SelectionStrategy(name: "longst") }
        let encoded = try JSONEncoder().encode([SelectionStrategy.randomChunk, .perplexity(.highest)])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["random-chunk","perplexity(order=highest)"]"#)
        #expect(try JSONDecoder().decode([SelectionStrategy].self, from: encoded) == [.randomChunk, .perplexity(.highest)])
        #expect(try JSONDecoder().decode([SelectionStrategy].self, from: Data(#"["perplexity-highest"]"#.utf8)) == [.perplexity(.highest)])
        // The kind and the order: the run config's object form.
        for strategy in SelectionStrategy.allCases {
            #expect(SelectionStrategy(kind: strategy.kind, order: strategy.order) == strategy)
        }
        #expect(SelectionStrategy(kind: .random, order: .highest) == nil)
        #expect(SelectionStrategy(kind: .perplexity) == .perplexity(.lowest))
    }

    @Test func groupPrivacyGivesExactlyKUnitsPerUserReproducibly() throws {
        let dataset = TokenizedDataset(
            datasetHash: "h", tokenizerIdentity: "t", separator: 0,
            users: [
                tinyUser, TokenizedUser(user: "bob", records: [[7, 7, 7, 7, 7, 7]]),
                TokenizedUser(user: "cy", records: (1...9).map { [Int32($0)] }),
            ])
        for strategy in [SelectionStrategy.random, .longest, .shortest, .randomChunk] {
            let units = try dataset.groupPrivacyUnits(strategy: strategy, unitsPerUser: 3, contextLength: 4, seed: 42)
            #expect(units.map(\.count) == [3, 3, 3])
            #expect(units.allSatisfy { $0.allSatisfy { $0.count <= 4 } })
            #expect(try dataset.groupPrivacyUnits(strategy: strategy, unitsPerUser: 3, contextLength: 4, seed: 42) == units)
        }
        // A user's units do not depend on the users before it.
        let alone = TokenizedDataset(datasetHash: "h", tokenizerIdentity: "t", separator: 0, users: [dataset.users[0]])
        let first = try alone.groupPrivacyUnits(strategy: .random, unitsPerUser: 2, contextLength: 4, seed: 42)[0]
        #expect(try dataset.groupPrivacyUnits(strategy: .random, unitsPerUser: 2, contextLength: 4, seed: 42)[0] == first)
    }
}

import Foundation
