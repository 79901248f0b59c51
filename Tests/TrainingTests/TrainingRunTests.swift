import Foundation
import LanguageModel
import LinearAlgebra
import Privacy
import Randomness
import Testing
import TestSupport
import UserData
@testable import Training

/// The runs of these tests, on a world of 30 users.
extension TrainingWorld {
    /// A run of `mechanism` on the world: ε 4, `batch` units per step, `steps` steps,
    /// validation every 2 steps.
    fileprivate func config(_ mechanism: MechanismKind, batch: Double = 6, steps: Int = 4) -> RunConfig {
        var config = tiny.config(mechanism: mechanism, steps: steps)
        config.epsilon = 4
        config.batchSize = batch
        config.evalEvery = 2
        return config
    }
}

@Test(arguments: [MechanismKind.nonprivate, .record, .group, .user])
func trainWritesResultCurveAndLog(mechanism: MechanismKind) throws {
    let world = try TrainingWorld(users: 30, label: "train")
    defer { try? FileManager.default.removeItem(at: world.root) }
    let out = world.root.appendingPathComponent("run")
    let outcome = try world.train(world.config(mechanism), "run")
    let result = try RunResult(contentsOf: out.appendingPathComponent("result.json"))
    #expect(result.testPerplexity == outcome.result.testPerplexity && result.epsilon == outcome.result.epsilon)
    #expect(result.config == world.config(mechanism) && result.steps == 4)
    #expect(result.testPerplexity.isFinite && result.testPerplexity > 1)
    let curve = try String(contentsOf: out.appendingPathComponent("curve.csv"), encoding: .utf8)
    #expect(curve.split(separator: "\n").count == 1 + 4)
    #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("log").path))
    // The extra fields are those every run writes and those the mechanism declares.
    #expect(Set(result.extra.keys) == RunResult.commonExtraKeys.union(mechanism.definition.resultKeys))
    switch mechanism {
    case .nonprivate:
        #expect(result.epsilon == .infinity && result.noiseMultiplier == 0)
    case .record:
        // The target is record-level; the user-level bound for the largest user is larger.
        guard case .number(let recordEpsilon)? = result.extra["record_epsilon"] else { Issue.record("no record_epsilon"); return }
        #expect(recordEpsilon <= 4 && result.epsilon > recordEpsilon)
    default:
        #expect(result.epsilon <= 4 && result.epsilon > 3.9, "ε spent \(result.epsilon)")
        #expect(result.noiseMultiplier > 0)
    }
}

/// A stored event describes the guarantee the result claims: re-accounting `dp_event` as it is
/// stored (no extras, no config) gives the result's user-level ε, for Group Privacy under the
/// lemma as under tight accounting; for `record` it gives the record-level ε, and the largest
/// user's lemma event gives the user-level one.
@Test(arguments: [("group", "lemma"), ("group", "mixture"), ("user", ""), ("record", "")])
func reaccountingTheStoredEventGivesTheResultsEpsilon(mechanism: String, accounting: String) throws {
    let world = try TrainingWorld(users: 30, label: "train")
    defer { try? FileManager.default.removeItem(at: world.root) }
    var config = world.config(MechanismKind(rawValue: mechanism)!)
    if accounting == "lemma" { config.mechanismOptions.group.accounting = .lemma }
    _ = try world.train(config, "run")
    let result = try RunResult(contentsOf: world.root.appendingPathComponent("run/result.json"))
    let stored = try JSONDecoder().decode(DPEvent.self, from: JSONEncoder().encode(result.dpEvent))
    #expect(try result.privacyEvent() == stored, "today's results need no legacy reading")
    let epsilon = try PLDAccountant().epsilon(for: stored, delta: result.delta)
    if mechanism == "record" {
        guard case .number(let recordEpsilon)? = result.extra["record_epsilon"] else { Issue.record("no record_epsilon"); return }
        #expect(epsilon == recordEpsilon)
        let largest = try #require(try result.largestUserEvent())
        guard case .groupPrivacy(let inner, let k, .lemma) = largest else { Issue.record("largest user's event \(largest)"); return }
        #expect(inner == stored && result.extra["largest_user_records"] == .integer(k) && k > 1)
        #expect(try PLDAccountant().epsilon(for: largest, delta: result.delta) == result.epsilon)
    } else {
        #expect(epsilon == result.epsilon, "re-accounted \(epsilon), result says \(result.epsilon)")
        #expect(try result.largestUserEvent() == nil)
    }
    if accounting == "lemma" {
        guard case .groupPrivacy(_, 2, .lemma) = stored else { Issue.record("the lemma run stored \(stored)"); return }
        #expect(result.extra["dp_event_unit"] == nil && result.extra["dp_event_group_size"] == nil, "no legacy markers")
        // RDP re-accounts the same event at user level too (the lemma over RDP is looser).
        #expect(try RDPAccountant().epsilon(for: stored, delta: result.delta) >= epsilon)
    }
}

