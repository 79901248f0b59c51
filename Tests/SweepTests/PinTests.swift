import Foundation
import Testing
import TestSupport
import Persistence
import Privacy
import Training

@testable import Sweep

/// Pinned labels: results from other code never mix into a label (docs/SWEEPS.md, "Pinned
/// labels"). The fake trainer of `Fixture` records commit `abc`, a clean tree and kernel `none`.
@Suite("Pinned labels", .serialized)
struct PinTests {
    func pin(_ commits: String..., in store: ResultStore) throws {
        try LabelPin(commits: commits.map { LabelPin.Commit(commit: $0, joined: "2026-12-07T00:00:00Z", reproduced: [], openblasCore: "none") })
            .write(labelFolder: store.root)
    }

    /// Rewrites a stored result through `change`.
    func edit(_ store: ResultStore, _ id: String, _ change: (inout RunResult) -> Void) throws {
        var result = try #require(store.result(id))
        change(&result)
        try FileManager.default.removeItem(at: store.file(ResultStore.RunFile.result, of: id))
        try result.write(toDirectory: store.runDirectory(id))
    }

    @Test("a pinned label counts only results of its commits from a clean tree; tables leave the others out")
    func acceptsOnlyPinnedCommits() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#).plan()
        let store = fixture.store(plan)
        _ = try Dispatcher(plan: plan, definition: nil, store: store, options: fixture.options()).run()
        let set = try store.results()
        #expect(plan.runs.allSatisfy { store.unusableReason($0) == nil })

        try pin("abc", in: store)
        #expect(plan.runs.allSatisfy { store.unusableReason($0) == nil })
        #expect(SweepStatus(plan: plan, store: store).done.count == 2)

        try edit(store, plan.runs[0].id) { $0.provenance.gitDirty = true }
        let dirty = try #require(store.unusable(plan.runs[0]))
        #expect(dirty.kind == "unpinned")
        #expect(dirty.reason == "result.json was produced by commit abc with a modified tree, but the label is pinned to abc")

