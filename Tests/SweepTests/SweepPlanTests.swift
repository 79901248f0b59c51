import Foundation
import Testing
import Training

@testable import Sweep

func sweep(_ text: String, file: String = "t.json") throws(SweepError) -> SweepDefinition {
    try SweepDefinition(data: Data(text.utf8), file: file, defaultName: "t")
}

func planError(_ text: String) -> SweepError? {
    do {
        _ = try sweep(text).plan()
        return nil
    } catch {
        return error
    }
}

@Suite("Sweep expansion")
struct SweepPlanTests {
    @Test("the grid is the product of its axes, times the seeds, in a stable order")
    func product() throws {
        let plan = try sweep(
            #"""
            {"version": 1, "name": "quick", "base": {"steps": 5},
             "grid": {"mechanism": ["user", "group"], "epsilon": [8, 1], "selection": ["random", "random-chunk"]},
             "seeds": [1, 0]}
            """#
        ).plan()
        #expect(plan.name == "quick")
        #expect(plan.axes == ["epsilon", "mechanism", "selection"])
        #expect(plan.runs.count == 2 * 2 * 2 * 2)
        #expect(Set(plan.runs.map(\.id)).count == plan.runs.count)
        // Sorted by axis values (numbers numerically), then seed.
        #expect(plan.runs.prefix(4).map(\.cell) == [["1", "group", "random"], ["1", "group", "random"], ["1", "group", "random-chunk"], ["1", "group", "random-chunk"]])
        #expect(plan.runs.prefix(2).map(\.seed) == [0, 1])
        #expect(plan.runs.last?.cell == ["8", "user", "random-chunk"])
        let first = plan.runs[0].config
        #expect(first.steps == 5 && first.epsilon == 1 && first.mechanism == .group && first.seed == 0)
        #expect(first.selection == .random)
    }

    @Test("exclude removes matching points, also when written in another spelling")
    func exclude() throws {
        let plan = try sweep(
            #"""
            {"grid": {"mechanism": ["user", "group"], "selection": ["random", {"strategy": "perplexity"}]},
             "exclude": [{"mechanism": "group", "selection": "perplexity"}]}
            """#
        ).plan()
        #expect(plan.runs.map(\.cell) == [["group", "random"], ["user", "perplexity(order=lowest)"], ["user", "random"]])
        #expect(plan.warnings.isEmpty)
        // An entry that matches nothing is a mistake, not a note.
        #expect(planError(#"{"grid": {"mechanism": ["user", "group"]}, "exclude": [{"epsilon": 3}]}"#) == .excludeMatchesNothing(file: "t.json", index: 0))
    }

    @Test("exclude can remove points that would be invalid")
    func excludeInvalid() throws {
        let plan = try sweep(
            #"{"grid": {"mechanism": ["nonprivate", "user"], "epsilon": [0, 1]}, "exclude": [{"mechanism": "user", "epsilon": 0}]}"#
        ).plan()
        // nonprivate ignores ε: its two grid points are one run (config version 2).
        #expect(plan.runs.map(\.cell) == [["1", "user"], ["n/a", "nonprivate"]])
    }

    @Test("include adds points; their keys become axes; a repeated grid point is kept once")
    func include() throws {
        let plan = try sweep(
            #"""
            {"base": {"k": 2}, "grid": {"epsilon": [1, 8]},
             "include": [{"mechanism": "nonprivate"}, {"epsilon": 8}], "replicates": 2}
            """#
        ).plan()
        #expect(plan.axes == ["epsilon", "mechanism"])
        #expect(plan.runs.map(\.cell) == [["1", "user"], ["1", "user"], ["8", "user"], ["8", "user"], ["n/a", "nonprivate"], ["n/a", "nonprivate"]])
        #expect(plan.warnings == ["include[1] repeats grid point {epsilon=8, seed=0}; kept once", "include[1] repeats grid point {epsilon=8, seed=1}; kept once"])
        #expect(plan.runs.filter { $0.config.mechanism != .nonprivate }.allSatisfy { $0.config.k == 2 })
    }

    @Test("seeds: a list, replicates counting from the base seed, or the base seed")
    func seeds() throws {
        #expect(try sweep(#"{"seeds": [3, 1]}"#).plan().runs.map(\.seed) == [1, 3])
        #expect(try sweep(#"{"base": {"seed": 5}, "replicates": 3}"#).plan().runs.map(\.seed) == [5, 6, 7])
        #expect(try sweep(#"{"base": {"seed": 4}}"#).plan().runs.map(\.seed) == [4])
        #expect(try sweep(#"{}"#).plan().runs.map(\.config) == [RunConfig()])
    }

    @Test("dotted paths create missing objects and expand shorthands")
    func dottedPaths() throws {
        let plan = try sweep(
            #"{"base": {"lora": null, "selection": "perplexity"}, "grid": {"lora.rank": [2, 4], "selection.order": ["highest"]}}"#
        ).plan()
        #expect(plan.runs.map(\.config.lora) == [RunConfig.LoRA(rank: 2), RunConfig.LoRA(rank: 4)])
        #expect(plan.runs.allSatisfy { $0.config.selection == .perplexity(.highest) })
        #expect(plan.axes == ["lora.rank", "selection.order"])
    }

    @Test("an invalid grid point names the key path and the point")
    func invalidPoint() {
        #expect(
            planError(#"{"grid": {"mechanism": ["user"], "epsilon": [1, 0]}, "seeds": [7]}"#)
                == .invalidRunConfig(
                    file: "t.json", point: "{epsilon=0, mechanism=user, seed=7}",
                    error: .invalidValue(keyPath: "epsilon", expected: #"a positive number for mechanism "user""#, got: "0")))
        #expect(
            planError(#"{"grid": {"lora.rank": [8, "16"]}}"#)
                == .invalidRunConfig(
                    file: "t.json", point: "{lora.rank=16, seed=0}",
                    error: .invalidValue(keyPath: "lora.rank", expected: "a positive integer", got: #""16""#)))
        #expect(
            planError(#"{"grid": {"epsilon": [1]}, "include": [{"selection": "biggest"}]}"#)
                == .invalidRunConfig(
                    file: "t.json", point: "include[0] {selection=biggest, seed=0}",
                    error: .invalidValue(keyPath: "selection", expected: #"one of "random", "longest", "shortest", "perplexity", "random-chunk""#, got: #""biggest""#)))
        let message = planError(#"{"grid": {"epsilon": [0]}}"#)?.errorDescription
        #expect(message == #"t.json: grid point {epsilon=0, seed=0}: epsilon: expected a positive number for mechanism "user", got 0"#)
    }

    @Test("typos in keys fail before expansion, with a suggestion")
    func typos() {
        #expect(planError(#"{"grid": {"epsilonn": [1]}}"#) == .unknownKey(file: "t.json", keyPath: "grid.epsilonn", suggestion: "epsilon"))
        #expect(planError(#"{"base": {"lerning_rate": 1}}"#) == .unknownKey(file: "t.json", keyPath: "base.lerning_rate", suggestion: "learning_rate"))
        #expect(planError(#"{"base": {"lora": {"rnak": 1}}}"#) == .unknownKey(file: "t.json", keyPath: "base.lora.rnak", suggestion: "rank"))
        #expect(planError(#"{"exclude": [{"mechansim": "user"}]}"#) == .unknownKey(file: "t.json", keyPath: "exclude[0].mechansim", suggestion: "mechanism"))
        #expect(planError(#"{"gird": {}}"#) == .unknownKey(file: "t.json", keyPath: "gird", suggestion: "grid"))
        #expect(planError(#"{"grid": {"zzzzzzzz": [1]}}"#) == .unknownKey(file: "t.json", keyPath: "grid.zzzzzzzz", suggestion: nil))
    }

    @Test("sweep-file format errors")
    func formatErrors() {
        #expect(
            planError(#"{"grid": {"seed": [1, 2]}}"#)
                == .invalidValue(file: "t.json", keyPath: "grid.seed", expected: #"a run config key other than seed (use "seeds" or "replicates")"#, got: #""seed""#))
        #expect(planError(#"{"grid": {"k": []}}"#) == .invalidValue(file: "t.json", keyPath: "grid.k", expected: "a non-empty list of values", got: "[]"))
        #expect(planError(#"{"grid": {"k": 4}}"#) == .invalidValue(file: "t.json", keyPath: "grid.k", expected: "a non-empty list of values", got: "4"))
        #expect(planError(#"{"seeds": [1, 1]}"#) == .invalidValue(file: "t.json", keyPath: "seeds[1]", expected: "a non-negative integer, each once", got: "1"))
        #expect(planError(#"{"seeds": [1], "replicates": 2}"#) == .invalidValue(file: "t.json", keyPath: "replicates", expected: #"either "seeds" or "replicates", not both"#, got: "2"))
        #expect(planError(#"{"version": 3}"#) == .unsupportedVersion(file: "t.json", found: 3, highestSupported: 2))
        #expect(planError(#"{"name": "../x"}"#) == .invalidValue(file: "t.json", keyPath: "name", expected: "a name of letters, digits, '.', '_' and '-' (not starting with '.')", got: #""../x""#))
        #expect(planError(#"{"grid": {"k": [1]}, "exclude": [{"k": 1}]}"#) == .emptySweep(file: "t.json"))
    }

    @Test("two spellings of the same run config are one run")
    func duplicates() {
        #expect(
            planError(#"{"grid": {"selection": ["perplexity", {"strategy": "perplexity", "order": "lowest"}]}}"#)
                == .duplicateRun(
                    file: "t.json", id: RunIdentity.id(for: { var c = RunConfig(); c.selection = .perplexity(.lowest); return c }()),
                    first: "{selection=perplexity, seed=0}", second: "{selection=perplexity(order=lowest), seed=0}"))
    }

    @Test("run ids ignore key order and number spelling, and are pinned across versions")
    func idStability() throws {
        let a = try sweep(#"{"base": {"learning_rate": 0.003, "epsilon": 8, "delta": 1e-5}, "grid": {"k": [4]}}"#).plan()
        let b = try sweep(#"{"grid": {"k": [4.0]}, "base": {"delta": 0.00001, "epsilon": 8.0, "learning_rate": 3E-3}}"#).plan()
        #expect(a.runs.map(\.id) == b.runs.map(\.id))
        // Ids pair results across commits: a change here orphans every stored result, so it
        // must be deliberate (bump the config version and say so).
        #expect(RunIdentity.id(for: RunConfig()) == pinnedDefaultID)
        #expect(a.runs[0].id == pinnedDefaultID)
    }

    @Test("axis labels and their order")
    func labels() {
        #expect(AxisValue.label(.object(["strategy": .string("random")]), at: "selection") == "random")
        #expect(AxisValue.label(.object(["strategy": .string("perplexity"), "order": .string("highest")]), at: "selection") == "perplexity(order=highest)")
        #expect(AxisValue.label(.object(["rank": .integer(8), "alpha": .number(16), "targets": .array([.string("c_attn")])]), at: "lora") == "alpha=16,rank=8,targets=[c_attn]")
        #expect(AxisValue.label(.null, at: "lora") == "none")
        #expect(AxisValue.label(nil, at: "epsilon") == "n/a")
        #expect(AxisValue.label(.number(1e-5), at: "delta") == "1e-05")
        #expect(["10", "9", "b", "a", "1e-05", "B"].sorted(by: AxisValue.precedes) == ["1e-05", "9", "10", "B", "a", "b"])
    }
}

/// The run id of the all-defaults config. Changing a default changes it (deliberately).
let pinnedDefaultID = "b47e3bba3d60"  // sha256sum of the canonical text, first 12 hex digits