@Test func sameConfigAndSeedGiveTheSameResult() throws {
    let world = try TrainingWorld(users: 30, label: "train")
    defer { try? FileManager.default.removeItem(at: world.root) }
    let a = try world.train(world.config(.user), "a").result
    let b = try world.train(world.config(.user), "b").result
    #expect(a.testPerplexity == b.testPerplexity && a.validationPerplexity == b.validationPerplexity)
    var other = world.config(.user)
    other.seed = 1
    let c = try world.train(other, "c").result
    #expect(c.testPerplexity != a.testPerplexity)
}

@Test func aFailedRunLeavesNoResult() throws {
    let world = try TrainingWorld(users: 30, label: "train")
    defer { try? FileManager.default.removeItem(at: world.root) }
    let out = world.root.appendingPathComponent("run")
    _ = try world.train(world.config(.user), "run")
    // The training split has 24 users; asking for 500 per step is refused before training, and
    // the earlier result.json in the same folder is gone.
    #expect(throws: TrainingError.batchLargerThanPopulation(batchSize: 500, units: 24, unitName: "users")) {
        try world.train(world.config(.user, batch: 500), "run")
    }
    #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
    let log = try String(contentsOf: out.appendingPathComponent("log"), encoding: .utf8)
    #expect(log.contains("failed: batch_size"))
}

/// `eval_every` 0 evaluates once, after the last step; n > 0 every n steps and after the last.
@Test func validationRunsOnlyAtEvaluationSteps() throws {
    let world = try TrainingWorld(users: 30, label: "train")
    defer { try? FileManager.default.removeItem(at: world.root) }
    for (every, expected) in [(0, [4]), (3, [3, 4])] {
        var config = world.config(.nonprivate)
        config.evalEvery = every
        let curve = try world.train(config, "every\(every)").curve
        #expect(curve.filter { $0.validationPerplexity != nil }.map(\.step) == expected, "eval_every \(every)")
    }
}

/// Three users leave the validation and test splits empty; perplexity would
/// be ∞ and look like a result.
@Test func anEmptyValidationOrTestSplitIsAnError() throws {
    let root = try temporaryFolder("train-three-users")
    defer { try? FileManager.default.removeItem(at: root) }
    let world = try TinyWorld(in: root, users: 3, seed: 9, stream: "world")
    let (model, dataset) = (world.model, world.dataset)
    var config = RunConfig()
    config.dataset = dataset.path
    config.model = model.path
    config.mechanism = .nonprivate
    config.batchSize = 1
    config.steps = 1
    config.contextLength = 16
    do {
        _ = try TrainingRun.execute(config: config, directory: root.appendingPathComponent("run"), workers: defaultWorkerCount, cacheDirectory: root.appendingPathComponent("cache"))
        Issue.record("a run on a dataset without validation or test users succeeded")
    } catch let error as TrainingError {
        guard case .emptySplit(let part, let path, let users, _) = error else {
            Issue.record("unexpected error \(error)")
            return
        }
        #expect(["validation", "test"].contains(part) && path == dataset.path && users == 3)
        #expect(error.errorDescription?.contains("split is empty") == true)
    }
    #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("run/result.json").path))
}

/// Every count is bounded where it is read (docs/CONFIG.md, limits): a LoRA rank far above the model's width is
/// refused at once, not by an allocation of rank × width floats after calibration.
@Test func hugeLoRARankFailsBeforeTraining() throws {
    let world = try TrainingWorld(users: 30, label: "train")
    defer { try? FileManager.default.removeItem(at: world.root) }
    var config = world.config(.user)
    config.lora = RunConfig.LoRA(rank: 1_000_000_000, alpha: 4, targets: [.attentionQKV])
    #expect(throws: ModelError.invalidLoRA(reason: "rank 1000000000 exceeds the model's width n_embd = 16; use a rank in 1...16")) {
        try world.train(config, "run")
    }
    // A stale temporary file of a killed writer in the run folder is gone after the attempt.
    let run = world.root.appendingPathComponent("run")
    let stale = run.appendingPathComponent(".curve.csv.tmp-4206649-\(UUID().uuidString)")
    try Data("partial".utf8).write(to: stale)
    _ = try? world.train(config, "run")
    #expect(!FileManager.default.fileExists(atPath: stale.path))
}
