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
    /// The environment children inherit (before the two variables set below).
    public var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Cores of the machine; each child gets `OPENBLAS_NUM_THREADS = max(1, cores / jobs)`
    /// unless the environment sets it.
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
    /// Environment variable through which children find the shared calibration cache.
    public static let calibrationCacheVariable = "USERDP_CALIBRATION_CACHE"
    /// Environment variable carrying the run id to each child.
    public static let runIDVariable = "USERDP_RUN_ID"
    /// Environment variable carrying the dispatcher's pid to each child, so that the child
    /// can tell when the dispatcher died (`SweepChild`).
    public static let dispatcherPIDVariable = "USERDP_DISPATCHER_PID"
    /// Environment variable carrying the dispatcher's start time (clock ticks since boot, from
    /// /proc) with its pid, so that a recycled pid is not taken for the dispatcher.
    public static let dispatcherStartVariable = "USERDP_DISPATCHER_START"

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
        /// The same error ended several runs.
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

/// Runs the missing runs of a plan as child processes, at most `jobs` at once, with claims,
/// retries, fail-fast, results.csv rewrites and progress events (issue 6).
///
/// Single-threaded by design: one loop launches children, polls them every `pollInterval`,
/// touches heartbeats and rewrites results; so it holds no shared mutable state. Several
/// dispatchers (threads, processes or machines) coordinate only through the result store.
public final class Dispatcher {
    let plan: SweepPlan
    let definition: SweepDefinition?
    let store: ResultStore
    let options: DispatchOptions
    let report: (DispatchEvent) -> Void
    let claims: ClaimBook
    let sessionStart = Date()

    /// A dispatcher for `plan` writing into `store`; `definition` is copied to `sweep.json`.
    public init(
        plan: SweepPlan, definition: SweepDefinition?, store: ResultStore, options: DispatchOptions,
        report: @escaping (DispatchEvent) -> Void = { _ in }
    ) {
        self.plan = plan
        self.definition = definition
        self.store = store
        self.options = options
        self.report = report
        self.claims = ClaimBook(store: store, token: UUID().uuidString, staleAfter: options.staleAfter)
    }

    /// One running child.
    final class Slot {
        let run: PlannedRun
        var process: Process
        var attempt: Int
        var started: Date
        var terminated = false  // we sent SIGTERM (interrupt) or lost the claim
        var lostClaim = false
        init(run: PlannedRun, process: Process, attempt: Int, started: Date) {
            self.run = run
            self.process = process
            self.attempt = attempt
            self.started = started
        }
    }

    // Loop state.
    var queue: [PlannedRun] = []
    var running: [Slot] = []
    var finishedHere: [String] = []
    var failedHere: [String] = []
    var failedElsewhere: Set<String> = []
    var heldElsewhere: [String: Date] = [:]  // id → when we last found it held
    var durations: [Double] = []
    var sessionAttempts: [String: Int] = [:]
    var errorRuns: [String: [String]] = [:]  // error signature → runs it ended
    var stop: DispatchSummary.Stop?
    var interrupts = 0
    var cachedResults: [String: RunResult] = [:]
    var unreadableResults: Set<String> = []
    var lastHeartbeat = Date()
    var lastProgress = Date.distantPast
    var lastProgressValue: DispatchProgress?

