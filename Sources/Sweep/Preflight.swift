import Foundation
import Training

/// One problem pre-flight found, with the runs it concerns.
public struct PreflightProblem: Sendable, Equatable {
    /// What is wrong and what to change, naming the config key.
    public var message: String
    /// Ids of the runs affected, in plan order.
    public var runs: [String]

    /// `message (N runs: a, b, c, ...)`.
    public var description: String {
        let shown = runs.prefix(3).joined(separator: ", ") + (runs.count > 3 ? ", ..." : "")
        return "\(message) (\(runs.count) run\(runs.count == 1 ? "" : "s"): \(shown))"
    }
}

/// Checks a plan against its inputs before anything runs (`sweep run --dry-run`, and `sweep
/// run` itself), so a long grid does not fail run by run overnight.
///
/// Contract: problems are grouped by message; each is a run that would fail or give a result
/// that is not one (an empty split). The input checks use `InputFacts`, an upper bound on the
/// population (training drops records shorter than two tokens), so a batch that passes here
/// can still be refused by the trainer on a dataset of one-token records.
public enum SweepPreflight {
    /// Steps above this are taken for a typo (10⁶ steps of the smallest model take days).
    public static let maxSteps = 1_000_000

    /// The problems of `plan`; `facts` gives the inputs of a config (cache it per dataset,
    /// model and split seed).
    /// With `reportUnreadable` false, inputs that cannot be read are skipped (`SweepPlan`
    /// already names them).
    public static func check(plan: SweepPlan, reportUnreadable: Bool = true, facts: (RunConfig) -> Result<InputFacts, any Error>) -> [PreflightProblem] {
        var order: [String] = []
        var runsByMessage: [String: [String]] = [:]
        func add(_ message: String, _ id: String) {
            if runsByMessage[message] == nil { order.append(message) }
            runsByMessage[message, default: []].append(id)
        }
        for run in plan.runs {
            let config = run.config
            for problem in config.mechanism.preflightProblems(of: config) { add(problem, run.id) }
            if config.steps > maxSteps {
                add("steps: \(config.steps) is above \(maxSteps); likely a typo", run.id)
            }
            switch facts(config) {
            case .failure(let error):
                guard reportUnreadable else { break }
                add("dataset \"\(config.dataset)\", model \"\(config.model)\": cannot read: \(error.localizedDescription)", run.id)
            case .success(let inputs):
                for (part, records, users) in [("validation", inputs.validationRecords, inputs.validationUsers), ("test", inputs.testRecords, inputs.testUsers)] where records == 0 {
                    add("dataset \"\(config.dataset)\": the \(part) split is empty (\(users) users; split_seed \(config.splitSeed)); add users or change the manifest's split fractions", run.id)
                }
                let population = inputs.population(mechanism: config.mechanism, k: config.k)
                if config.batchSize > Double(population.units) {
                    add("batch_size: \(JSONValueText.number(config.batchSize)) is more than the \(population.units) \(population.name) of \"\(config.dataset)\" for mechanism \(config.mechanism.rawValue)", run.id)
                }
                if config.contextLength > inputs.modelContextLength {
                    add("context_length: \(config.contextLength) exceeds the \(inputs.modelContextLength) positions of model \"\(config.model)\"", run.id)
                }
            }
        }
        return order.map { PreflightProblem(message: $0, runs: runsByMessage[$0]!) }
    }

    /// One distinct privacy setting of a plan and the σ it calibrates to.
    public struct PrivacySetting: Sendable, Equatable {
        /// `user ε=1 δ=1e-05 q=0.05 T=100 pld`, then the mechanism's calibration details (k and
        /// accounting for `group`, `MechanismKind.calibrationDetails(of:)`).
        public var description: String
        /// The noise multiplier, or why calibration failed.
        public var sigma: Result<Double, PreflightFailure>
        /// Runs with this setting, in plan order.
        public var runs: [String]
    }

    /// A calibration failure as text (errors are not Equatable).
    public struct PreflightFailure: Error, Sendable, Equatable {
        /// The error's message.
        public var message: String
    }

    /// σ for each distinct privacy setting of the plan's private runs whose inputs could be
    /// read (`calibrate` is `NoisePreview.sigma` with the sweep's calibration cache).
    public static func privacySettings(
        plan: SweepPlan, facts: (RunConfig) -> Result<InputFacts, any Error>, calibrate: (RunConfig, Int) throws -> Double
    ) -> [PrivacySetting] {
        var order: [String] = []
        var settings: [String: PrivacySetting] = [:]
        for run in plan.runs where run.config.mechanism.isPrivate {
            let config = run.config
            guard case .success(let inputs) = facts(config) else { continue }
            let population = inputs.population(mechanism: config.mechanism, k: config.k).units
            guard population > 0, config.batchSize <= Double(population) else { continue }
            let description = (["\(config.mechanism.rawValue) ε=\(JSONValueText.number(config.epsilon)) δ=\(config.delta) q=\(String(format: "%.4g", config.batchSize / Double(population))) T=\(config.steps) \(config.accountant.cliName)"]
                + config.mechanism.calibrationDetails(of: config)).joined(separator: " ")
            if settings[description] == nil {
                order.append(description)
                let sigma: Result<Double, PreflightFailure>
                do { sigma = .success(try calibrate(config, population)) } catch {
                    sigma = .failure(PreflightFailure(message: error.localizedDescription))
                }
                settings[description] = PrivacySetting(description: description, sigma: sigma, runs: [])
            }
            settings[description]!.runs.append(run.id)
        }
        return order.map { settings[$0]! }
    }

