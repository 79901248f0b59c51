import Crypto
import Foundation
import Training
import Persistence

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
    /// Notes about the expansion that may be mistakes (an exclude entry that removed every
    /// point of a mechanism, an include entry that repeated a grid point).
    public var warnings: [String]
    /// Facts about the expansion that are intended but worth showing (grid points that are
    /// one run because the mechanism ignores the axes that tell them apart).
    public var notes: [String] = []
    /// Inputs that could not be read while planning (dataset or model → reason). Their runs'
    /// ids do not include the inputs' content hashes; the runs themselves will fail.
    public var unresolvedInputs: [String] = []

    /// Planned run counts per mechanism, in `MechanismKind.allCases` order (registration order).
    public var runsPerMechanism: [(mechanism: MechanismKind, runs: Int)] {
        MechanismKind.allCases.compactMap { mechanism in
            let count = runs.filter { $0.config.mechanism == mechanism }.count
            return count > 0 ? (mechanism, count) : nil
        }
    }

    /// Grids with more runs than this get a warning.
    public static let warnAbove = 10_000
    /// Grids with more grid points than this are refused unless forced (`--force`).
    public static let refuseAbove = 100_000

    /// The run with this id, if planned.
    public func run(id: String) -> PlannedRun? { runs.first { $0.id == id } }
}

/// One run of a sweep.
public struct PlannedRun: Sendable, Hashable {
    /// Run id (`RunIdentity.id(for:inputs:)`).
    public var id: String
    /// Content hashes of the run's dataset and model, nil when they could not be read.
    public var inputs: InputFingerprint? = nil
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

/// Run identity (docs/SWEEPS.md): what determines a run's result. A hash of the canonical resolved
/// config (without keys the mechanism ignores) and of the content of its inputs (dataset and
/// base model), so a changed dataset gives new ids. Code version and environment are
/// deliberately not part of it, so results of two commits pair up.
public enum RunIdentity {
    /// Hex digits kept from the SHA-256 digest: 48 bits, so a grid of 10⁴ runs collides
    /// with probability about 2·10⁻⁷.
    public static let length = 12

    /// The run id of a config and the content of its inputs: SHA-256 of the canonical text of
    /// `{"config": <canonical config>, "inputs": <fingerprint>}`. Without a fingerprint (inputs
    /// that cannot be read, such as the test suite's fake datasets) it is the hash of the
    /// config's canonical text alone.
    public static func id(for config: RunConfig, inputs: InputFingerprint? = nil) -> String {
        let text = inputs.map { JSONValue.object(["config": config.json, "inputs": $0.json]).canonicalText() } ?? config.canonicalText
        let digest = SHA256.hash(data: Data(text.utf8))
        return String(digest.map { String(format: "%02x", $0) }.joined().prefix(length))
    }

