import Foundation
import Testing
import TestSupport
import Training

@testable import Sweep
import Persistence

@Suite("Dispatcher with a shell-script child", .serialized)
struct DispatcherTests {
    func dispatch(_ fixture: Fixture, _ plan: SweepPlan, _ options: DispatchOptions, log: EventLog = EventLog()) throws -> DispatchSummary {
        try Dispatcher(plan: plan, definition: nil, store: fixture.store(plan), options: options, report: log.record).run()
    }

    @Test("runs every missing cell once, writes results.csv, passes BLAS threads and the cache path; a rerun skips them")
    func runAndResume() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2, 3]}, "seeds": [0, 1]}"#).plan()
        let summary = try dispatch(fixture, plan, fixture.options(jobs: 2))
        #expect(summary.stop == .completed)
        #expect(Set(summary.finished) == Set(plan.runs.map(\.id)))
        #expect(summary.unfinished.isEmpty && summary.failed.isEmpty && summary.alreadyDone == 0)
        #expect(fixture.ledgerIDs().sorted() == plan.runs.map(\.id).sorted())

        let store = fixture.store(plan)
        let csv = try String(contentsOf: store.resultsCSV, encoding: .utf8)
        let set = try ResultSet(csv: csv, path: "results.csv")
        #expect(set.rows.map(\.runID) == plan.runs.map(\.id))
        #expect(set.rows.map { $0.metrics["test_perplexity"] } == [11, 12, 12, 13, 13, 14])
        #expect(csv.hasPrefix("run_id,k,seed,test_perplexity,validation_perplexity,epsilon_spent,noise_multiplier,sampling_rate,units_per_step_mean,wall_seconds,tokens_per_second,extra.halted,userdp_version,git_commit,"))

        let output = try String(contentsOf: store.file("output", of: plan.runs[0].id), encoding: .utf8)
        #expect(output.contains("threads=2 cache=\(store.calibrationDirectory.path) run=\(plan.runs[0].id) dispatcher=\(getpid())\n"))
        let config = try RunConfig(contentsOf: store.file("config.json", of: plan.runs[0].id))
        #expect(config == plan.runs[0].config)
        #expect(!FileManager.default.fileExists(atPath: store.file("claim", of: plan.runs[0].id).path))

        // Resume: nothing runs again, results.csv is byte-identical.
        let again = try dispatch(fixture, plan, fixture.options(jobs: 2))
        #expect(again.finished.isEmpty && again.alreadyDone == 6)
        #expect(fixture.ledgerIDs().count == 6)
        #expect(try String(contentsOf: store.resultsCSV, encoding: .utf8) == csv)
    }

    @Test("a user-set OPENBLAS_NUM_THREADS is passed through")
    func userThreads() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}}"#).plan()
        _ = try dispatch(fixture, plan, fixture.options(jobs: 1, environment: ["OPENBLAS_NUM_THREADS": "3"]))
        let output = try String(contentsOf: fixture.store(plan).file("output", of: plan.runs[0].id), encoding: .utf8)
        #expect(output.contains("threads=3 "))
    }

    @Test("a child killed by a signal is retried; every attempt keeps its output")
    func retries() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "crash-once"}}"#).plan()
        let log = EventLog()
        let summary = try dispatch(fixture, plan, fixture.options(jobs: 1), log: log)
        let id = plan.runs[0].id
        #expect(summary.finished == [id])
        #expect(log.failures.map(\.1) == [1])
        #expect(log.failures.first?.2 == "killed by signal 9 (SIGKILL)")
        #expect(log.failures.first?.3 == true)
        let store = fixture.store(plan)
        let firstAttempt = store.file("attempts", of: id).appendingPathComponent("1")
        #expect(FileManager.default.fileExists(atPath: firstAttempt.appendingPathComponent("output").path))
        let archived = try JSONDecoder().decode(RunFailure.self, from: Data(contentsOf: firstAttempt.appendingPathComponent("failure.json")))
        #expect(archived.code == "signal.SIGKILL" && archived.attempt == 1 && archived.transient)
        #expect(try String(contentsOf: firstAttempt.appendingPathComponent("output"), encoding: .utf8).contains("training \(id)"))
        #expect(!FileManager.default.fileExists(atPath: store.file("failure.json", of: id).path))
    }

    @Test("without retries a transient failure fails the run")
    func noRetries() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "crash-once"}}"#).plan()
        var options = fixture.options(jobs: 1)
        options.retries = 0
        let summary = try dispatch(fixture, plan, options)
        #expect(summary.failed == [plan.runs[0].id] && summary.finished.isEmpty)
        // The next invocation retries it (and the fake child now succeeds).
        let again = try dispatch(fixture, plan, options)
        #expect(again.finished == [plan.runs[0].id])
        #expect(fixture.ledgerIDs().count == 2)
    }

    @Test("the same error on several runs stops dispatching early")
    func failFast() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "fail"}, "grid": {"k": [1, 2, 3, 4, 5, 6]}}"#).plan()
        let summary = try dispatch(fixture, plan, fixture.options(jobs: 1))
        let firstThree = Array(plan.runs.prefix(3).map(\.id))
        #expect(summary.stop == .failFast(error: "exit.3", runs: firstThree))
        #expect(summary.failed == firstThree)
        #expect(fixture.ledgerIDs() == firstThree)
        #expect(summary.unfinished.count == 6)
        let failure = try JSONValue(parsing: Data(contentsOf: fixture.store(plan).file("failure.json", of: firstThree[0])))
        #expect(failure.value(atKeyPath: "reason") == .string("exit status 3"))
        #expect(failure.value(atKeyPath: "transient") == .bool(false))
        #expect(failure.value(atKeyPath: "code") == .string("exit.3"))

        let status = SweepStatus(plan: plan, store: fixture.store(plan), lines: 2)
        #expect(status.failed.map(\.id) == firstThree && status.missing.count == 3 && status.done.isEmpty)
        #expect(status.failed[0].reason == "exit status 3" && status.failed[0].attempt == 1)
        #expect(status.failed[0].lastLines == ["[output]", "training \(firstThree[0]) dataset=fail threads=4 cache=\(fixture.store(plan).calibrationDirectory.path) run=\(firstThree[0]) dispatcher=\(getpid())", "error: dataset is broken", "[log]", "log of \(firstThree[0])"])
        #expect(status.render().hasPrefix("6 runs: 0 done, 0 running, 3 failed, 3 missing\nfailed:\n  \(firstThree[0]) {k=1, seed=0}: exit status 3 (attempt 1)\n"))
    }

    @Test("a claim whose owner died on this host is reclaimed")
    func staleLocalClaim() throws {
        let (fixture, plan, store) = try prepared(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#)
        // A process that has exited: its pid is free (or recycled with another start time).
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let id = plan.runs[0].id
        try writeClaim(store, id, Claim(token: "old", host: ProcessProbe.hostName, pid: dead.processIdentifier, pidStart: 1, attempt: 1, claimedAt: 0))
        let log = EventLog()
        let summary = try dispatch(fixture, plan, fixture.options(jobs: 1), log: log)
        #expect(log.reclaimed == [id])
        #expect(Set(summary.finished) == Set(plan.runs.map(\.id)))
    }

    @Test("a claim from another host is stale only when its heartbeat is old")
    func remoteClaims() throws {
        let (fixture, plan, store) = try prepared(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#)
        let (fresh, old) = (plan.runs[0].id, plan.runs[1].id)
        let remote = Claim(token: "remote", host: "elsewhere.example", pid: 1, attempt: 1, claimedAt: 0)
        try writeClaim(store, fresh, remote)
        try writeClaim(store, old, remote)
        var past = [timeval(tv_sec: time(nil) - 3600, tv_usec: 0), timeval(tv_sec: time(nil) - 3600, tv_usec: 0)]
        utimes(store.file("claim", of: old).path, &past)

        var options = fixture.options(jobs: 2)
        options.waitForOthers = false
        options.staleAfter = 900  // far from both ages: the fresh claim is seconds old, the other an hour
        let log = EventLog()
        let summary = try dispatch(fixture, plan, options, log: log)
        #expect(log.reclaimed == [old])
        #expect(summary.finished == [old])
        #expect(summary.unfinished == [fresh])
    }

    @Test("two concurrent dispatchers on one sweep run every cell exactly once")
    func concurrentDispatchers() async throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2, 3, 4, 5]}, "seeds": [0, 1]}"#).plan()
        let store = fixture.store(plan)
        let options = fixture.options(jobs: 2, environment: ["FAKE_GATE": fixture.gate.path])
        var threads = DispatcherThreads()
        threads.start(plan, store, options)
        threads.start(plan, store, options)
        // Children wait at the gate, so no run can finish until each dispatcher has filled its
        // two slots: four claims at once, on four different runs. (How the rest splits after
        // the gate opens is up to the scheduler and is not asserted.)
        let bothBusy = waitUntil(timeout: 300) { claimsWithChildren(store).count == 4 }
        fixture.openGate()
        let summaries = try await threads.summaries()
        #expect(bothBusy, "the two dispatchers never held four runs at once")
        #expect(summaries.allSatisfy { $0.stop == .completed && $0.unfinished.isEmpty && $0.failed.isEmpty })
        // The invariant: every run started exactly once, and is credited to exactly one dispatcher.
        let ledger = fixture.ledgerIDs()
        #expect(ledger.sorted() == plan.runs.map(\.id).sorted())
        #expect(summaries.flatMap(\.finished).sorted() == plan.runs.map(\.id).sorted())
        #expect(summaries.map(\.alreadyDone) == [0, 0])
        let set = try ResultSet(contentsOf: store.resultsCSV)
        #expect(set.rows.map(\.runID) == plan.runs.map(\.id))
    }

    @Test("a dispatcher whose claim was taken over stops its copy of the run")
    func lostClaim() async throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}}"#).plan()
        let store = fixture.store(plan)
        let id = plan.runs[0].id
        // The gate stays shut: the child runs until it is stopped.
        let options = fixture.options(jobs: 1, environment: ["FAKE_GATE": fixture.gate.path])
        var threads = DispatcherThreads()
        threads.start(plan, store, options)
        let ours = { claimsWithChildren(store).first }
        let started = waitUntil(timeout: 300) { ours() != nil }
        guard started, let child = ours()?.childPID else {
            fixture.openGate()
            _ = try await threads.summaries()
            Issue.record("the child never started")
            return
        }
        // Another dispatcher judged us stale and took the run (its claim is live: our pid).
        try writeClaim(store, id, Claim(token: "thief", host: ProcessProbe.hostName, pid: getpid(), attempt: 2, claimedAt: 0))
        let summary = try #require(try await threads.summaries().first)
        #expect(summary.unfinished == [id] && summary.finished.isEmpty && summary.failed.isEmpty)
        // The dispatcher returns only after its children exited.
        #expect(!ProcessProbe.isAlive(child, start: nil))
        #expect(!store.hasResult(id))
        let claim = try JSONDecoder().decode(Claim.self, from: Data(contentsOf: store.file("claim", of: id)))
        #expect(claim.token == "thief")
        #expect(!FileManager.default.fileExists(atPath: store.file("failure.json", of: id).path))
    }

    @Test("process liveness uses the start time, so a recycled pid does not keep a claim alive")
    func liveness() throws {
        let me = getpid()
        let start = try #require(ProcessProbe.startTime(of: me))
        #expect(ProcessProbe.isAlive(me, start: start))
        #expect(ProcessProbe.isAlive(me, start: nil))
        #expect(!ProcessProbe.isAlive(me, start: start + 1))
        #expect(!ProcessProbe.isAlive(0, start: nil))
    }

    @Test("a result.json that breaks the schema is a failure, moved aside and left out of results.csv")
    func unreadableResult() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"grid": {"dataset": ["bad-result", "ok"]}}"#).plan()
        let log = EventLog()
        let summary = try dispatch(fixture, plan, fixture.options(jobs: 1), log: log)
        let bad = try #require(plan.runs.first { $0.config.dataset == "bad-result" }?.id)
        // An unreadable result is not done: the run failed.
        #expect(summary.failed == [bad])
        #expect(log.failures.contains { $0.0 == bad && $0.2.hasPrefix("result.json is unreadable") })
        #expect(!fixture.store(plan).hasResult(bad))
        let set = try ResultSet(contentsOf: fixture.store(plan).resultsCSV)
        #expect(set.rows.map(\.cell) == [["ok"]])
    }

    @Test("a missing trainer is reported before anything runs")
    func missingTrainer() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition("{}").plan()
        var options = fixture.options()
        options.trainer = fixture.directory.appendingPathComponent("nope")
        #expect(throws: SweepError.trainerNotExecutable(path: options.trainer.path)) { try dispatch(fixture, plan, options) }
    }

    /// A fixture, the plan of `sweep`, and its prepared (empty) store.
    func prepared(_ sweep: String) throws -> (Fixture, SweepPlan, ResultStore) {
        let fixture = try Fixture()
        let plan = try fixture.definition(sweep).plan()
        let store = fixture.store(plan)
        try store.prepare(definition: nil)
        return (fixture, plan, store)
    }

    /// Writes a claim file whole (a dispatcher polling it never reads half a claim).
    func writeClaim(_ store: ResultStore, _ id: String, _ claim: Claim) throws {
        try FileManager.default.createDirectory(at: store.runDirectory(id), withIntermediateDirectories: true)
        try AtomicFile.write(JSONEncoder().encode(claim), to: store.file("claim", of: id))
    }

    @Test("a trainer's own failure code and message go into failure.json and decide fail-fast, not its last output line")
    func trainerFailureCode() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "coded-fail"}, "grid": {"k": [1, 2, 3, 4]}}"#).plan()
        var options = fixture.options(jobs: 1)
        options.failFastAfter = 3
        let summary = try dispatch(fixture, plan, options)
        let firstThree = Array(fixture.ledgerIDs().prefix(3))
        #expect(summary.stop == .failFast(error: "UserDataError.datasetNotFound", runs: firstThree))
        let failure = try JSONValue(parsing: Data(contentsOf: fixture.store(plan).file("failure.json", of: firstThree[0])))
        #expect(failure.value(atKeyPath: "code") == .string("UserDataError.datasetNotFound"))
        #expect(failure.value(atKeyPath: "message") == .string("dataset \(fixture.store(plan).runDirectory(firstThree[0]).path)/data not found"))
    }

    @Test("a failure.json of an earlier version (untyped, no code) still loads, as code `unknown`, and counts as failed")
    func legacyFailureRecord() throws {
        let (fixture, plan, store) = try prepared(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#)
        defer { withExtendedLifetime(fixture) {} }
        let id = plan.runs[0].id
        for run in plan.runs { try FileManager.default.createDirectory(at: store.runDirectory(run.id), withIntermediateDirectories: true) }
        let legacy = #"{"attempt": 2, "finished_at": 1700000000, "host": "old-host", "last_lines": ["[output]", "boom"], "reason": "exit status 3", "seconds": 4.5, "transient": false}"#
        try Data(legacy.utf8).write(to: store.file("failure.json", of: id))
        let failure = try #require(store.failure(of: id))
        #expect(failure == RunFailure(
            attempt: 2, reason: "exit status 3", transient: false, seconds: 4.5, host: "old-host", finishedAt: 1_700_000_000,
            lastLines: ["[output]", "boom"], code: "unknown", message: nil))
        // Even more minimal: only a reason.
        try Data(#"{"reason": "killed"}"#.utf8).write(to: store.file("failure.json", of: plan.runs[1].id))
        #expect(store.failure(of: plan.runs[1].id)?.code == "unknown")
        let status = SweepStatus(plan: plan, store: store)
        #expect(status.failed.map(\.id) == [id, plan.runs[1].id] && status.failed[0].attempt == 2 && status.failed[1].reason == "killed")
    }

    @Test("whether another dispatcher's failure happened in this session is read from the record's finished_at, not the file's mtime")
    func failedInThisSessionByRecord() throws {
        let (fixture, plan, store) = try prepared(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#)
        let (old, recent) = (plan.runs[0].id, plan.runs[1].id)
        let dispatcher = Dispatcher(plan: plan, definition: nil, store: store, options: fixture.options(jobs: 1))
        func record(_ id: String, finishedAt: Double) throws {
            try FileManager.default.createDirectory(at: store.runDirectory(id), withIntermediateDirectories: true)
            try store.recordFailure(
                RunFailure(attempt: 1, reason: "exit status 3", transient: false, seconds: 1, host: "elsewhere", finishedAt: finishedAt,
                    lastLines: [], code: "exit.3", message: nil), of: id)
        }
        // Failed long before this session, but the file was written (copied, touched) just now.
        try record(old, finishedAt: 1_000)
        // Failed after this session started, in a file whose mtime says long ago.
        try record(recent, finishedAt: Date().timeIntervalSince1970 + 1)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000)], ofItemAtPath: store.file("failure.json", of: recent).path)
        let summary = try dispatcher.run()
        #expect(summary.finished == [old])
        #expect(summary.unfinished == [recent])
        #expect(fixture.ledgerIDs() == [old])
    }

    @Test("the environment contract round-trips through a child's environment, BLAS threads included, and never replaces the user's OPENBLAS_NUM_THREADS")
    func environmentContract() throws {
        let contract = DispatchEnvironment(
            dispatcherPID: 42, dispatcherStart: 7, runID: "abc", calibrationCache: URL(fileURLWithPath: "/tmp/cal"), blasThreads: 2)
        var fresh: [String: String] = [:]
        contract.apply(to: &fresh)
        #expect(fresh["OPENBLAS_NUM_THREADS"] == "2")
        #expect(DispatchEnvironment(environment: fresh) == contract)

        var user = ["OPENBLAS_NUM_THREADS": "7"]
        contract.apply(to: &user)
        #expect(user["OPENBLAS_NUM_THREADS"] == "7")
        #expect(DispatchEnvironment(environment: user)?.blasThreads == 7)

        #expect(DispatchEnvironment.blasThreads(cores: 8, jobs: 3, environment: [:]) == 2)
        #expect(DispatchEnvironment.blasThreads(cores: 1, jobs: 4, environment: [:]) == 1)
        #expect(DispatchEnvironment.blasThreads(cores: 8, jobs: 3, environment: ["OPENBLAS_NUM_THREADS": "5"]) == 5)
        #expect(DispatchEnvironment(environment: ["USERDP_CALIBRATION_CACHE": "/tmp/cal"]) == nil)
        #expect(DispatchEnvironment.calibrationCache(in: ["USERDP_CALIBRATION_CACHE": "/tmp/cal"]) == URL(fileURLWithPath: "/tmp/cal"))
    }

    @Test("the dispatcher starts runs only through its Launcher, handing each the environment contract")
    func launcherSeam() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#).plan()
        let launcher = RecordingLauncher(log: fixture.directory.appendingPathComponent("launches"))
        _ = FileManager.default.createFile(atPath: launcher.log.path, contents: nil)
        var options = fixture.options(jobs: 1)
        options.launcher = launcher
        let summary = try dispatch(fixture, plan, options)
        #expect(Set(summary.finished) == Set(plan.runs.map(\.id)))
        let seen = launcher.requests()
        #expect(seen.map(\.runID).sorted() == plan.runs.map(\.id).sorted())
        let store = fixture.store(plan)
        for request in seen {
            let contract = try #require(DispatchEnvironment(environment: request.environment))
            #expect(contract == DispatchEnvironment(
                dispatcherPID: getpid(), dispatcherStart: ProcessProbe.startTime(of: getpid()), runID: request.runID,
                calibrationCache: store.calibrationDirectory, blasThreads: 4))
            #expect(request.arguments == ["train", "--config", store.file("config.json", of: request.runID).path, "--out", store.runDirectory(request.runID).path])
        }
    }
}

/// A launcher that records every request, one JSON line in `log`, and starts it as a local child.
struct RecordingLauncher: Launcher {
    /// The file the requests are appended to (state on disk, so the launcher stays a value).
    let log: URL

    func launch(_ request: LaunchRequest) throws(SweepError) -> any LaunchedRun {
        let line: [String: Any] = ["run": request.runID, "arguments": request.arguments, "environment": request.environment]
        if let data = try? JSONSerialization.data(withJSONObject: line), let handle = try? FileHandle(forWritingTo: log) {
            handle.seekToEndOfFile()
            handle.write(data + Data("\n".utf8))
            try? handle.close()
        }
        return try LocalLauncher().launch(request)
    }

    /// The recorded requests: run id, arguments, environment.
    func requests() -> [(runID: String, arguments: [String], environment: [String: String])] {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let run = object["run"] as? String, let arguments = object["arguments"] as? [String],
                let environment = object["environment"] as? [String: String]
            else { return nil }
            return (run, arguments, environment)
        }
    }
}
