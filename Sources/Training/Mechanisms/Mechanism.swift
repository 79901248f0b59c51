import Foundation
import Persistence
import Privacy

/// A training mechanism: what a run samples, how one step combines the sampled units'
/// gradients, and how its noise is calibrated and its guarantee stated (docs/TRAINING.md,
/// docs/PRIVACY.md).
///
/// One conforming type per mechanism, each in its own file in `Sources/Training/Mechanisms/`,
/// listed once in ``MechanismKind/registered``. Everything that differs between mechanisms is a
/// requirement here, so no other code switches on the mechanism; adding one touches its file
/// and the registration (docs/ARCHITECTURE.md, "Where to add").
///
/// Conformers are stateless values: everything a run needs comes from its `RunConfig`.
protocol Mechanism: Sendable {
    /// The config's spelling (`"mechanism": "user"`), which also names it in results and tables.
    var kind: MechanismKind { get }
    /// Whether it spends a privacy budget: then `epsilon` and `delta` must be valid targets, σ is
    /// calibrated and a DP event is stored with the result.
    var isPrivate: Bool { get }
    /// The unit the stored DP event protects: neighbouring datasets differ in one record or in
    /// one user's data. A `nonprivate` run stores no event; it reports ε = ∞ at user level.
    var eventUnit: PrivacyUnit { get }
    /// The privacy units it Poisson-samples at each step.
    var population: UnitPopulation { get }
    /// The top-level config keys it reads among those the schema leaves to the mechanisms
    /// (``ConfigKey/Readers/declaring``: `epsilon`, `delta`, `accountant`, `clip_norm`, `k`,
    /// `selection`). The others are validated but left out of the canonical form, so they never
    /// tell two runs apart (docs/CONFIG.md).
    var readKeys: Set<String> { get }
    /// Its key under `mechanism_options` (`"group"`), nil when it has no options. Only this
    /// mechanism reads that object (its keys are rows of ``RunConfig/schema``, its values a field
    /// of `RunConfig.MechanismOptions`); the others drop it from their canonical form.
    var optionsKey: String? { get }
    /// The `extra` keys of `result.json` it writes, beyond ``RunResult/commonExtraKeys``.
    var resultKeys: Set<String> { get }

    /// The privacy side of a run of `config` over `plan`'s population: the calibrated noise, the
    /// run's DP event and the ε it spends (never above the target), the `extra` fields of the
    /// calibration, and the step aggregation that uses the calibrated noise. Calibrations are
    /// cached in `calibrationDirectory`.
    /// - Throws: the calibration's error when no noise meets the target, or
    ///   ``TrainingError/epsilonExceedsTarget(achieved:target:)`` if the recomputed ε does.
    func privacyPlan(config: RunConfig, plan: TrainingPlan, calibrationDirectory: URL) throws -> PrivacyPlan

    /// One line on what a finished run's stored event guarantees (`userdp privacy epsilon
    /// --run`); `steps` reads `q = ..., sigma = ..., T = ...`, `event` is the stored event in
    /// today's vocabulary (``RunResult/privacyEvent()``).
    func guarantee(of config: RunConfig, event: DPEvent?, steps: String) -> String
    /// The ε the result recorded for its stored event's own unit (``eventUnit``).
    func recordedEventEpsilon(of result: RunResult) -> Double
    /// A finished run's stored event in today's vocabulary (``RunResult/privacyEvent()``):
    /// `event` as decoded from `dp_event`; `legacyLemmaGroupSize` the group size k of the legacy
    /// lemma markers beside it, nil when the result has none. The default returns `event` and
    /// accepts no markers.
    /// - Throws: ``StoredEventError/inconsistentLegacyLemma(key:reason:)`` when markers do not
    ///   fit the mechanism and config.
    func storedEvent(_ event: DPEvent, legacyLemmaGroupSize: Int?, config: RunConfig) throws(StoredEventError) -> DPEvent
    /// For a mechanism whose stored event is record-level: the user-level event of the user with
    /// the most records, from what `result` recorded (``RunResult/largestUserEvent()``). Nil by
    /// default.
    /// - Throws: what ``RunResult/privacyEvent()`` throws.
    func largestUserEvent(of result: RunResult) throws(StoredEventError) -> DPEvent?
    /// Settings beyond (ε, δ, q, T, accountant) that its calibration depends on, as words for
    /// `sweep run --dry-run` (`k=4`, `mixture`). Empty by default.
    func calibrationDetails(of config: RunConfig) -> [String]
    /// Problems with `config` that only this mechanism has, found before anything runs (each a
    /// message naming the config key and what to change). None by default.
    func preflightProblems(of config: RunConfig) -> [String]
}

extension Mechanism {
    func recordedEventEpsilon(of result: RunResult) -> Double { result.epsilon }
    func storedEvent(_ event: DPEvent, legacyLemmaGroupSize: Int?, config: RunConfig) throws(StoredEventError) -> DPEvent {
        if let k = legacyLemmaGroupSize { throw .legacyLemmaMismatch(groupSize: k, config: config) }
        return event
    }
    func largestUserEvent(of result: RunResult) throws(StoredEventError) -> DPEvent? { nil }
    func calibrationDetails(of config: RunConfig) -> [String] { [] }
    func preflightProblems(of config: RunConfig) -> [String] { [] }
}

/// ε of the run's `event` at the config's δ by `accountant`, recomputed for the exact event the
/// run executes (never a cached number alone), and the event as `result.json` stores it.
/// - Throws: ``TrainingError/epsilonExceedsTarget(achieved:target:)`` when ε exceeds the config's
///   target (beyond a relative 1e-12 of rounding), or what the accountant throws.
func spentEpsilon(of event: DPEvent, accountant: AccountantKind, config: RunConfig) throws -> (epsilon: Double, eventJSON: JSONValue) {
    let achieved = try accountant.makeAccountant().epsilon(for: event, delta: config.delta)
    guard achieved <= config.epsilon * (1 + 1e-12) else {
        throw TrainingError.epsilonExceedsTarget(achieved: achieved, target: config.epsilon)
    }
    return (achieved, try JSONValue(parsing: JSONEncoder().encode(event)))
}

/// The unit whose data neighbouring datasets differ in, for a DP guarantee.
public enum PrivacyUnit: String, Sendable, Hashable, CaseIterable {
    /// One record (one training sequence).
    case record
    /// All of one user's records.
    case user
}
