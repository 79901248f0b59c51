import Foundation
import LanguageModel
import Persistence
import Privacy
import UserData

// MARK: - Run config

/// One configured experiment: which data, which base model, which mechanism under which
/// privacy budget, and how to optimise (docs/SWEEPS.md). The JSON form is the contract between
/// `userdp train --config FILE`, sweep files and `result.json`.
///
/// Contract:
/// - JSON object with snake_case keys and `"version": 2` (a missing version means 1; versions
///   1 and 2 read the same keys; a newer version is refused). Every key is optional and has the documented default (see
///   `docs/CONFIG.md`); `RunConfig()` is the all-defaults config.
/// - Parsing walks the JSON value along the schema table (``schema``) so that every problem
///   names its key path: unknown keys, wrong types and impossible values are `RunConfigError`s,
///   never silently ignored.
/// - `canonicalText` is the resolved form (all defaults filled, keys sorted, numbers in
///   canonical form: integral values without ".0", others in shortest round-trip form, no
///   whitespace). Two configs that mean the same experiment have the same canonical text, so
///   sweeps hash it into run ids. Keys the configured mechanism never reads
///   (`MechanismKind.ignoredKeys`, for example ε for `nonprivate`, k for `record`) and options of
///   other mechanisms are validated but dropped (reset to their defaults in the value, absent
///   from the canonical form), so they never split ids. Version 2 introduced this dropping.
/// - Units: `epsilon` and `delta` are the target (ε, δ) at the privacy unit of the mechanism
///   (user level for `group` and `user`, record level for `record`); `clip_norm` is an L2
///   norm; `batch_size` is the expected number of privacy units per step (Poisson sampling
///   rate q = batch_size / number of units); `learning_rate` is η.
///
/// Files: this one holds the fields (domain types of their modules: `MechanismKind`,
/// `SelectionStrategy`, `Optimizer.Kind`, `AccountantKind`, `LoRATarget`); `RunConfigSchema.swift`
/// the table of keys that drives `RunConfigParsing.swift` (the parser),
/// `RunConfigCanonicalForm.swift` (the canonical JSON) and docs/CONFIG.md; `ConfigSchema.swift`
/// and `ConfigCodecs.swift` how a row is read and written; `RunConfigError.swift` the errors.
public struct RunConfig: Sendable, Hashable {
    /// Configs are equal when they describe the same experiment: equal canonical text (keys
    /// the mechanism ignores do not count).
    public static func == (a: RunConfig, b: RunConfig) -> Bool { a.canonicalText == b.canonicalText }

    /// Hashes the canonical text, consistently with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(canonicalText) }

    /// The highest config format version this build reads and the version it writes.
    /// Version 2: the canonical form leaves out keys the mechanism ignores (run ids changed;
    /// `userdp sweep migrate` renames stored runs).
    public static let currentVersion = 2

    /// Dataset name (for example the embedded `shakespeare`) or path. Default `"shakespeare"`.
    public var dataset: String = "shakespeare"
    /// Base model directory. Default `"models/base"`.
    public var model: String = "models/base"
    /// Training mechanism. Default `.user`.
    public var mechanism: MechanismKind = .user
    /// Target ε (> 0 for private mechanisms; ignored by `nonprivate`). Default 8.
    public var epsilon: Double = 8
    /// Target δ in (0, 1) for private mechanisms; ignored by `nonprivate`. Default 1e-5.
    public var delta: Double = 1e-5
    /// Records (units) per user that `group`, `user` and `asi-liu` train on; ≥ 1. Default 4.
    public var k: Int = 4
    /// How the k units are taken from a user's data (docs/DATASETS.md). Default `.random`.
    public var selection: SelectionStrategy = .random
    /// Per-unit clipping norm C (L2), > 0; not used by `asi-liu`. Default 1.
    public var clipNorm: Double = 1
    /// Expected privacy units per step, > 0. Default 16.
    public var batchSize: Double = 16
    /// Optimiser steps T, in 1...``maximumSteps``. Default 100.
    public var steps: Int = 100
    /// The most steps a config may ask for: 10⁷, the privacy accountants' limit
    /// (`DPEvent.maximumSteps`).
    public static let maximumSteps = 10_000_000
    /// Learning rate η, > 0. Default 0.003.
    public var learningRate: Double = 0.003
    /// Optimiser: plain SGD or Adam (Kingma & Ba 2015). Default `.adam`.
    public var optimizer: Optimizer.Kind = .adam
    /// LoRA adapters, or nil for full fine-tuning. Default: rank 8, alpha 16 on `c_attn`.
    public var lora: LoRA? = LoRA()
    /// Tokens per training sequence L, ≥ 2. Default 128.
    public var contextLength: Int = 128
    /// Evaluate validation perplexity every this many steps; 0 means only after the last
    /// step. Default 50.
    public var evalEvery: Int = 50
    /// Seed of every random draw of the run (sampling, selection, noise), ≥ 0. Default 0.
    public var seed: Int = 0
    /// Privacy accountant used for calibration, for the reported ε and for re-accounting the
    /// stored event (docs/PRIVACY.md): `.pld()` (privacy-loss distributions at the default
    /// discretisation, tight) or `.rdp` (Rényi DP, fast, slightly loose); a config has no spelling
    /// for other kinds. Default `.pld()`.
    public var accountant: AccountantKind = .pld()
    /// Seed of the train/validation/test split of users, ≥ 0. Kept apart from `seed` so that
    /// replicates over `seed` share one split. Default 0.
    public var splitSeed: Int = 0
    /// Options that only one mechanism reads. Only the configured mechanism's options take part
    /// in the canonical form.
    public var mechanismOptions: MechanismOptions = MechanismOptions()

    /// The all-defaults config.
    public init() {}

    // MARK: Nested domain types

    /// LoRA adapters (Hu et al. 2021): rank r, scale alpha / r, on the named projections.
    public struct LoRA: Sendable, Hashable {
        /// Rank r ≥ 1. Default 8.
        public var rank: Int
        /// Scale numerator alpha > 0 (the update is scaled by alpha / rank). Default 16.
        public var alpha: Double
        /// Adapted projections, non-empty, without repeats; stored in `LoRATarget.allCases` order.
        public var targets: [LoRATarget]

        /// Adapters with the given settings; `targets` is put into canonical order.
        public init(rank: Int = 8, alpha: Double = 16, targets: [LoRATarget] = [.attentionQKV]) {
            self.rank = rank
            self.alpha = alpha
            self.targets = LoRATarget.allCases.filter(targets.contains)
        }

        /// The model's adapter configuration (alpha in single precision, as the model computes).
        public var modelConfig: LoRAConfig { LoRAConfig(rank: rank, alpha: Float(alpha), targets: Set(targets)) }
    }

    /// Options read by one mechanism only. JSON: `{"group": {"accounting": "mixture"}}`,
    /// `{"asi_liu": {"tau": 1, "threshold": 0.75, "on_failure": "halt", "test_budget_fraction": 0.5}}`.
    public struct MechanismOptions: Sendable, Hashable {
        /// Options of `group`.
        public var group: GroupOptions = GroupOptions()
        /// Options of `asi-liu` (JSON key `asi_liu`; defaults in `AsiLiuSettings`).
        public var asiLiu: AsiLiuSettings = AsiLiuSettings()
        /// The all-defaults options.
        public init() {}
    }
}
