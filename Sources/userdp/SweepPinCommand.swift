import ArgumentParser
import Foundation
import LinearAlgebra
import Sweep
import Training

/// `userdp sweep pin`: pins a label to this build's commit, or lets this build join a pinned
/// label after it reproduced stored results bit for bit (`LabelPin`, `PinVerification`).
struct SweepPinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin",
        abstract: "Pin a label to this build's commit, so results from other code never mix into it.",
        discussion: """
            Writes RESULTS/NAME/LABEL/pin.json. From then on a result counts (in status, tables and \
            resumes) only when it records a pinned commit and a clean tree; `sweep run` moves \
            others aside and redoes them, and refuses to run from a build that is not pinned. \
            This build joins a label that is already pinned, and --accept adds the results of \
            other commits, only after it reproduced stored runs of each of them bit for bit on \
            this machine (--runs per commit, rerun into a scratch folder). docs/SWEEPS.md, \
            "Pinned labels".
            """
    )

    @Argument(help: "The sweep file.")
    var sweep: String

    @OptionGroup var location: ResultsOptions

    @Option(help: "Also accept the stored results of this commit (full or abbreviated hash; repeatable), once this build reproduces them.")
    var accept: [String] = []

    @Option(help: "Stored runs rerun per commit to check (one per mechanism first).")
    var runs: Int = 2

    @Option(name: .shortAndLong, help: "Reruns at once (default: the number of cores).")
    var jobs: Int?

    @Flag(help: "Accept commits whose results this machine cannot check (none on its OpenBLAS kernel).")
    var unverified = false

    @Flag(help: "Print what would be checked and redone, and change nothing.")
    var dryRun = false

    func validate() throws {
        if runs < 1 { throw ValidationError("--runs must be at least 1") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() throws {
        guard let git = UserDPVersion.gitState, !git.dirty else {
            throw ValidationError("this userdp is \(LabelPin.thisBuild): only a clean build of a commit can pin a label (commit, then rebuild)")
        }
        let (_, plan) = try loadPlan(sweep)
        let store = try location.store(for: plan)
        let existing = try store.pin()
        let pinFile = store.root.appendingPathComponent(LabelPin.fileName).path

        // Which commits' results must this build reproduce?
        let stored = plan.runs.compactMap { store.result($0.id) }
        var toCheck = (existing?.commits.map(\.commit) ?? []).filter { $0 != git.commit }
        for prefix in accept {
            let matches = Set(stored.map(\.provenance.gitCommit)).filter { $0.hasPrefix(prefix.lowercased()) }
            guard matches.count == 1, let commit = matches.first else {
                throw ValidationError("--accept \(prefix): \(matches.isEmpty ? "no stored result of this label records such a commit" : "ambiguous (\(matches.sorted().map { String($0.prefix(12)) }.joined(separator: ", ")))")")
            }
            if commit != git.commit, !toCheck.contains(commit) { toCheck.append(commit) }
        }
        if let existing, existing.acceptsThisBuild(), toCheck.allSatisfy({ c in existing.commits.contains { $0.commit == c } }) {
            print("\(pinFile): already pinned to \(existing.shortList), this build included")
            return
        }

        let kernel = BLASEnvironment.coreName
        let (checks, unverifiable) = PinVerification.checks(plan: plan, store: store, commits: toCheck, kernel: kernel, perCommit: runs)
        for (commit, reason) in unverifiable.sorted(by: { $0.key < $1.key }) where !unverified {
            throw SweepError.pinUnverifiable(path: pinFile, commit: commit, reason: reason)
        }
        let accepted = Set(toCheck).union([git.commit])
        let redone = stored.filter { !accepted.contains($0.provenance.gitCommit) || $0.provenance.gitDirty }
        if dryRun {
            print("would pin \(store.root.path) to \(([git.commit] + toCheck).map { String($0.prefix(7)) }.joined(separator: ", "))")
            for check in checks { print("would rerun \(check.label) (\(check.run.describe(axes: plan.axes)))") }
            for commit in unverifiable.keys.sorted() { print("would accept \(commit.prefix(7)) unchecked: \(unverifiable[commit]!)") }
            print("\(redone.count) stored result(s) from other code would be redone by `sweep run`")
            return
        }

        var fresh: [String: RunResult] = [:]
        if !checks.isEmpty {
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("userdp-pin-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: scratch) }
            var options = DispatchOptions(jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount, trainer: DispatchOptions.defaultTrainer())
            options.handleSignals = true
            options.retries = 0
            printError("sweep pin: rerunning \(checks.count) stored run(s) with this build to check them bit for bit")
            let progress = ProgressPrinter(live: isatty(STDERR_FILENO) == 1)
            fresh = try PinVerification.rerun(checks, plan: plan, scratch: scratch, options: options, report: progress.handle)
            progress.finish()
        }
        var differences: [String] = []
        for check in checks {
            guard let old = store.result(check.run.id), let new = fresh[check.run.id] else { continue }
            let diff = PinVerification.differences(stored: old, fresh: new)
            if diff.isEmpty {
                print("reproduced \(check.label) bit for bit (test perplexity \(old.testPerplexity))")
            } else {
                differences.append("\(check.label): " + diff.joined(separator: "; "))
            }
        }
        guard differences.isEmpty else { throw SweepError.pinNotReproduced(path: pinFile, differences: differences) }

        let now = ISO8601DateFormatter().string(from: Date())
        var pin = existing ?? LabelPin(commits: [])
        for commit in toCheck + [git.commit] where !pin.commits.contains(where: { $0.commit == commit }) {
            pin.commits.append(LabelPin.Commit(commit: commit, joined: now, reproduced: checks.map(\.label), openblasCore: kernel))
        }
        try pin.write(labelFolder: store.root)
        print("\(pinFile): pinned to \(pin.shortList)")
        if !redone.isEmpty {
            print("\(redone.count) stored result(s) from other code no longer count; `sweep run` moves them aside and redoes them")
        }
    }
}
