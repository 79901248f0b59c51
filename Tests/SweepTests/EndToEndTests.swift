import Foundation
import Testing
import Training

@testable import Sweep

/// The environment for the real `userdp`: the children run the `userdp` under test (no
/// override), with one BLAS thread each (the tests share the machine), and no sweep variables
/// inherited from whatever started the tests.
func realTrainerEnvironment() -> [String: String] {
    let sweepVariables = [
        DispatchOptions.trainerVariable, DispatchOptions.runIDVariable, DispatchOptions.dispatcherPIDVariable,
        DispatchOptions.dispatcherStartVariable,
    ]
    var environment = ProcessInfo.processInfo.environment.filter { !sweepVariables.contains($0.key) }
    environment["OPENBLAS_NUM_THREADS"] = "1"
    return environment
}

/// A child `userdp train` seen through its run's claim.
struct ClaimedChild {
    let runID: String
    let pid: Int32
    let start: UInt64?
}

/// A live child of a run without result, other than `excluded`.
func liveChild(_ store: ResultStore, excluding excluded: Int32? = nil) -> ClaimedChild? {
    for (id, claim) in claimedChildren(store) where !store.hasResult(id) {
        guard let pid = claim.childPID, pid != excluded, ProcessProbe.isAlive(pid, start: claim.childStart) else { continue }
        return ClaimedChild(runID: id, pid: pid, start: claim.childStart)
    }
    return nil
}

/// Waits for a launched process, killing it after `timeout` seconds; returns whether it ended
/// by itself.
func finish(_ launched: Launched, timeout: Double) -> Bool {
    let ended = waitUntil(timeout: timeout) { !launched.process.isRunning }
    if !ended { kill(launched.process.processIdentifier, SIGKILL) }
    launched.process.waitUntilExit()
    return ended
}

