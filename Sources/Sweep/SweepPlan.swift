import Crypto
import Foundation
import Training

/// The expanded sweep: every run with its validated config, id, cell and seed, in a stable
/// order (by axis values, then seed).
public struct SweepPlan: Sendable, Equatable {
    /// The sweep name (results folder).
    public var name: String
    /// The axes: grid keys and keys that `include` entries set, sorted.
    public var axes: [String]
    /// The seeds every cell runs with.
    public var seeds: [Int]
    /// The runs, sorted by cell (axis values in `axes` order, numbers numerically) then seed.
    public var runs: [PlannedRun]
    /// Notes about the expansion (an exclude entry that matched nothing, an include entry
    /// that repeated a grid point).
    public var warnings: [String]

    /// The run with this id, if planned.
    public func run(id: String) -> PlannedRun? { runs.first { $0.id == id } }
}

/// One run of a sweep.
public struct PlannedRun: Sendable, Hashable {
    /// Run id: the first 12 hex digits of SHA-256 over the config's canonical text.
    public var id: String
    /// The validated, resolved config.
    public var config: RunConfig
    /// The labels of this run's axis values, aligned with `SweepPlan.axes`.
    public var cell: [String]
    /// The run's seed.
    public var seed: Int

    /// `{axis=value, ..., seed=s}` for messages.
    public func describe(axes: [String]) -> String {
        "{" + (zip(axes, cell).map { "\($0)=\($1)" } + ["seed=\(seed)"]).joined(separator: ", ") + "}"
    }
}

/// Run identity (DESIGN §6): a hash of the canonical resolved config. Code version and
/// environment are deliberately not part of it, so results of two commits pair up.
public enum RunIdentity {
    /// Hex digits kept from the SHA-256 digest: 48 bits, so a grid of 10⁴ runs collides
    /// with probability about 2·10⁻⁷.
    public static let length = 12

    /// The run id of a config.
    public static func id(for config: RunConfig) -> String {
        let digest = SHA256.hash(data: Data(config.canonicalText.utf8))
        return String(digest.map { String(format: "%02x", $0) }.joined().prefix(length))
    }
}

/// Axis value labels and their order, shared by plans, results.csv, tables and diffs.
public enum AxisValue {
    /// A short label for a config value: strings bare, numbers canonical, `none` for null,
    /// `n/a` when the key is absent (an option of another mechanism), a selection as its
    /// strategy with options in parentheses (`perplexity(order=highest)`).
    public static func label(_ value: JSONValue?) -> String {
        guard let value else { return "n/a" }
        switch value.normalized {
        case .null: return "none"
        case .bool(let b): return b ? "true" : "false"
        case .integer(let i): return String(i)
        case .number(let d): return JSONValue.canonicalNumber(d)
        case .string(let s): return s
        case .array(let elements): return "[" + elements.map { label($0) }.joined(separator: ",") + "]"
        case .object(var entries):
            let strategy = entries.removeValue(forKey: "strategy").map { label($0) }
            let options = entries.keys.sorted().map { "\($0)=\(label(entries[$0]))" }.joined(separator: ",")
            guard let strategy else { return options }
            return options.isEmpty ? strategy : "\(strategy)(\(options))"
        }
    }

    /// Order of labels: numbers numerically before other labels, other labels by their UTF-8
    /// bytes. Total and locale-independent, so output is byte-stable.
    public static func precedes(_ a: String, _ b: String) -> Bool {
        switch (Double(a), Double(b)) {
        case (let x?, let y?) where x != y: return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        default: return a.utf8.lexicographicallyPrecedes(b.utf8)
        }
    }

    /// Lexicographic order of label tuples (cells) by `precedes`.
    public static func precedes(_ a: [String], _ b: [String]) -> Bool {
        for (x, y) in zip(a, b) where x != y { return precedes(x, y) }
        return a.count < b.count
    }
}

// MARK: - Expansion