    /// Dispatches until every run is done or failed, or a stop. Throws only for problems that
    /// affect every run (unwritable results folder, a trainer that cannot be started).
    public func run() throws(SweepError) -> DispatchSummary {
        guard FileManager.default.isExecutableFile(atPath: options.trainer.path) else {
            throw .trainerNotExecutable(path: options.trainer.path)
        }
        try store.prepare(definition: definition, replacing: options.replaceDefinition)
        if options.handleSignals { InterruptSignal.install() }
        defer { if options.handleSignals { InterruptSignal.uninstall() } }

        // A result.json that does not decode (truncated, empty, `{}`, another schema), or that
        // records other inputs than the plan's, is not this run's result: move it aside and
        // redo the run.
        try store.withLock { () throws(SweepError) in
            for run in plan.runs {
                guard let reason = store.unusableReason(run) else { continue }
                let moved = try store.quarantineResult(run.id)
                report(.note("run \(run.id): \(reason); moved to \(moved.lastPathComponent), redoing the run"))
            }
        }

        queue = plan.runs.filter { !store.hasResult($0.id) }
        let alreadyDone = plan.runs.count - queue.count
        if options.shuffle { queue.shuffle() }
        try writeResults()

        do {
            try loop()
        } catch {
            // Leave nothing running behind a storage or launch error.
            for slot in running {
                signalChild(slot.process, SIGTERM)
                slot.process.waitUntilExit()
                claims.release(slot.run.id)
            }
            throw error
        }
        try writeResults()
        let done = Set(plan.runs.filter { store.hasResult($0.id) }.map(\.id))
        return DispatchSummary(
            stop: stop ?? .completed, finished: finishedHere, alreadyDone: alreadyDone, failed: failedHere,
            unfinished: plan.runs.map(\.id).filter { !done.contains($0) }, seconds: Date().timeIntervalSince(sessionStart))
    }

    private func loop() throws(SweepError) {
        while true {
            handleInterrupts()
            if stop == nil {
                while running.count < options.jobs, let (run, attempt) = try nextClaimed() {
                    try launch(run, attempt: attempt)
                }
            }
            try collectFinished()
            heartbeatIfDue()
            reportProgress(force: false)

            if running.isEmpty {
                if stop != nil { break }
                let claimable = queue.contains { heldElsewhere[$0.id] == nil }
                if !claimable && (heldElsewhere.isEmpty || !options.waitForOthers) { break }
            }
            if options.handleSignals {
                InterruptSignal.wait(seconds: options.pollInterval)
            } else {
                Thread.sleep(forTimeInterval: options.pollInterval)
            }
        }
        reportProgress(force: true)
    }

    /// The next run we managed to claim, skipping runs that are done, failed in this session
    /// or held elsewhere (re-checked every couple of seconds so stale claims are reclaimed).
    private func nextClaimed() throws(SweepError) -> (PlannedRun, Int)? {
        let recheck = max(options.pollInterval, min(2, options.staleAfter / 4))
        var index = 0
        while index < queue.count {
            let run = queue[index]
            if let last = heldElsewhere[run.id], Date().timeIntervalSince(last) < recheck {
                // Between full checks, only notice (cheaply) that the other owner finished it.
                if store.hasResult(run.id) {
                    heldElsewhere[run.id] = nil
                    queue.remove(at: index)
                } else {
                    index += 1
                }
                continue
            }
            if failedInThisSession(run.id) {
                failedElsewhere.insert(run.id)
                heldElsewhere[run.id] = nil
                queue.remove(at: index)
                continue
            }
            switch try claims.claim(run.id) {
            case .finished:
                heldElsewhere[run.id] = nil
                queue.remove(at: index)
            case .held:
                heldElsewhere[run.id] = Date()
                index += 1
            case .claimed(let attempt, let reclaimed):
                heldElsewhere[run.id] = nil
                queue.remove(at: index)
                if let reclaimed {
                    report(.reclaimed(runID: run.id, from: "pid \(reclaimed.pid) on \(reclaimed.host)"))
                }
                return (run, attempt)
            }
        }
        return nil
    }

    /// Whether another dispatcher recorded a failure of this run after we started (we do not
    /// repeat it; a later invocation will).
    private func failedInThisSession(_ id: String) -> Bool {
        let url = store.file(ResultStore.RunFile.failure, of: id)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
            let modified = attributes[.modificationDate] as? Date
        else { return false }
        return modified >= sessionStart
    }

