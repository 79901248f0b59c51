import Foundation
import Persistence

/// Summary of a distribution of counts: mean and quantiles.
///
/// Quantiles interpolate linearly between order statistics (Hyndman & Fan 1996, definition 7,
/// the default of NumPy and R), so `median` of `[1, 2, 3, 4]` is 2.5.
public struct Quantiles: Sendable, Equatable, Codable {
    /// Number of values.
    public var count: Int
    /// Arithmetic mean.
    public var mean: Double
    public var min: Double
    public var p10: Double
    public var p25: Double
    public var median: Double
    public var p75: Double
    public var p90: Double
    public var p99: Double
    public var max: Double

    /// The summary of `values` (all zeros when empty).
    public init(_ values: [Int]) {
        let sorted = values.sorted().map(Double.init)
        count = sorted.count
        mean = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
        func quantile(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let h = Double(sorted.count - 1) * p
            let low = Int(h.rounded(.down))
            let high = Swift.min(low + 1, sorted.count - 1)
            return sorted[low] + (h - Double(low)) * (sorted[high] - sorted[low])
        }
        min = quantile(0)
        p10 = quantile(0.10)
        p25 = quantile(0.25)
        median = quantile(0.5)
        p75 = quantile(0.75)
        p90 = quantile(0.90)
        p99 = quantile(0.99)
        max = quantile(1)
    }
}

/// Size and shape of a user-level dataset.
///
/// JSON (`data stats --json`, a manifest's `statistics`): snake_case keys (`records_per_user`,
/// `characters_per_record`, `tokens_per_record`). Manifests of version 1 spelled these three in
/// camelCase (`recordsPerUser`, ...); both spellings are read.
public struct DatasetStatistics: Sendable, Equatable, Codable {
    /// Distinct users.
    public var users: Int
    /// Records.
    public var records: Int
    /// Unicode scalars over all texts (what Python's `len` counts).
    public var characters: Int
    /// Whitespace-separated words over all texts.
    public var words: Int
    /// The identity of the tokenizer behind the token counts, or nil when not tokenised.
    public var tokenizer: String?
    /// Tokens over all texts (no separators), or nil when not tokenised.
    public var tokens: Int?
    /// Records per user.
    public var recordsPerUser: Quantiles
    /// Characters per record.
    public var charactersPerRecord: Quantiles
    /// Tokens per record, or nil when not tokenised.
    public var tokensPerRecord: Quantiles?

    enum CodingKeys: String, CodingKey {
        case users, records, characters, words, tokenizer, tokens
        case recordsPerUser = "records_per_user"
        case charactersPerRecord = "characters_per_record"
        case tokensPerRecord = "tokens_per_record"
    }

    /// A plain-text table: totals, then one row per distribution.
    public func table(title: String) -> String {
        var lines = [title]
        func row(_ label: String, _ value: String) -> String {
            label.padding(toLength: 22, withPad: " ", startingAt: 0) + value
        }
        lines.append(row("users", grouped(users)))
        lines.append(row("records", grouped(records)))
        lines.append(row("characters", grouped(characters)))
        lines.append(row("words", grouped(words)))
        if let tokens, let tokenizer {
            lines.append(row("tokens", grouped(tokens) + "  (tokenizer \(tokenizer))"))
        }
        lines.append("")
        let columns = ["mean", "min", "p10", "p25", "median", "p75", "p90", "p99", "max"]
        func cell(_ text: String) -> String {
            String(repeating: " ", count: Swift.max(0, 9 - text.count)) + text
        }
        lines.append(String(repeating: " ", count: 22) + columns.map(cell).joined())
        func distribution(_ label: String, _ q: Quantiles) -> String {
            let values = [q.mean, q.min, q.p10, q.p25, q.median, q.p75, q.p90, q.p99, q.max]
            return label.padding(toLength: 22, withPad: " ", startingAt: 0)
                + values.map { cell(formatted($0)) }.joined()
        }
        lines.append(distribution("records per user", recordsPerUser))
        if let tokensPerRecord { lines.append(distribution("tokens per record", tokensPerRecord)) }
        lines.append(distribution("characters per record", charactersPerRecord))
        return lines.joined(separator: "\n")
    }

    /// The statistics as ``JSONOutput`` text (indented, sorted snake_case keys).
    public func json() -> String {
        // Plain numbers and strings only: encoding cannot fail.
        (try? JSONOutput.text(self)) ?? ""
    }

    private func grouped(_ value: Int) -> String {
        var digits = Array(String(value))
        var index = digits.count - 3
        while index > 0 {
            digits.insert(",", at: index)
            index -= 3
        }
        return String(digits)
    }

    private func formatted(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.1f", value)
    }
}

extension DatasetStatistics {
    /// The camelCase keys of version 1 manifests, read when the snake_case key is absent.
    private enum FormerKeys: String, CodingKey {
        case recordsPerUser, charactersPerRecord, tokensPerRecord
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let former = try decoder.container(keyedBy: FormerKeys.self)
        users = try container.decode(Int.self, forKey: .users)
        records = try container.decode(Int.self, forKey: .records)
        characters = try container.decode(Int.self, forKey: .characters)
        words = try container.decode(Int.self, forKey: .words)
        tokenizer = try container.decodeIfPresent(String.self, forKey: .tokenizer)
        tokens = try container.decodeIfPresent(Int.self, forKey: .tokens)
        recordsPerUser = try container.decode(Quantiles.self, forKey: .recordsPerUser, formerly: .recordsPerUser, in: former)
        charactersPerRecord = try container.decode(Quantiles.self, forKey: .charactersPerRecord, formerly: .charactersPerRecord, in: former)
        tokensPerRecord = try container.decodeIfPresent(Quantiles.self, forKey: .tokensPerRecord, formerly: .tokensPerRecord, in: former)
    }
}

extension Dataset {
    /// Counts users, records, characters and words, and tokens when a tokenizer is given.
    public func statistics(tokenizer: (any Tokenizing)? = nil) -> DatasetStatistics {
        let perUser = recordsByUser().map(\.records.count)
        let characters = records.map { $0.text.unicodeScalars.count }
        let words = records.reduce(0) { total, record in
            total + record.text.split(whereSeparator: { $0.isWhitespace }).count
        }
        let tokens = tokenizer.map { tokenizer in records.map { tokenizer.encode($0.text).count } }
        return DatasetStatistics(
            users: perUser.count, records: records.count, characters: characters.reduce(0, +), words: words,
            tokenizer: tokenizer?.identity, tokens: tokens?.reduce(0, +),
            recordsPerUser: Quantiles(perUser), charactersPerRecord: Quantiles(characters),
            tokensPerRecord: tokens.map(Quantiles.init))
    }
}
