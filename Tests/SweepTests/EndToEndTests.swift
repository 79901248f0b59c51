import Foundation
import Testing
import TestSupport
import Training

@testable import Sweep
import Persistence

/// The environment for the real `userdp`: the children run the `userdp` under test (no
/// override), with one BLAS thread each (the tests share the machine), and no sweep variables
/// inherited from whatever started the tests.
func realTrainerEnvironment() -> [String: String] {
    let sweepVariables = [
        DispatchOptions.trainerVariable, DispatchEnvironment.runIDVariable, DispatchEnvironment.dispatcherPIDVariable,
        DispatchEnvironment.dispatcherStartVariable,
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
        // Ids over the content of the world's dataset and model, as `userdp sweep run` plans them.
        let plan = try SweepDefinition(contentsOf: sweepFile).plan(inputs: InputFingerprintResolver())
        try #require(plan.runs.count == 8 && plan.unresolvedInputs.isEmpty)
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
            // The inputs' content and the userdp that ran are recorded (run identity, provenance).
            #expect(result.extra["dataset_hash"] == .string(run.inputs!.datasetHash) && result.extra["model_hash"] == .string(run.inputs!.modelHash))
            #expect(result.provenance.userdpVersion == UserDPVersion.label)
            // group with lemma accounting stores the user-level event: the lemma with k = 2
            // over the record-level event, no markers beside it.
            if run.config.mechanism == .group {
                guard case .object(let event) = result.dpEvent else { Issue.record("run \(run.id) has no dp_event"); continue }
                #expect(event["kind"] == .string("groupPrivacy") && event["group_size"] == .integer(2) && event["conversion"] == .string("lemma"),
                        "run \(run.id) stored \(result.dpEvent.canonicalText())")
                #expect(result.extra["dp_event_unit"] == nil && result.extra["dp_event_group_size"] == nil)
            }
        }
        let status = SweepStatus(plan: plan, store: store)
        #expect(status.done.count == plan.runs.count && status.running.isEmpty && status.failed.isEmpty)

        for format in TableFormat.allCases {
            let table = try launchUserdp(
                ["sweep", "table", sweepFile.path, "--results", fixture.results.path, "--label", "e2e", "--rows", "mechanism", "--cols", "epsilon", "--format", format.rawValue],
                environment: environment, in: fixture.directory, outputDirectory: fixture.directory)
            #expect(finish(table, timeout: 300))
            #expect(table.process.terminationStatus == 0, "\(table.text)")
            // LaTeX writes the mechanisms as the study does (DisplayNames), the others as the sweep file.
            let names = format == .latex ? ["Group Privacy", "User-wise DP-SGD"] : ["group", "user"]
            #expect(names.allSatisfy { table.text.contains($0) }, "\(table.text)")
            // Two seeds in every cell: no cell reports a smaller n.
            #expect(!table.text.contains("(n="), "\(table.text)")
        }
    }
}