    /// The inputs a stored result records (`extra.dataset_hash`, `extra.model_hash`), nil
    /// when it records no dataset hash. A result from before model hashes were recorded gets
    /// `assumedModelHash` (the caller's current model), since its model cannot be checked.
    public static func recordedInputs(of result: RunResult, assumedModelHash: String?) -> InputFingerprint? {
        guard case .string(let dataset)? = result.extra["dataset_hash"] else { return nil }
        if case .string(let model)? = result.extra["model_hash"] { return InputFingerprint(datasetHash: dataset, modelHash: model) }
        return assumedModelHash.map { InputFingerprint(datasetHash: dataset, modelHash: $0) }
    }
}

/// Axis value labels and their order, shared by plans, results.csv, tables and diffs.
public enum AxisValue {
    /// A short label for a config value written at `keyPath`: strings bare, numbers canonical,
    /// `none` for null, `n/a` when the key is absent (an option of another mechanism), objects as
    /// their sorted `key=value` pairs; a value with a spelling of its own in the config format as
    /// that spelling (a selection object: `perplexity(order=highest)`, `RunConfig.label(of:at:)`).
    public static func label(_ value: JSONValue?, at keyPath: String) -> String {
        guard let value else { return "n/a" }
        if let own = RunConfig.label(of: value, at: keyPath) { return own }
        switch value.normalized {
        case .null: return "none"
        case .bool(let b): return b ? "true" : "false"
        case .integer(let i): return String(i)
        case .number(let d): return JSONValue.canonicalNumber(d)
        case .string(let s): return s
        case .array(let elements): return "[" + elements.map { label($0, at: keyPath) }.joined(separator: ",") + "]"
        case .object(let entries):
            return entries.keys.sorted().map { "\($0)=\(label(entries[$0], at: "\(keyPath).\($0)"))" }.joined(separator: ",")
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

    /// Whether a `--where AXIS=VALUE` value selects an axis label the way the grid compares
    /// values: the same text; numbers numerically (`3e-3` selects `0.003`, `1.0` selects `1`);
    /// or, for other values, the same label once set into a config and resolved
    /// (`perplexity` selects `perplexity(order=lowest)`). `n/a` selects only `n/a`.
    public static func matches(filter value: String, label: String, axis: String) -> Bool {
        if value == label { return true }
        if let x = Double(value), let y = Double(label) { return x == y }
        guard label != "n/a", value != "n/a", !axis.hasPrefix("mechanism_options") else { return false }
        // The filter as JSON when it parses (numbers, true, null, objects), else as a string.
        let json = (try? JSONValue(parsing: Data(value.utf8))) ?? .string(value)
        // Resolved under a mechanism that reads the axis, since the others leave it out of the
        // canonical config.
        guard let reader = MechanismKind.allCases.first(where: { $0.reads(keyPath: axis) }),
            let config = try? RunConfig(json: RunConfig.assigning(json, at: axis, in: .object(["mechanism": .string(reader.rawValue)])))
        else { return false }
        return self.label(config.json.value(atKeyPath: axis), at: axis) == label
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
    /// point's axis values, when two points resolve to the same run although an axis the
    /// mechanism reads tells them apart, and when an exclude entry matches no point.
    /// Points that differ only in axes their mechanism ignores (ε for `nonprivate`) are one
    /// run, listed in `notes`.
    ///
    /// - Parameter inputs: resolves datasets and models to content hashes for the run ids;
    ///   nil plans ids from the configs alone (tests with fake inputs).
    /// - Parameter allowLargeGrid: plan grids above `SweepPlan.refuseAbove` runs.
    public func plan(inputs: InputFingerprintResolver? = nil, allowLargeGrid: Bool = false) throws(SweepError) -> SweepPlan {
        try checkSizeAndBase(allowLargeGrid: allowLargeGrid)
        var warnings: [String] = []
        let gridKeys = Set(grids.flatMap(\.keys)).sorted()
        let points = try excluding(from: try expandedGridPoints(), warnings: &warnings)
        let includeKeys = Set(include.flatMap(\.keys)).subtracting(gridKeys).sorted()
        let axes = (gridKeys + includeKeys).sorted()

        var runs: [PlannedRun] = []
        var seen: [String: (description: String, assignment: [String: JSONValue])] = [:]  // run id → first point
        var collapsed: [MechanismKind: (points: Int, keys: Set<String>)] = [:]
        var unresolved: [String] = []
        var cells: Set<[String]> = []
        // Grid points carry include index -1; included points carry their index.
        var origins: [([String: JSONValue], Int)] = points.map { ($0, -1) }
        for (index, entry) in include.enumerated() {
            origins.append((try resolvingLinks(entry, gridPath: "include[\(index)]"), index))
        }
        for (assignment, includeIndex) in origins {
            for seed in seeds {
                let described = describe(assignment, seed: seed, include: includeIndex)
                let config = try runConfig(assignment, seed: seed, described: described)
                let fingerprint = Self.fingerprint(of: config, inputs: inputs, unresolved: &unresolved)
                let id = RunIdentity.id(for: config, inputs: fingerprint)
                if let first = seen[id] {
                    try keepOnce(
                        RepeatedPoint(assignment: assignment, includeIndex: includeIndex, config: config, id: id, described: described),
                        first: first, warnings: &warnings, collapsed: &collapsed)
                    continue
                }
                seen[id] = (described, assignment)
                let resolved = config.json
                let cell = axes.map { AxisValue.label(resolved.value(atKeyPath: $0), at: $0) }
                guard cells.insert(cell + [String(seed)]).inserted else {
                    throw .duplicateRun(file: file, id: id, first: "with the same axis labels", second: described)
                }
                runs.append(PlannedRun(id: id, inputs: fingerprint, config: config, cell: cell, seed: seed))
            }
        }
        guard !runs.isEmpty else { throw .emptySweep(file: file) }
        runs.sort { AxisValue.precedes($0.cell, $1.cell) || ($0.cell == $1.cell && $0.seed < $1.seed) }
        var plan = SweepPlan(name: name, axes: axes, seeds: seeds, runs: runs, warnings: warnings)
        plan.notes = collapsed.keys.sorted { $0.rawValue < $1.rawValue }.map { mechanism in
            let entry = collapsed[mechanism]!
            return "\(mechanism.rawValue) ignores \(entry.keys.sorted().joined(separator: ", ")): \(entry.points) grid point(s) are runs already planned (shown as n/a)"
        }
        plan.unresolvedInputs = unresolved
        if runs.count > SweepPlan.warnAbove {
            plan.warnings.append("\(runs.count) runs (more than \(SweepPlan.warnAbove)); check the grid's size before dispatching")
        }
        return plan
    }

    /// The run config of a point (the base with the point's values and the seed set),
    /// validated; an invalid one is `SweepError.invalidRunConfig` naming the point.
    private func runConfig(_ assignment: [String: JSONValue], seed: Int, described: String) throws(SweepError) -> RunConfig {
        var json = JSONValue.object(base)
        for key in assignment.keys.sorted() { json = RunConfig.assigning(assignment[key]!, at: key, in: json) }
        json = RunConfig.assigning(.integer(seed), at: "seed", in: json)
        do { return try RunConfig(json: json) } catch {
            throw .invalidRunConfig(file: file, point: described, error: error)
        }
    }

    /// The content hashes of a config's dataset and model, nil without a resolver or when they
    /// cannot be read; each such problem is listed once in `unresolved`.
    private static func fingerprint(
        of config: RunConfig, inputs: InputFingerprintResolver?, unresolved: inout [String]
    ) -> InputFingerprint? {
        guard let inputs else { return nil }
        switch inputs.fingerprint(dataset: config.dataset, model: config.model) {
        case .success(let value): return value
        case .failure(let error):
            let text = "dataset \"\(config.dataset)\", model \"\(config.model)\": \(error.localizedDescription)"
            if !unresolved.contains(text) { unresolved.append(text) }
            return nil
        }
    }

    /// A point whose run id an earlier point already planned.
    private struct RepeatedPoint {
        let assignment: [String: JSONValue]
        /// Its `include` index, -1 for a grid point.
        let includeIndex: Int
        let config: RunConfig
        let id: String
        let described: String
    }

    /// Keeps a repeated point's run once when that is what the sweep means, and says so: two
    /// sub-grids sharing a point (a warning), points that differ only in keys their mechanism
    /// ignores (counted in `collapsed` for the notes), an include repeating a grid point (a
    /// warning). Otherwise two different points would be one run: `SweepError.duplicateRun`.
    private func keepOnce(
        _ point: RepeatedPoint, first: (description: String, assignment: [String: JSONValue]),
        warnings: inout [String], collapsed: inout [MechanismKind: (points: Int, keys: Set<String>)]
    ) throws(SweepError) {
        let differing = Set(point.assignment.keys).union(first.assignment.keys).filter {
            point.assignment[$0]?.canonicalText() != first.assignment[$0]?.canonicalText()
        }
        if differing.isEmpty, point.includeIndex < 0 {
            if !warnings.contains("grids overlap at \(first.description); kept once") {
                warnings.append("grids overlap at \(first.description); kept once")
            }
            return
        }
        let mechanism = point.config.mechanism
        if !differing.isEmpty, differing.allSatisfy({ !mechanism.reads(keyPath: $0) }) {
            var entry = collapsed[mechanism] ?? (0, [])
            entry.points += 1
            entry.keys.formUnion(differing)
            collapsed[mechanism] = entry
            return
        }
        if point.includeIndex >= 0 {
            warnings.append("include[\(point.includeIndex)] repeats grid point \(first.description); kept once")
            return
        }
        throw .duplicateRun(file: file, id: point.id, first: first.description, second: point.described)
    }

    /// Fails before anything is expanded when the grid would have more than
    /// `SweepPlan.refuseAbove` runs (a typo such as 1e6 values would otherwise exhaust memory)
    /// unless `allowLargeGrid`, and names an unknown key of the base as `base.KEY` (it would
    /// otherwise fail every point).
    private func checkSizeAndBase(allowLargeGrid: Bool) throws(SweepError) {
        let gridPoints = grids.reduce(0.0) { total, grid in total + grid.values.reduce(1.0) { $0 * Double($1.count) } }
        let pointCount = gridPoints * Double(seeds.count) + Double(include.count * seeds.count)
        if pointCount > Double(SweepPlan.refuseAbove), !allowLargeGrid {
            throw .gridTooLarge(file: file, runs: pointCount, limit: SweepPlan.refuseAbove)
        }
        do { _ = try RunConfig(json: .object(base)) } catch {
            if case .unknownKey(let keyPath, let known) = error {
                let last = String(keyPath.split(separator: ".").last ?? Substring(keyPath))
                throw .unknownKey(file: file, keyPath: "base.\(keyPath)", suggestion: closest(to: last, among: known))
            }
        }
    }

    /// Every grid's Cartesian product, grid after grid, keys in sorted order, linked values
    /// resolved; empty when there is no grid key but there are included points (only those run).
    private func expandedGridPoints() throws(SweepError) -> [[String: JSONValue]] {
        var points: [[String: JSONValue]] = []
        for (gridIndex, grid) in grids.enumerated() {
            var product: [[String: JSONValue]] = [[:]]
            for key in grid.keys.sorted() {
                product = product.flatMap { point in grid[key]!.map { value in point.merging([key: value]) { $1 } } }
            }
            let gridPath = gridIsList ? "grid[\(gridIndex)]" : "grid"
            points += try product.map { point throws(SweepError) in try resolvingLinks(point, gridPath: gridPath) }
        }
        let gridKeys = grids.flatMap(\.keys)
        return gridKeys.isEmpty && !include.isEmpty ? [] : points
    }

    /// `points` without those an `exclude` entry matches. An entry that matches nothing is an
    /// error; one with several keys that removes every point of a mechanism adds a warning
    /// (`{"mechanism": m}` says that; with more keys it is more likely a mistake).
    private func excluding(from points: [[String: JSONValue]], warnings: inout [String]) throws(SweepError) -> [[String: JSONValue]] {
        var points = points
        for (index, entry) in exclude.enumerated() {
            let before = points
            points.removeAll { matches($0, entry) }
            if points.count == before.count { throw .excludeMatchesNothing(file: file, index: index) }
            if entry.count > 1 {
                let mechanismsBefore = Dictionary(grouping: before, by: { mechanismName(of: $0) }).mapValues(\.count)
                let mechanismsAfter = Set(points.map { mechanismName(of: $0) })
                for (mechanism, count) in mechanismsBefore.sorted(by: { $0.key < $1.key }) where !mechanismsAfter.contains(mechanism) {
                    warnings.append("exclude[\(index)] removes every \(mechanism) grid point (\(count)); if that is intended, write it as {\"mechanism\": \"\(mechanism)\"}")
                }
            }
        }
        return points
    }

    /// The point with its linked values (`{"=": expr}`) computed from its other values, the
    /// base, or the defaults. A linked value may not read another linked value.
    func resolvingLinks(_ point: [String: JSONValue], gridPath: String) throws(SweepError) -> [String: JSONValue] {
        let linked = point.keys.sorted().filter { LinkedValue.expression(point[$0]!) != nil }
        guard !linked.isEmpty else { return point }
        var json = JSONValue.object(base)
        for key in point.keys.sorted() where !linked.contains(key) { json = RunConfig.assigning(point[key]!, at: key, in: json) }
        let defaults = (try? RunConfig(json: json))?.json ?? RunConfig().json
        var resolved = point
        for key in linked {
            let text = LinkedValue.expression(point[key]!)!
            do throws(LinkedValue.Failure) {
                resolved[key] = try LinkedValue.evaluate(text) { (name: String) throws(LinkedValue.Failure) -> Double in
                    if linked.contains(name) { throw LinkedValue.Failure(reason: "\(name) is linked too") }
                    switch json.value(atKeyPath: name) ?? defaults.value(atKeyPath: name) {
                    case .integer(let i)?: return Double(i)
                    case .number(let d)?: return d
                    case let other?: throw LinkedValue.Failure(reason: "\(name) is \(other.shortText), not a number")
                    case nil: throw LinkedValue.Failure(reason: "\(name) has no value at this point")
                    }
                }
            } catch {
                throw .invalidValue(file: file, keyPath: "\(gridPath).\(key)", expected: "a linked value computable at every point (\(error.reason))", got: point[key]!.shortText)
            }
        }
        return resolved
    }

    /// The mechanism a grid point resolves to (the base's, or the default), for messages.
    func mechanismName(of point: [String: JSONValue]) -> String {
        var json = JSONValue.object(base)
        for key in point.keys.sorted() { json = RunConfig.assigning(point[key]!, at: key, in: json) }
        if case .string(let name)? = json.value(atKeyPath: "mechanism") { return name }
        return RunConfig().mechanism.rawValue
    }

    /// Whether a grid point matches an exclude entry: for every key of the entry, the
    /// point's mechanism reads that key (a key it ignores resolves to `n/a` and matches
    /// nothing, so `{"mechanism": "user", "mechanism_options.group.accounting": "lemma"}`
    /// removes no `user` point), and the value is written the same at the point (as
    /// assigned, or in the base) or setting it does not change the point's resolved config.
    func matches(_ point: [String: JSONValue], _ entry: [String: JSONValue]) -> Bool {
        var json = JSONValue.object(base)
        for key in point.keys.sorted() { json = RunConfig.assigning(point[key]!, at: key, in: json) }
        let config = try? RunConfig(json: json)
        return entry.allSatisfy { key, value in
            if let config, !config.mechanism.reads(keyPath: key) { return false }
            if let written = json.value(atKeyPath: key), written.canonicalText() == value.canonicalText() { return true }
            guard let config else { return false }
            return (try? RunConfig(json: RunConfig.assigning(value, at: key, in: json)).canonicalText) == config.canonicalText
        }
    }

    func describe(_ assignment: [String: JSONValue], seed: Int, include: Int) -> String {
        let values = assignment.keys.sorted().map { "\($0)=\(AxisValue.label(assignment[$0], at: $0))" } + ["seed=\(seed)"]
        return (include >= 0 ? "include[\(include)] " : "") + "{" + values.joined(separator: ", ") + "}"
    }
}