    /// Starts `userdp train` for a run we own.
    private func launch(_ run: PlannedRun, attempt: Int) throws(SweepError) {
        let directory = store.runDirectory(run.id)
        try archivePreviousAttempt(run.id)
        try store.write(Data((run.config.prettyText + "\n").utf8), to: store.file(ResultStore.RunFile.config, of: run.id))
        let outputURL = store.file(ResultStore.RunFile.output, of: run.id)
        guard FileManager.default.createFile(atPath: outputURL.path, contents: nil), let output = try? FileHandle(forWritingTo: outputURL)
        else { throw .storage(path: outputURL.path, reason: "cannot create the output file") }
        defer { try? output.close() }

        let process = Process()
        process.executableURL = options.trainer
        process.arguments = ["train", "--config", store.file(ResultStore.RunFile.config, of: run.id).path, "--out", directory.path]
        process.environment = childEnvironment(run)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch {
            claims.release(run.id)
            throw .launchFailed(runID: run.id, reason: error.localizedDescription)
        }
        sessionAttempts[run.id, default: 0] += 1
        let slot = Slot(run: run, process: process, attempt: attempt, started: Date())
        running.append(slot)
        if try !claims.recordChild(run.id, pid: process.processIdentifier) {
            lose(slot)
        }
        report(.started(runID: run.id, point: run.describe(axes: plan.axes), attempt: attempt))
        reportProgress(force: true)
    }

    func childEnvironment(_ run: PlannedRun) -> [String: String] {
        var environment = options.environment
        if environment["OPENBLAS_NUM_THREADS"] == nil {
            environment["OPENBLAS_NUM_THREADS"] = String(max(1, options.cores / options.jobs))
        }
        environment[DispatchOptions.calibrationCacheVariable] = store.calibrationDirectory.path
        environment[DispatchOptions.runIDVariable] = run.id
        environment[DispatchOptions.dispatcherPIDVariable] = String(claims.pid)
        environment[DispatchOptions.dispatcherStartVariable] = claims.pidStart.map(String.init)
        return environment
    }

