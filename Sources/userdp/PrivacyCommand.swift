import ArgumentParser
import Foundation
import Privacy

/// `userdp privacy ...`: ε for a run's parameters, and noise calibration.
struct PrivacyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "privacy",
        abstract: "Privacy accounting: epsilon for a run, noise calibration.",
        discussion: """
            Add/remove adjacency, Poisson sampling with rate q. Without --group-size the unit is \
            one record (record-level DP-SGD) or one user (user-wise DP-SGD): the same event. With \
            --group-size K a user owns K records (Group Privacy); the default accounting is tight \
            (mixture of Gaussians), --accountant group-lemma uses the group-privacy lemma instead. \
            `privacy epsilon --run DIR --delta D` re-accounts a finished run's stored event at D.
            """,
        subcommands: [PrivacyEpsilonCommand.self, PrivacyCalibrateCommand.self, PrivacyPerUserCommand.self]
    )
}

/// Flags shared by `privacy epsilon` and `privacy calibrate`.
struct PrivacyOptions: ParsableArguments {
    @Option(name: .customLong("q"), help: "Poisson sampling probability per step, in (0, 1] (required unless --run).")
    var samplingRate: Double?

    @Option(help: "Number of steps T, in 1...10000000 (required unless --run).")
    var steps: Int?

    @Option(help: "Target delta, in (0, 1).")
    var delta: Double

    @Option(name: .customLong("group-size"), help: "Records per user for Group Privacy, K in 1...1000.")
    var groupSize: Int?

    @Option(help: "Accountant: pld (default), rdp, or group-lemma (the lemma over PLD).")
    var accountant: AccountantChoice?

    @Option(help: "PLD value-discretisation interval.")
    var discretization: Double = PLDAccountant.defaultValueDiscretization

    @Flag(help: "Print JSON instead of text.")
    var json = false

    var unit: PrivacyUnitEvent {
        groupSize.map { PrivacyUnitEvent.groupOfRecords($0) } ?? .record
    }

    /// --q and --steps, which describe the event unless `privacy epsilon --run` reads a run's.
    func parameters() throws -> (q: Double, steps: Int) {
        guard let samplingRate, let steps else {
            throw ValidationError("give --q and --steps (privacy epsilon can read them from a finished run instead: --run DIR)")
        }
        return (samplingRate, steps)
    }

    /// The accountants to report: the one asked for, or PLD (plus the lemma for groups).
    func accountantKinds() throws -> [AccountantKind] {
        if let accountant { return [accountant.kind(discretization: discretization)] }
        let tight = AccountantKind.pld(valueDiscretization: discretization)
        if let groupSize, groupSize > 1 { return [tight, .groupLemma(base: tight)] }
        return [tight]
    }

    func describeUnit() throws -> String {
        let (samplingRate, steps) = try parameters()
        switch unit {
        case .record, .user:
            return "Poisson-subsampled Gaussian (record or user level), q = \(samplingRate), T = \(steps)"
        case .groupOfRecords(let k):
            return "group of \(k) records per user, each Poisson-sampled with q = \(samplingRate), T = \(steps)"
        }
    }
}