        try pin("0123456789abcdef", "fedcba9876543210", in: store)
        #expect(store.unusableReason(plan.runs[1]) == "result.json was produced by commit abc, but the label is pinned to 0123456, fedcba9")
        let status = SweepStatus(plan: plan, store: store)
        #expect(status.done.isEmpty && Set(status.unreadable) == Set(plan.runs.map(\.id)))
        #expect(status.render().contains("label pinned to 0123456, fedcba9 (pin.json)"))
        #expect(status.render().contains("from code the label's pin does not accept"))
        let (kept, dropped) = store.usableRows(of: set, plan: plan)
        #expect(kept.rows.isEmpty && Set(dropped) == Set(plan.runs.map(\.id)))
    }

    @Test("sweep run refuses to add results to a label pinned to other code, and starts nothing")
    func refusesUnpinnedBuild() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}}"#).plan()
        let store = fixture.store(plan)
        try FileManager.default.createDirectory(at: store.root, withIntermediateDirectories: true)
        try pin("0123456789abcdef", in: store)
        #expect(throws: SweepError.labelPinned(path: store.root.appendingPathComponent("pin.json").path, pinned: "0123456", this: LabelPin.thisBuild)) {
            try Dispatcher(plan: plan, definition: nil, store: store, options: fixture.options()).run()
        }
        #expect(fixture.ledgerIDs().isEmpty)
    }

    @Test("an unreadable or newer pin stops everything instead of being ignored")
    func unreadablePin() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}}"#).plan()
        let store = fixture.store(plan)
        _ = try Dispatcher(plan: plan, definition: nil, store: store, options: fixture.options()).run()
        let url = store.root.appendingPathComponent("pin.json")
        try Data(#"{"version": 9, "commits": [{"commit": "abc", "joined": "", "reproduced": [], "openblas_core": "none"}]}"#.utf8).write(to: url)
        #expect(throws: SweepError.unsupportedVersion(file: url.path, found: 9, highestSupported: 1)) { try store.pin() }
        #expect(store.unusableReason(plan.runs[0])?.hasPrefix("the label's pin cannot be read") == true)
        try Data("{".utf8).write(to: url)
        #expect(store.unusableReason(plan.runs[0])?.hasPrefix("the label's pin cannot be read") == true)
    }

    @Test("checks pick stored runs of each commit on this kernel, one per mechanism first")
    func choosesChecks() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"mechanism": ["user", "group"], "k": [1, 2]}}"#).plan()
        let store = fixture.store(plan)
        _ = try Dispatcher(plan: plan, definition: nil, store: store, options: fixture.options()).run()
        let (checks, unverifiable) = PinVerification.checks(plan: plan, store: store, commits: ["abc", "def"], kernel: "none", perCommit: 2)
        #expect(checks.count == 2 && Set(checks.map(\.run.config.mechanism)) == [.user, .group])
        // Then other cells before other seeds of a chosen cell.
        let seeded = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}, "seeds": [0, 1]}"#).plan()
        let seededStore = fixture.store(seeded, label: "S")
        _ = try Dispatcher(plan: seeded, definition: nil, store: seededStore, options: fixture.options()).run()
        let spread = PinVerification.checks(plan: seeded, store: seededStore, commits: ["abc"], kernel: "none", perCommit: 2).checks
        #expect(Set(spread.map(\.run.cell)).count == 2)
        #expect(checks.allSatisfy { $0.commit == "abc" && $0.label.hasSuffix("@abc") })
        #expect(unverifiable == ["def": "the label holds no result of it from a clean tree"])
        let three = PinVerification.checks(plan: plan, store: store, commits: ["abc"], kernel: "none", perCommit: 3).checks
        #expect(three.count == 3 && Set(three.map(\.run.id)).count == 3)
        let otherKernel = PinVerification.checks(plan: plan, store: store, commits: ["abc"], kernel: "Zen", perCommit: 2)
        #expect(otherKernel.checks.isEmpty)
        #expect(otherKernel.unverifiable == ["abc": "its stored results ran on OpenBLAS kernel none, this machine's is Zen"])
    }

    @Test("a rerun through the real dispatcher reproduces stored results; a changed digit is named")
    func rerunAndCompare() throws {
        let fixture = try Fixture()
        let plan = try fixture.definition(#"{"base": {"dataset": "ok"}, "grid": {"k": [1, 2]}}"#).plan()
        let store = fixture.store(plan)
        _ = try Dispatcher(plan: plan, definition: nil, store: store, options: fixture.options()).run()
        let checks = PinVerification.checks(plan: plan, store: store, commits: ["abc"], kernel: "none", perCommit: 2).checks
        let scratch = fixture.directory.appendingPathComponent("scratch")
        let fresh = try PinVerification.rerun(checks, plan: plan, scratch: scratch, options: fixture.options(sleep: 0.01))
        #expect(Set(fresh.keys) == Set(plan.runs.map(\.id)))
        // Rerun into the scratch folder only: the label's files are untouched.
        #expect(fixture.ledgerIDs().count == 4)
        for check in checks {
            #expect(PinVerification.differences(stored: try #require(store.result(check.run.id)), fresh: try #require(fresh[check.run.id])).isEmpty)
        }
        let id = plan.runs[0].id
        try edit(store, id) {
            $0.testPerplexity = $0.testPerplexity.nextUp
            $0.extra["halted"] = .number(1)
            $0.extra["train_seconds"] = .number(99)
        }
        let stored = try #require(store.result(id))
        #expect(PinVerification.differences(stored: stored, fresh: try #require(fresh[id])) == [
            "test_perplexity \(stored.testPerplexity) → 11.0", "extra.halted 1.0 → 0.0",
        ])
    }

    /// A `group` lemma result, k = `groupSize`, in the legacy stored form or today's.
    func lemmaResult(legacy: Bool, groupSize: Int = 4) throws -> RunResult {
        var config = RunConfig()
        config.mechanism = .group
        config.mechanismOptions.group.accounting = .lemma
        config.k = 4
        let record = try DPEvent.poissonSubsampledGaussian(q: 0.0146, sigma: 2.5, steps: 100)
        let event = legacy ? record : try DPEvent.groupPrivacyLemma(groupSize: groupSize, of: record)
        let extra: [String: JSONValue] = legacy ? ["dp_event_unit": .string("record"), "dp_event_group_size": .integer(groupSize)] : [:]
        return RunResult(
            config: config, testPerplexity: 95, validationPerplexity: 97, epsilon: 1, delta: 1e-5, noiseMultiplier: 2.5,
            samplingRate: 0.0146, steps: 100, dpEvent: try JSONValue(parsing: JSONEncoder().encode(event)), unitsPerStepMean: 64,
            wallSeconds: 1, tokensPerSecond: 1,
            provenance: Provenance(gitCommit: "abc", gitDirty: false, gitDiffHash: nil, toolchain: "t", openblasCore: "none", blasThreads: 1, host: "h"),
            extra: extra)
    }

    @Test("a lemma result stored in the legacy form matches today's lemma event; another group size does not")
    func legacyLemmaEventMatches() throws {
        let today = try lemmaResult(legacy: false)
        #expect(PinVerification.differences(stored: try lemmaResult(legacy: true), fresh: today).isEmpty)
        #expect(PinVerification.differences(stored: try lemmaResult(legacy: true, groupSize: 8), fresh: today) == ["dp_event differs"])
        #expect(PinVerification.differences(stored: try lemmaResult(legacy: false, groupSize: 8), fresh: today) == ["dp_event differs"])
    }

    /// `value` with the event keys respelled as earlier versions wrote them (camelCase).
    func camelCase(_ value: JSONValue) -> JSONValue {
        let earlier = ["sampling_probability": "samplingProbability", "group_size": "groupSize"]
        switch value {
        case .object(let entries):
            return .object(Dictionary(uniqueKeysWithValues: entries.map { (earlier[$0.key] ?? $0.key, camelCase($0.value)) }))
        case .array(let items): return .array(items.map(camelCase))
        default: return value
        }
    }

    @Test("a result whose event has the camelCase keys of earlier versions matches today's snake_case event")
    func camelCaseEventMatches() throws {
        let today = try lemmaResult(legacy: false)
        for legacy in [false, true] {
            var earlier = try lemmaResult(legacy: legacy)
            earlier.dpEvent = camelCase(earlier.dpEvent)
            #expect(earlier.dpEvent.canonicalText().contains("\"samplingProbability\""))
            #expect(!earlier.dpEvent.canonicalText().contains("_"), "\(earlier.dpEvent.canonicalText())")
            #expect(PinVerification.differences(stored: earlier, fresh: today).isEmpty, "legacy lemma form: \(legacy)")
        }
        var otherSize = try lemmaResult(legacy: false, groupSize: 8)
        otherSize.dpEvent = camelCase(otherSize.dpEvent)
        #expect(PinVerification.differences(stored: otherSize, fresh: today) == ["dp_event differs"])
    }
}
