import Foundation
import Persistence
import Training

/// Moves a label's finished runs to the run ids of the current run identity (config version
/// 2: keys the mechanism ignores dropped, dataset and model content hashes included) without
/// rerunning them (`userdp sweep migrate`).
///
/// Contract:
/// - A stored run is matched to a planned run by its resolved config (the result's own
///   `config`, re-read by this build, so keys its mechanism ignores no longer count).
/// - It is kept only while still valid: the dataset hash it recorded (`extra.dataset_hash`)
///   equals the current one, and so does its model hash (`extra.model_hash`; results from
///   before model hashes were recorded are taken to use the current model, and the report
///   says so). Planned runs whose inputs cannot be read are matched on the config alone.
/// - A valid run moves from `runs/OLD` to `runs/NEW` and gets the new `config.json`; when
///   several old runs are the same new run (a `nonprivate` run per ε before version 2), the
///   first by old id is kept and the others move to `superseded/OLD`. Nothing is deleted.
/// - Runs that are stale (changed inputs), unplanned or without a result stay where they are;
///   the next `sweep run` runs the planned ones afresh. `results.csv` is rewritten.
/// - Everything happens under the label's lock, so no dispatcher claims a run meanwhile.
public struct SweepMigration: Sendable, Equatable {
    /// Runs moved to a new id (old id → new id).
    public var moved: [String: String] = [:]
    /// Runs already at their current id (their `config.json` rewritten when it changed).
    public var unchanged: [String] = []
    /// Old runs that are the same run as one kept (old id → the new id they duplicate).
    public var superseded: [String: String] = [:]
    /// Runs left in place because they are no longer valid (old id → why).
    public var stale: [String: String] = [:]
    /// Finished runs the current plan does not contain.
    public var unplanned: [String] = []
    /// Run folders without a readable result (left in place).
    public var unfinished: [String] = []
    /// Kept runs whose model could not be checked (results from before `model_hash`).
    public var modelAssumed: [String] = []

    /// The folder that receives superseded runs.
    public static let supersededFolder = "superseded"

    /// Plans (with `apply` false) or performs the migration of `store` to `plan`'s ids.
    public static func migrate(plan: SweepPlan, store: ResultStore, apply: Bool) throws(SweepError) -> SweepMigration {
        try store.withLock { () throws(SweepError) -> SweepMigration in
            let (report, moves) = matched(plan: plan, store: store)
            guard apply else { return report }
            try perform(moves, store: store)
            var results: [String: RunResult] = [:]
            for run in plan.runs {
                if case .success(let result)? = store.readResult(run.id) { results[run.id] = result }
            }
            try store.write(Data(ResultSet(plan: plan, results: results).csvText.utf8), to: store.resultsCSV)
            return report
        }
    }

    /// A run folder to move: to the planned id `to`, or, with `to` empty, into `superseded/`.
    private typealias Move = (from: String, to: String, config: RunConfig)