    /// Moves the files of an earlier attempt into `attempts/N/` so every attempt keeps its log.
    private func archivePreviousAttempt(_ id: String) throws(SweepError) {
        let present = ResultStore.RunFile.perAttempt.filter { FileManager.default.fileExists(atPath: store.file($0, of: id).path) }
        guard !present.isEmpty else { return }
        let attempts = store.file(ResultStore.RunFile.attempts, of: id)
        let number = ((try? FileManager.default.contentsOfDirectory(atPath: attempts.path))?.compactMap(Int.init).max() ?? 0) + 1
        let destination = attempts.appendingPathComponent(String(number))
        do {
            try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)
            for name in present {
                try FileManager.default.moveItem(at: store.file(name, of: id), to: destination.appendingPathComponent(name))
            }
        } catch {
            throw .storage(path: destination.path, reason: "cannot archive the previous attempt: \(error.localizedDescription)")
        }
    }

    /// Handles children that exited.
    private func collectFinished() throws(SweepError) {
        var index = 0
        while index < running.count {
            let slot = running[index]
            guard !slot.process.isRunning else {
                index += 1
                continue
            }
            running.remove(at: index)
            let run = slot.run
            let point = run.describe(axes: plan.axes)
            let seconds = Date().timeIntervalSince(slot.started)
            if slot.lostClaim { continue }  // another dispatcher owns the run now
            var unreadable: String?
            if let reason = store.unusableReason(run) {
                // The trainer exited but its result does not decode, or was computed on other
                // inputs than planned (they changed meanwhile): a failure, not a result.
                let moved = try store.quarantineResult(run.id)
                unreadable = "\(reason); moved to \(moved.lastPathComponent)"
            }
            if unreadable == nil, store.hasResult(run.id) {
                // The trainer writes result.json atomically and only on success.
                claims.release(run.id)
                finishedHere.append(run.id)
                durations.append(seconds)
                report(.finished(runID: run.id, point: point, seconds: seconds))
                try writeResults()
                continue
            }
            if slot.terminated {
                claims.release(run.id)
                report(.note("run \(run.id) stopped; it will be redone on resume"))
                continue
            }
            var (reason, transient) = describeExit(slot.process)
            if let unreadable { (reason, transient) = (unreadable, false) }
            // Only this session's attempts count against `retries`.
            let willRetry = transient && sessionAttempts[run.id, default: 1] <= options.retries
            try recordFailure(run.id, attempt: slot.attempt, reason: reason, transient: transient, seconds: seconds)
            report(.failed(runID: run.id, point: point, attempt: slot.attempt, reason: reason, willRetry: willRetry))
            if willRetry && stop == nil {
                try archivePreviousAttempt(run.id)
                try relaunch(slot)  // appended to `running`; `index` already points at the next slot
                continue
            }
            claims.release(run.id)
            failedHere.append(run.id)
            let signature = errorSignature(run.id, reason: reason)
            errorRuns[signature, default: []].append(run.id)
            if let runs = errorRuns[signature], runs.count >= options.failFastAfter, stop == nil {
                stop = .failFast(error: signature, runs: runs)
                report(.note("stopping: the same error ended \(runs.count) runs: \(signature)"))
            }
        }
    }

    private func relaunch(_ slot: Slot) throws(SweepError) {
        try launch(slot.run, attempt: slot.attempt + 1)
    }

    /// A reason for a failed exit, and whether it looks transient.
    func describeExit(_ process: Process) -> (String, Bool) {
        let status = process.terminationStatus
        if process.terminationReason == .uncaughtSignal {
            return ("killed by signal \(status) (\(signalName(status)))", true)
        }
        if status == 137 { return ("exit status 137 (SIGKILL, often out of memory)", true) }
        return ("exit status \(status)", false)
    }

    /// The reason plus the child's last output line that mentions an error (else its last
    /// line), with the run's own id and paths removed, so the same error on different runs
    /// compares equal.
    func errorSignature(_ id: String, reason: String) -> String {
        let lines = store.lastLines(of: id, count: 20).filter { !($0.hasPrefix("[") && $0.hasSuffix("]")) }
        guard var last = lines.last(where: { $0.lowercased().contains("error") }) ?? lines.last else { return reason }
        last = last.trimmingCharacters(in: .whitespaces)
        last = last.replacingOccurrences(of: store.runDirectory(id).path, with: "<run>").replacingOccurrences(of: id, with: "<id>")
        return "\(reason): \(last)"
    }

    /// Writes `failure.json` for the attempt (archived with it if another attempt follows).
    private func recordFailure(_ id: String, attempt: Int, reason: String, transient: Bool, seconds: Double) throws(SweepError) {
        let failure: JSONValue = .object([
            "attempt": .integer(attempt), "reason": .string(reason), "transient": .bool(transient),
            "seconds": .number(seconds), "host": .string(ProcessProbe.hostName),
            "finished_at": .number(Date().timeIntervalSince1970.rounded()),
            "last_lines": .array(store.lastLines(of: id, count: 10).map(JSONValue.string)),
        ])
        try store.write(Data((failure.canonicalText(pretty: true) + "\n").utf8), to: store.file(ResultStore.RunFile.failure, of: id))
    }

    /// Terminates a child whose claim another dispatcher took over.
    private func lose(_ slot: Slot) {
        slot.lostClaim = true
        signalChild(slot.process, SIGTERM)
        report(.note("run \(slot.run.id): our claim was taken over (heartbeat too old?); stopped our copy"))
    }

    private func heartbeatIfDue() {
        guard Date().timeIntervalSince(lastHeartbeat) >= options.heartbeatInterval else { return }
        lastHeartbeat = Date()
        let lost = Set(claims.heartbeat(running.filter { !$0.lostClaim }.map(\.run.id)))
        for slot in running where lost.contains(slot.run.id) { lose(slot) }
    }

    /// First SIGINT/SIGTERM: stop dispatching and terminate children; a second: kill them.
    private func handleInterrupts() {
        guard options.handleSignals else { return }
        let count = InterruptSignal.take()
        guard count > 0 else { return }
        interrupts += count
        if stop != .interrupted {
            stop = .interrupted
            report(.note("interrupted: stopping \(running.count) run(s); interrupt again to kill them"))
            for slot in running {
                slot.terminated = true
                signalChild(slot.process, SIGTERM)
            }
        }
        if interrupts >= 2 {
            for slot in running { signalChild(slot.process, SIGKILL) }
        }
    }

    /// Rewrites results.csv from every finished run of the plan, under the lock so that
    /// concurrent dispatchers never replace a newer file with an older one.
    private func writeResults() throws(SweepError) {
        try store.withLock { () throws(SweepError) in
            for run in plan.runs where cachedResults[run.id] == nil {
                switch store.readResult(run.id) {
                case .success(let result)?:
                    cachedResults[run.id] = result
                case .failure(let error)?:
                    // Counted as done (the trainer said so) but left out of results.csv.
                    if unreadableResults.insert(run.id).inserted {
                        report(.note("run \(run.id): result.json does not match the RunResult schema, left out of results.csv: \(error)"))
                    }
                case nil:
                    break
                }
            }
            let set = ResultSet(plan: plan, results: cachedResults)
            try store.write(Data(set.csvText.utf8), to: store.resultsCSV)
        }
    }

    private func reportProgress(force: Bool) {
        let now = Date()
        guard force || now.timeIntervalSince(lastProgress) >= 1 else { return }
        let done = plan.runs.filter { store.hasResult($0.id) }.count
        let elsewhere = heldElsewhere.count
        var eta: Double?
        if !durations.isEmpty {
            let mean = durations.reduce(0, +) / Double(durations.count)
            let waiting = Double(max(0, queue.count - elsewhere))
            let remainingOfRunning = running.map { max(0, mean - now.timeIntervalSince($0.started)) }.reduce(0, +)
            eta = (waiting * mean + remainingOfRunning) / Double(options.jobs)
        }
        let progress = DispatchProgress(
            total: plan.runs.count, done: done, running: running.count, failed: failedHere.count + failedElsewhere.count,
            elsewhere: elsewhere, etaSeconds: eta)
        lastProgress = now
        guard force || progress != lastProgressValue || eta != nil else { return }
        lastProgressValue = progress
        report(.progress(progress))
    }
}

