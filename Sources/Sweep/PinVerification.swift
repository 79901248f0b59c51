import Foundation
import Persistence
import Training

/// Whether this build reproduces a label's stored results bit for bit: the evidence a commit
/// needs before it joins a label's pin (`LabelPin`, `userdp sweep pin`).
///
/// Contract:
/// - For each commit to check, up to `perCommit` stored runs are chosen among results that
///   record that commit, a clean tree and this machine's OpenBLAS kernel (results on another
///   kernel differ in the last bits by design: docs/TRAINING.md): one per mechanism in grid
///   order first, then one per grid cell, then further seeds.
/// - Each is rerun by the real trainer, through a dispatcher into a scratch folder (never into
///   the label), and every field a table, a diff or a re-accounting reads is compared exactly:
///   test and validation perplexity, ε, δ, σ, q, steps, units per step, the DP event (as the
///   event it reads as, so a legacy lemma result matches today's lemma event), and every
///   `extra` value both results have except wall-clock times. Provenance and timing are not
///   compared.
public enum PinVerification {
    /// A stored run chosen to be rerun, with the commit it checks.
    public struct Check: Sendable, Equatable {
        /// The planned run.
        public var run: PlannedRun
        /// The commit its stored result records.
        public var commit: String

        /// `id@short commit`, as recorded in the pin.
        public var label: String { "\(run.id)@\(commit.prefix(7))" }
    }

    /// The runs to rerun for `commits`: up to `perCommit` each (see the type's contract).
    /// Commits with no usable stored run are returned in `unverifiable` with the reason.
    public static func checks(
        plan: SweepPlan, store: ResultStore, commits: [String], kernel: String, perCommit: Int
    ) -> (checks: [Check], unverifiable: [String: String]) {
        var byCommit: [String: [(PlannedRun, RunResult)]] = [:]
        var otherKernel: [String: Set<String>] = [:]
        for run in plan.runs {
            guard let result = store.result(run.id), !result.provenance.gitDirty, commits.contains(result.provenance.gitCommit) else { continue }
            guard result.provenance.openblasCore == kernel else {
                otherKernel[result.provenance.gitCommit, default: []].insert(result.provenance.openblasCore)
                continue
            }
            byCommit[result.provenance.gitCommit, default: []].append((run, result))
        }
        var checks: [Check] = []
        var unverifiable: [String: String] = [:]
        for commit in commits {
            guard let candidates = byCommit[commit], !candidates.isEmpty else {
                unverifiable[commit] = otherKernel[commit].map {
                    "its stored results ran on OpenBLAS kernel \($0.sorted().joined(separator: ", ")), this machine's is \(kernel)"
                } ?? "the label holds no result of it from a clean tree"
                continue
            }
            // One per mechanism first, so a change to one mechanism's code is caught, then one
            // per grid cell (other settings, not another seed of a cell already chosen).
            var chosen: [PlannedRun] = []
            var mechanisms: Set<String> = []
            var cells: Set<[String]> = []
            func choose(_ run: PlannedRun) {
                chosen.append(run)
                cells.insert(run.cell)
            }
            for (run, result) in candidates where chosen.count < perCommit && mechanisms.insert(result.config.mechanism.rawValue).inserted {
                choose(run)
            }
            for (run, _) in candidates where chosen.count < perCommit && !cells.contains(run.cell) { choose(run) }
            for (run, _) in candidates where chosen.count < perCommit && !chosen.contains(where: { $0.id == run.id }) { choose(run) }
            checks += chosen.map { Check(run: $0, commit: commit) }
        }
        return (checks, unverifiable)
    }

    /// Reruns `checks` with `options` (its trainer, jobs and environment) into a scratch label
    /// under `scratch`, and returns the fresh results by run id. Throws what the dispatcher
    /// throws; a run that fails is `SweepError.runsFailed`.
    public static func rerun(
        _ checks: [Check], plan: SweepPlan, scratch: URL, options: DispatchOptions,
        report: @escaping (DispatchEvent) -> Void = { _ in }
    ) throws(SweepError) -> [String: RunResult] {
        let store = ResultStore(results: scratch, sweep: plan.name, label: "pin-check")
        var options = options
        options.only = Set(checks.map(\.run.id))
        let summary = try Dispatcher(plan: plan, definition: nil, store: store, options: options, report: report).run()
        if case .interrupted = summary.stop { throw .interrupted(finished: summary.finished.count, remaining: summary.unfinished.count) }
        guard summary.failed.isEmpty else { throw .runsFailed(ids: summary.failed) }
        var fresh: [String: RunResult] = [:]
        for check in checks {
            guard let result = store.result(check.run.id) else { throw .runsFailed(ids: [check.run.id]) }
            fresh[check.run.id] = result
        }
        return fresh
    }

    /// The fields in which `fresh` differs from `stored` (empty: reproduced bit for bit), as
    /// `name stored → fresh` with every digit.
    public static func differences(stored: RunResult, fresh: RunResult) -> [String] {
        var out: [String] = []
        func compare(_ name: String, _ a: Double, _ b: Double) {
            if a.bitPattern != b.bitPattern, !(a.isNaN && b.isNaN) { out.append("\(name) \(a) → \(b)") }
        }
        compare("test_perplexity", stored.testPerplexity, fresh.testPerplexity)
        compare("validation_perplexity", stored.validationPerplexity, fresh.validationPerplexity)
        compare("epsilon", stored.epsilon, fresh.epsilon)
        compare("delta", stored.delta, fresh.delta)
        compare("noise_multiplier", stored.noiseMultiplier, fresh.noiseMultiplier)
        compare("sampling_rate", stored.samplingRate, fresh.samplingRate)
        compare("units_per_step_mean", stored.unitsPerStepMean, fresh.unitsPerStepMean)
        if stored.steps != fresh.steps { out.append("steps \(stored.steps) → \(fresh.steps)") }
        // The same guarantee in another stored form (a lemma result written before the lemma
        // was an event, `RunResult.privacyEvent`) is the same event.
        if stored.dpEvent.canonicalText() != fresh.dpEvent.canonicalText() {
            let (a, b) = (try? stored.privacyEvent(), try? fresh.privacyEvent())
            if a == nil || a != b { out.append("dp_event differs") }
        }
        for key in Set(stored.extra.keys).intersection(fresh.extra.keys).sorted() where !isWallClock(key) {
            let (a, b) = (stored.extra[key]!, fresh.extra[key]!)
            if let x = numeric(a), let y = numeric(b) {
                compare("extra.\(key)", x, y)
            } else if a.canonicalText() != b.canonicalText() {
                out.append("extra.\(key) \(a.canonicalText()) → \(b.canonicalText())")
            }
        }
        return out
    }

    /// A JSON number as a Double (integers too), nil for other values.
    static func numeric(_ value: JSONValue) -> Double? {
        switch value {
        case .number(let x): return x
        case .integer(let n): return Double(n)
        default: return nil
        }
    }

    /// Extras that measure time, which no rerun reproduces.
    static func isWallClock(_ key: String) -> Bool { key.hasSuffix("_seconds") || key.hasSuffix("_per_second") }
}
