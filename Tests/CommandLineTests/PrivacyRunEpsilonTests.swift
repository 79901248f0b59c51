import Foundation
import Persistence
import Testing
import TestSupport
import Training

/// `userdp privacy epsilon --run DIR --delta D`: a finished run's stored event re-accounted.
///
/// The runs are written here the way `userdp train` writes them: the event and its ε come from
/// `userdp privacy epsilon` at σ = 2, q = 0.02, T = 100, δ = 1e-5 (so the stored ε is what the
/// accountant gives for the stored event), the target ε a little above it.
@Suite("userdp privacy epsilon --run", .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct PrivacyRunEpsilonTests {
    static let (q, sigma, steps, delta) = (0.02, 2.0, 100, 1e-5)

    /// ε and the event that `privacy epsilon --json` reports for these parameters.
    static func account(_ extra: [String], in folder: URL) throws -> (epsilon: Double, event: JSONValue) {
        let outcome = try runUserdp(
            ["privacy", "epsilon", "--q", "\(q)", "--sigma", "\(sigma)", "--steps", "\(steps)", "--delta", "\(delta)", "--json"] + extra,
            in: folder, timeout: 120)
        guard outcome.status == 0, case .object(let report) = try JSONValue(parsing: Data(outcome.standardOutput.utf8)),
            case .array(let lines)? = report["results"], case .object(let line)? = lines.first,
            let epsilon = line["epsilon"].flatMap(number), let event = line["event"]
        else { throw CocoaError(.coderReadCorrupt, userInfo: [NSLocalizedDescriptionKey: "\(outcome)"]) }
        return (epsilon, event)
    }

    /// Writes `folder/name/result.json` for `config` with the given event and ε.
    static func writeRun(
        _ name: String, in folder: URL, config: RunConfig, event: JSONValue, epsilon: Double, extra: [String: JSONValue] = [:]
    ) throws -> URL {
        let directory = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let result = RunResult(
            config: config, testPerplexity: 50, validationPerplexity: 51, epsilon: epsilon, delta: delta, noiseMultiplier: sigma,
            samplingRate: q, steps: steps, dpEvent: event, unitsPerStepMean: 10, wallSeconds: 1, tokensPerSecond: 1,
            provenance: Provenance(gitCommit: "unknown", gitDirty: false, gitDiffHash: nil, toolchain: "t", openblasCore: "c", blasThreads: 1, host: "h"),
            extra: extra)
        try result.write(toDirectory: directory)
        return directory
    }

    static func config(_ mechanism: MechanismKind, target: Double, lemma: Bool = false) -> RunConfig {
        var config = RunConfig()
        config.mechanism = mechanism
        config.k = 4
        config.epsilon = target
        config.delta = delta
        config.steps = steps
        if lemma { config.mechanismOptions.group.accounting = .lemma }
        return config
    }

    /// `privacy epsilon --run DIR --delta D --json` → (ε, largest user's ε, the whole report).
    static func reaccount(_ directory: URL, delta: Double, _ extra: [String] = [], in folder: URL) throws -> (Double, Double?, Outcome) {
        let outcome = try runUserdp(["privacy", "epsilon", "--run", directory.path, "--delta", "\(delta)", "--json"] + extra, in: folder, timeout: 120)
        guard outcome.status == 0, case .object(let report) = try JSONValue(parsing: Data(outcome.standardOutput.utf8)),
            let epsilon = report["epsilon"].flatMap(number)
        else { throw CocoaError(.coderReadCorrupt, userInfo: [NSLocalizedDescriptionKey: "\(outcome)"]) }
        // The JSON contract: snake_case keys; `event` is the stored DP event as in result.json.
        let keys: Set<String> = ["accountant", "delta", "epsilon", "event", "guarantee", "level", "mechanism", "recorded_delta",
                                 "recorded_epsilon", "run", "target_epsilon"]
        #expect(Set(report.keys).subtracting(["largest_user"]) == keys, "\(report.keys.sorted())")
        var largest: Double?
        if case .object(let user)? = report["largest_user"] {
            largest = user["epsilon"].flatMap(number)
            #expect(Set(user.keys) == ["records", "epsilon"])
        }
        return (epsilon, largest, outcome)
    }

    @Test("at the run's own delta the answer is the recorded epsilon (never below it, never above the target); a smaller delta gives a larger epsilon; the legacy lemma form reads as the lemma")
    func reaccountsEveryMechanism() throws {
        let folder = try temporaryFolder("epsilon-run")
        defer { try? FileManager.default.removeItem(at: folder) }
        let lemma = try Self.account(["--group-size", "4", "--accountant", "group-lemma"], in: folder)
        let mixture = try Self.account(["--group-size", "4", "--accountant", "pld"], in: folder)
        let record = try Self.account(["--accountant", "pld"], in: folder)
        let largest = try Self.account(["--group-size", "6", "--accountant", "group-lemma"], in: folder)
        #expect(lemma.epsilon > mixture.epsilon && mixture.epsilon > record.epsilon, "lemma \(lemma.epsilon), mixture \(mixture.epsilon), record \(record.epsilon)")

        let runs: [(name: String, directory: URL, recorded: Double, target: Double)] = [
            ("lemma", try Self.writeRun("lemma", in: folder, config: Self.config(.group, target: lemma.epsilon * 1.001, lemma: true),
                                        event: lemma.event, epsilon: lemma.epsilon), lemma.epsilon, lemma.epsilon * 1.001),
            // As userdp 0.2.0 wrote lemma runs: the record-level event and the group size beside it.
            ("legacy lemma", try Self.writeRun("legacy", in: folder, config: Self.config(.group, target: lemma.epsilon * 1.001, lemma: true),
                                               event: record.event, epsilon: lemma.epsilon,
                                               extra: ["dp_event_unit": .string("record"), "dp_event_group_size": .integer(4)]), lemma.epsilon, lemma.epsilon * 1.001),
            ("mixture", try Self.writeRun("mixture", in: folder, config: Self.config(.group, target: mixture.epsilon * 1.001),
                                          event: mixture.event, epsilon: mixture.epsilon), mixture.epsilon, mixture.epsilon * 1.001),
            ("user", try Self.writeRun("user", in: folder, config: Self.config(.user, target: record.epsilon * 1.001),
                                       event: record.event, epsilon: record.epsilon), record.epsilon, record.epsilon * 1.001),
            ("record", try Self.writeRun("record", in: folder, config: Self.config(.record, target: record.epsilon * 1.001),
                                         event: record.event, epsilon: largest.epsilon,
                                         extra: ["record_epsilon": .number(record.epsilon), "largest_user_records": .integer(6)]), record.epsilon, record.epsilon * 1.001),
        ]
        var atOwnDelta: [String: Double] = [:]
        for run in runs {
            let (epsilon, largestUser, outcome) = try Self.reaccount(run.directory, delta: Self.delta, in: folder)
            // Same event, same accountant: the recorded number (1e-9 allows for nothing but the
            // text round trip of the JSON), and never above the run's target.
            #expect(epsilon >= run.recorded * (1 - 1e-9) && epsilon <= run.target, "\(run.name): \(epsilon), recorded \(run.recorded): \(outcome)")
            let (smaller, largestSmaller, _) = try Self.reaccount(run.directory, delta: 1e-7, in: folder)
            #expect(smaller > epsilon, "\(run.name): ε at δ 1e-7 \(smaller) is not above ε at 1e-5 \(epsilon)")
            if run.name == "record" {
                #expect(abs((largestUser ?? .nan) - largest.epsilon) <= 1e-9 * largest.epsilon, "largest user \(String(describing: largestUser))")
                #expect((largestSmaller ?? 0) > (largestUser ?? .infinity))
            } else {
                #expect(largestUser == nil)
            }
            atOwnDelta[run.name] = epsilon
        }
        #expect(atOwnDelta["legacy lemma"] == atOwnDelta["lemma"], "the legacy form is the lemma")

        // The text form says what the event is and at which delta.
        let text = try runUserdp(["privacy", "epsilon", "--run", runs[1].directory.path, "--delta", "1e-6"], in: folder, timeout: 120)
        #expect(text.status == 0 && text.standardOutput.contains("converted to groups of 4 by the group-privacy lemma")
            && text.standardOutput.contains("user-level epsilon = ") && text.standardOutput.contains("at delta = 1e-06"), "\(text)")

        // RDP re-accounts the lemma (looser than PLD), but not the tight mixture: said so, naming the file.
        let (rdpLemma, _, _) = try Self.reaccount(runs[0].directory, delta: Self.delta, ["--accountant", "rdp"], in: folder)
        #expect(rdpLemma >= atOwnDelta["lemma"]!)
        let rdpMixture = try runUserdp(["privacy", "epsilon", "--run", runs[2].directory.path, "--delta", "1e-5", "--accountant", "rdp"], in: folder, timeout: 60)
        #expect(rdpMixture.status != 0 && rdpMixture.isCleanOutcome, "\(rdpMixture)")
        #expect(rdpMixture.standardError.contains(runs[2].directory.appendingPathComponent("result.json").path)
            && rdpMixture.standardError.contains("cannot be re-accounted with RDP"), "\(rdpMixture)")
    }

    @Test("Asi & Liu's failure probability: finite where delta can absorb it, a clear 'no finite epsilon' where it cannot")
    func failureProbability() throws {
        let folder = try temporaryFolder("epsilon-run-asi")
        defer { try? FileManager.default.removeItem(at: folder) }
        // T = 100 steps, each with failure probability 1e-9: 1e-7 in total, so δ ≤ 2e-7 is out of reach.
        let step: JSONValue = .object([
            "kind": .string("withFailureProbability"), "probability": .number(1e-9),
            "event": .object(["kind": .string("poissonSampled"), "sampling_probability": .number(Self.q),
                              "event": .object(["kind": .string("gaussian"), "sigma": .number(Self.sigma)])]),
        ])
        let event: JSONValue = .object(["kind": .string("selfComposed"), "count": .integer(Self.steps), "event": step])
        let run = try Self.writeRun("asi", in: folder, config: Self.config(.asiLiu, target: 8), event: event, epsilon: 1)
        let (finite, _, _) = try Self.reaccount(run, delta: 1e-5, in: folder)
        #expect(finite.isFinite && finite > 0)
        let outcome = try runUserdp(["privacy", "epsilon", "--run", run.path, "--delta", "1e-7"], in: folder, timeout: 60)
        #expect(outcome.status == 0 && outcome.standardOutput.contains("epsilon = inf at delta = 1e-07")
            && outcome.standardOutput.contains("failure probability"), "\(outcome)")
    }

    @Test("errors name the file: no result.json, an unreadable event, a nonprivate run, flags that contradict --run")
    func errors() throws {
        let folder = try temporaryFolder("epsilon-run-errors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let empty = folder.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let missing = try runUserdp(["privacy", "epsilon", "--run", empty.path, "--delta", "1e-5"], in: folder)
        #expect(missing.status != 0 && missing.isCleanOutcome && missing.standardError.contains(empty.appendingPathComponent("result.json").path)
            && missing.standardError.contains("no such file"), "\(missing)")

        let laplace = try Self.writeRun("laplace", in: folder, config: Self.config(.user, target: 1),
                                        event: .object(["kind": .string("laplace"), "scale": .number(1)]), epsilon: 1)
        let unreadable = try runUserdp(["privacy", "epsilon", "--run", laplace.path, "--delta", "1e-5"], in: folder)
        #expect(unreadable.status != 0 && unreadable.isCleanOutcome, "\(unreadable)")
        #expect(unreadable.standardError.contains(laplace.appendingPathComponent("result.json").path + ": dp_event: not a DP event")
            && unreadable.standardError.contains("laplace"), "\(unreadable)")

        try Data("{\"config\": 3}".utf8).write(to: empty.appendingPathComponent("result.json"))
        let corrupt = try runUserdp(["privacy", "epsilon", "--run", empty.path, "--delta", "1e-5"], in: folder)
        #expect(corrupt.status != 0 && corrupt.isCleanOutcome && corrupt.standardError.contains("not a readable result"), "\(corrupt)")

        let nonprivate = try Self.writeRun("nonprivate", in: folder, config: Self.config(.nonprivate, target: 1), event: .null, epsilon: .infinity)
        let open = try runUserdp(["privacy", "epsilon", "--run", nonprivate.path, "--delta", "1e-5"], in: folder)
        #expect(open.status == 0 && open.standardOutput.contains("epsilon = inf at every delta: the run is not private"), "\(open)")

        for extra in [["--q", "0.1"], ["--sigma", "1"], ["--group-size", "2"], ["--accountant", "group-lemma"]] {
            let outcome = try runUserdp(["privacy", "epsilon", "--run", nonprivate.path, "--delta", "1e-5"] + extra, in: folder)
            #expect(outcome.status == 64 && outcome.standardError.hasPrefix("Error: "), "\(extra): \(outcome)")
        }
        let neither = try runUserdp(["privacy", "epsilon", "--delta", "1e-5"], in: folder)
        #expect(neither.status == 64 && neither.standardError.contains("--run"), "\(neither)")
    }
}

/// A JSON number as a Double; "inf" strings (how userdp writes ∞) as infinity.
private func number(_ value: JSONValue) -> Double? {
    switch value.normalized {
    case .integer(let i): return Double(i)
    case .number(let d): return d
    case .string("inf"): return .infinity
    default: return nil
    }
}