/// Signals a child and everything it started: Foundation starts each child in a process
/// group of its own, so the group gets the signal (a shell script's own children too); where
/// the child leads no group, the child alone.
func signalChild(_ process: Process, _ signal: Int32) {
    let pid = process.processIdentifier
    guard pid > 0 else { return }
    if getpgid(pid) == pid {
        kill(-pid, signal)
    } else {
        kill(pid, signal)
    }
}

/// The name of a signal number.
func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGKILL: return "SIGKILL"
    case SIGTERM: return "SIGTERM"
    case SIGINT: return "SIGINT"
    case SIGSEGV: return "SIGSEGV"
    case SIGABRT: return "SIGABRT"
    case SIGBUS: return "SIGBUS"
    case SIGILL: return "SIGILL"
    case SIGTRAP: return "SIGTRAP"
    case SIGHUP: return "SIGHUP"
    default: return "signal \(signal)"
    }
}

// MARK: - Signals

/// SIGINT/SIGTERM delivery through a self-pipe: the handler only writes a byte (async-signal
/// safe); the dispatcher loop waits on the pipe and counts the bytes.
enum InterruptSignal {
    /// The pipe's read and write ends (non-blocking, close-on-exec).
    static let pipeEnds: (read: Int32, write: Int32) = {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return (-1, -1) }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        return (fds[0], fds[1])
    }()

    static func install() {
        _ = pipeEnds
        let handler: @convention(c) (Int32) -> Void = { _ in
            var byte: UInt8 = 1
            _ = write(InterruptSignal.pipeEnds.write, &byte, 1)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        // A parent may have started us with these signals blocked (test runners do); unblock
        // them on this thread, which also hands the unblocked mask to the children it starts.
        unblockTerminationSignals()
    }

    /// Unblocks SIGINT and SIGTERM on the calling thread (threads it starts inherit the mask).
    static func unblockTerminationSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    /// Signals received since the last call.
    static func take() -> Int {
        var buffer = [UInt8](repeating: 0, count: 64)
        var count = 0
        while true {
            let n = read(pipeEnds.read, &buffer, buffer.count)
            guard n > 0 else { return count }
            count += n
        }
    }

    /// Sleeps up to `seconds`, waking early when a signal arrives.
    static func wait(seconds: Double) {
        var descriptor = pollfd(fd: pipeEnds.read, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(seconds * 1000))
    }
}