extension SweepDefinition {
    /// Expands the grid (product, exclude, include, seeds) and validates every run config
    /// before anything runs. Throws at the first invalid point with its key path and the
    /// point's axis values, and when two points resolve to the same run.
    public func plan() throws(SweepError) -> SweepPlan {
        // A typo in the base would fail every point; name it as a base key instead.
        do { _ = try RunConfig(json: .object(base)) } catch {
            if case .unknownKey(let keyPath, let known) = error {
                let last = String(keyPath.split(separator: ".").last ?? Substring(keyPath))
                throw .unknownKey(file: file, keyPath: "base.\(keyPath)", suggestion: closest(to: last, among: known))
            }
        }

        var warnings: [String] = []
        let gridKeys = grid.keys.sorted()
        var points: [[String: JSONValue]] = [[:]]
        for key in gridKeys {
            points = points.flatMap { point in grid[key]!.map { value in point.merging([key: value]) { $1 } } }
        }
        if gridKeys.isEmpty, !include.isEmpty { points = [] }  // only the included points

        for (index, entry) in exclude.enumerated() {
            let before = points.count
            points.removeAll { matches($0, entry) }
            if points.count == before { warnings.append("exclude[\(index)] matches no grid point") }
        }
        let includeKeys = Set(include.flatMap(\.keys)).subtracting(gridKeys).sorted()
        let axes = (gridKeys + includeKeys).sorted()

        var runs: [PlannedRun] = []
        var seen: [String: String] = [:]  // run id → point description
        var cells: Set<[String]> = []
        // Grid points carry include index -1; included points carry their index.
        let origins: [([String: JSONValue], Int)] = points.map { ($0, -1) } + include.enumerated().map { ($1, $0) }
        for (assignment, includeIndex) in origins {
            for seed in seeds {
                var json = JSONValue.object(base)
                for key in assignment.keys.sorted() { json = assigning(assignment[key]!, at: key, in: json) }
                json = assigning(.integer(seed), at: "seed", in: json)
                let described = describe(assignment, seed: seed, include: includeIndex)
                let config: RunConfig
                do { config = try RunConfig(json: json) } catch {
                    throw .invalidRunConfig(file: file, point: described, error: error)
                }
                let id = RunIdentity.id(for: config)
                if let first = seen[id] {
                    if includeIndex >= 0 {
                        warnings.append("include[\(includeIndex)] repeats grid point \(first); kept once")
                        continue
                    }
                    throw .duplicateRun(file: file, id: id, first: first, second: described)
                }
                seen[id] = described
                let resolved = config.json
                let cell = axes.map { AxisValue.label(resolved.value(atKeyPath: $0)) }
                guard cells.insert(cell + [String(seed)]).inserted else {
                    throw .duplicateRun(file: file, id: id, first: "with the same axis labels", second: described)
                }
                runs.append(PlannedRun(id: id, config: config, cell: cell, seed: seed))
            }
        }
        guard !runs.isEmpty else { throw .emptySweep(file: file) }
        runs.sort { AxisValue.precedes($0.cell, $1.cell) || ($0.cell == $1.cell && $0.seed < $1.seed) }
        return SweepPlan(name: name, axes: axes, seeds: seeds, runs: runs, warnings: warnings)
    }

    /// Whether a grid point matches an exclude entry: every key of the entry is written the
    /// same at the point (as assigned, or in the base), or setting it does not change the
    /// point's resolved config.
    func matches(_ point: [String: JSONValue], _ entry: [String: JSONValue]) -> Bool {
        var json = JSONValue.object(base)
        for key in point.keys.sorted() { json = assigning(point[key]!, at: key, in: json) }
        let resolved = try? RunConfig(json: json).canonicalText
        return entry.allSatisfy { key, value in
            if let written = json.value(atKeyPath: key), written.canonicalText() == value.canonicalText() { return true }
            guard let resolved else { return false }
            return (try? RunConfig(json: assigning(value, at: key, in: json)).canonicalText) == resolved
        }
    }

    func describe(_ assignment: [String: JSONValue], seed: Int, include: Int) -> String {
        let values = assignment.keys.sorted().map { "\($0)=\(AxisValue.label(assignment[$0]))" } + ["seed=\(seed)"]
        return (include >= 0 ? "include[\(include)] " : "") + "{" + values.joined(separator: ", ") + "}"
    }
}

/// `json` with `value` set at a dotted key path. Missing or null objects on the way are
/// created; a string on the way (a selection shorthand) becomes `{"strategy": string}`; any
/// other value on the way is replaced by an object (the config parser then reports it).
func assigning(_ value: JSONValue, at keyPath: String, in json: JSONValue) -> JSONValue {
    let keys = keyPath.split(separator: ".", maxSplits: 1).map(String.init)
    var object: [String: JSONValue]
    switch json {
    case .object(let entries): object = entries
    case .string(let s): object = ["strategy": .string(s)]
    default: object = [:]
    }
    if keys.count == 1 {
        object[keys[0]] = value
    } else {
        object[keys[0]] = assigning(value, at: keys[1], in: object[keys[0]] ?? .null)
    }
    return .object(object)
}
