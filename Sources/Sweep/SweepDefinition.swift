import Foundation
import Training
import Persistence

/// A sweep file (`sweeps/NAME.json`): a base run config, a grid of values for config keys,
/// optional include/exclude lists and seeds (docs/SWEEPS.md).
///
/// Format (version 1):
/// ```json
/// {"version": 1, "name": "quick", "description": "optional text",
///  "base": {"steps": 200},
///  "grid": {"mechanism": ["group", "user"], "epsilon": [1, 8], "lora.rank": [4, 8]},
///  "exclude": [{"mechanism": "group", "epsilon": 1}],
///  "include": [{"mechanism": "nonprivate"}],
///  "seeds": [0, 1, 2]}
/// ```
/// - `grid` maps a run config key or dotted key path to a non-empty list of values; the runs
///   are the product of all axes. `grid` may also be a list of such objects (version 2): the
///   runs are the union of their products (per-mechanism sub-grids), and the axes the union
///   of their keys (a sub-grid without an axis takes the base value).
/// - A grid value `{"=": "64 / k"}` (version 2) is linked: it is computed for each point from
///   the point's other values (or the base, or the defaults) with `+ - * /` and parentheses
///   over numbers and key paths; an integral result is an integer. `seed` is not a grid key: use `seeds` (a list) or
///   `replicates` (n seeds counting up from the base seed); with neither, the base seed.
/// - `exclude` removes grid points that match every key of an entry (a value matches when it
///   is written the same or resolves the same, so `"perplexity"` matches
///   `{"strategy": "perplexity"}`); `include` adds points: keys not named take the base value.
/// - Setting a dotted path is `RunConfig.assigning`: it creates missing objects (`lora.rank` on
///   a null `lora` gives `{"rank": ...}` with defaults for the rest), and a name the config
///   format takes for an object (a strategy name at `selection`) becomes that object.
/// - Relative paths inside configs are relative to the directory `sweep run` is started in.
public struct SweepDefinition: Sendable, Equatable {
    /// The highest sweep format version this build reads. Version 2 adds a list of grids
    /// and linked values; a definition that uses neither is written as version 1, so labels
    /// run by older builds keep an identical `sweep.json`.
    public static let currentVersion = 2
    /// Keys of the sweep format, sorted.
    public static let knownKeys = ["base", "description", "exclude", "grid", "include", "name", "replicates", "seeds", "version"]

    /// Where the definition came from, for messages (a path, or a name for in-memory data).
    public var file: String
    /// Sweep name: the results folder `RESULTS/NAME/`. Letters, digits, `.`, `_`, `-`.
    /// Defaults to the file name without `.json`.
    public var name: String
    /// Free text shown nowhere but kept with the results.
    public var description: String?
    /// The base run config (partial; validated per grid point).
    public var base: [String: JSONValue]
    /// The grids, each axis key path → values; the runs are the union of their products.
    /// One grid in a version-1 file.
    public var grids: [[String: [JSONValue]]]
    /// Whether the file gave `grid` as a list (written back the same way).
    public var gridIsList = false
    /// Partial assignments removed from the product.
    public var exclude: [[String: JSONValue]]
    /// Partial assignments added to the product.
    public var include: [[String: JSONValue]]
    /// Seeds every grid point runs with.
    public var seeds: [Int]

