import Foundation
import Testing
import TestSupport
import Training

@testable import Sweep

@Suite("Slurm submission without a cluster: script, manifest, jobs.json, --only", .serialized)
struct SlurmSubmissionTests {
    @Test("the script requests what the options say and runs line i+1 of the manifest through a local dispatcher")
    func script() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2, 3]}}"#).plan()
        let store = fixture.store(plan)
        var options = SlurmOptions()
        options.partition = "cpu"
        options.time = "2:00:00"
        options.memory = "8G"
        options.cpusPerTask = 4
        options.arrayLimit = 2
        options.account = "dp"
        options.qos = "low"
        options.extraArguments = ["--gres=gpu:1", "--constraint=a b"]
        let submission = SlurmSubmission(
            runs: plan.runs.map(\.id), store: store, sweepFile: "sweeps/t.json", userdp: URL(fileURLWithPath: "/opt/userdp"),
            directory: URL(fileURLWithPath: "/work/study"), options: options, dispatch: ["--retries", "1"], number: 3)
        let folder = store.root.appendingPathComponent("slurm").path
        #expect(submission.script == """
            #!/bin/bash
            # userdp sweep t, label L: submission 3, 3 run(s) as a Slurm job array.
            # Array task i runs the run id on line i+1 of submit-3.runs through a local
            # dispatcher (same claims, retries, resume and results layout as `userdp sweep run`).
            #SBATCH --job-name=userdp-t
            #SBATCH --array=0-2%2
            #SBATCH --cpus-per-task=4
            #SBATCH --partition=cpu
            #SBATCH --time=2:00:00
            #SBATCH --mem=8G
            #SBATCH --account=dp
            #SBATCH --qos=low
            #SBATCH --chdir=/work/study
            #SBATCH --output=\(folder)/submit-3-%A_%a.out
            #SBATCH --gres=gpu:1
            #SBATCH --constraint=a b
            set -eu
            run_id=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" \(folder)/submit-3.runs)
            [ -n "$run_id" ] || { echo "no run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 1; }
            # The trainer's BLAS threads follow the CPUs Slurm gave this task.
            export USERDP_BLAS_THREADS="${SLURM_CPUS_PER_TASK:-1}" OPENBLAS_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
            # exec: scancel's and the time limit's SIGTERM reach the dispatcher itself.
            exec /opt/userdp sweep run /work/study/sweeps/t.json --results \(fixture.results.path) --label L --launcher local --jobs 1 --only "$run_id" --retries 1

            """)
        try submission.write()
        #expect(try String(contentsOf: submission.manifestURL, encoding: .utf8) == plan.runs.map { $0.id + "\n" }.joined())
        #expect(try String(contentsOf: submission.scriptURL, encoding: .utf8) == submission.script)
        #expect(shellQuoted("it's") == #"'it'\''s'"#)
    }

    @Test("--then-table adds a dependent job's script that renders the label's table and status; without it there is none")
    func tableJob() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#).plan()
        let store = fixture.store(plan)
        var options = SlurmOptions()
        let plain = SlurmSubmission(
            runs: plan.runs.map(\.id), store: store, sweepFile: "/s/t.json", userdp: URL(fileURLWithPath: "/opt/userdp"),
            directory: URL(fileURLWithPath: "/work"), options: options, number: 1)
        #expect(plain.tableScript == nil)
        options.thenTable = true
        options.partition = "cpu"
        let submission = SlurmSubmission(
            runs: plan.runs.map(\.id), store: store, sweepFile: "/s/t.json", userdp: URL(fileURLWithPath: "/opt/userdp"),
            directory: URL(fileURLWithPath: "/work"), options: options, number: 1)
        let script = try #require(submission.tableScript)
        #expect(script.contains("#SBATCH --partition=cpu\n"))
        #expect(script.contains("/opt/userdp sweep table /s/t.json --results \(store.sweepDirectory.deletingLastPathComponent().path) --label \(store.root.lastPathComponent) --output \(store.root.path)/table.md\n"), "\(script)")
        #expect(script.contains("sweep status /s/t.json") && script.contains("> \(store.root.path)/status.txt"), "\(script)")
        #expect(submission.tableScriptURL.lastPathComponent == "submit-1-table.sbatch")
    }

    @Test("a submission covers the runs without result, live claim or queued task")
    func runsToSubmit() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2, 3, 4]}}"#).plan()
        let store = fixture.store(plan)
        let ids = plan.runs.map(\.id)
        var options = fixture.options(jobs: 1)
        options.only = [ids[0]]
        let summary = try Dispatcher(plan: plan, definition: nil, store: store, options: options).run()
        #expect(summary.finished == [ids[0]] && summary.unfinished.isEmpty && summary.alreadyDone == 0)
        #expect(fixture.ledgerIDs() == [ids[0]])
        // results.csv covers the plan, not only the dispatched run.
        #expect(try ResultSet(contentsOf: store.resultsCSV).rows.map(\.runID) == [ids[0]])
        #expect(SlurmSubmission.runsToSubmit(plan: plan, store: store, staleAfter: 120, queued: [ids[2]]) == [ids[1], ids[3]])
    }

    @Test("jobs.json records submissions in order and refuses a newer version")
    func jobBook() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}}"#).plan()
        let store = fixture.store(plan)
        let book = SlurmJobBook(store: store)
        #expect(try book.jobs().isEmpty && book.nextSubmission() == 1)
        try FileManager.default.createDirectory(at: store.root, withIntermediateDirectories: true)
        let first = SlurmJobBook.Job(id: "41", submission: 1, runs: ["a", "b"], submittedAt: 1)
        let second = SlurmJobBook.Job(id: "42", submission: 2, runs: ["b"], submittedAt: 2)
        try book.record(first)
        try book.record(second)
        #expect(try book.jobs() == [first, second] && book.nextSubmission() == 3)
        try Data(#"{"version": 2, "jobs": []}"#.utf8).write(to: book.url)
        #expect(throws: SweepError.slurmJobsUnreadable(path: book.url.path, reason: "version 2 is newer than 1, the highest this userdp reads")) {
            try book.jobs()
        }
    }
}

@Suite("sweep run --launcher slurm from the command line without a cluster", .serialized, .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct SlurmCommandLineTests {
    @Test("--dry-run prints the script and submits and writes nothing; Slurm flags without --launcher slurm are refused")
    func dryRun() throws {
        let fixture = try Fixture()
        let sweepFile = fixture.directory.appendingPathComponent("grid.json")
        try #"{"name": "grid", "base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#.write(to: sweepFile, atomically: true, encoding: .utf8)
        // No sbatch on this PATH: a submission would fail, a dry run must not try.
        let environment = ["PATH": fixture.directory.path, DispatchOptions.trainerVariable: fixture.trainer.path]
        let common = ["sweep", "run", sweepFile.path, "--results", fixture.results.path, "--label", "L"]
        let dry = try launchUserdp(common + ["--launcher", "slurm", "--time", "10", "--sbatch-arg=--nice=5", "--dry-run"], environment: environment, in: fixture.directory)
        dry.process.waitUntilExit()
        #expect(dry.process.terminationStatus == 0, "\(dry.text)")
        for line in ["#SBATCH --array=0-1\n", "#SBATCH --time=10\n", "#SBATCH --nice=5\n", "--launcher local --jobs 1 --only \"$run_id\""] {
            #expect(dry.text.contains(line), "\(line): \(dry.text)")
        }
        #expect(dry.text.contains("2 of 2 runs would be submitted"), "\(dry.text)")
        let label = fixture.results.appendingPathComponent("grid/L")
        #expect(!FileManager.default.fileExists(atPath: label.appendingPathComponent("slurm").path))

        let wrong = try launchUserdp(common + ["--partition", "cpu"], environment: environment, in: fixture.directory)
        wrong.process.waitUntilExit()
        #expect(wrong.process.terminationStatus != 0)
        #expect(wrong.text.contains("--partition needs --launcher slurm"), "\(wrong.text)")
        #expect(fixture.ledgerIDs().isEmpty)
    }
}

/// Whether the real-Slurm tests run: `USERDP_SLURM_TESTS=1` (set by `make test-slurm`) and a
/// cluster that answers `sinfo` (scripts/slurm-test-cluster start).
let slurmTestsEnabled: Bool = {
    guard ProcessInfo.processInfo.environment["USERDP_SLURM_TESTS"] == "1", userdpExecutable != nil else { return false }
    return SlurmClient().answers("sinfo")
}()

@Suite(
    "sweep run --launcher slurm on a real Slurm (make test-slurm)", .serialized,
    .enabled(if: slurmTestsEnabled, "set USERDP_SLURM_TESTS=1 with a Slurm cluster running (make test-slurm)"))
struct SlurmLauncherTests {
    func environment(_ fixture: Fixture, gated: Bool = false) -> [String: String] {
        var environment = [
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", DispatchOptions.trainerVariable: fixture.trainer.path,
            "FAKE_LEDGER": fixture.ledger.path, "FAKE_SLEEP": "0",
        ]
        if gated { environment["FAKE_GATE"] = fixture.gate.path }
        return environment
    }

    /// Runs `userdp` to completion and returns its output.
    func userdp(_ arguments: [String], _ fixture: Fixture, gated: Bool = false) throws -> (status: Int32, text: String) {
        let launched = try launchUserdp(arguments, environment: environment(fixture, gated: gated), in: fixture.directory)
        launched.process.waitUntilExit()
        return (launched.process.terminationStatus, launched.text)
    }

    /// Array tasks of the label's recorded jobs that Slurm still has queued or running.
    func liveTasks(_ store: ResultStore) -> [SlurmJobBook.TaskState] {
        let book = SlurmJobBook(store: store)
        return book.taskStates((try? book.jobs()) ?? [], client: SlurmClient())
    }

    /// A grid file in the fixture.
    func sweepFile(_ fixture: Fixture, _ text: String) throws -> (URL, SweepPlan) {
        let url = fixture.directory.appendingPathComponent("grid.json")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return (url, try SweepDefinition(contentsOf: url).plan())
    }

    @Test("a grid through --launcher slurm has the run ids and test perplexities of local dispatch; status shows the job; BLAS threads follow the CPUs per task")
    func sameAsLocal() throws {
        let fixture = try Fixture()
        let (file, plan) = try sweepFile(fixture, #"{"name": "grid", "base": {"dataset": "ok"}, "grid": {"k": [1, 2, 3]}, "seeds": [0, 1]}"#)
        let common = ["sweep", "run", file.path, "--results", fixture.results.path]
        let local = try userdp(common + ["--label", "local", "--jobs", "2"], fixture)
        #expect(local.status == 0, "\(local.text)")

        let slurmStore = ResultStore(results: fixture.results, sweep: "grid", label: "slurm")
        defer { _ = try? SlurmJobBook(store: slurmStore).cancelAll(client: SlurmClient()) }
        let submitted = try userdp(common + ["--label", "slurm", "--launcher", "slurm", "--array-limit", "2", "--cpus-per-task", "1", "--then-table"], fixture)
        #expect(submitted.status == 0, "\(submitted.text)")
        let jobs = try SlurmJobBook(store: slurmStore).jobs()
        try #require(jobs.count == 1, "\(submitted.text)")
        #expect(Set(jobs[0].runs) == Set(plan.runs.map(\.id)))
        #expect(try String(contentsOf: slurmStore.root.appendingPathComponent("slurm/submit-1.sbatch"), encoding: .utf8).contains("#SBATCH --array=0-5%2\n"))

        let done = waitUntil(timeout: 300) {
            SweepStatus(plan: plan, store: slurmStore).done.count == plan.runs.count && liveTasks(slurmStore).isEmpty
        }
        try #require(done, "the array did not finish: \(SweepStatus(plan: plan, store: slurmStore).render())")
        let localRows = try ResultSet(contentsOf: ResultStore(results: fixture.results, sweep: "grid", label: "local").resultsCSV).rows
        let slurmRows = try ResultSet(contentsOf: slurmStore.resultsCSV).rows
        #expect(slurmRows.map(\.runID) == localRows.map(\.runID))
        #expect(slurmRows.map { $0.metrics["test_perplexity"] } == localRows.map { $0.metrics["test_perplexity"] })
        // OPENBLAS_NUM_THREADS from SLURM_CPUS_PER_TASK (local dispatch on 2 cores with one job would give 2).
        let output = try String(contentsOf: slurmStore.file("output", of: plan.runs[0].id), encoding: .utf8)
        #expect(output.contains("threads=1 "), "\(output)")

        // The dependent job (--then-table) writes the table and the status once the array ended.
        let tableFile = slurmStore.root.appendingPathComponent("table.md"), statusFile = slurmStore.root.appendingPathComponent("status.txt")
        let rendered = waitUntil(timeout: 120) {
            ((try? String(contentsOf: statusFile, encoding: .utf8)) ?? "").contains("6 done")
        }
        #expect(rendered, "no table job output: \(submitted.text)")
        let table = (try? String(contentsOf: tableFile, encoding: .utf8)) ?? ""
        let expected = try userdp(["sweep", "table", file.path, "--results", fixture.results.path, "--label", "slurm"], fixture)
        #expect(!table.isEmpty && expected.text.contains(table.trimmingCharacters(in: .newlines)), "table job wrote:\n\(table)\nsweep table prints:\n\(expected.text)")

        let status = try userdp(["sweep", "status", file.path, "--results", fixture.results.path, "--label", "slurm"], fixture)
        #expect(status.text.contains("6 runs: 6 done, 0 running, 0 failed, 0 missing"), "\(status.text)")
        #expect(status.text.contains("slurm jobs: \(jobs[0].id) (6 runs)"), "\(status.text)")
        // Nothing is missing, so nothing is submitted again.
        let again = try userdp(common + ["--label", "slurm", "--launcher", "slurm"], fixture)
        #expect(again.status == 0 && again.text.contains("nothing to submit"), "\(again.text)")
        #expect(try SlurmJobBook(store: slurmStore).jobs().count == 1)
    }

    @Test("scancel of running tasks loses only their runs; a resubmission of the missing runs completes the grid, each run finished once")
    func cancelAndResubmit() throws {
        let fixture = try Fixture()
        let (file, plan) = try sweepFile(fixture, #"{"name": "grid", "base": {"dataset": "ok"}, "grid": {"k": [1, 2, 3]}}"#)
        let store = ResultStore(results: fixture.results, sweep: "grid", label: "L")
        let run = ["sweep", "run", file.path, "--results", fixture.results.path, "--label", "L", "--launcher", "slurm", "--array-limit", "2"]
        defer { _ = try? SlurmJobBook(store: store).cancelAll(client: SlurmClient()) }

        // The trainers wait at the gate, so two tasks are mid-run when they are cancelled. A
        // claim names its child as soon as the child is spawned, before the child has written its
        // ledger line; wait for both, or a cancel in between makes an attempt that left no trace.
        let first = try userdp(run, fixture, gated: true)
        #expect(first.status == 0, "\(first.text)")
        let started = waitUntil(timeout: 300) { claimsWithChildren(store).count == 2 && fixture.ledgerIDs().count == 2 }
        try #require(started, "two array tasks should start: \(SweepStatus(plan: plan, store: store).render())")
        let running = try userdp(["sweep", "status", file.path, "--results", fixture.results.path, "--label", "L"], fixture)
        #expect(running.text.contains(" RUNNING run "), "\(running.text)")
        #expect(running.text.contains(" PENDING run "), "\(running.text)")
        let killedRuns = Set(claimedChildren(store).map(\.id))

        let cancel = try userdp(["sweep", "cancel", file.path, "--results", fixture.results.path, "--label", "L"], fixture)
        #expect(cancel.status == 0 && cancel.text.contains("scancel "), "\(cancel.text)")
        let stopped = waitUntil(timeout: 120) { liveTasks(store).isEmpty && claimsWithChildren(store).isEmpty }
        try #require(stopped, "the cancelled tasks should end and release their claims")
        #expect(SweepStatus(plan: plan, store: store).done.isEmpty)

        fixture.openGate()
        let second = try userdp(run, fixture)
        #expect(second.status == 0, "\(second.text)")
        let jobs = try SlurmJobBook(store: store).jobs()
        try #require(jobs.count == 2)
        #expect(Set(jobs[1].runs) == Set(plan.runs.map(\.id)))
        let done = waitUntil(timeout: 300) { SweepStatus(plan: plan, store: store).done.count == plan.runs.count && liveTasks(store).isEmpty }
        try #require(done, "the resubmission did not finish: \(SweepStatus(plan: plan, store: store).render())")

        // Every run has one result; the cancelled runs started twice (the cancelled attempt and
        // the redo), the run that never started before the cancel once.
        let ledger = fixture.ledgerIDs()
        #expect(Set(ledger) == Set(plan.runs.map(\.id)))
        for id in plan.runs.map(\.id) {
            #expect(ledger.filter { $0 == id }.count == (killedRuns.contains(id) ? 2 : 1), "\(id): \(ledger)")
        }
        #expect(try ResultSet(contentsOf: store.resultsCSV).rows.map(\.runID) == plan.runs.map(\.id))
    }

    @Test("a task whose processes die by SIGKILL (no chance to clean up) leaves a stale claim; a resubmission takes the run over")
    func killedTask() throws {
        let fixture = try Fixture()
        let (file, plan) = try sweepFile(fixture, #"{"name": "grid", "base": {"dataset": "ok"}, "grid": {"k": [1]}}"#)
        let store = ResultStore(results: fixture.results, sweep: "grid", label: "L")
        let run = ["sweep", "run", file.path, "--results", fixture.results.path, "--label", "L", "--launcher", "slurm"]
        defer { _ = try? SlurmJobBook(store: store).cancelAll(client: SlurmClient()) }

        let first = try userdp(run, fixture, gated: true)
        #expect(first.status == 0, "\(first.text)")
        // Wait for the trainer's ledger line too: a SIGKILL between spawn and that line would
        // leave an attempt that the ledger cannot count.
        try #require(waitUntil(timeout: 300) { claimsWithChildren(store).count == 1 && fixture.ledgerIDs().count == 1 }, "the task should start")
        // SIGKILL to the task's dispatcher and trainer, as from the out-of-memory killer or after
        // KillWait. (`scancel --signal=KILL` would not do: Slurm turns it into a cancel, which
        // sends SIGTERM first.)
        let claim = try #require(claimsWithChildren(store).first)
        Foundation.kill(claim.pid, SIGKILL)
        signalChild(pid: try #require(claim.childPID), SIGKILL)
        try #require(waitUntil(timeout: 120) { liveTasks(store).isEmpty }, "the killed task should leave the queue")
        let id = plan.runs[0].id
        #expect(FileManager.default.fileExists(atPath: store.file("claim", of: id).path), "SIGKILL leaves the claim")
        #expect(SweepStatus(plan: plan, store: store).staleClaims == [id])

        fixture.openGate()
        let second = try userdp(run, fixture)
        #expect(second.status == 0 && !second.text.contains("nothing to submit"), "\(second.text)")
        try #require(waitUntil(timeout: 300) { SweepStatus(plan: plan, store: store).done == [id] && liveTasks(store).isEmpty })
        #expect(fixture.ledgerIDs() == [id, id])
    }
}