@Suite("End to end with the real userdp train", .serialized, .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct EndToEndTests {
    @Test("tiny grid: kill -9 a child and the dispatcher midway, resume, every cell once, results match the contract, tables render")
    func killResumeTabulate() throws {
        let fixture = try Fixture()
        let world = try TinyWorld(in: fixture.directory)
        // 2 mechanisms × 2 budgets × 2 seeds on the tiny world: 8 runs of about a second in a
        // debug build. RDP (with the group-privacy lemma for `group`, the mixture needs PLD)
        // calibrates in milliseconds; PLD takes seconds in a debug build.
        let base: [String: JSONValue] = [
            "accountant": .string("rdp"), "mechanism_options": .object(["group": .object(["accounting": .string("lemma")])]),
            "dataset": .string(world.dataset.path), "model": .string(world.model.path), "k": .integer(2), "steps": .integer(3),
            "batch_size": .integer(4), "context_length": .integer(16), "eval_every": .integer(0),
            "lora": .object(["rank": .integer(2), "alpha": .integer(4), "targets": .array([.string("c_attn")])]),
        ]
        let sweep: JSONValue = .object([
            "version": .integer(1), "name": .string("e2e"), "base": .object(base),
            "grid": .object(["mechanism": .array([.string("group"), .string("user")]), "epsilon": .array([.integer(1), .integer(8)])]),
            "seeds": .array([.integer(0), .integer(1)]),
        ])
        let sweepFile = fixture.directory.appendingPathComponent("e2e.json")
        try sweep.canonicalText(pretty: true).write(to: sweepFile, atomically: true, encoding: .utf8)
        let plan = try SweepDefinition(contentsOf: sweepFile).plan()
        try #require(plan.runs.count == 8)
        let store = ResultStore(results: fixture.results, sweep: plan.name, label: "e2e")
        let environment = realTrainerEnvironment()
        // One child at a time: the grid is then midway whenever a run is running, on any machine.
        let arguments = ["sweep", "run", sweepFile.path, "--results", fixture.results.path, "--label", "e2e", "--jobs", "1"]

        // Once a run has finished and the next is running, kill -9 that child (a crash): the
        // dispatcher keeps its files as attempt 1 and retries it.
        let first = try launchUserdp(arguments, environment: environment, in: fixture.directory)
        var victim: ClaimedChild?
        let midway = waitUntil(timeout: 600) {
            guard first.process.isRunning else { return true }
            guard plan.runs.contains(where: { store.hasResult($0.id) }) else { return false }
            victim = liveChild(store)
            return victim != nil
        }
        guard midway, first.process.isRunning, let victim else {
            _ = finish(first, timeout: 0)
            Issue.record("no run finished with the next one running (dispatcher ended: \(!first.process.isRunning)): \(first.text)")
            return
        }
        signalChild(pid: victim.pid, SIGKILL)

        // Once a child runs again (the retry, or a later run), kill -9 the dispatcher: its child
        // notices and stops by itself (SweepChild's watchdog).
        var orphan: ClaimedChild?
        let retried = waitUntil(timeout: 600) {
            guard first.process.isRunning else { return true }
            orphan = liveChild(store, excluding: victim.pid)
            return orphan != nil
        }
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        guard retried, let orphan else {
            Issue.record("no child started after the first was killed: \(first.text)")
            return
        }
        #expect(
            waitUntil(timeout: 120) { !ProcessProbe.isAlive(orphan.pid, start: orphan.start) },
            "the child of the killed dispatcher (pid \(orphan.pid)) is still running")
        #expect(plan.runs.contains { !store.hasResult($0.id) }, "the grid finished before the dispatcher was killed")
        // The crashed attempt keeps its output and its failure (unless the victim managed to
        // finish its run in the instant before the signal).
        let crashed = store.file("attempts", of: victim.runID).appendingPathComponent("1")
        if FileManager.default.fileExists(atPath: crashed.appendingPathComponent("failure.json").path) {
            let failure = try JSONValue(parsing: Data(contentsOf: crashed.appendingPathComponent("failure.json")))
            #expect(failure.value(atKeyPath: "reason") == .string("killed by signal 9 (SIGKILL)"))
            #expect(FileManager.default.fileExists(atPath: crashed.appendingPathComponent("output").path))
        } else {
            #expect(store.hasResult(victim.runID), "the killed child left neither a failure nor a result")
        }

        // Resume: everything missing runs, nothing runs twice.
        let second = try launchUserdp(arguments, environment: environment, in: fixture.directory)
        #expect(finish(second, timeout: 900), "resume did not finish: \(second.text)")
        #expect(second.process.terminationStatus == 0, "\(second.text)")

        // results.csv has every cell once, in plan order; each result.json honours the contract.
        let results = try ResultSet(contentsOf: store.resultsCSV)
        #expect(results.rows.map(\.runID) == plan.runs.map(\.id))
        for run in plan.runs {
            let result = try RunResult(contentsOf: store.file(RunResult.fileName, of: run.id))
            #expect(result.config == run.config, "run \(run.id) echoes another config")
            #expect(result.steps == 3)
            #expect(result.epsilon <= run.config.epsilon * (1 + 1e-9), "run \(run.id) spent ε \(result.epsilon) > target")
            #expect(result.testPerplexity.isFinite && result.testPerplexity > 1)
        }
        let status = SweepStatus(plan: plan, store: store)
        #expect(status.done.count == plan.runs.count && status.running.isEmpty && status.failed.isEmpty)

        for format in TableFormat.allCases {
            let table = try launchUserdp(
                ["sweep", "table", sweepFile.path, "--results", fixture.results.path, "--label", "e2e", "--rows", "mechanism", "--cols", "epsilon", "--format", format.rawValue],
                environment: environment, in: fixture.directory, outputDirectory: fixture.directory)
            #expect(finish(table, timeout: 300))
            #expect(table.process.terminationStatus == 0, "\(table.text)")
            #expect(table.text.contains("group") && table.text.contains("user"), "\(table.text)")
            // Two seeds in every cell: no cell reports a smaller n.
            #expect(!table.text.contains("(n="), "\(table.text)")
        }
    }
}