struct PrivacyEpsilonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "epsilon", abstract: "The epsilon of a run at a given delta.",
        discussion: """
            Either describe the run (--q, --sigma, --steps, optionally --group-size) or give a \
            finished run's folder (--run DIR): its stored DP event is re-accounted at --delta by \
            the run's accountant, or by --accountant pld|rdp.
            """)

    @OptionGroup var options: PrivacyOptions

    @Option(help: "Noise multiplier sigma (> 0; required unless --run).")
    var sigma: Double?

    @Option(name: .customLong("run"), help: "A finished run's folder (holding result.json): re-account its stored DP event.")
    var runDirectory: String?

    func validate() throws {
        guard runDirectory != nil else {
            if sigma == nil { throw ValidationError("give --sigma (or --run DIR, a finished run's folder)") }
            _ = try options.parameters()
            return
        }
        if options.samplingRate != nil || options.steps != nil || sigma != nil || options.groupSize != nil {
            throw ValidationError("--run reads q, sigma, steps and the group size from the run; do not also give --q, --sigma, --steps or --group-size")
        }
        if options.accountant == .groupLemma {
            throw ValidationError("--run takes --accountant pld or rdp (the run's stored event already says whether the group-privacy lemma applies), not group-lemma")
        }
    }

    /// What `--json` prints. `unit`, `accountant` and `event` are the Privacy module's stored
    /// forms (as in `result.json` and the calibration cache), snake_case like the rest.
    struct Report: Encodable {
        var unit: PrivacyUnitEvent
        var samplingRate: Double
        var sigma: Double
        var steps: Int
        var delta: Double
        var results: [Line]

        enum CodingKeys: String, CodingKey {
            case unit, sigma, steps, delta, results
            case samplingRate = "sampling_rate"
        }
    }

    struct Line: Encodable {
        var accountant: AccountantKind
        var epsilon: Double
        var event: DPEvent
    }

    func run() throws {
        if let runDirectory {
            try reaccount(runDirectory: runDirectory)
            return
        }
        let (samplingRate, steps) = try options.parameters()
        let sigma = self.sigma ?? .nan
        let lines = try options.accountantKinds().map { kind in
            let event = try kind.event(for: options.unit, q: samplingRate, sigma: sigma, steps: steps)
            let accountant = try kind.makeAccountant()
            return Line(accountant: kind, epsilon: try accountant.epsilon(for: event, delta: options.delta), event: event)
        }
        if options.json {
            try printJSON(Report(
                unit: options.unit, samplingRate: samplingRate, sigma: sigma, steps: steps,
                delta: options.delta, results: lines))
            return
        }
        print("\(try options.describeUnit()), sigma = \(sigma), add/remove adjacency")
        for line in lines {
            print("epsilon = \(String(format: "%.5f", line.epsilon)) at delta = \(options.delta)  [\(line.accountant.summary)]")
        }
    }
}

struct PrivacyCalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate", abstract: "The smallest noise multiplier sigma whose epsilon meets a target.")

    @OptionGroup var options: PrivacyOptions

    @Option(help: "Target epsilon (> 0).")
    var epsilon: Double

    @Option(help: "Relative tolerance on sigma, in (0, 0.1).")
    var tolerance: Double = 1e-5

    @Option(help: "Directory of cached calibrations (created if missing); none by default.")
    var cache: String?

    func validate() throws {
        _ = try options.parameters()
    }

    /// One calibration as `--json` prints it: the request and the result in the Privacy
    /// module's stored forms (as in the calibration cache), and the seconds it took.
    struct Report: Encodable {
        var request: CalibrationRequest
        var result: CalibrationResult
        var seconds: Double
    }

    func run() throws {
        // The cache only saves time: when it cannot be used, say so and calibrate anyway.
        func warn(_ error: PrivacyError) {
            FileHandle.standardError.write(Data("warning: \(error.localizedDescription); continuing without the cache\n".utf8))
        }
        var cacheFolder: CalibrationCache?
        if let cache {
            do { cacheFolder = try CalibrationCache(directory: URL(fileURLWithPath: cache)) } catch let error as PrivacyError { warn(error) }
        }
        let calibration = NoiseCalibration(cache: cacheFolder)
        let (samplingRate, steps) = try options.parameters()
        let reports = try options.accountantKinds().map { kind in
            let request = CalibrationRequest(
                unit: options.unit, samplingRate: samplingRate, steps: steps,
                targetEpsilon: epsilon, delta: options.delta, accountant: kind, sigmaTolerance: tolerance)
            let start = Date()
            let result = try calibration.calibrate(request, cacheWarning: warn)
            return Report(request: request, result: result, seconds: Date().timeIntervalSince(start))
        }
        if options.json {
            try printJSON(reports)
            return
        }
        print("\(try options.describeUnit()), target epsilon = \(epsilon) at delta = \(options.delta), add/remove adjacency")
        for report in reports {
            let result = report.result
            print(
                "sigma = \(String(format: "%.6f", result.sigma)) (epsilon there \(String(format: "%.5f", result.achievedEpsilon)); "
                    + "smallest feasible sigma in (\(String(format: "%.6f", result.lowerSigma)), \(String(format: "%.6f", result.sigma))]; "
                    + "\(result.evaluations) evaluations, \(String(format: "%.2f", report.seconds)) s)  [\(report.request.accountant.summary)]")
        }
    }
}
