import Foundation
import LanguageModel
import Persistence
import Privacy
import UserData

// MARK: - The table

extension RunConfig {
    /// The run config format: one row per key path, in the order keys are read and documented.
    /// It drives parsing (``init(json:)``), the canonical form (``json``), ``knownKeys``,
    /// ``knownKeyPaths``, which mechanisms read a key (``MechanismKind/reads(keyPath:)``) and the
    /// key table of docs/CONFIG.md (`userdp config schema`; a test fails when they differ).
    ///
    /// To add a key: a field in `RunConfig` (or the struct it belongs to) and a row here; the row's
    /// codec says how the value is read, validated and written.
    public static let schema = ConfigSchema(keys: [
        ConfigKey("version", VersionCodec(), "Config format version. Versions 1 and 2 read the same keys; version 2 leaves keys the mechanism ignores out of the canonical form. A newer version than the build reads is refused."),
        ConfigKey("dataset", StringCodec(\.dataset, expected: "a dataset name or path"), "Dataset name (the embedded Shakespeare users) or path."),
        ConfigKey("model", StringCodec(\.model, expected: "a model directory"), "Base model folder; a relative path is relative to the working directory, then to the repository."),
        ConfigKey("mechanism", ChoiceCodec(\.mechanism), "Training mechanism (docs/TRAINING.md; `asi-liu`: docs/ASI_LIU.md)."),
        ConfigKey("epsilon", NumberCodec(\.epsilon, whenRead: .positive), readers: .declaring, "Target ε: user level for `group`, `user` and `asi-liu`; record level for `record` (whose result reports the user-level ε of its largest user)."),
        ConfigKey("delta", NumberCodec(\.delta, whenRead: .openUnitInterval), readers: .declaring, "Target δ."),
        ConfigKey("k", IntegerCodec(\.k, minimum: 1, expected: "a positive integer"), readers: .declaring, "Records (units) per user that the mechanism trains on."),
        ConfigKey("selection", SelectionCodec(\.selection), readers: .declaring, "How the k units are taken from a user (docs/DATASETS.md): a strategy name, or an object with `strategy` and its options."),
        ConfigKey("selection.strategy", PartCodec(type: ChoiceCodec<SelectionStrategy.Kind>.names), "The strategy (required in the object form)."),
        ConfigKey("selection.order", PartCodec(type: ChoiceCodec<PerplexityOrder>.names), "Which end of the base-model perplexity ranking `perplexity` takes (only `perplexity` takes an order; default `lowest`)."),
        ConfigKey("clip_norm", NumberCodec(\.clipNorm, range: .positive), readers: .declaring, "Per-unit clipping norm C (L2)."),
        ConfigKey("batch_size", NumberCodec(\.batchSize, range: .positive), "Expected privacy units per step: Poisson sampling rate q = batch_size / number of units."),
        ConfigKey("steps", IntegerCodec(\.steps, minimum: 1, maximum: RunConfig.maximumSteps, expected: "an integer in 1...10000000"), "Optimiser steps T (at most 10⁷, the privacy accountants' limit)."),
        ConfigKey("learning_rate", NumberCodec(\.learningRate, range: .positive), "Learning rate η."),
        ConfigKey("optimizer", ChoiceCodec(\.optimizer), "Optimiser applied to the (noisy) gradient."),
        ConfigKey("lora", OptionalObjectCodec(\.lora, present: LoRA(), expected: "an object (or null for full fine-tuning)"), "LoRA adapters (Hu et al. 2021); `null` means full fine-tuning, `{}` adapters with every default."),
        ConfigKey("lora.rank", IntegerCodec(\.lora!.rank, minimum: 1, expected: "a positive integer"), "Rank r of every adapter (at most the model's width, checked when the model is loaded)."),
        ConfigKey("lora.alpha", NumberCodec(\.lora!.alpha, range: .positive), "The update is scaled by alpha / rank."),
        ConfigKey("lora.targets", TargetsCodec(\.lora!.targets), "The projections that get adapters, each once."),
        ConfigKey("context_length", IntegerCodec(\.contextLength, minimum: 2, expected: "an integer ≥ 2"), "Tokens per training sequence L."),
        ConfigKey("eval_every", IntegerCodec(\.evalEvery, minimum: 0, expected: "a non-negative integer"), "Validation perplexity every this many steps (into `curve.csv`); 0: only after the last step."),
        ConfigKey("seed", IntegerCodec(\.seed, minimum: 0, expected: "a non-negative integer"), "Seed of every random draw of the run (sampling, selection, noise, LoRA); sweeps set it from `seeds` or `replicates`."),
        ConfigKey("accountant", ChoiceCodec(\.accountant, choices: [AccountantKind.pld(), .rdp].map { ($0.cliName, $0) }), readers: .declaring, "Accountant for calibration and the reported ε: privacy-loss distributions (tight) or Rényi DP (fast cross-check)."),
        ConfigKey("split_seed", IntegerCodec(\.splitSeed, minimum: 0, expected: "a non-negative integer"), "Seed of the train/validation/test split of users; apart from `seed` so that replicates share one split."),
        ConfigKey("mechanism_options", ObjectCodec(\.mechanismOptions, expected: "an object keyed by mechanism name"), "Options that one mechanism reads, under its name."),
        ConfigKey("mechanism_options.group", ObjectCodec(\.mechanismOptions.group), readers: .options, "Options of `group`."),
        ConfigKey("mechanism_options.group.accounting", ChoiceCodec(\.mechanismOptions.group.accounting), "`mixture`: the tight user-level event (per step the user's records in the batch are Binomial(k, q), a mixture of Gaussians, Ganesh 2024); `lemma`: the group-privacy lemma, (kε', k·e^{(k−1)ε'}·δ')."),
        ConfigKey("mechanism_options.asi_liu", ObjectCodec(\.mechanismOptions.asiLiu), readers: .options, "Options of `asi-liu` (docs/ASI_LIU.md)."),
        ConfigKey("mechanism_options.asi_liu.tau", NumberCodec(\.mechanismOptions.asiLiu.tau, range: .positive), "Concentration radius τ (gradient L2 units): users within 2τ are neighbours; the mean's noise is ∝ τ."),
        ConfigKey("mechanism_options.asi_liu.threshold", NumberCodec(\.mechanismOptions.asiLiu.threshold, range: .positiveAtMostOne), "The test passes when the noisy soft core size reaches threshold · batch_size users."),
        ConfigKey("mechanism_options.asi_liu.on_failure", ChoiceCodec(\.mechanismOptions.asiLiu.onFailure), "A failed test stops the run (the model is evaluated as it is) or skips that step's update."),
        ConfigKey("mechanism_options.asi_liu.test_budget_fraction", NumberCodec(\.mechanismOptions.asiLiu.testBudgetFraction, range: .openUnitInterval), "Share of the per-step Gaussian budget spent on the test; the rest goes to the mean."),
    ])

    /// Every top-level key of the config format, sorted.
    public static var knownKeys: [String] { schema.children(of: "").map(\.name).sorted() }

    /// Every dotted key path a value can be set at, sorted. Sweeps check their grid keys
    /// against it.
    public static var knownKeyPaths: [String] { schema.keys.map(\.path).sorted() }

    /// The top-level keys every mechanism reads; each mechanism declares the others it reads
    /// (``MechanismKind/ignoredKeys`` are the rest).
    public static var keysEveryMechanismReads: Set<String> {
        Set(schema.children(of: "").filter { $0.readers == .every }.map(\.name))
    }
}
