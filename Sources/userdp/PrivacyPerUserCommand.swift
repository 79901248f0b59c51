import ArgumentParser
import Foundation
import Privacy
import Training
import UserData

/// `userdp privacy per-user`: each user's ε under a record-level run, from their record count.
struct PrivacyPerUserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "per-user",
        abstract: "Each user's epsilon under record-level DP-SGD, from their record count.",
        discussion: """
            Record-level DP-SGD protects one record; a user with n records is a group of n. For \
            every user of --dataset this prints the user-level epsilon at --delta of a \
            record-level run (from --run DIR, a finished `record` run, or from --q, --sigma and \
            --steps): tight group accounting (mixture of Gaussians, each record Poisson-sampled) \
            for n up to --tight-limit, the group-privacy lemma above it. Beside it: the flat \
            epsilon that User-wise DP-SGD and Group Privacy (k = --group-size records per user) \
            give every user at the same q, sigma and steps. With --run, q, sigma and steps are \
            the run's; record counts come from the whole dataset (the run trained on its \
            training users, a random subset with the same distribution). See docs/PRIVACY.md.
            """)

    @Option(help: "Dataset name (e.g. shakespeare), folder or .jsonl file (default: the run's).")
    var dataset: String?

    @Option(name: .customLong("run"), help: "A finished record-level run's folder (holding result.json).")
    var runDirectory: String?

    @Option(name: .customLong("q"), help: "Poisson sampling probability per record per step, in (0, 1].")
    var samplingRate: Double?

    @Option(help: "Noise multiplier sigma (> 0).")
    var sigma: Double?

    @Option(help: "Number of steps T (>= 1).")
    var steps: Int?

    @Option(help: "Target delta, in (0, 1) (default: the run's).")
    var delta: Double?

    @Option(help: "Largest record count accounted tightly; the lemma above it.")
    var tightLimit = PerUserPrivacy.defaultTightLimit

    @Option(name: .customLong("group-size"), help: "Records per user k of the Group Privacy comparison.")
    var groupSize = 4

    @Option(help: "Write one row per user (user, records, epsilon, method) to this CSV file.")
    var csv: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        if runDirectory == nil, samplingRate == nil || sigma == nil || steps == nil {
            throw ValidationError("give --run DIR, or all of --q, --sigma and --steps")
        }
        if runDirectory != nil, samplingRate != nil || sigma != nil || steps != nil {
            throw ValidationError("--run takes q, sigma and steps from the run; do not also give --q, --sigma or --steps")
        }
        if tightLimit < 1 { throw ValidationError("--tight-limit must be at least 1, got \(tightLimit)") }
        if groupSize < 1 { throw ValidationError("--group-size must be at least 1, got \(groupSize)") }
    }

    /// What `--json` prints.
    struct Report: Encodable {
        var dataset: String
        var users: Int
        var q: Double
        var sigma: Double
        var steps: Int
        var delta: Double
        var tightLimit: Int
        var quantiles: [String: Double]
        var userWiseEpsilon: Double
        var groupPrivacyEpsilon: Double
        var groupSize: Int
        var byRecordCount: [PerUserEpsilon]

        enum CodingKeys: String, CodingKey {
            case dataset, users, q, sigma, steps, delta, quantiles
            case tightLimit = "tight_limit"
            case userWiseEpsilon = "user_wise_epsilon"
            case groupPrivacyEpsilon = "group_privacy_epsilon"
            case groupSize = "group_size"
            case byRecordCount = "by_record_count"
        }
    }

    func run() throws {
        var (q, sigma, steps, delta, datasetName) = (samplingRate ?? 0, self.sigma ?? 0, self.steps ?? 0, self.delta, dataset)
        if let runDirectory {
            let url = URL(fileURLWithPath: runDirectory).appendingPathComponent(RunResult.fileName)
            let result: RunResult
            do { result = try RunResult(contentsOf: url) } catch {
                throw CommandFailure(message: "\(url.path): not a readable result (\(error.localizedDescription))")
            }
            guard result.config.mechanism.eventUnit == .record else {
                throw CommandFailure(message: "\(url.path): mechanism is \(result.config.mechanism.rawValue); per-user accounting needs a record-level run (mechanism record)")
            }
            (q, sigma, steps) = (result.samplingRate, result.noiseMultiplier, result.steps)
            delta = delta ?? result.delta
            datasetName = datasetName ?? result.config.dataset
        }
        guard let delta else { throw ValidationError("give --delta (or --run, whose delta is the default)") }
        guard let datasetName else { throw ValidationError("give --dataset (or --run, whose dataset is the default)") }

        let loaded = try Dataset.load(from: try DatasetLocator.locate(datasetName)).0
        var counts: [String: Int] = [:]
        for record in loaded.records { counts[record.user, default: 0] += 1 }
        guard !counts.isEmpty else { throw CommandFailure(message: "\(datasetName): the dataset has no users") }

        let byCount = try PerUserPrivacy.epsilons(recordCounts: counts.values, q: q, sigma: sigma, steps: steps, delta: delta, tightLimit: tightLimit)
        let accountant = try PLDAccountant()
        let userWise = try accountant.epsilon(for: try DPEvent.poissonSubsampledGaussian(q: q, sigma: sigma, steps: steps), delta: delta)
        let group = try accountant.epsilon(for: try DPEvent.groupOfRecords(k: groupSize, q: q, sigma: sigma, steps: steps), delta: delta)
        let users = counts.sorted { $0.key < $1.key }
        let epsilons = users.map { byCount[$0.value]!.epsilon }
        let levels = [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0]
        let values = PerUserPrivacy.quantiles(epsilons, at: levels)

        if let csv {
            var text = "user,records,epsilon,method\n"
            for (user, n) in users {
                let entry = byCount[n]!
                text += "\(csvField(user)),\(n),\(entry.epsilon),\(entry.method.rawValue)\n"
            }
            try writeOutput(Data(text.utf8), to: csv)
        }
        if json {
            let quantiles = Dictionary(uniqueKeysWithValues: zip(levels.map { "p\(Int($0 * 100))" }, values))
            // A user with no finite ε is "inf", as result.json writes non-finite numbers.
            try printJSON(Report(
                dataset: loaded.manifest.name, users: users.count, q: q, sigma: sigma, steps: steps, delta: delta,
                tightLimit: tightLimit, quantiles: quantiles, userWiseEpsilon: userWise, groupPrivacyEpsilon: group,
                groupSize: groupSize, byRecordCount: byCount.keys.sorted().map { byCount[$0]! }))
            return
        }
        print("\(loaded.manifest.name): \(users.count) users; record-level DP-SGD with q = \(q), sigma = \(sigma), T = \(steps); delta = \(delta)")
        print("per-user epsilon (tight up to \(tightLimit) records, group-privacy lemma above):")
        print("| quantile | records | epsilon |")
        print("| --- | ---: | ---: |")
        let recordQuantiles = PerUserPrivacy.quantiles(users.map { Double($0.value) }, at: levels)
        for (level, (value, records)) in zip(levels, zip(values, recordQuantiles)) {
            print("| \(level == 0 ? "min" : level == 1 ? "max" : "p\(Int(level * 100))") | \(Int(records)) | \(formatEpsilon(value)) |")
        }
        print("same q, sigma, T with the user as the unit:")
        print("  User-wise DP-SGD: epsilon = \(formatEpsilon(userWise)) for every user")
        print("  Group Privacy, k = \(groupSize) records per user (tight): epsilon = \(formatEpsilon(group)) for every user")
    }

    private func formatEpsilon(_ value: Double) -> String {
        value.isFinite ? String(format: "%.3f", value) : "inf"
    }

    private func csvField(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
}

/// Writes a command's output file atomically, with a plain message when it cannot.
func writeOutput(_ data: Data, to path: String) throws {
    do {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw CommandFailure(message: "cannot write \(path): \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
    }
}
