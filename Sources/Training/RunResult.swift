import Foundation
import Persistence

// MARK: - Run result

/// What one `userdp train --config FILE --out DIR` run produced: the contract between the
/// trainer, which writes `DIR/result.json` (atomically, and only when the run succeeded), and
/// the sweep harness, which reads it into `results.csv` and tables.
///
/// Contract:
/// - JSON keys are snake_case (`test_perplexity`, `dp_event`, ...), objects have sorted keys.
/// - Non-finite numbers (a diverged run's perplexity, ε = ∞ for `nonprivate`) are written as
///   the strings `"inf"`, `"-inf"`, `"nan"`; `RunResult.decoder()` reads them back.
/// - `config` is the resolved config (all defaults filled), so a result explains itself.
/// - `epsilon` is the ε actually spent at user level (for `record`, what group privacy gives
///   for the largest user; the record-level ε belongs in `extra["record_epsilon"]`), never
///   above the target; `∞` for `nonprivate`.
/// - `dp_event` is the privacy event of the whole run (a JSON object from the Privacy
///   module's Codable event, snake_case too), so ε can be recomputed later; `null` for
///   `nonprivate`. Results written before the event's keys were snake_case hold camelCase ones
///   (`samplingProbability`, `groupSize`); they read as the same event (`privacyEvent()`).
/// - `extra` holds mechanism-specific metrics (for example Asi & Liu's halting statistics):
///   flat keys with numbers or strings are copied into `results.csv` as `extra.<key>` columns.
public struct RunResult: Sendable, Equatable, Codable {
    /// The resolved run config.
    public var config: RunConfig
    /// Perplexity of the fine-tuned model on the test split (full records, windowed).
    public var testPerplexity: Double
    /// Perplexity on the validation split after the last step.
    public var validationPerplexity: Double
    /// User-level ε spent by the whole run (∞ for `nonprivate`).
    public var epsilon: Double
    /// δ of the guarantee.
    public var delta: Double
    /// Noise multiplier σ (noise standard deviation is σ·C); 0 for `nonprivate`.
    public var noiseMultiplier: Double
    /// Poisson sampling rate q = batch_size / number of privacy units.
    public var samplingRate: Double
    /// Optimiser steps run.
    public var steps: Int
    /// The run's DP event as JSON (`null` for `nonprivate`).
    public var dpEvent: JSONValue
    /// Mean number of privacy units sampled per step.
    public var unitsPerStepMean: Double
    /// Wall time of the whole run, seconds.
    public var wallSeconds: Double
    /// Training tokens processed per second of wall time.
    public var tokensPerSecond: Double
    /// Code and environment that produced the result (not part of the run id).
    public var provenance: Provenance
    /// Mechanism-specific metrics.
    public var extra: [String: JSONValue]

    /// The `extra` keys every run writes (`Experiment.run`): the base model's validation
    /// perplexity, the per-stream test perplexity, the population and split sizes, the number of
    /// trainable parameters, the inputs' content hashes and the training time. Each mechanism
    /// adds its own (`Mechanism.resultKeys`).
    public static let commonExtraKeys: Set<String> = [
        "base_validation_perplexity", "test_stream_perplexity", "population_units", "train_users", "train_records",
        "trainable_parameters", "dataset_hash", "model_hash", "train_seconds",
    ]

    /// A result with every field given; `extra` defaults to empty.
    public init(
        config: RunConfig, testPerplexity: Double, validationPerplexity: Double, epsilon: Double, delta: Double,
        noiseMultiplier: Double, samplingRate: Double, steps: Int, dpEvent: JSONValue, unitsPerStepMean: Double,
        wallSeconds: Double, tokensPerSecond: Double, provenance: Provenance, extra: [String: JSONValue] = [:]
    ) {
        self.config = config
        self.testPerplexity = testPerplexity
        self.validationPerplexity = validationPerplexity
        self.epsilon = epsilon
        self.delta = delta
        self.noiseMultiplier = noiseMultiplier
        self.samplingRate = samplingRate
        self.steps = steps
        self.dpEvent = dpEvent
        self.unitsPerStepMean = unitsPerStepMean
        self.wallSeconds = wallSeconds
        self.tokensPerSecond = tokensPerSecond
        self.provenance = provenance
        self.extra = extra
    }

    enum CodingKeys: String, CodingKey {
        case config
        case testPerplexity = "test_perplexity"
        case validationPerplexity = "validation_perplexity"
        case epsilon, delta
        case noiseMultiplier = "noise_multiplier"
        case samplingRate = "sampling_rate"
        case steps
        case dpEvent = "dp_event"
        case unitsPerStepMean = "units_per_step_mean"
        case wallSeconds = "wall_seconds"
        case tokensPerSecond = "tokens_per_second"
        case provenance, extra
    }

    /// The file name inside a run directory.
    public static let fileName = "result.json"

    /// The encoder for `result.json`: sorted keys, indented, non-finite numbers as strings.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    /// The matching decoder.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    /// Reads `result.json`. Throws the decoder's error (which names the coding path).
    public init(contentsOf url: URL) throws {
        self = try RunResult.decoder().decode(RunResult.self, from: Data(contentsOf: url))
    }

    /// Writes `directory/result.json` atomically (temporary file in the same folder, then
    /// rename), so readers never see half a result.
    public func write(toDirectory directory: URL) throws {
        var data = try RunResult.encoder().encode(self)
        data.append(0x0A)
        try AtomicFile.write(data, to: directory.appendingPathComponent(RunResult.fileName))
    }
}