    /// Matches every run folder of the store to a planned run by its result's config, and the
    /// moves that follow. Runs already at their id keep it; others are matched afterwards, and
    /// a second old run matching a taken id is superseded.
    private static func matched(plan: SweepPlan, store: ResultStore) -> (SweepMigration, [Move]) {
        var report = SweepMigration()
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: store.runsDirectory.path)) ?? [])
            .filter { !$0.hasPrefix(".") }.sorted()
        var planned: [String: PlannedRun] = [:]
        for run in plan.runs { planned[run.config.canonicalText] = run }
        var taken: [String: String] = [:]  // new id → the old id kept for it
        let plannedIDs = Set(plan.runs.map(\.id))
        let ordered = names.filter { plannedIDs.contains($0) } + names.filter { !plannedIDs.contains($0) }
        var moves: [Move] = []
        for old in ordered {
            guard case .success(let result)? = store.readResult(old) else {
                report.unfinished.append(old)
                continue
            }
            guard let run = planned[result.config.canonicalText] else {
                report.unplanned.append(old)
                continue
            }
            if let current = run.inputs {
                if let reason = staleReason(of: result, current: current) {
                    report.stale[old] = reason
                    continue
                }
                if result.extra["model_hash"] == nil { report.modelAssumed.append(old) }
            }
            if taken[run.id] != nil {
                // An earlier old run already became this run: keep that one, set this aside.
                report.superseded[old] = run.id
                moves.append((old, "", run.config))
                continue
            }
            taken[run.id] = old
            if old == run.id {
                report.unchanged.append(old)
            } else {
                report.moved[old] = run.id
            }
            moves.append((old, run.id, run.config))
        }
        return (report, moves)
    }

    /// Why a result cannot stand for a planned run whose inputs are `current`: it records no
    /// dataset hash, or another dataset or model. Nil when it can.
    private static func staleReason(of result: RunResult, current: InputFingerprint) -> String? {
        guard let recorded = RunIdentity.recordedInputs(of: result, assumedModelHash: current.modelHash) else {
            return "its result records no dataset hash, so its dataset cannot be checked"
        }
        if recorded.datasetHash != current.datasetHash {
            return "dataset changed (recorded \(recorded.datasetHash.prefix(12)), now \(current.datasetHash.prefix(12)))"
        }
        if recorded.modelHash != current.modelHash {
            return "model changed (recorded \(recorded.modelHash.prefix(12)), now \(current.modelHash.prefix(12)))"
        }
        return nil
    }

    /// Moves the run folders and rewrites each moved run's config.json to the planned config.
    private static func perform(_ moves: [Move], store: ResultStore) throws(SweepError) {
        let manager = FileManager.default
        for move in moves {
            let source = store.runDirectory(move.from)
            if move.to.isEmpty {
                let target = store.root.appendingPathComponent(supersededFolder).appendingPathComponent(move.from)
                try relocate(source, to: target, manager: manager)
                continue
            }
            let target = store.runDirectory(move.to)
            if move.to != move.from {
                // A folder at the new id without a valid result (a failed or stopped attempt
                // under the new identity) is kept aside, not overwritten.
                if manager.fileExists(atPath: target.path) {
                    let aside = store.root.appendingPathComponent(supersededFolder)
                        .appendingPathComponent("\(move.to)-unfinished-\(Int(Date().timeIntervalSince1970))")
                    try relocate(target, to: aside, manager: manager)
                }
                try relocate(source, to: target, manager: manager)
            }
            let configFile = target.appendingPathComponent(ResultStore.RunFile.config)
            let text = Data((move.config.prettyText + "\n").utf8)
            if (try? Data(contentsOf: configFile)) != text { try store.write(text, to: configFile) }
        }
    }

    static func relocate(_ source: URL, to target: URL, manager: FileManager) throws(SweepError) {
        do {
            try manager.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try manager.moveItem(at: source, to: target)
        } catch {
            throw .storage(path: source.path, reason: "cannot move to \(target.path): \(error.localizedDescription)")
        }
    }

    /// A report for people: one line per kind of change, then the stale runs with reasons.
    public func render() -> String {
        var lines = [
            "\(moved.count) run(s) moved to new ids, \(unchanged.count) already current, \(superseded.count) superseded (same run as one kept), \(stale.count) stale, \(unplanned.count) not in the sweep, \(unfinished.count) without a result"
        ]
        for old in moved.keys.sorted() { lines.append("  moved \(old) → \(moved[old]!)") }
        for old in superseded.keys.sorted() { lines.append("  superseded \(old) (same run as \(superseded[old]!)) → \(SweepMigration.supersededFolder)/\(old)") }
        for old in stale.keys.sorted() { lines.append("  stale \(old): \(stale[old]!); left in place, the run will be redone") }
        if !modelAssumed.isEmpty {
            lines.append("  \(modelAssumed.count) result(s) predate model hashes; taken to use the current model: \(modelAssumed.joined(separator: ", "))")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
