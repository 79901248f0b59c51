import Foundation
import Persistence
import Privacy
import Testing
@testable import Training

/// The mechanisms as types: the registration, what each declares it reads against what the
/// canonical form keeps, and each calibration's stored event against its reported ε.
@Suite("Mechanism")
struct MechanismTests {
    @Test("the registration names every mechanism once, in the config's order")
    func registration() {
        #expect(MechanismKind.allCases.map(\.rawValue) == ["nonprivate", "record", "group", "user", "asi-liu"])
        for kind in MechanismKind.allCases {
            #expect(MechanismKind(rawValue: kind.rawValue) == kind)
            #expect(kind.definition.kind == kind, "\(kind) is registered under another name")
        }
        #expect(MechanismKind(rawValue: "users") == nil)
        #expect(MechanismKind.allCases.filter(\.isPrivate) == [.record, .group, .user, .asiLiu])
    }

    /// A value other than the default for every top-level key but `version` and `mechanism`.
    static let otherValues: [String: JSONValue] = [
        "dataset": .string("other"), "model": .string("models/other"), "epsilon": .number(2), "delta": .number(1e-6),
        "k": .integer(2), "selection": .string("longest"), "clip_norm": .number(0.5), "batch_size": .number(8),
        "steps": .integer(7), "learning_rate": .number(0.01), "optimizer": .string("sgd"), "lora": .null,
        "context_length": .integer(64), "eval_every": .integer(3), "seed": .integer(5), "accountant": .string("rdp"),
        "split_seed": .integer(2),
    ]

    /// Each mechanism's declared keys are exactly what its canonical form keeps: setting a key
    /// it reads changes the canonical text (so the run id), setting any other key does not.
    @Test("declared read keys are the keys canonicalization keeps", arguments: MechanismKind.allCases)
    func readKeysMatchTheCanonicalForm(kind: MechanismKind) throws {
        let mechanism = kind.definition
        #expect(Set(Self.otherValues.keys).union(["version", "mechanism", "mechanism_options"]) == Set(RunConfig.knownKeys), "a key without a test value")
        #expect(mechanism.readKeys.isDisjoint(with: RunConfig.keysEveryMechanismReads))
        #expect(mechanism.readKeys.isSubset(of: Set(RunConfig.knownKeys)))
        let base = try RunConfig(json: .object(["mechanism": .string(kind.rawValue)]))
        for (key, value) in Self.otherValues {
            let changed = try RunConfig(json: .object(["mechanism": .string(kind.rawValue), key: value]))
            let reads = RunConfig.keysEveryMechanismReads.contains(key) || mechanism.readKeys.contains(key)
            #expect((changed.canonicalText != base.canonicalText) == reads, "\(kind) \(reads ? "reads" : "ignores") \(key)")
            #expect(kind.reads(keyPath: key) == reads)
        }
        guard case .object(let canonical) = base.json, case .object(let options)? = canonical["mechanism_options"] else {
            Issue.record("no mechanism_options object in \(base.canonicalText)")
            return
        }
        #expect(Set(canonical.keys) == RunConfig.keysEveryMechanismReads.union(mechanism.readKeys))
        #expect(Set(options.keys) == Set([mechanism.optionsKey].compactMap { $0 }))
        for (optionsKey, value) in [("group", #"{"accounting": "lemma"}"#), ("asi_liu", #"{"tau": 2}"#)] {
            let changed = try RunConfig(
                json: .object(["mechanism": .string(kind.rawValue), "mechanism_options": .object([optionsKey: try JSONValue(parsing: Data(value.utf8))])]))
            #expect((changed.canonicalText != base.canonicalText) == (mechanism.optionsKey == optionsKey), "\(kind) and mechanism_options.\(optionsKey)")
            #expect(kind.reads(keyPath: "mechanism_options.\(optionsKey)") == (mechanism.optionsKey == optionsKey))
        }
    }

    /// Each private mechanism's stored event, re-accounted by the run's accountant at its δ,
    /// gives exactly the ε its calibration reports, at most the target; its `extra` fields are
    /// among those it declares. For `record` the user-level ε is the largest user's under the
    /// lemma.
    @Test(
        "each mechanism's event re-accounts to its calibrated ε",
        arguments: [("record", "mixture"), ("group", "mixture"), ("group", "lemma"), ("user", "mixture"), ("asi-liu", "mixture")])
    func eventReaccountsToCalibratedEpsilon(name: String, accounting: String) throws {
        var config = RunConfig()
        config.mechanism = try #require(MechanismKind(rawValue: name))
        config.epsilon = 8
        config.steps = 3
        config.batchSize = 200
        config.mechanismOptions.group.accounting = accounting == "lemma" ? .lemma : .mixture
        let plan = TrainingPlan(population: .sequences(Array(repeating: [], count: 1000)), samplingRate: 0.2, largestUserRecords: 3)
        let mechanism = config.mechanism.definition
        let privacy = try mechanism.privacyPlan(config: config, plan: plan, calibrationDirectory: TrainingWorld.calibrations)
        let event = try JSONDecoder().decode(DPEvent.self, from: Data(privacy.eventJSON.canonicalText().utf8))
        let accountant = try config.accountant.makeAccountant()
        let epsilon = try accountant.epsilon(for: event, delta: config.delta)
        #expect(privacy.extra["calibrated_epsilon"]?.normalized == JSONValue.number(epsilon).normalized, "re-accounted \(epsilon), calibrated \(String(describing: privacy.extra["calibrated_epsilon"]))")
        #expect(epsilon <= config.epsilon && epsilon > 0.9 * config.epsilon, "ε \(epsilon) for target \(config.epsilon)")
        #expect(privacy.sigma > 0)
        #expect(Set(privacy.extra.keys).isSubset(of: mechanism.resultKeys), "undeclared extra keys \(Set(privacy.extra.keys).subtracting(mechanism.resultKeys))")
        if mechanism.eventUnit == .record {
            let largest = try PerUserPrivacy.lemmaEvent(records: 3, recordLevel: event)
            #expect(privacy.userEpsilon == (try accountant.epsilon(for: largest, delta: config.delta)))
        } else {
            #expect(privacy.userEpsilon == epsilon)
        }
        if accounting == "lemma" {
            guard case .groupPrivacy(_, 4, .lemma) = event else { Issue.record("the lemma's event is \(event)"); return }
        }
    }

    @Test("nonprivate spends nothing and stores no event")
    func nonprivate() throws {
        var config = RunConfig()
        config.mechanism = .nonprivate
        let plan = TrainingPlan(population: .sequences(Array(repeating: [], count: 10)), samplingRate: 0.5)
        let privacy = try config.mechanism.definition.privacyPlan(config: config, plan: plan, calibrationDirectory: TrainingWorld.calibrations)
        #expect(privacy.sigma == 0 && privacy.userEpsilon == .infinity && privacy.eventJSON == .null && privacy.extra.isEmpty)
        #expect(try NoisePreview.sigma(config: config, population: 10, calibrationDirectory: TrainingWorld.calibrations) == 0)
    }
}
