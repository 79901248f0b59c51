import Foundation
import Training
import Persistence

/// Runs the missing runs of a plan through a `Launcher` (child processes by default), at most `jobs` at once, with claims,
/// retries, fail-fast, results.csv rewrites and progress events.
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
        var process: any LaunchedRun
        var attempt: Int
        var started: Date
        var terminated = false  // we sent SIGTERM (interrupt) or lost the claim
        var lostClaim = false
        init(run: PlannedRun, process: any LaunchedRun, attempt: Int, started: Date) {
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
    var errorRuns: [String: [String]] = [:]  // failure code → runs it ended
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
        // Under a pinned label only a clean build of a pinned commit may add results.
        if let pin = try store.pin(), !pin.acceptsThisBuild() {
            throw .labelPinned(path: store.root.appendingPathComponent(LabelPin.fileName).path, pinned: pin.shortList, this: LabelPin.thisBuild)
        }
        try store.withLock { () throws(SweepError) in
            for run in plan.runs {
                guard let (reason, kind) = store.unusable(run) else { continue }
                let moved = try store.quarantineResult(run.id, kind: kind)
                report(.note("run \(run.id): \(reason); moved to \(moved.lastPathComponent), redoing the run"))
            }
        }

        let selected = options.only.map { only in plan.runs.filter { only.contains($0.id) } } ?? plan.runs
        queue = selected.filter { !store.hasResult($0.id) }
        let alreadyDone = selected.count - queue.count
        if options.shuffle { queue.shuffle() }
        try writeResults()

        do {
            try loop()
        } catch {
            // Leave nothing running behind a storage or launch error.
            for slot in running {
                slot.process.signal(SIGTERM)
                slot.process.waitUntilExit()
                claims.release(slot.run.id)
            }
            throw error
        }
        try writeResults()
        let done = Set(plan.runs.filter { store.hasResult($0.id) }.map(\.id))
        return DispatchSummary(
            stop: stop ?? .completed, finished: finishedHere, alreadyDone: alreadyDone, failed: failedHere,
            unfinished: selected.map(\.id).filter { !done.contains($0) }, seconds: Date().timeIntervalSince(sessionStart))
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
    /// repeat it; a later invocation will), by the record's own time: copying or touching a
    /// result folder changes the file's mtime, not when the failure happened.
    private func failedInThisSession(_ id: String) -> Bool {
        guard let finishedAt = store.failure(of: id)?.finishedAt else { return false }
        return finishedAt >= sessionStart.timeIntervalSince1970
    }

    /// Starts `userdp train` for a run we own.
    private func launch(_ run: PlannedRun, attempt: Int) throws(SweepError) {
        let directory = store.runDirectory(run.id)
        try store.archiveAttempt(run.id)
        try store.write(Data((run.config.prettyText + "\n").utf8), to: store.file(ResultStore.RunFile.config, of: run.id))
        let outputURL = store.file(ResultStore.RunFile.output, of: run.id)
        guard FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        else { throw .storage(path: outputURL.path, reason: "cannot create the output file") }

        let request = LaunchRequest(
            runID: run.id, executable: options.trainer,
            arguments: ["train", "--config", store.file(ResultStore.RunFile.config, of: run.id).path, "--out", directory.path],
            environment: childEnvironment(run), output: outputURL)
        let process: any LaunchedRun
        do { process = try options.launcher.launch(request) } catch {
            claims.release(run.id)
            throw error
        }
        sessionAttempts[run.id, default: 0] += 1
        let slot = Slot(run: run, process: process, attempt: attempt, started: Date())
        running.append(slot)
        if try !claims.recordChild(run.id, pid: process.pid) {
            lose(slot)
        }
        report(.started(runID: run.id, point: run.describe(axes: plan.axes), attempt: attempt))
        reportProgress(force: true)
    }

    func childEnvironment(_ run: PlannedRun) -> [String: String] {
        var environment = options.environment
        DispatchEnvironment(
            dispatcherPID: claims.pid, dispatcherStart: claims.pidStart, runID: run.id, calibrationCache: store.calibrationDirectory,
            blasThreads: DispatchEnvironment.blasThreads(cores: options.cores, jobs: options.jobs, environment: environment)
        ).apply(to: &environment)
        return environment
    }

    /// Handles children that exited.
    private func collectFinished() throws(SweepError) {
        var index = 0
        while index < running.count {
            let slot = running[index]
            guard let exit = slot.process.exit else {
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
            var (reason, transient) = exit.failureReason
            var code = exit.failureCode
            if let unreadable { (reason, transient, code) = (unreadable, false, RunFailure.unusableResultCode) }
            // Only this session's attempts count against `retries`.
            let willRetry = transient && sessionAttempts[run.id, default: 1] <= options.retries
            let failure = try recordFailure(run.id, attempt: slot.attempt, reason: reason, code: code, transient: transient, seconds: seconds)
            report(.failed(runID: run.id, point: point, attempt: slot.attempt, reason: reason, willRetry: willRetry))
            if willRetry && stop == nil {
                try store.archiveAttempt(run.id)
                try relaunch(slot)  // appended to `running`; `index` already points at the next slot
                continue
            }
            claims.release(run.id)
            failedHere.append(run.id)
            errorRuns[failure.code, default: []].append(run.id)
            if let runs = errorRuns[failure.code], runs.count >= options.failFastAfter, stop == nil {
                stop = .failFast(error: failure.code, runs: runs)
                report(.note("stopping: the same error (\(failure.code)) ended \(runs.count) runs"))
            }
        }
    }

    private func relaunch(_ slot: Slot) throws(SweepError) {
        try launch(slot.run, attempt: slot.attempt + 1)
    }

    /// Writes `failure.json` for the attempt (archived with it if another attempt follows),
    /// with the trainer's own code and message when it wrote them. Returns the record.
    private func recordFailure(
        _ id: String, attempt: Int, reason: String, code: String, transient: Bool, seconds: Double
    ) throws(SweepError) -> RunFailure {
        let trainer = TrainerFailure.read(from: store.runDirectory(id))
        let failure = RunFailure(
            attempt: attempt, reason: reason, transient: transient, seconds: seconds, host: ProcessProbe.hostName,
            finishedAt: Date().timeIntervalSince1970, lastLines: store.lastLines(of: id, count: 10),
            code: trainer?.code ?? code, message: trainer?.message)
        try store.recordFailure(failure, of: id)
        return failure
    }

    /// Terminates a child whose claim another dispatcher took over.
    private func lose(_ slot: Slot) {
        slot.lostClaim = true
        slot.process.signal(SIGTERM)
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
                slot.process.signal(SIGTERM)
            }
        }
        if interrupts >= 2 {
            for slot in running { slot.process.signal(SIGKILL) }
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
