import Foundation

/// How a run's trainer process is started, observed and stopped: the seam between the
/// dispatcher's policy (claims, retries, fail-fast, results.csv) and where a trainer runs.
///
/// Contract: `launch` starts the trainer described by the request and returns at once; the
/// returned run is polled from the dispatcher's one thread. A launcher must not touch the run's
/// claim or result files: the dispatcher owns them. The local child-process launcher
/// (`LocalLauncher`) is the only one that starts single runs; on a cluster, Slurm array tasks run
/// a local dispatcher each (`SlurmSubmission`), so the same policy runs there unchanged.
public protocol Launcher: Sendable {
    /// Starts the trainer for one run. Throws `SweepError.launchFailed` when it cannot start.
    func launch(_ request: LaunchRequest) throws(SweepError) -> any LaunchedRun
}

/// What to start for one run.
public struct LaunchRequest: Sendable, Equatable {
    /// The run being started (its folder's name).
    public var runID: String
    /// The trainer executable.
    public var executable: URL
    /// Its arguments (`train --config C --out D`).
    public var arguments: [String]
    /// Its complete environment (the dispatcher's contract included: `DispatchEnvironment`).
    public var environment: [String: String]
    /// File that receives the trainer's standard output and error (created empty by the
    /// dispatcher).
    public var output: URL

    /// A request with every part given.
    public init(runID: String, executable: URL, arguments: [String], environment: [String: String], output: URL) {
        self.runID = runID
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.output = output
    }
}

/// How a trainer ended.
public enum RunExit: Sendable, Equatable {
    /// It exited with this status.
    case status(Int32)
    /// It was killed by this signal.
    case signal(Int32)

    /// A reason for a failed exit, and whether it looks transient (killed by a signal, or exit
    /// status 137: SIGKILL through a shell, typically the out-of-memory killer).
    public var failureReason: (reason: String, transient: Bool) {
        switch self {
        case .signal(let number): return ("killed by signal \(number) (\(signalName(number)))", true)
        case .status(137): return ("exit status 137 (SIGKILL, often out of memory)", true)
        case .status(let status): return ("exit status \(status)", false)
        }
    }
}

/// A started trainer, as the dispatcher sees it.
public protocol LaunchedRun: AnyObject {
    /// The process id recorded in the run's claim (so other dispatchers on this host can tell
    /// that the run is alive).
    var pid: Int32 { get }
    /// How it ended, or nil while it runs.
    var exit: RunExit? { get }
    /// Sends a signal to the trainer and everything it started.
    func signal(_ signal: Int32)
    /// Blocks until it has ended.
    func waitUntilExit()
}
