import Foundation
import Testing
import TestSupport
import Training

@testable import Sweep

/// Claims in a store that record a child pid, with their run ids.
func claimedChildren(_ store: ResultStore) -> [(id: String, claim: Claim)] {
    let ids = (try? FileManager.default.contentsOfDirectory(atPath: store.runsDirectory.path)) ?? []
    return ids.sorted().compactMap { id in
        guard let data = try? Data(contentsOf: store.file("claim", of: id)), let claim = try? JSONDecoder().decode(Claim.self, from: data),
            claim.childPID != nil
        else { return nil }
        return (id, claim)
    }
}

/// Claims in a store that record a child pid.
func claimsWithChildren(_ store: ResultStore) -> [Claim] {
    claimedChildren(store).map(\.claim)
}

@Suite("userdp sweep (the command line, with a shell-script trainer)", .serialized, .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct CommandLineTests {
    func environment(_ fixture: Fixture, sleep: Double) -> [String: String] {
        [
            "PATH": "/usr/bin:/bin", DispatchOptions.trainerVariable: fixture.trainer.path, "FAKE_LEDGER": fixture.ledger.path,
            "FAKE_SLEEP": String(sleep),
        ]
    }

    @Test("kill -9 of the dispatcher midway: resume reclaims the dead run, waits for the orphan, runs the rest; every cell once")
    func killAndResume() throws {
        let fixture = try Fixture()
        let sweepFile = fixture.directory.appendingPathComponent("grid.json")
        try #"{"name": "grid", "base": {"dataset": "ok"}, "grid": {"k": [1, 2, 3, 4, 5]}}"#.write(to: sweepFile, atomically: true, encoding: .utf8)
        let plan = try SweepDefinition(contentsOf: sweepFile).plan()
        let store = ResultStore(results: fixture.results, sweep: "grid", label: "L")
        let arguments = ["sweep", "run", sweepFile.path, "--results", fixture.results.path, "--label", "L", "--jobs", "2"]
        var gated = environment(fixture, sleep: 0)
        gated["FAKE_GATE"] = fixture.gate.path

        // The children wait at the gate, so both are mid-run when the dispatcher dies.
        // Both children must have written their ledger line (a claim records the pid at spawn,
        // before the script runs; on a loaded machine a child killed that early never ran).
        let first = try launchUserdp(arguments, environment: gated, in: fixture.directory)
        let started = waitUntil(timeout: 300) { claimsWithChildren(store).count == 2 && fixture.ledgerIDs().count == 2 }
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        try #require(started, "two children should start: \(first.text)")
        // One child dies with the dispatcher (as on a crash); the other runs on as an orphan
        // (a shell script has no watchdog, unlike `userdp train`).
        let claims = claimsWithChildren(store)
        try #require(claims.count == 2)
        let killed = try #require(claims[0].childPID)
        signalChild(pid: killed, SIGKILL)
        #expect(waitUntil(timeout: 300) { !ProcessProbe.isAlive(killed, start: claims[0].childStart) })
        let orphanID = ledgerID(fixture, claims[1])
        #expect(!orphanID.isEmpty)

        fixture.openGate()
        let second = try launchUserdp(arguments, environment: gated, in: fixture.directory)
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus == 0, "\(second.text)")
        #expect(second.text.contains("reclaim"), "\(second.text)")

        let ledger = fixture.ledgerIDs()
        #expect(Set(ledger) == Set(plan.runs.map(\.id)))
        // The killed run ran twice (the killed attempt and the redo), the orphan's once.
        #expect(ledger.filter { $0 == orphanID }.count == 1)
        #expect(ledger.count == plan.runs.count + 1)
        let set = try ResultSet(contentsOf: store.resultsCSV)
        #expect(set.rows.map(\.runID) == plan.runs.map(\.id))
        let status = SweepStatus(plan: plan, store: store)
        #expect(status.done.count == plan.runs.count && status.running.isEmpty && status.failed.isEmpty)
    }

    @Test("`sweep label` prints the label; `sweep table` and `sweep diff` under a label without results name the labels that have them")
    func labelsForScripts() throws {
        let fixture = try Fixture()
        let sweepFile = fixture.directory.appendingPathComponent("few.json")
        try #"{"name": "few", "base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#.write(to: sweepFile, atomically: true, encoding: .utf8)
        func userdp(_ arguments: [String]) throws -> (status: Int32, text: String) {
            let launched = try launchUserdp(arguments, environment: environment(fixture, sleep: 0), in: fixture.directory)
            launched.process.waitUntilExit()
            return (launched.process.terminationStatus, launched.text)
        }
        let label = try userdp(["sweep", "label", "--label", "pinned"])
        #expect(label.status == 0 && label.text == "pinned\n", "\(label.text)")
        let run = try userdp(["sweep", "run", sweepFile.path, "--results", fixture.results.path, "--label", "pinned", "--jobs", "1"])
        try #require(run.status == 0, "\(run.text)")
        let other = try userdp(["sweep", "table", sweepFile.path, "--results", fixture.results.path, "--label", "other", "--rows", "k"])
        #expect(other.status != 0)
        #expect(other.text.contains("no results under label 'other'; results exist under 'pinned' (pass --label LABEL)"), "\(other.text)")
        #expect(ResultStore(results: fixture.results, sweep: "few", label: "other").labelsWithResults() == ["pinned"])
        let diff = try userdp(["sweep", "diff", "other", "pinned", "--sweep", sweepFile.path, "--results", fixture.results.path])
        #expect(diff.status != 0)
        #expect(diff.text.contains("no results under label 'other'; results exist under 'pinned'"), "\(diff.text)")
        let table = try userdp(["sweep", "table", sweepFile.path, "--results", fixture.results.path, "--label", "pinned", "--rows", "k"])
        #expect(table.status == 0, "\(table.text)")
    }

    @Test("two `sweep run` processes on one sweep split the runs and run each exactly once")
    func twoProcesses() throws {
        let fixture = try Fixture()
        let sweepFile = fixture.directory.appendingPathComponent("pair.json")
        try #"{"name": "pair", "base": {"dataset": "ok"}, "grid": {"k": [1, 2, 3, 4, 5, 6]}, "seeds": [0, 1]}"#.write(to: sweepFile, atomically: true, encoding: .utf8)
        let plan = try SweepDefinition(contentsOf: sweepFile).plan()
        let store = ResultStore(results: fixture.results, sweep: "pair", label: "L")
        let arguments = ["sweep", "run", sweepFile.path, "--results", fixture.results.path, "--label", "L", "--jobs", "2", "--shuffle"]
        var gated = environment(fixture, sleep: 0)
        gated["FAKE_GATE"] = fixture.gate.path
        let dispatchers = try (0..<2).map { _ in try launchUserdp(arguments, environment: gated, in: fixture.directory) }
        // Nothing finishes before the gate opens, so each process fills its two slots first.
        let bothBusy = waitUntil(timeout: 300) { claimsWithChildren(store).count == 4 }
        fixture.openGate()
        for dispatcher in dispatchers {
            dispatcher.process.waitUntilExit()
            #expect(dispatcher.process.terminationStatus == 0, "\(dispatcher.text)")
        }
        #expect(bothBusy, "\(dispatchers.map(\.text))")
        // The invariant: every run started exactly once.
        #expect(fixture.ledgerIDs().sorted() == plan.runs.map(\.id).sorted())
        let set = try ResultSet(contentsOf: store.resultsCSV)
        #expect(set.rows.map(\.runID) == plan.runs.map(\.id))
    }

    @Test("SIGINT stops dispatching, terminates children, releases claims and leaves no result; resume finishes")
    func interrupt() throws {
        let fixture = try Fixture()
        let sweepFile = fixture.directory.appendingPathComponent("slow.json")
        try #"{"name": "slow", "grid": {"dataset": ["slow", "ok"]}}"#.write(to: sweepFile, atomically: true, encoding: .utf8)
        let plan = try SweepDefinition(contentsOf: sweepFile).plan()
        let store = ResultStore(results: fixture.results, sweep: "slow", label: "L")
        let arguments = ["sweep", "run", sweepFile.path, "--results", fixture.results.path, "--label", "L", "--jobs", "1"]

        let slowID = try #require(plan.runs.first { $0.config.dataset == "slow" }?.id)
        let first = try launchUserdp(arguments, environment: environment(fixture, sleep: 0), in: fixture.directory)
        // Interrupt while the slow run (dispatched second) is running.
        let slowChild = { claimsWithChildren(store).first { $0.childPID != nil && ledgerID(fixture, $0) == slowID }?.childPID }
        #expect(waitUntil(timeout: 300) { slowChild() != nil }, "\(first.text)")
        let child = try #require(slowChild())
        kill(first.process.processIdentifier, SIGINT)
        first.process.waitUntilExit()
        #expect(first.process.terminationStatus == 130, "\(first.text)")
        #expect(first.text.contains("interrupted"))
        #expect(!ProcessProbe.isAlive(child, start: nil))
        #expect(!store.hasResult(slowID))
        #expect(!FileManager.default.fileExists(atPath: store.file("claim", of: slowID).path))
        #expect(!FileManager.default.fileExists(atPath: store.file("failure.json", of: slowID).path))
        #expect(SweepStatus(plan: plan, store: store).missing == [slowID])

        var quick = environment(fixture, sleep: 0)
        quick["FAKE_SLOW"] = "0"
        let second = try launchUserdp(arguments, environment: quick, in: fixture.directory)
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus == 0, "\(second.text)")
        #expect(store.hasResult(slowID))
        // The interrupted attempt's output was archived, not overwritten.
        #expect(FileManager.default.fileExists(atPath: store.file("attempts", of: slowID).appendingPathComponent("1/output").path))
    }

    @Test("status, table and diff from the command line")
    func statusTableDiff() throws {
        let fixture = try Fixture()
        let sweepFile = fixture.directory.appendingPathComponent("g.json")
        try #"{"name": "g", "base": {"dataset": "ok"}, "grid": {"k": [1, 2], "mechanism": ["group", "user"]}, "seeds": [0, 1]}"#.write(
            to: sweepFile, atomically: true, encoding: .utf8)
        let common = ["--results", fixture.results.path]
        for label in ["A", "B"] {
            let run = try launchUserdp(["sweep", "run", sweepFile.path, "--label", label, "-j", "2"] + common, environment: environment(fixture, sleep: 0), in: fixture.directory)
            run.process.waitUntilExit()
            #expect(run.process.terminationStatus == 0, "\(run.text)")
        }
        let status = try launchUserdp(["sweep", "status", sweepFile.path, "--label", "A"] + common, environment: [:], in: fixture.directory)
        status.process.waitUntilExit()
        #expect(status.text.contains("8 runs: 8 done, 0 running, 0 failed, 0 missing"), "\(status.text)")

        let table = try launchUserdp(
            ["sweep", "table", sweepFile.path, "--label", "A", "--rows", "mechanism", "--cols", "k", "--format", "latex"] + common, environment: [:],
            in: fixture.directory)
        table.process.waitUntilExit()
        // test_perplexity = 10 + seed + k: seeds 0, 1 give mean 10.5 + k, std 0.71.
        #expect(table.text.contains("group & $\\mathbf{11.50 \\pm 0.71}$ & $\\mathbf{12.50 \\pm 0.71}$ \\\\"), "\(table.text)")

        let diff = try launchUserdp(["sweep", "diff", "A", "B", "--sweep", sweepFile.path] + common, environment: [:], in: fixture.directory)
        diff.process.waitUntilExit()
        #expect(diff.text.contains("| 1 | group | 2 | 11.50 ± 0.71 (n=2) | 11.50 ± 0.71 (n=2) | 0.00 | +0.0% | 1.000 | 1.000 |  |"), "\(diff.text)")
        // The two labels ran the same definition and (fake) inputs; the header says so.
        #expect(diff.text.contains("A (A) and B (B): same sweep definition"), "\(diff.text)")
    }
}

/// The run id a claim belongs to (its child wrote "ID PID" to the ledger).
func ledgerID(_ fixture: Fixture, _ claim: Claim) -> String {
    let lines = ((try? String(contentsOf: fixture.ledger, encoding: .utf8)) ?? "").split(separator: "\n")
    return lines.first { $0.hasSuffix(" \(claim.childPID ?? -1)") }.map { String($0.split(separator: " ")[0]) } ?? ""
}

/// Signals a process group led by `pid` (a fake trainer and its `sleep`), or the process.
func signalChild(pid: Int32, _ signal: Int32) {
    if getpgid(pid) == pid { kill(-pid, signal) } else { kill(pid, signal) }
}