// MARK: - Provenance

/// The code and environment behind a result. Recorded beside the run id, never in it, so two
/// commits' results for the same config can be paired (docs/SWEEPS.md).
public struct Provenance: Sendable, Equatable, Codable {
    /// The userdp that ran (`UserDPVersion.label`, e.g. `0.2.0-abc1234`); nil in results
    /// written before it was recorded.
    public var userdpVersion: String?
    /// Full commit hash of userdp's source tree (`UserDPVersion`), or "unknown" outside git.
    public var gitCommit: String
    /// Whether tracked files differed from the commit.
    public var gitDirty: Bool
    /// FNV-1a 64-bit hash (hex) of `git diff HEAD` when dirty, nil when clean: tells two
    /// dirty trees apart without storing the diff.
    public var gitDiffHash: String?
    /// Compiler and operating system, e.g. "Swift 6.1+ / Linux ...".
    public var toolchain: String
    /// The OpenBLAS kernel in use (`openblas_get_corename`), or "unknown".
    public var openblasCore: String
    /// BLAS threads the run used.
    public var blasThreads: Int
    /// Host name of the machine.
    public var host: String

    /// A provenance record with every field given.
    public init(
        userdpVersion: String? = UserDPVersion.label, gitCommit: String, gitDirty: Bool, gitDiffHash: String?, toolchain: String, openblasCore: String,
        blasThreads: Int, host: String
    ) {
        self.userdpVersion = userdpVersion
        self.gitCommit = gitCommit
        self.gitDirty = gitDirty
        self.gitDiffHash = gitDiffHash
        self.toolchain = toolchain
        self.openblasCore = openblasCore
        self.blasThreads = blasThreads
        self.host = host
    }

    /// Provenance of the current process: userdp's own version and the git state of the tree
    /// it was built from (`UserDPVersion`, embedded at build time), never the caller's working
    /// directory; this build's toolchain, this host. BLAS facts come from the caller (the
    /// LinearAlgebra module knows them).
    public static func current(openblasCore: String, blasThreads: Int) -> Provenance {
        let git = UserDPVersion.gitState
        return Provenance(
            gitCommit: git?.commit ?? "unknown", gitDirty: git?.dirty ?? false, gitDiffHash: git?.diffHash,
            toolchain: toolchainDescription, openblasCore: openblasCore, blasThreads: blasThreads,
            host: ProcessInfo.processInfo.hostName)
    }

    /// The compiler this binary was built with (to the minor version) and the OS.
    public static var toolchainDescription: String {
        #if compiler(>=6.3)
            let swift = "Swift 6.3+"
        #elseif compiler(>=6.2)
            let swift = "Swift 6.2"
        #elseif compiler(>=6.1)
            let swift = "Swift 6.1"
        #else
            let swift = "Swift 6.0"
        #endif
        return "\(swift) / \(ProcessInfo.processInfo.operatingSystemVersionString)"
    }

    enum CodingKeys: String, CodingKey {
        case userdpVersion = "userdp_version"
        case gitCommit = "git_commit"
        case gitDirty = "git_dirty"
        case gitDiffHash = "git_diff_hash"
        case toolchain
        case openblasCore = "openblas_core"
        case blasThreads = "blas_threads"
        case host
    }

    /// Encodes `git_diff_hash` as null when absent (the synthesised encoder would omit it).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(userdpVersion, forKey: .userdpVersion)
        try container.encode(gitCommit, forKey: .gitCommit)
        try container.encode(gitDirty, forKey: .gitDirty)
        try container.encode(gitDiffHash, forKey: .gitDiffHash)
        try container.encode(toolchain, forKey: .toolchain)
        try container.encode(openblasCore, forKey: .openblasCore)
        try container.encode(blasThreads, forKey: .blasThreads)
        try container.encode(host, forKey: .host)
    }
}

// MARK: - Git state

/// The git state of the work tree a userdp binary was built from (`UserDPVersion.gitState`).
///
/// Read at build time by `EmbedGitStateTool` (run by the EmbedGitState build-tool plugin), with
/// `git rev-parse HEAD`, `git rev-parse --short HEAD`, `git status --porcelain
/// --untracked-files=no` and `git diff HEAD`, all limited to the pathspec
/// `:(top) :(top,exclude)results`: committed results that a running sweep rewrites are data,
/// not code, and never make the tree dirty (docs/ARCHITECTURE.md, "Provenance of the build").
public struct GitState: Sendable, Equatable {
    /// Full commit hash of HEAD.
    public var commit: String
    /// Abbreviated commit hash (`git rev-parse --short HEAD`).
    public var shortCommit: String
    /// Whether tracked files outside `results/` differed from HEAD (untracked files do not
    /// count).
    public var dirty: Bool
    /// FNV-1a 64-bit hash (16 hex digits) of `git diff HEAD` outside `results/` when dirty,
    /// else nil.
    public var diffHash: String?

    /// A git state with every field given.
    public init(commit: String, shortCommit: String, dirty: Bool, diffHash: String?) {
        self.commit = commit
        self.shortCommit = shortCommit
        self.dirty = dirty
        self.diffHash = diffHash
    }

    /// The default sweep label: the short commit with `-dirty` when dirty.
    public var label: String { dirty ? "\(shortCommit)-dirty" : shortCommit }
}