    /// Reads and checks a sweep file (the format, not yet the run configs: see `plan()`).
    public init(contentsOf url: URL) throws(SweepError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw .unreadable(file: url.path, reason: error.localizedDescription)
        }
        let stem = url.deletingPathExtension().lastPathComponent
        try self.init(data: data, file: url.path, defaultName: stem)
    }

    /// Parses a sweep definition from JSON bytes; `file` names it in messages.
    public init(data: Data, file: String, defaultName: String? = nil) throws(SweepError) {
        self.file = file
        let json: JSONValue
        do { json = try JSONValue(parsing: data) } catch { throw .notJSON(file: file, reason: error.reason) }
        guard case .object(let top) = json else {
            throw .invalidValue(file: file, keyPath: "sweep", expected: "an object", got: json.shortText)
        }
        if let unknown = firstUnknownKey(of: top, known: SweepDefinition.knownKeys) {
            throw .unknownKey(file: file, keyPath: unknown, suggestion: closest(to: unknown, among: SweepDefinition.knownKeys))
        }
        try SweepDefinition.checkVersion(top["version"], file: file)

        let nameValue = top["name"] ?? defaultName.map(JSONValue.string) ?? .null
        guard case .string(let name) = nameValue, SweepDefinition.isValidName(name) else {
            throw .invalidValue(
                file: file, keyPath: "name", expected: "a name of letters, digits, '.', '_' and '-' (not starting with '.')",
                got: nameValue.shortText)
        }
        self.name = name
        if let d = top["description"] {
            guard case .string(let text) = d else {
                throw .invalidValue(file: file, keyPath: "description", expected: "a string", got: d.shortText)
            }
            description = text
        }

        switch top["base"] ?? .object([:]) {
        case .object(let object): base = object
        case let other: throw .invalidValue(file: file, keyPath: "base", expected: "a run config object", got: other.shortText)
        }
        if let seed = base["seed"], top["seeds"] != nil {
            throw .invalidValue(file: file, keyPath: "base.seed", expected: "no seed in base when \"seeds\" is given", got: seed.shortText)
        }

        (grids, gridIsList) = try SweepDefinition.readGrids(top["grid"] ?? .object([:]), file: file)
        exclude = try SweepDefinition.assignments(top["exclude"], key: "exclude", file: file)
        include = try SweepDefinition.assignments(top["include"], key: "include", file: file)
        seeds = try SweepDefinition.readSeeds(top["seeds"], replicates: top["replicates"], base: base, file: file)
        base["seed"] = nil
    }

    /// Refuses a `version` that is not a format version, or newer than this build reads.
    static func checkVersion(_ version: JSONValue?, file: String) throws(SweepError) {
        guard let version else { return }
        guard case .integer(let v) = version, v >= 1 else {
            throw .invalidValue(file: file, keyPath: "version", expected: "a format version (an integer ≥ 1)", got: version.shortText)
        }
        guard v <= SweepDefinition.currentVersion else {
            throw .unsupportedVersion(file: file, found: v, highestSupported: SweepDefinition.currentVersion)
        }
    }

    /// `grid`: one grid object, or a non-empty list of them (then `isList`).
    static func readGrids(_ value: JSONValue, file: String) throws(SweepError) -> (grids: [[String: [JSONValue]]], isList: Bool) {
        switch value {
        case .object:
            return ([try SweepDefinition.readGrid(value, keyPath: "grid", file: file)], false)
        case .array(let list) where !list.isEmpty:
            var grids: [[String: [JSONValue]]] = []
            for (index, element) in list.enumerated() {
                grids.append(try SweepDefinition.readGrid(element, keyPath: "grid[\(index)]", file: file))
            }
            return (grids, true)
        case let other:
            throw .invalidValue(file: file, keyPath: "grid", expected: "an object of key path → list of values, or a non-empty list of such objects", got: other.shortText)
        }
    }

    /// The seeds: `seeds` (distinct non-negative integers), or `replicates` n (n seeds from the
    /// base's seed, default 0), or the base's seed alone; never both keys.
    static func readSeeds(_ seedsValue: JSONValue?, replicates: JSONValue?, base: [String: JSONValue], file: String) throws(SweepError) -> [Int] {
        switch (seedsValue, replicates) {
        case (.some, .some(let value)):
            throw .invalidValue(file: file, keyPath: "replicates", expected: "either \"seeds\" or \"replicates\", not both", got: value.shortText)
        case (.some(let value), nil):
            guard case .array(let list) = value, !list.isEmpty else {
                throw .invalidValue(file: file, keyPath: "seeds", expected: "a non-empty list of non-negative integers", got: value.shortText)
            }
            var seeds: [Int] = []
            for (index, element) in list.enumerated() {
                guard case .integer(let seed) = element, seed >= 0, !seeds.contains(seed) else {
                    throw .invalidValue(file: file, keyPath: "seeds[\(index)]", expected: "a non-negative integer, each once", got: element.shortText)
                }
                seeds.append(seed)
            }
            return seeds
        case (nil, .some(let value)):
            guard case .integer(let n) = value, n >= 1 else {
                throw .invalidValue(file: file, keyPath: "replicates", expected: "a positive integer", got: value.shortText)
            }
            var first = 0
            if case .integer(let s)? = base["seed"], s >= 0 { first = s }
            return Array(first..<(first + n))
        case (nil, nil):
            if case .integer(let s)? = base["seed"], s >= 0 { return [s] } else { return [0] }
        }
    }

    /// One grid object: key path → non-empty list of values (a value may be `{"=": expr}`).
    static func readGrid(_ value: JSONValue, keyPath: String, file: String) throws(SweepError) -> [String: [JSONValue]] {
        guard case .object(let axes) = value else {
            throw .invalidValue(file: file, keyPath: keyPath, expected: "an object of key path → list of values", got: value.shortText)
        }
        var grid: [String: [JSONValue]] = [:]
        for key in axes.keys.sorted() {
            try SweepDefinition.checkAssignable(key, keyPath: "\(keyPath).\(key)", file: file)
            guard case .array(let values) = axes[key]!, !values.isEmpty else {
                throw .invalidValue(file: file, keyPath: "\(keyPath).\(key)", expected: "a non-empty list of values", got: axes[key]!.shortText)
            }
            for (index, element) in values.enumerated() {
                guard let expression = LinkedValue.expression(element) else { continue }
                do { _ = try LinkedValue.parse(expression) } catch {
                    throw .invalidValue(file: file, keyPath: "\(keyPath).\(key)[\(index)]", expected: "an expression of numbers, key paths, + - * / and parentheses (\(error.reason))", got: element.shortText)
                }
            }
            grid[key] = values
        }
        return grid
    }

    /// Whether the definition uses version-2 features (a list of grids, linked values).
    var usesVersion2: Bool {
        gridIsList || grids.contains { $0.values.contains { $0.contains { LinkedValue.expression($0) != nil } } }
    }

    /// Whether `name` can name a results folder.
    public static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first != "." else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    /// The canonical JSON form of the definition (seeds spelled out), stored beside results.
    public var json: JSONValue {
        let gridJSON: JSONValue =
            gridIsList ? .array(grids.map { .object($0.mapValues(JSONValue.array)) }) : .object((grids.first ?? [:]).mapValues(JSONValue.array))
        var object: [String: JSONValue] = [
            "version": .integer(usesVersion2 ? 2 : 1), "name": .string(name), "base": .object(base),
            "grid": gridJSON, "seeds": .array(seeds.map(JSONValue.integer)),
        ]
        if let description { object["description"] = .string(description) }
        if !exclude.isEmpty { object["exclude"] = .array(exclude.map(JSONValue.object)) }
        if !include.isEmpty { object["include"] = .array(include.map(JSONValue.object)) }
        return .object(object)
    }

    /// A grid key must be a run config key path other than `seed` and `version`.
    static func checkAssignable(_ key: String, keyPath: String, file: String) throws(SweepError) {
        if key == "seed" {
            throw .invalidValue(file: file, keyPath: keyPath, expected: "a run config key other than seed (use \"seeds\" or \"replicates\")", got: "\"seed\"")
        }
        guard RunConfig.knownKeyPaths.contains(key), key != "version" else {
            throw .unknownKey(file: file, keyPath: keyPath, suggestion: closest(to: key, among: RunConfig.knownKeyPaths))
        }
    }

    static func assignments(_ value: JSONValue?, key: String, file: String) throws(SweepError) -> [[String: JSONValue]] {
        guard let value else { return [] }
        guard case .array(let entries) = value else {
            throw .invalidValue(file: file, keyPath: key, expected: "a list of objects (key path → value)", got: value.shortText)
        }
        var result: [[String: JSONValue]] = []
        for (index, entry) in entries.enumerated() {
            guard case .object(let assignment) = entry, !assignment.isEmpty else {
                throw .invalidValue(file: file, keyPath: "\(key)[\(index)]", expected: "a non-empty object (key path → value)", got: entry.shortText)
            }
            for path in assignment.keys.sorted() {
                try checkAssignable(path, keyPath: "\(key)[\(index)].\(path)", file: file)
            }
            result.append(assignment)
        }
        return result
    }
}

/// The closest candidate by edit distance, when it is close enough to be a likely typo.
func closest(to word: String, among candidates: [String]) -> String? {
    var best: (candidate: String, distance: Int)?
    for candidate in candidates {
        let d = editDistance(Array(word), Array(candidate))
        if best == nil || d < best!.distance { best = (candidate, d) }
    }
    guard let best, best.distance <= max(2, word.count / 3) else { return nil }
    return best.candidate
}

/// Levenshtein distance (insertions, deletions, substitutions).
func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    var previous = Array(0...b.count)
    for i in a.indices {
        var current = [i + 1]
        for j in b.indices {
            let substitution = previous[j] + (a[i] == b[j] ? 0 : 1)
            current.append(min(substitution, previous[j + 1] + 1, current[j] + 1))
        }
        previous = current
    }
    return previous[b.count]
}