    /// The shape of a run for time estimates: everything that sets its cost (mechanism, k,
    /// selection, batch, steps, context, LoRA, model, dataset), not what sets its outcome (ε,
    /// η, seed). The selection is part of it: a random-chunk unit holds a whole context of
    /// tokens where a record may hold a few, and perplexity selection scores every record first.
    public static func shape(of config: RunConfig) -> String {
        var shape = RunConfig()
        shape.dataset = config.dataset
        shape.model = config.model
        shape.mechanism = config.mechanism
        shape.k = config.k
        shape.selection = config.selection
        shape.batchSize = config.batchSize
        shape.steps = config.steps
        shape.contextLength = config.contextLength
        shape.lora = config.lora
        shape.evalEvery = config.evalEvery
        return shape.canonicalText
    }

    /// Estimated wall time of the unfinished runs of `plan`, divided over `jobs`. A run's time
    /// is the mean `wall_seconds` of the finished runs of its shape in this label; for a shape
    /// this label has not finished yet, of its shape in `elsewhere` (other sweeps and labels on
    /// this results folder, ``finishedWallSeconds(under:)``); a run of a shape found in
    /// neither counts as without basis.
    public static func estimate(plan: SweepPlan, store: ResultStore, jobs: Int, elsewhere: [String: [Double]] = [:]) -> WallTimeEstimate {
        var seconds: [String: [Double]] = [:]
        var unfinished: [RunConfig] = []
        for run in plan.runs {
            if let result = store.result(run.id) {
                seconds[shape(of: run.config), default: []].append(result.wallSeconds)
            } else {
                unfinished.append(run.config)
            }
        }
        var estimate = WallTimeEstimate()
        var total = 0.0
        for config in unfinished {
            let key = shape(of: config)
            let basis: [Double]
            if let known = seconds[key], !known.isEmpty {
                basis = known
            } else if let known = elsewhere[key], !known.isEmpty {
                basis = known
                estimate.fromElsewhere += 1
            } else {
                estimate.withoutBasis += 1
                continue
            }
            total += basis.reduce(0, +) / Double(basis.count)
        }
        if estimate.withoutBasis < unfinished.count {
            estimate.seconds = total / Double(max(1, jobs))
        }
        return estimate
    }

    /// The `wall_seconds` of every readable result under `results` (every sweep and label
    /// folder, `SWEEP/LABEL/runs/ID/result.json`), by run shape: the basis of a wall-time
    /// estimate for shapes a label has not run yet. Unreadable results are skipped.
    public static func finishedWallSeconds(under results: URL) -> [String: [Double]] {
        let files = FileManager.default
        func children(_ url: URL) -> [String] { ((try? files.contentsOfDirectory(atPath: url.path)) ?? []).sorted() }
        var seconds: [String: [Double]] = [:]
        for sweep in children(results) where !sweep.hasPrefix(".") {
            for label in children(results.appendingPathComponent(sweep)) where !label.hasPrefix(".") {
                let store = ResultStore(results: results, sweep: sweep, label: label)
                for id in children(store.runsDirectory) {
                    guard let result = store.result(id) else { continue }
                    seconds[shape(of: result.config), default: []].append(result.wallSeconds)
                }
            }
        }
        return seconds
    }
}

/// A sweep's estimated wall time (``SweepPreflight/estimate(plan:store:jobs:elsewhere:)``).
public struct WallTimeEstimate: Equatable, Sendable {
    /// Seconds for the unfinished runs that have a basis, nil when none has.
    public var seconds: Double?
    /// Unfinished runs timed from finished runs of their shape in other sweeps or labels.
    public var fromElsewhere = 0
    /// Unfinished runs whose shape no finished run has.
    public var withoutBasis = 0

    /// An estimate with no basis yet.
    public init(seconds: Double? = nil, fromElsewhere: Int = 0, withoutBasis: Int = 0) {
        (self.seconds, self.fromElsewhere, self.withoutBasis) = (seconds, fromElsewhere, withoutBasis)
    }
}

/// Numbers in messages, as the config spells them.
enum JSONValueText {
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
