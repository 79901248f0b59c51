import Foundation
import Persistence
import Privacy

extension MechanismKind {
    /// Group Privacy: k records per user, record-level DP-SGD, user-level accounting.
    public static let group = MechanismKind(declaring: "group")
}

/// `group` (Group Privacy): the selection strategy takes k records from every user once; DP-SGD
/// runs on the N·k records at record level, and the guarantee is accounted at user level. By
/// default with the tight event (per step the user's records in the batch are Binomial(k, q), a
/// mixture of Gaussians, Ganesh 2024, arXiv 2401.10294); with
/// `mechanism_options.group.accounting = "lemma"` the record-level event inside a group-privacy
/// conversion with k (`DPEvent.groupPrivacy`). Either way the stored event is user-level.
struct GroupMechanism: Mechanism {
    let kind = MechanismKind.group
    let isPrivate = true
    let eventUnit = PrivacyUnit.user
    let population = UnitPopulation.recordsPerUser
    let readKeys = dpSGDReadKeys.union(["k", "selection"])
    let optionsKey: String? = "group"
    let resultKeys: Set<String> = ["accountant", "calibrated_epsilon"]

    func privacyPlan(config: RunConfig, plan: TrainingPlan, calibrationDirectory: URL) throws -> PrivacyPlan {
        let accountant = config.accountant
        // For the lemma the event is the user-level event itself (the record-level event inside a
        // group-privacy conversion with k). Results written before the lemma was an event stored
        // the record-level event with `extra.dp_event_unit` and `extra.dp_event_group_size`;
        // `RunResult.privacyEvent()` reads both forms.
        let calibration = try DPSGDCalibration(
            unit: .groupOfRecords(config.k),
            accountant: config.mechanismOptions.group.accounting == .lemma ? .groupLemma(base: accountant) : accountant,
            config: config, plan: plan, calibrationDirectory: calibrationDirectory)
        return calibration.privacyPlan(config: config, plan: plan)
    }

    /// Results of lemma runs written before the lemma was an event stored the record-level
    /// event with the legacy markers; they read as the group-privacy conversion a run writes
    /// today (``RunResult/privacyEvent()``).
    func storedEvent(_ event: DPEvent, legacyLemmaGroupSize: Int?, config: RunConfig) throws(StoredEventError) -> DPEvent {
        guard let k = legacyLemmaGroupSize else { return event }
        guard config.mechanismOptions.group.accounting == .lemma, config.k == k else {
            throw .legacyLemmaMismatch(groupSize: k, config: config)
        }
        if case .groupPrivacy = event {
            throw .inconsistentLegacyLemma(
                key: "extra.\(RunResult.legacyUnitKey)", reason: "marks a record-level event, but dp_event already is a groupPrivacy event")
        }
        return .groupPrivacy(event: event, groupSize: k, conversion: .lemma)
    }

    func guarantee(of config: RunConfig, event: DPEvent?, steps: String) -> String {
        if case .groupPrivacy(_, let k, let conversion)? = event {
            return "Group Privacy, k = \(k) (\(steps)); user-level event: the record-level event converted to groups of \(k) by the group-privacy \(conversion.rawValue)"
        }
        return "Group Privacy, k = \(config.k) (\(steps)); user-level event: tight mixture of Gaussians (Binomial(\(config.k), q) records per step)"
    }

    /// k and the accounting.
    func calibrationDetails(of config: RunConfig) -> [String] {
        ["k=\(config.k)", config.mechanismOptions.group.accounting.rawValue]
    }

    /// RDP cannot account the tight mixture of Gaussians for k > 1.
    func preflightProblems(of config: RunConfig) -> [String] {
        guard config.accountant == .rdp, config.mechanismOptions.group.accounting == .mixture, config.k > 1 else { return [] }
        return ["accountant: rdp cannot account group's mixture of Gaussians for k > 1; use \"pld\" or mechanism_options.group.accounting \"lemma\""]
    }
}

extension RunConfig {
    /// Options of the `group` mechanism (`mechanism_options.group`).
    public struct GroupOptions: Sendable, Hashable {
        /// How `group` turns its record-level mechanism into a user-level guarantee.
        public enum Accounting: String, Sendable, Hashable, CaseIterable, Codable {
            /// Tight: per step the user's records in the batch are Binomial(k, q), a mixture of
            /// Gaussians with sensitivities 0..kC (Ganesh 2024, arXiv 2401.10294).
            case mixture
            /// The group-privacy lemma: record-level (ε', δ') gives user-level
            /// (kε', k·e^{(k−1)ε'}·δ').
            case lemma
        }

        /// Default `.mixture`.
        public var accounting: Accounting = .mixture
        /// The all-defaults options.
        public init() {}
    }
}
