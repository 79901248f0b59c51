import Foundation
import Training

/// Every way the sweep harness refuses input or stops. Cases carry the file, key path, grid
/// point or run id involved, so a message says where to look.
public indirect enum SweepError: Error, Equatable, Sendable, LocalizedError {
    // MARK: Sweep files

    /// The sweep file could not be read.
    case unreadable(file: String, reason: String)
    /// The sweep file is not JSON.
    case notJSON(file: String, reason: String)
    /// A key the sweep format does not have, or a grid/include/exclude key that is not a run
    /// config key path; `suggestion` is the closest known key, if any is close.
    case unknownKey(file: String, keyPath: String, suggestion: String?)
    /// A sweep-file value of the wrong type or out of range.
    case invalidValue(file: String, keyPath: String, expected: String, got: String)
    /// The sweep file declares a newer format version than this build reads.
    case unsupportedVersion(file: String, found: Int, highestSupported: Int)
    /// The run config of one grid point is invalid (the point lists every axis and the seed).
    case invalidRunConfig(file: String, point: String, error: RunConfigError)
    /// Two grid points resolve to the same run config (same run id).
    case duplicateRun(file: String, id: String, first: String, second: String)
    /// The grid has more points than `limit` (`SweepPlan.refuseAbove`); `--force` plans it.
    case gridTooLarge(file: String, runs: Double, limit: Int)
    /// Pre-flight found runs that would fail or give no result (`SweepPreflight`).
    case preflightFailed(file: String, problems: [String])
    /// Every grid point was excluded.
    case emptySweep(file: String)
    /// An exclude entry matches no grid point (a typo, or keys the points' mechanism ignores).
    case excludeMatchesNothing(file: String, index: Int)

    // MARK: Running

    /// The `userdp` executable for child runs does not exist or is not executable.
    case trainerNotExecutable(path: String)
    /// A child process could not be started.
    case launchFailed(runID: String, reason: String)
    /// A file or folder of the results layout could not be written or read.
    case storage(path: String, reason: String)
    /// The same error ended `runs.count` different runs, so dispatching stopped early; `error`
    /// is their failure code (`RunFailure.code`).
    case failFast(error: String, runs: [String])
    /// The label's stored `sweep.json` differs from the sweep being run (`keys`: the top-level
    /// keys that differ): old and new runs would mix under one label.
    case definitionChanged(path: String, keys: [String])
    /// The label is pinned (`path`: its pin.json) to commits (`pinned`, short) other than this
    /// build (`this`), so this binary may not add results to it.
    case labelPinned(path: String, pinned: String, this: String)
    /// `sweep pin`: this build did not reproduce stored results bit for bit (`differences`: one
    /// line per run), so it does not join the pin.
    case pinNotReproduced(path: String, differences: [String])
    /// `sweep pin`: a commit whose results the label should accept has no stored result this
    /// machine can check (none, or none on this OpenBLAS kernel).
    case pinUnverifiable(path: String, commit: String, reason: String)
    /// Runs failed (after their retries); the others finished.
    case runsFailed(ids: [String])
    /// Dispatching was interrupted (SIGINT/SIGTERM); unfinished runs will be redone on resume.
    case interrupted(finished: Int, remaining: Int)
    /// A dispatched `userdp train` found that the dispatcher that started it has exited, so it
    /// stops before training (an orphan must not race the resumed sweep).
    case orphaned(dispatcherPID: Int32)
    /// A Slurm command (`sbatch`, `scancel`) failed or could not be started; `output` is what it
    /// printed.
    case slurmCommandFailed(command: String, status: Int32, output: String)
    /// The label's record of submitted Slurm jobs (`slurm/jobs.json`) cannot be read.
    case slurmJobsUnreadable(path: String, reason: String)

    // MARK: Tables and diffs

    /// No results file where one was expected.
    case noResults(path: String)
    /// A results CSV that cannot be read (line is 1-based).
    case malformedResults(path: String, line: Int, reason: String)
    /// A table or diff names an axis that the results do not have.
    case unknownAxis(name: String, known: [String])
    /// A table or diff names a metric that the results do not have.
    case unknownMetric(name: String, known: [String])
    /// Axes that vary in the results but are placed nowhere in the table: cells would mix runs
    /// of different settings.
    case unplacedAxes([String])
    /// An axis placed twice (for example in both rows and columns).
    case axisPlacedTwice(String)
    /// A `--where axis=value` filter that is not of that form.
    case invalidFilter(String)
    /// A `--where AXIS=VALUE` filter that selects no run or planned cell; `known` lists the
    /// axis's values.
    case filterMatchesNothing(axis: String, value: String, known: [String])
    /// `--select-best-by` names a test metric: tuning on test data, refused without `--force`.
    case tuningOnTestMetric(String)
    /// `--select-best-by` without `--over` axes, or `--over` without `--select-best-by`.
    case selectionIncomplete
    /// Two result sets with different axes cannot be joined cell by cell.
    case axesDiffer(a: [String], b: [String])

    /// The message shown to the user: where, then what.
    public var errorDescription: String? {
        switch self {
        case .unreadable(let file, let reason):
            return "\(file): cannot read the sweep file: \(reason)"
        case .notJSON(let file, let reason):
            return "\(file): not valid JSON: \(reason)"
        case .unknownKey(let file, let keyPath, let suggestion):
            return "\(file): \(keyPath): unknown key" + (suggestion.map { " (did you mean \"\($0)\"?)" } ?? "")
        case .invalidValue(let file, let keyPath, let expected, let got):
            return "\(file): \(keyPath): expected \(expected), got \(got)"
        case .unsupportedVersion(let file, let found, let highestSupported):
            return "\(file): sweep format version \(found) is newer than this build reads (\(highestSupported)); update userdp"
        case .invalidRunConfig(let file, let point, let error):
            return "\(file): grid point \(point): \(error.errorDescription ?? "\(error)")"
        case .duplicateRun(let file, let id, let first, let second):
            return "\(file): grid points \(first) and \(second) are the same run config (run \(id)); remove one (exclude) or make them differ"
        case .gridTooLarge(let file, let runs, let limit):
            return "\(file): the grid has \(String(format: "%.0f", runs)) points, more than \(limit); check the grid (or pass --force)"
        case .preflightFailed(let file, let problems):
            return "\(file): pre-flight found problems:\n" + problems.map { "  \($0)" }.joined(separator: "\n")
        case .emptySweep(let file):
            return "\(file): the grid is empty after exclusions"
        case .excludeMatchesNothing(let file, let index):
            return "\(file): exclude[\(index)] matches no grid point (an exclude matches on values the point's mechanism reads; keys it ignores are n/a); remove the entry or fix its values"
        case .trainerNotExecutable(let path):
            return "\(path): not an executable; build userdp or set USERDP_TRAIN_EXECUTABLE"
        case .launchFailed(let runID, let reason):
            return "run \(runID): could not start the child process: \(reason)"
        case .storage(let path, let reason):
            return "\(path): \(reason)"
        case .failFast(let error, let runs):
            return "stopped dispatching: the same error ended \(runs.count) runs (\(runs.joined(separator: ", "))): \(error)"
        case .definitionChanged(let path, let keys):
            return "\(path): this label holds results of a different sweep definition (differs in: \(keys.isEmpty ? "its text" : keys.joined(separator: ", "))); run under a new --label, or pass --force to replace the stored definition (runs outside the new grid stay on disk but leave results.csv)"
        case .labelPinned(let path, let pinned, let this):
            return "\(path): this label is pinned to \(pinned), and this userdp is \(this); run a clean build of a pinned commit (`make paper` builds it for the paper labels), let this build join after it reproduces stored results (`userdp sweep pin`), or use a new --label"
        case .pinNotReproduced(let path, let differences):
            return "\(path): this build does not reproduce the label's results bit for bit, so it does not join the pin: " + differences.joined(separator: " | ") + ". Run the pinned commit instead, or start a new --label"
        case .pinUnverifiable(let path, let commit, let reason):
            return "\(path): cannot check that this build reproduces the results of commit \(commit.prefix(7)): \(reason); pass --unverified to accept it anyway"
        case .runsFailed(let ids):
            return "\(ids.count) run(s) failed: \(ids.joined(separator: ", ")); see `userdp sweep status` for their logs"
        case .interrupted(let finished, let remaining):
            return "interrupted: \(finished) run(s) finished, \(remaining) left; run the same command again to resume"
        case .orphaned(let pid):
            return "the sweep dispatcher (pid \(pid)) that started this run has exited; stopping (the next `userdp sweep run` redoes the run)"
        case .slurmCommandFailed(let command, let status, let output):
            return "`\(command)` failed (status \(status))" + (output.isEmpty ? "" : ": \(output)") + "; is Slurm reachable from this host (`sinfo`)?"
        case .slurmJobsUnreadable(let path, let reason):
            return "\(path): cannot read the submitted Slurm jobs: \(reason); move the file aside to start a new record"
        case .noResults(let path):
            return "\(path): no results yet (run `userdp sweep run` first)"
        case .malformedResults(let path, let line, let reason):
            return "\(path):\(line): \(reason)"
        case .unknownAxis(let name, let known):
            return "unknown axis \"\(name)\" (axes: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
        case .unknownMetric(let name, let known):
            return "unknown metric \"\(name)\" (metrics: \(known.joined(separator: ", ")))"
        case .unplacedAxes(let axes):
            return "axes \(axes.joined(separator: ", ")) vary but are not placed: add them to --rows or --cols, fix them with --where AXIS=VALUE, or tune over them with --select-best-by METRIC --over AXES"
        case .axisPlacedTwice(let axis):
            return "axis \"\(axis)\" is placed twice"
        case .invalidFilter(let text):
            return "filter \"\(text)\": expected AXIS=VALUE"
        case .filterMatchesNothing(let axis, let value, let known):
            return "--where \(axis)=\(value) matches no run (values of \(axis): \(known.joined(separator: ", ")))"
        case .tuningOnTestMetric(let metric):
            return "--select-best-by \(metric): choosing hyperparameters on a test metric makes the reported test numbers optimistic; select by a validation metric (validation_perplexity), or pass --force"
        case .selectionIncomplete:
            return "--select-best-by METRIC and --over AXES go together"
        case .axesDiffer(let a, let b):
            return "the two result sets have different axes (\(a.joined(separator: ", ")) vs \(b.joined(separator: ", "))); diff results of the same sweep"
        }
    }
}
