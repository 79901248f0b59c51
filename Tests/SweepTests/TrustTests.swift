import Foundation
import Persistence
import Testing
import TestSupport
import Training
import UserData

@testable import Sweep

/// Sweeps never give a wrong answer silently (docs/SWEEPS.md).

/// A resolver that hands out fixed fingerprints per dataset name (no files read).
func fakeInputs(_ hashes: [String: String], model: String = "m0") -> InputFingerprintResolver {
    InputFingerprintResolver { dataset, _ in
        guard let hash = hashes[dataset] else { throw SweepError.noResults(path: dataset) }
        return InputFingerprint(datasetHash: hash, modelHash: model)
    }
}

@Suite("Run identity")
struct RunIdentityTests {
    @Test("a nonprivate grid over k, ε and selection is one run per seed; record ignores k and selection")
    func ignoredKeysDoNotSplitIDs() throws {
        let plan = try sweep(
            #"{"base": {"mechanism": "nonprivate"}, "grid": {"k": [1, 4], "epsilon": [1, 8], "selection": ["random", "longest"]}, "seeds": [0, 1]}"#
        ).plan()
        #expect(plan.runs.count == 2)
        #expect(plan.runs.map(\.cell) == [["n/a", "n/a", "n/a"], ["n/a", "n/a", "n/a"]])
        #expect(plan.notes == ["nonprivate ignores epsilon, k, selection: 14 grid point(s) are runs already planned (shown as n/a)"])

        let record = try sweep(#"{"base": {"mechanism": "record"}, "grid": {"k": [1, 4], "selection": ["random", "longest"], "epsilon": [1, 8]}}"#).plan()
        #expect(record.runs.count == 2)
        #expect(Set(record.runs.map(\.cell)) == [["1", "n/a", "n/a"], ["8", "n/a", "n/a"]])
        // The canonical form has no key the mechanism ignores.
        let text = record.runs[0].config.canonicalText
        #expect(!text.contains("\"k\"") && !text.contains("\"selection\"") && text.contains("\"version\":2"))
    }

    @Test("a grid over mechanisms keeps the keys each mechanism reads")
    func mixedMechanisms() throws {
        let plan = try sweep(#"{"grid": {"mechanism": ["nonprivate", "user"], "epsilon": [1, 8]}}"#).plan()
        #expect(plan.runs.map(\.cell) == [["1", "user"], ["8", "user"], ["n/a", "nonprivate"]])
        #expect(plan.runsPerMechanism.map { "\($0.mechanism.rawValue)=\($0.runs)" } == ["nonprivate=1", "user=2"])
    }

    @Test("run ids include the dataset and model content: changed data gives new ids")
    func inputsInIdentity() throws {
        let definition = try sweep(#"{"base": {"dataset": "d"}, "grid": {"k": [1, 2]}}"#)
        let before = try definition.plan(inputs: fakeInputs(["d": "aaaa"]))
        let after = try definition.plan(inputs: fakeInputs(["d": "bbbb"]))
        let otherModel = try definition.plan(inputs: fakeInputs(["d": "aaaa"], model: "m1"))
        #expect(Set(before.runs.map(\.id)).isDisjoint(with: after.runs.map(\.id)))
        #expect(Set(before.runs.map(\.id)).isDisjoint(with: otherModel.runs.map(\.id)))
        #expect(before.runs.map(\.id) == (try definition.plan(inputs: fakeInputs(["d": "aaaa"]))).runs.map(\.id))
        #expect(before.runs[0].inputs == InputFingerprint(datasetHash: "aaaa", modelHash: "m0"))
        // Inputs that cannot be read are named, and the ids fall back to the config alone.
        let unresolved = try definition.plan(inputs: fakeInputs([:]))
        #expect(unresolved.unresolvedInputs.count == 1)
        #expect(unresolved.runs.map(\.id) == (try definition.plan()).runs.map(\.id))
    }
}

@Suite("Excludes that say what they mean")
struct ExcludeRelevanceTests {
    @Test("an exclude does not match on keys the point's mechanism ignores; matching nothing is an error")
    func excludeOnIgnoredKey() throws {
        let text = #"""
            {"grid": {"mechanism": ["group", "user"], "mechanism_options.group.accounting": ["mixture", "lemma"]}, "seeds": [0, 1],
             "exclude": [{"mechanism": "user", "mechanism_options.group.accounting": "lemma"}]}
            """#
        #expect(planError(text) == .excludeMatchesNothing(file: "t.json", index: 0))
        #expect(planError(text)?.errorDescription?.hasPrefix("t.json: exclude[0] matches no grid point") == true)
        // Without the exclude: group twice (it reads the accounting), user once.
        let plan = try sweep(#"{"grid": {"mechanism": ["group", "user"], "mechanism_options.group.accounting": ["mixture", "lemma"]}, "seeds": [0, 1]}"#).plan()
        #expect(plan.runs.filter { $0.config.mechanism == .user }.count == 2)
        #expect(plan.runs.filter { $0.config.mechanism == .group }.count == 4)
        let excluded = try sweep(
            #"{"grid": {"mechanism": ["group", "user"], "mechanism_options.group.accounting": ["mixture", "lemma"]}, "exclude": [{"mechanism": "group", "mechanism_options.group.accounting": "lemma"}]}"#
        ).plan()
        #expect(excluded.runs.map(\.cell) == [["group", "mixture"], ["user", "n/a"]])
    }

    @Test("an exclude with more keys than the mechanism that removes every point of it is said")
    func excludeRemovingAMechanism() throws {
        let plan = try sweep(#"{"grid": {"mechanism": ["group", "user"], "k": [4]}, "exclude": [{"mechanism": "group", "k": 4}]}"#).plan()
        #expect(plan.runs.count == 1)
        #expect(plan.warnings == [#"exclude[0] removes every group grid point (1); if that is intended, write it as {"mechanism": "group"}"#])
    }
}

@Suite("Stored results that cannot be trusted")
struct StoredResultTrustTests {
    func dispatch(_ fixture: Fixture, _ plan: SweepPlan, definition: SweepDefinition?, replace: Bool = false, log: EventLog = EventLog()) throws -> DispatchSummary {
        var options = fixture.options(jobs: 1)
        options.replaceDefinition = replace
        return try Dispatcher(plan: plan, definition: definition, store: fixture.store(plan), options: options, report: log.record).run()
    }

    @Test("rerunning an edited sweep under the same label is refused unless forced; the same sweep resumes")
    func editedSweepSameLabel() throws {
        let fixture = try Fixture()
        let first = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#)
        _ = try dispatch(fixture, try first.plan(), definition: first)
        _ = try dispatch(fixture, try first.plan(), definition: first)  // unchanged: fine
        let edited = try fixture.definition(#"{"base": {"dataset": "ok", "clip_norm": 0.5}, "grid": {"k": [1, 2]}}"#)
        let store = fixture.store(try edited.plan())
        #expect(throws: SweepError.definitionChanged(path: store.definitionFile.path, keys: ["base"])) {
            try dispatch(fixture, try edited.plan(), definition: edited)
        }
        _ = try dispatch(fixture, try edited.plan(), definition: edited, replace: true)
        let stored = try JSONValue(parsing: Data(contentsOf: store.definitionFile))
        #expect(stored.canonicalText() == edited.json.canonicalText())
    }

    @Test("a corrupt result.json is not done: status does not count it, run moves it aside and redoes the run",
          arguments: ["", "{\"test_perplexity\": 1", "{}", "\u{7}\u{1}garbage", "[1, 2]", "{\"config\": 3}"])
    func corruptResult(_ content: String) throws {
        let fixture = try Fixture()
        let definition = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#)
        let plan = try definition.plan()
        _ = try dispatch(fixture, plan, definition: definition)
        let store = fixture.store(plan)
        let broken = plan.runs[0].id
        try Data(content.utf8).write(to: store.file(ResultStore.RunFile.result, of: broken))

        let status = SweepStatus(plan: plan, store: store)
        #expect(status.done == [plan.runs[1].id])
        #expect(status.unreadable == [broken])
        #expect(status.render().contains("1 unusable result.json"))

        let log = EventLog()
        let summary = try dispatch(fixture, plan, definition: definition, log: log)
        #expect(summary.finished == [broken])
        #expect(log.notes.contains { $0.hasPrefix("run \(broken): result.json is unreadable") })
        let files = try FileManager.default.contentsOfDirectory(atPath: store.runDirectory(broken).path)
        #expect(files.contains { $0.hasPrefix("result.json.corrupt-") })
        #expect(store.hasValidResult(broken))
        #expect(try ResultSet(contentsOf: store.resultsCSV).rows.count == 2)
    }
}

@Suite("Results computed on other inputs")
struct InputMismatchTests {
    @Test("a stored result whose recorded dataset hash differs from the plan's is not done; run redoes it")
    func resultOnOtherData() throws {
        let fixture = try Fixture()
        // The fake trainer records no hashes; plan with fingerprints and plant a result that
        // records another dataset hash, as if the data changed while the run was running.
        let definition = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#)
        let plan = try definition.plan(inputs: fakeInputs(["ok": "now"]))
        var options = fixture.options(jobs: 1)
        options.waitForOthers = false
        _ = try Dispatcher(plan: plan, definition: definition, store: fixture.store(plan), options: options).run()
        let store = fixture.store(plan)
        let id = plan.runs[0].id
        let url = store.file(ResultStore.RunFile.result, of: id)
        var text = try String(contentsOf: url, encoding: .utf8)
        text = text.replacingOccurrences(of: #""extra": {"halted": 0}"#, with: #""extra": {"halted": 0, "dataset_hash": "then"}"#)
        try text.write(to: url, atomically: true, encoding: .utf8)
        #expect(store.unusableReason(plan.runs[0])?.hasPrefix("result.json was computed on another dataset") == true)
        #expect(SweepStatus(plan: plan, store: store).unreadable == [id])
        let log = EventLog()
        let summary = try Dispatcher(plan: plan, definition: definition, store: store, options: options, report: log.record).run()
        #expect(summary.finished == [id])
        #expect(log.notes.contains { $0.hasPrefix("run \(id): result.json was computed on another dataset") })
    }
}

@Suite("Migration to the current run ids")
struct MigrationTests {
    /// Writes a finished run the way an older userdp stored it: under `id`, with `config`
    /// (config text as written then) and the dataset hash it recorded.
    func storeOldRun(_ store: ResultStore, id: String, config: String, datasetHash: String?, testPerplexity: Double) throws {
        let directory = store.runDirectory(id)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data(config.utf8).write(to: directory.appendingPathComponent("config.json"))
        let extra = datasetHash.map { #"{"dataset_hash": "\#($0)"}"# } ?? "{}"
        let result = #"""
            {"config": \#(config), "test_perplexity": \#(testPerplexity), "validation_perplexity": 2, "epsilon": "inf", "delta": 1e-5,
             "noise_multiplier": 0, "sampling_rate": 0.1, "steps": 1, "dp_event": null, "units_per_step_mean": 1, "wall_seconds": 1,
             "tokens_per_second": 1, "extra": \#(extra),
             "provenance": {"git_commit": "old", "git_dirty": false, "git_diff_hash": null, "toolchain": "t", "openblas_core": "c", "blas_threads": 1, "host": "h"}}
            """#
        try Data(result.utf8).write(to: directory.appendingPathComponent("result.json"))
    }

    @Test("finished runs move to the new ids; duplicates are superseded; runs on changed data stay and are redone")
    func migrate() throws {
        let fixture = try Fixture()
        let definition = try fixture.definition(#"{"base": {"dataset": "d", "mechanism": "nonprivate"}, "grid": {"epsilon": [1, 8], "split_seed": [0, 1]}}"#)
        let plan = try definition.plan(inputs: fakeInputs(["d": "hash-now"]))
        #expect(plan.runs.count == 2)  // one per split seed; ε is ignored
        let store = fixture.store(plan)
        try store.prepare(definition: definition)
        func oldConfig(epsilon: Int, split: Int) -> String {
            #"{"dataset": "d", "mechanism": "nonprivate", "epsilon": \#(epsilon), "split_seed": \#(split), "version": 1}"#
        }
        try storeOldRun(store, id: "old-e1-s0", config: oldConfig(epsilon: 1, split: 0), datasetHash: "hash-now", testPerplexity: 5)
        try storeOldRun(store, id: "old-e8-s0", config: oldConfig(epsilon: 8, split: 0), datasetHash: "hash-now", testPerplexity: 6)
        try storeOldRun(store, id: "old-e1-s1", config: oldConfig(epsilon: 1, split: 1), datasetHash: "hash-then", testPerplexity: 7)

        let preview = try SweepMigration.migrate(plan: plan, store: store, apply: false)
        #expect(FileManager.default.fileExists(atPath: store.runDirectory("old-e1-s0").path))  // a dry run changes nothing
        let report = try SweepMigration.migrate(plan: plan, store: store, apply: true)
        #expect(report == preview)
        let split0 = try #require(plan.runs.first { $0.config.splitSeed == 0 })
        let split1 = try #require(plan.runs.first { $0.config.splitSeed == 1 })
        #expect(report.moved == ["old-e1-s0": split0.id])
        #expect(report.superseded == ["old-e8-s0": split0.id])
        #expect(report.stale.keys.sorted() == ["old-e1-s1"])
        #expect(report.modelAssumed == ["old-e1-s0", "old-e8-s0"])
        #expect(store.result(split0.id)?.testPerplexity == 5)
        #expect(!store.hasResult(split1.id))
        #expect(FileManager.default.fileExists(atPath: store.root.appendingPathComponent("superseded/old-e8-s0/result.json").path))
        let config = try String(contentsOf: store.file("config.json", of: split0.id), encoding: .utf8)
        #expect(config == split0.config.prettyText + "\n")
        #expect(try ResultSet(contentsOf: store.resultsCSV).rows.map(\.runID) == [split0.id])
        // Migrating again changes nothing.
        let again = try SweepMigration.migrate(plan: plan, store: store, apply: true)
        #expect(again.moved.isEmpty && again.unchanged == [split0.id])
    }
}

@Suite("Tables that refuse to mislead")
struct TableTrustTests {
    @Test("--where compares numbers numerically and labels by their resolved config")
    func whereNumeric() throws {
        for (axis, value) in [("learning_rate", "1e-3"), ("learning_rate", "0.0010"), ("epsilon", "8.0")] {
            var request = TableRequest(rows: ["mechanism", "selection"], columns: [axis == "epsilon" ? "learning_rate" : "epsilon"])
            request.filters = [axis: value]
            let table = try ResultTable(results: sampleResults(), request: request)
            #expect(table.cells.flatMap { $0 }.contains { $0 != nil }, "\(axis)=\(value)")
        }
        #expect(AxisValue.matches(filter: "perplexity", label: "perplexity(order=lowest)", axis: "selection"))
        #expect(AxisValue.matches(filter: "3e-3", label: "0.003", axis: "learning_rate"))
        #expect(!AxisValue.matches(filter: "random", label: "random-chunk", axis: "selection"))
        #expect(!AxisValue.matches(filter: "1", label: "n/a", axis: "epsilon"))
    }

    @Test("a filter that matches nothing is an error naming the axis's values")
    func whereNothing() {
        var request = TableRequest(rows: ["mechanism", "selection"], columns: ["epsilon"])
        request.filters = ["learning_rate": "0.5"]
        #expect(throws: SweepError.filterMatchesNothing(axis: "learning_rate", value: "0.5", known: ["0.001", "0.01"])) {
            try ResultTable(results: sampleResults(), request: request)
        }
    }

    @Test("tuning on a test metric is refused unless forced")
    func tuningOnTest() throws {
        var request = TableRequest(rows: ["mechanism", "selection"], columns: ["epsilon"])
        request.selectBy = "test_perplexity"
        request.over = ["learning_rate"]
        #expect(throws: SweepError.tuningOnTestMetric("test_perplexity")) { try ResultTable(results: sampleResults(), request: request) }
        request.allowTestSelection = true
        _ = try ResultTable(results: sampleResults(), request: request)
    }

    @Test("a tuned cell that chose among fewer settings than planned is marked incomplete")
    func partialTuning() throws {
        // Only lr 0.001 finished for (group, 1, random); the plan has both learning rates.
        let results = sampleResults()
        var partial = results
        partial.rows.removeAll { $0.cell == ["1", "0.01", "group", "random"] }
        var request = TableRequest(rows: ["mechanism", "selection"], columns: ["epsilon"])
        request.selectBy = "validation_perplexity"
        request.over = ["learning_rate"]
        let planned = results.rows.map(\.cell)
        let table = try ResultTable(results: partial, request: request, planned: planned)
        let row = try #require(table.rowKeys.firstIndex(of: ["group", "random"]))
        let column = try #require(table.columnKeys.firstIndex(of: ["1"]))
        let cell = try #require(table.cells[row][column])
        #expect(cell.isIncomplete && cell.settingsFinished == 1 && cell.settingsExpected == 2)
        #expect(table.render(.markdown).contains("[learning_rate=0.001] † (1/2 settings)"))
        #expect(table.render(.markdown).contains("† incomplete"))
        #expect(table.render(.latex).contains("$^\\dagger$"))
    }
}

@Suite("userdp's own provenance and pre-flight on the command line", .serialized,
       .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct ProvenanceCommandLineTests {
    func userdp(_ arguments: [String], in directory: URL) throws -> (status: Int32, text: String) {
        let launched = try launchUserdp(arguments, environment: ["PATH": "/usr/bin:/bin", "HOME": directory.path], in: directory)
        launched.process.waitUntilExit()
        return (launched.process.terminationStatus, launched.text)
    }

    @Test("--version and the default label come from userdp's own tree, not from the caller's repository")
    func versionAndLabel() throws {
        let fixture = try Fixture()
        // A foreign git repository as the working directory.
        let foreign = fixture.directory.appendingPathComponent("foreign")
        try FileManager.default.createDirectory(at: foreign, withIntermediateDirectories: true)
        git(["init", "-q"], in: foreign)
        git(["commit", "-q", "--allow-empty", "-m", "x"], in: foreign)
        let foreignCommit = git(["rev-parse", "--short", "HEAD"], in: foreign) ?? ""

        // userdp's own commit: the tests were built from this tree just now (`swift test` builds
        // first), so the embedded commit is HEAD's. The dirty flag is the tree's when the build
        // last embedded it, so only the commit is compared.
        let ours = git(["rev-parse", "HEAD"], in: packageRoot)
        let ourShort = git(["rev-parse", "--short", "HEAD"], in: packageRoot)
        let version = try userdp(["--version"], in: foreign)
        #expect(version.status == 0 && version.text.hasPrefix("userdp \(UserDPVersion.semantic)"), "\(version.text)")
        if let ours { #expect(version.text.contains(ours), "\(version.text)") }

        let label = try userdp(["sweep", "label"], in: foreign)
        #expect(label.status == 0, "\(label.text)")
        #expect(label.text.hasPrefix("\(UserDPVersion.semantic)-"), "\(label.text)")
        if !foreignCommit.isEmpty { #expect(!label.text.contains(foreignCommit), "\(label.text)") }
        if let ourShort {
            #expect(["\(UserDPVersion.semantic)-\(ourShort)\n", "\(UserDPVersion.semantic)-\(ourShort)-dirty\n"].contains(label.text), "\(label.text)")
        }
        #expect(label.text == UserDPVersion.label + "\n", "the binary and the tests were built with the same embedded state")
    }

    /// The commit is embedded at build time: a copy of the binary far from its source tree (the
    /// old run-time lookup found no `Package.swift` there and said `unknown` / `nogit`) still
    /// names the commit it was built from.
    @Test("a copy of userdp outside its source tree still names the commit it was built from")
    func embeddedProvenance() throws {
        let ours = try #require(git(["rev-parse", "HEAD"], in: packageRoot), "the package is not a git work tree")
        let fixture = try Fixture()
        let copy = fixture.directory.appendingPathComponent("bin/userdp")
        try FileManager.default.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: try #require(userdpExecutable), to: copy)
        let process = Process()
        process.executableURL = copy
        process.arguments = ["--version"]
        process.currentDirectoryURL = fixture.directory
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0 && text.contains("commit \(ours)"), "\(text)")
        #expect(UserDPVersion.gitState?.commit == ours, "the test bundle's own Training module embeds HEAD too")
        #expect(!UserDPVersion.label.hasSuffix("-nogit"))
    }

    @Test("--dry-run prints runs per mechanism and refuses runs on an empty split or with a batch above the population")
    func dryRunPreflight() throws {
        let fixture = try Fixture()
        let root = fixture.directory.appendingPathComponent("world")
        let world = try TinyWorld(in: root)
        let model = world.model
        let dataset = root.appendingPathComponent("three-users")
        let records = (0..<3).map { Record(user: "user\($0)", text: "the king doth speak and the queen replies") }
        try Dataset(manifest: DatasetManifest(name: "three", source: "test", licence: "public domain"), records: records).write(to: dataset)
        let sweepFile = fixture.directory.appendingPathComponent("small.json")
        try #"""
            {"name": "small", "base": {"dataset": "\#(dataset.path)", "model": "\#(model.path)", "batch_size": 50, "context_length": 64},
             "grid": {"mechanism": ["nonprivate", "user"], "epsilon": [1, 8]}}
            """#.write(to: sweepFile, atomically: true, encoding: .utf8)
        let dry = try userdp(["sweep", "run", sweepFile.path, "--dry-run", "--results", fixture.results.path, "--label", "x"], in: fixture.directory)
        #expect(dry.status != 0, "\(dry.text)")
        #expect(dry.text.contains("runs per mechanism: nonprivate 1, user 2"), "\(dry.text)")
        #expect(dry.text.contains("split is empty"), "\(dry.text)")
        #expect(dry.text.contains("batch_size: 50 is more than the"), "\(dry.text)")
        #expect(dry.text.contains("context_length: 64 exceeds the 32 positions"), "\(dry.text)")
        // sweep run refuses before dispatching anything (no run with an empty split
        // "succeeds" with perplexity inf).
        let run = try userdp(["sweep", "run", sweepFile.path, "--results", fixture.results.path, "--label", "x"], in: fixture.directory)
        #expect(run.status != 0 && run.text.contains("pre-flight found problems") && run.text.contains("split is empty"), "\(run.text)")
        #expect(!FileManager.default.fileExists(atPath: fixture.results.appendingPathComponent("small/x/runs").path))
    }
}

@Suite("Diffs a researcher can trust")
struct DiffTrustTests {
    /// The issue's case: 24 cells, 2 seeds, every cell moved down by 0.1 to 1.34 in B.
    func shiftedSides() -> (ResultSet, ResultSet) {
        var rowsA: [ResultRow] = []
        var rowsB: [ResultRow] = []
        for cell in 0..<24 {
            for seed in 0..<2 {
                let base = 30 + Double(cell) + Double(seed) * 0.7
                let shift = 0.1 + 1.24 * Double(cell) / 23
                rowsA.append(ResultRow(runID: "a\(cell)-\(seed)", cell: [String(cell)], seed: seed, metrics: ["test_perplexity": base], text: ["userdp_version": "0.2.0-aaaaaaa", "extra.dataset_hash": "d1"]))
                rowsB.append(ResultRow(runID: "b\(cell)-\(seed)", cell: [String(cell)], seed: seed, metrics: ["test_perplexity": base - shift + (seed == 0 ? 0.05 : -0.05)], text: ["userdp_version": "0.2.0-bbbbbbb", "extra.dataset_hash": "d1"]))
            }
        }
        let columns = ["userdp_version", "extra.dataset_hash"]
        return (
            ResultSet(axes: ["cell"], metrics: ["test_perplexity"], textColumns: columns, rows: rowsA),
            ResultSet(axes: ["cell"], metrics: ["test_perplexity"], textColumns: columns, rows: rowsB)
        )
    }

    @Test("two seeds: a power warning, a sign test across cells, Holm-adjusted flags, and a header naming what differs")
    func trustworthyDiff() throws {
        let (a, b) = shiftedSides()
        var diff = try ResultDiff(a: a, b: b, names: ("A", "B"))
        #expect(diff.cellsDown == 24 && diff.cellsUp == 0)
        #expect(abs(diff.signTestPValue! - 2 / pow(2, 24)) < 1e-15)
        #expect(diff.warnings.count == 1 && diff.warnings[0].contains("needs |t| ≥ 12.71"))
        #expect(diff.rows.allSatisfy { $0.adjustedPValue! >= $0.pValue! })
        let definitionA = try JSONValue(parsing: Data(#"{"base": {"clip_norm": 1}, "grid": {"k": [1]}}"#.utf8))
        let definitionB = try JSONValue(parsing: Data(#"{"base": {"clip_norm": 0.5}, "grid": {"k": [1]}}"#.utf8))
        diff.differences = ResultDiff.describeDifferences(a: a, b: b, definitionA: definitionA, definitionB: definitionB)
        #expect(diff.differences == ["sweep definition differs: base.clip_norm: 1 → 0.5", "userdp version differs: 0.2.0-aaaaaaa → 0.2.0-bbbbbbb"])
        let markdown = diff.render(.markdown)
        #expect(markdown.hasPrefix("Differs: sweep definition differs: base.clip_norm: 1 → 0.5\n"))
        #expect(markdown.contains("Across cells: 0 up, 24 down; two-sided sign test p = <0.001."))
        let latex = diff.render(.latex)
        #expect(latex.hasPrefix("\\begin{tabular}{lrrrrrrrc}\n\\toprule\n") && latex.contains("\\bottomrule") && latex.contains("% Differs: "))
        // Same sides: nothing differs, and the header says so.
        #expect(ResultDiff.describeDifferences(a: a, b: a, definitionA: definitionA, definitionB: definitionA).isEmpty)
    }

    @Test("Holm adjustment and the sign test against hand-computed values")
    func statistics() {
        // Holm 1979 on (0.01, 0.04, 0.03, nil, 0.005): sorted 0.005·4, 0.01·3, 0.03·2, 0.04·1, running max.
        let adjusted = Statistics.holmAdjusted([0.01, 0.04, 0.03, nil, 0.005])
        let expected: [Double?] = [0.03, 0.06, 0.06, nil, 0.02]
        for (x, y) in zip(adjusted, expected) { #expect((x == nil && y == nil) || abs(x! - y!) < 1e-15, "\(adjusted)") }
        // n = 10 with one negative: 2·(C(10,0) + C(10,1)) / 2¹⁰ = 22/1024.
        #expect(abs(Statistics.signTestPValue(positive: 9, negative: 1)! - 22.0 / 1024) < 1e-14)
        #expect(Statistics.signTestPValue(positive: 3, negative: 3) == 1)
        #expect(Statistics.signTestPValue(positive: 0, negative: 0) == nil)
        // Student t quantiles: t_{0.975, 1} = 12.706, t_{0.975, 4} = 2.776.
        #expect(abs(Statistics.criticalT(pairs: 2, alpha: 0.05)! - 12.7062) < 1e-3)
        #expect(abs(Statistics.criticalT(pairs: 5, alpha: 0.05)! - 2.7764) < 1e-3)
    }
}

@Suite("Grids that say what they mean: sub-grids, linked axes")
struct GridUnionTests {
    @Test("a sweep is a union of per-mechanism grids with a linked batch size; no excludes needed")
    func unionWithLinkedAxis() throws {
        let definition = try sweep(
            #"""
            {"base": {"epsilon": 8},
             "grid": [{"mechanism": ["group"], "k": [4], "batch_size": [16]},
                      {"mechanism": ["user"], "k": [1, 4, 16], "batch_size": [{"=": "64 / k"}]}],
             "seeds": [0, 1]}
            """#)
        let plan = try definition.plan()
        #expect(plan.axes == ["batch_size", "k", "mechanism"])
        #expect(plan.runsPerMechanism.map { "\($0.mechanism.rawValue)=\($0.runs)" } == ["group=2", "user=6"])
        let user = plan.runs.filter { $0.config.mechanism == .user && $0.seed == 0 }.map { "\($0.config.k):\($0.config.batchSize)" }
        #expect(Set(user) == ["1:64.0", "4:16.0", "16:4.0"])
        #expect(plan.warnings.isEmpty)
        // Written back as version 2 with the list; a version-1 definition stays version 1.
        #expect(definition.json.value(atKeyPath: "version") == .integer(2))
        #expect(try sweep(definition.json.canonicalText()).plan().runs.map(\.id) == plan.runs.map(\.id))
        #expect(try sweep(#"{"grid": {"k": [1]}}"#).json.value(atKeyPath: "version") == .integer(1))
    }

    @Test("linked values that cannot be computed name the grid key")
    func linkedErrors() {
        #expect(planError(#"{"grid": {"batch_size": [{"=": "64 / kk"}]}}"#) == .invalidValue(
            file: "t.json", keyPath: "grid.batch_size", expected: "a linked value computable at every point (kk has no value at this point)",
            got: #"{"=":"64 / kk"}"#))
        #expect(planError(#"{"grid": {"k": [0, 1], "batch_size": [{"=": "64 / (k - 1)"}]}}"#)?.errorDescription?.contains("division by zero") == true)
        #expect(planError(#"{"grid": {"batch_size": [{"=": "64 / "}]}}"#)?.errorDescription?.contains("grid.batch_size[0]") == true)
        // An include entry may be linked too.
        let included = try? sweep(#"{"grid": {"k": [1]}, "include": [{"k": 8, "batch_size": {"=": "64 / k"}}]}"#).plan()
        #expect(included?.runs.map(\.config.batchSize) == [8, 16])  // k = 8: 64 / 8; k = 1: the base 16
        // Overlapping sub-grids keep a shared point once.
        let plan = try? sweep(#"{"grid": [{"k": [1, 2]}, {"k": [2, 3]}]}"#).plan()
        #expect(plan?.runs.count == 3 && plan?.warnings.count == 1)
    }
}

@Suite("Pre-flight: σ per privacy setting and wall time")
struct PreflightTests {
    let facts = InputFacts(trainUsers: 40, trainRecords: 200, validationUsers: 5, validationRecords: 20, testUsers: 5, testRecords: 20, modelContextLength: 128)

    @Test("σ is calibrated once per distinct privacy setting; a target no σ meets is reported")
    func sigmaPerSetting() throws {
        let plan = try sweep(#"{"base": {"dataset": "d", "batch_size": 8}, "grid": {"mechanism": ["nonprivate", "user"], "epsilon": [1, 8], "learning_rate": [0.001, 0.01]}, "seeds": [0, 1]}"#).plan()
        var calls: [Double] = []
        let settings = SweepPreflight.privacySettings(plan: plan, facts: { _ in .success(facts) }) { config, population in
            calls.append(config.epsilon)
            #expect(population == 40)
            if config.epsilon == 1 { throw SweepError.noResults(path: "no σ meets ε = 1") }
            return 0.5
        }
        #expect(calls.sorted() == [1, 8])
        #expect(settings.map(\.description) == ["user ε=1 δ=1e-05 q=0.2 T=100 pld", "user ε=8 δ=1e-05 q=0.2 T=100 pld"])
        #expect(settings.map(\.runs.count) == [4, 4])
        #expect(settings[1].sigma == .success(0.5))
        if case .failure(let failure) = settings[0].sigma { #expect(failure.message.contains("no σ meets ε = 1")) } else { Issue.record("expected a failure") }
    }

    @Test("pre-flight finds empty splits, batches above the population, contexts beyond the model, group mixture with rdp")
    func problems() throws {
        let plan = try sweep(
            #"{"base": {"dataset": "d", "accountant": "rdp", "context_length": 256}, "grid": {"mechanism": ["group", "user"], "batch_size": [16, 64]}}"#
        ).plan()
        var empty = facts
        empty.testRecords = 0
        empty.testUsers = 0
        let messages = SweepPreflight.check(plan: plan) { _ in .success(empty) }.map(\.message)
        #expect(messages.contains { $0.hasPrefix("accountant: rdp cannot account group's mixture") })
        #expect(messages.contains { $0.hasPrefix("dataset \"d\": the test split is empty") })
        #expect(messages.contains("batch_size: 64 is more than the 40 training users of \"d\" for mechanism user"))
        #expect(!messages.contains { $0.contains("batch_size: 64 is more than the 160") })  // group: 40 users × k 4
        #expect(messages.contains("context_length: 256 exceeds the 128 positions of model \"models/base\""))
    }

    @Test("wall time is estimated from finished runs of the same shape")
    func estimate() throws {
        let fixture = try Fixture()
        let definition = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2], "learning_rate": [0.001, 0.01]}}"#)
        let plan = try definition.plan()
        var options = fixture.options(jobs: 1)
        options.waitForOthers = false
        // Finish only the learning_rate 0.001 runs (fake wall_seconds 0.25 each).
        let partial = SweepPlan(name: plan.name, axes: plan.axes, seeds: plan.seeds, runs: plan.runs.filter { $0.config.learningRate == 0.001 }, warnings: [])
        _ = try Dispatcher(plan: partial, definition: nil, store: fixture.store(plan), options: options).run()
        let estimate = SweepPreflight.estimate(plan: plan, store: fixture.store(plan), jobs: 2)
        #expect(estimate.withoutBasis == 0 && estimate.fromElsewhere == 0)
        #expect(abs(estimate.seconds! - 2 * 0.25 / 2) < 1e-12)
    }

    @Test("a shape this label has not run is timed by its finished runs in other labels; another selection is another shape")
    func estimateFromElsewhere() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#).plan()
        var options = fixture.options(jobs: 1)
        options.waitForOthers = false
        _ = try Dispatcher(plan: plan, definition: nil, store: fixture.store(plan, label: "other"), options: options).run()
        let elsewhere = SweepPreflight.finishedWallSeconds(under: fixture.results)
        #expect(elsewhere.values.map(\.count).sorted() == [1, 1])

        let fresh = fixture.store(plan, label: "fresh")
        #expect(SweepPreflight.estimate(plan: plan, store: fresh, jobs: 2) == WallTimeEstimate(withoutBasis: 2))
        #expect(SweepPreflight.estimate(plan: plan, store: fresh, jobs: 2, elsewhere: elsewhere) == WallTimeEstimate(seconds: 2 * 0.25 / 2, fromElsewhere: 2))
        let longest = try fixture.definition(#"{"base": {"dataset": "ok", "selection": "longest"}, "grid": {"k": [1, 2]}}"#).plan()
        #expect(SweepPreflight.estimate(plan: longest, store: fresh, jobs: 2, elsewhere: elsewhere) == WallTimeEstimate(withoutBasis: 2))
    }
}

@Suite("Tables from a label folder know the plan", .serialized,
       .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct LabelFolderTableTests {
    @Test("an interrupted label: the tuned cell that finished one learning rate of two is marked incomplete")
    func partialLabelFolder() throws {
        let fixture = try Fixture()
        let sweepFile = fixture.directory.appendingPathComponent("tune.json")
        try #"{"name": "tune", "base": {"dataset": "ok"}, "grid": {"k": [1, 2], "learning_rate": [0.001, 0.01]}}"#.write(to: sweepFile, atomically: true, encoding: .utf8)
        let environment = ["PATH": "/usr/bin:/bin", DispatchOptions.trainerVariable: fixture.trainer.path, "FAKE_LEDGER": fixture.ledger.path, "FAKE_SLEEP": "0"]
        let run = try launchUserdp(["sweep", "run", sweepFile.path, "--results", fixture.results.path, "--label", "L", "-j", "1"], environment: environment, in: fixture.directory)
        run.process.waitUntilExit()
        try #require(run.process.terminationStatus == 0, "\(run.text)")
        // Drop the (k=1, lr=0.01) row as if the sweep had been interrupted before it.
        let label = fixture.results.appendingPathComponent("tune/L")
        let csv = label.appendingPathComponent("results.csv")
        let lines = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let kept = lines.filter { !$0.contains(",1,0.01,") }
        #expect(kept.count == lines.count - 1)
        try kept.joined(separator: "\n").write(to: csv, atomically: true, encoding: .utf8)

        let table = try launchUserdp(
            ["sweep", "table", label.path, "--rows", "k", "--cols", "", "--select-best-by", "validation_perplexity", "--over", "learning_rate"],
            environment: [:], in: fixture.directory)
        table.process.waitUntilExit()
        #expect(table.process.terminationStatus == 0, "\(table.text)")
        #expect(table.text.contains("† (1/2 settings)"), "\(table.text)")
        let test = try launchUserdp(
            ["sweep", "table", label.path, "--rows", "k", "--cols", "", "--select-best-by", "test_perplexity", "--over", "learning_rate"],
            environment: [:], in: fixture.directory)
        test.process.waitUntilExit()
        #expect(test.process.terminationStatus != 0 && test.text.contains("--force"), "\(test.text)")
    }
}

@Suite("Tables do not count results that went bad after results.csv")
struct TableCorruptResultTests {
    @Test("a result.json corrupted after results.csv was written is left out of tables")
    func corruptAfterCSV() throws {
        let fixture = try Fixture()
        let definition = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}, "seeds": [0, 1]}"#)
        let plan = try definition.plan()
        var options = fixture.options(jobs: 1)
        options.waitForOthers = false
        _ = try Dispatcher(plan: plan, definition: definition, store: fixture.store(plan), options: options).run()
        let store = fixture.store(plan)
        let set = try store.results()
        try Data("{}".utf8).write(to: store.file(ResultStore.RunFile.result, of: plan.runs[0].id))
        let (kept, dropped) = store.usableRows(of: set, plan: plan)
        #expect(dropped == [plan.runs[0].id])
        #expect(kept.rows.count == set.rows.count - 1)
        // Without the plan (a label folder as SOURCE) the decoding check still applies.
        #expect(store.usableRows(of: set).dropped == [plan.runs[0].id])
    }
}