@Suite("userdp train started by a dispatcher", .serialized, .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct DispatchedTrainerTests {
    /// A fixture with a tiny world and a config file for it.
    func prepare(_ config: (TinyWorld) -> RunConfig) throws -> (Fixture, URL, URL) {
        let fixture = try Fixture()
        let world = try TinyWorld(in: fixture.directory)
        let configURL = fixture.directory.appendingPathComponent("config.json")
        try config(world).prettyText.write(to: configURL, atomically: true, encoding: .utf8)
        return (fixture, configURL, fixture.directory.appendingPathComponent("run"))
    }

    /// How the dispatcher named in a trainer's environment can be gone.
    enum GoneDispatcher: String, CaseIterable, Sendable {
        /// A pid no process has (pids stay below 2^22 on Linux).
        case nobodysPID
        /// A live pid (the test's) with another start time: the dispatcher's pid was recycled.
        case recycledPID

        var environment: [String: String] {
            switch self {
            case .nobodysPID:
                [DispatchOptions.dispatcherPIDVariable: String(Int32.max)]
            case .recycledPID:
                [
                    DispatchOptions.dispatcherPIDVariable: String(getpid()),
                    DispatchOptions.dispatcherStartVariable: String((ProcessProbe.startTime(of: getpid()) ?? 0) + 1),
                ]
            }
        }
    }

    @Test("a trainer whose dispatcher is already gone stops before reading or writing anything", arguments: GoneDispatcher.allCases)
    func dispatcherAlreadyGone(_ gone: GoneDispatcher) throws {
        let (fixture, config, out) = try prepare { $0.config(mechanism: .nonprivate) }
        let environment = realTrainerEnvironment().merging(gone.environment) { $1 }
        let pid = Int32(gone.environment[DispatchOptions.dispatcherPIDVariable]!)!
        let train = try launchUserdp(["train", "--config", config.path, "--out", out.path], environment: environment, in: fixture.directory)
        #expect(finish(train, timeout: 300))
        #expect(train.process.terminationStatus != 0)
        #expect(train.text.contains(SweepError.orphaned(dispatcherPID: pid).errorDescription!), "\(train.text)")
        for name in ["config.json", "log", "curve.csv", "result.json"] {
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name) was written")
        }
    }

    @Test("a trainer started through a forking wrapper runs while its dispatcher lives, and stops by itself when it is killed with SIGKILL")
    func dispatcherKilled() throws {
        // A million steps would take many minutes: the trainer can only end early by stopping.
        let (fixture, config, out) = try prepare { $0.config(mechanism: .nonprivate, steps: 1_000_000) }
        let userdp = try #require(userdpExecutable)
        let pidFile = fixture.directory.appendingPathComponent("trainer.pid")
        // A shell stands in for the dispatcher: it names itself in the environment and starts
        // the trainer through a wrapper shell that forks it and exits, so the trainer's parent
        // is not the dispatcher. (No shell here waits for the trainer: a shell started from the
        // test runner may inherit SIGCHLD blocked, and its `wait` would never return.)
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: "/bin/sh")
        parent.arguments = [
            "-c",
            #"USERDP_DISPATCHER_PID=$$ PID_FILE="$3" /bin/sh -c '"$@" & echo $! > "$PID_FILE"' wrapper "$0" train --config "$1" --out "$2" > "$2.output" 2>&1; exec sleep 3600"#,
            userdp.path, config.path, out.path, pidFile.path,
        ]
        parent.environment = realTrainerEnvironment()
        parent.standardInput = FileHandle.nullDevice
        try parent.run()
        let log = out.appendingPathComponent("log")
        let trainerPID = { Int32(((try? String(contentsOf: pidFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) }
        let training = waitUntil(timeout: 600) {
            !parent.isRunning || (trainerPID() != nil && ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("step 1/"))
        }
        let trainer = trainerPID()
        kill(parent.processIdentifier, SIGKILL)
        let output = { (try? String(contentsOf: URL(fileURLWithPath: out.path + ".output"), encoding: .utf8)) ?? "" }
        let stopped = trainer.map { trainer in waitUntil(timeout: 120) { !ProcessProbe.isAlive(trainer, start: nil) } } ?? false
        if !stopped, let trainer { kill(trainer, SIGKILL) }
        // Only now: Foundation may see the shell's end only once everything holding its
        // descriptors, the trainer included, has exited.
        parent.waitUntilExit()
        try #require(training && trainer != nil, "the trainer never reached step 1: \(output())")
        #expect(stopped, "the orphaned trainer kept training")
        #expect(output().contains("has exited"), "\(output())")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
    }

    @Test("a trainer waits while an earlier trainer of the same run folder holds its lock, then runs")
    func waitsForEarlierTrainer() throws {
        let (fixture, config, out) = try prepare { $0.config(mechanism: .nonprivate) }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        // The test holds the lock, as an earlier trainer of the run would.
        let lockPath = out.appendingPathComponent(ResultStore.RunFile.trainLock).path
        let lock = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        try #require(lock >= 0 && flock(lock, LOCK_EX) == 0)
        var environment = realTrainerEnvironment()
        environment[DispatchOptions.dispatcherPIDVariable] = String(getpid())
        let train = try launchUserdp(["train", "--config", config.path, "--out", out.path], environment: environment, in: fixture.directory)
        // Wait until the trainer has opened the lock (it is then in flock or past it).
        let pid = train.process.processIdentifier
        let atLock = waitUntil(timeout: 300) {
            let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            return !train.process.isRunning
                || descriptors.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == lockPath }
        }
        #expect(atLock && train.process.isRunning, "\(train.text)")
        Thread.sleep(forTimeInterval: 0.5)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("log").path), "the trainer started beside the lock holder")
        close(lock)
        #expect(finish(train, timeout: 300))
        #expect(train.process.terminationStatus == 0, "\(train.text)")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
    }
}
