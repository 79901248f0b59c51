import Foundation
import Training
import Persistence

/// How a sweep is dispatched.
public struct DispatchOptions: Sendable {
    /// Child processes at once (≥ 1).
    public var jobs: Int
    /// Extra attempts for transient failures (killed by a signal, exit status 137 = SIGKILL
    /// through a shell, typically the out-of-memory killer).
    public var retries: Int = 1
    /// Dispatch in random order (spreads concurrent dispatchers over the grid).
    public var shuffle: Bool = false
    /// The `userdp` executable the children run (`userdp train --config C --out D`).
    public var trainer: URL
    /// The environment children inherit, before the dispatcher's contract
    /// (`DispatchEnvironment`) is written into it.
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Cores of the machine; each child gets `OPENBLAS_NUM_THREADS = max(1, cores / jobs)`
    /// unless the environment sets it (`DispatchEnvironment.blasThreads`).
    public var cores: Int = ProcessInfo.processInfo.activeProcessorCount
    /// A claim from another host whose heartbeat is older than this is stale (seconds).
    public var staleAfter: TimeInterval = 120
    /// How often our claims' heartbeats are touched (seconds).
    public var heartbeatInterval: TimeInterval = 10
    /// How often children are polled (seconds).
    public var pollInterval: TimeInterval = 0.1
    /// Stop dispatching when the same error ended this many different runs.
    public var failFastAfter: Int = 3
    /// Keep waiting (and reclaiming stale claims) while other dispatchers hold runs, so that
    /// the sweep is complete when `run()` returns; otherwise return when nothing is claimable.
    public var waitForOthers: Bool = true
    /// Handle SIGINT and SIGTERM: stop dispatching, terminate children (a second signal kills
    /// them), release claims. Only for the process's one dispatcher (the CLI).
    public var handleSignals: Bool = false
    /// Where trainers run: child processes of this dispatcher by default.
    public var launcher: any Launcher = LocalLauncher()
    /// Dispatch only these runs of the plan (nil: every run). results.csv still covers the
    /// whole plan. A Slurm array task uses it to take the run assigned to it.
    public var only: Set<String>? = nil
    /// Replace the label's stored `sweep.json` when it differs from the definition being run
    /// (`sweep run --force`); otherwise such a run stops with `SweepError.definitionChanged`.
    public var replaceDefinition: Bool = false

    /// Options with the required parts; the rest take the documented defaults.
    public init(jobs: Int, trainer: URL) {
        self.jobs = max(1, jobs)
        self.trainer = trainer
    }

    /// Environment variable that overrides the trainer executable.
    public static let trainerVariable = "USERDP_TRAIN_EXECUTABLE"

    /// The executable for children: `USERDP_TRAIN_EXECUTABLE` if set, else the running binary
    /// (`/proc/self/exe`, or `argv[0]` resolved against the current directory and PATH).
    public static func defaultTrainer(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let path = environment[trainerVariable], !path.isEmpty { return URL(fileURLWithPath: path) }
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path)
        }
        let argv0 = CommandLine.arguments.first ?? "userdp"
        if argv0.contains("/") { return URL(fileURLWithPath: argv0).standardizedFileURL }
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(argv0)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return URL(fileURLWithPath: argv0)
    }
}

/// A snapshot of a dispatch for progress lines.
public struct DispatchProgress: Sendable, Equatable {
    /// Runs in the plan.
    public var total: Int
    /// Runs with a result (from any dispatcher, any time).
    public var done: Int
    /// Our children now.
    public var running: Int
    /// Runs that failed in this session (ours or another dispatcher's).
    public var failed: Int
    /// Runs held by other dispatchers now.
    public var elsewhere: Int
    /// Estimated seconds until our part is done, once a run has finished in this session.
    public var etaSeconds: Double?
}

/// What happened during a dispatch, reported as it happens.
public enum DispatchEvent: Sendable {
    /// A child started (attempt counts earlier invocations too).
    case started(runID: String, point: String, attempt: Int)
    /// A run finished with a result.
    case finished(runID: String, point: String, seconds: Double)
    /// An attempt failed; `willRetry` when a retry follows.
    case failed(runID: String, point: String, attempt: Int, reason: String, willRetry: Bool)
    /// A stale claim was taken over.
    case reclaimed(runID: String, from: String)
    /// A note (interruptions, fail-fast, lost claims, waiting for others).
    case note(String)
    /// Counts changed (or a second passed).
    case progress(DispatchProgress)
}

/// How a dispatch ended.
public struct DispatchSummary: Sendable, Equatable {
    /// Why the dispatcher stopped.
    public enum Stop: Sendable, Equatable {
        /// Every run is done or failed (or, without `waitForOthers`, held elsewhere).
        case completed
        /// The same error ended several runs; `error` is their failure code (`RunFailure.code`).
        case failFast(error: String, runs: [String])
        /// SIGINT or SIGTERM.
        case interrupted
    }

    /// Why it stopped.
    public var stop: Stop
    /// Runs that finished in this session under our claims.
    public var finished: [String]
    /// Runs that had results before we started.
    public var alreadyDone: Int
    /// Runs that failed in this session under our claims, after retries.
    public var failed: [String]
    /// Runs without result at the end (held elsewhere, failed elsewhere, interrupted, or
    /// never started after a stop).
    public var unfinished: [String]
    /// Wall time of the dispatch, seconds.
    public var seconds: Double
}
