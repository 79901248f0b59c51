import Foundation

/// Starts each trainer as a child process of the dispatcher on this host (the default).
///
/// Foundation starts every child in a process group of its own, so a signal reaches the child
/// and what it started (a wrapper script's trainer too).
public struct LocalLauncher: Launcher {
    /// A launcher of child processes.
    public init() {}

    public func launch(_ request: LaunchRequest) throws(SweepError) -> any LaunchedRun {
        guard let output = try? FileHandle(forWritingTo: request.output) else {
            throw .storage(path: request.output.path, reason: "cannot open the output file")
        }
        defer { try? output.close() }
        let process = Process()
        process.executableURL = request.executable
        process.arguments = request.arguments
        process.environment = request.environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch {
            throw .launchFailed(runID: request.runID, reason: error.localizedDescription)
        }
        return LocalRun(process: process)
    }
}

/// A child process started by `LocalLauncher`.
final class LocalRun: LaunchedRun {
    let process: Process

    init(process: Process) { self.process = process }

    var pid: Int32 { process.processIdentifier }

    var exit: RunExit? {
        guard !process.isRunning else { return nil }
        return process.terminationReason == .uncaughtSignal ? .signal(process.terminationStatus) : .status(process.terminationStatus)
    }

    func signal(_ signal: Int32) { signalChild(process, signal) }

    func waitUntilExit() { process.waitUntilExit() }
}
