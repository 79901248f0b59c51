import Foundation
import Persistence
import Privacy

/// Why the DP event stored in a `result.json` cannot be read. Messages name the key; callers
/// that know the file put its path in front.
public enum StoredEventError: Error, Equatable, Sendable, LocalizedError {
    /// `dp_event` is not an event this build can read (an unknown kind, a missing or ill-typed
    /// field); `reason` names the key path inside the event and what was wrong.
    case unreadableEvent(reason: String)
    /// The result carries the legacy lemma markers (`extra.dp_event_unit`,
    /// `extra.dp_event_group_size`) but they are incomplete or contradict the config; `key` is
    /// the offending key.
    case inconsistentLegacyLemma(key: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .unreadableEvent(let reason):
            return "dp_event: not a DP event this userdp can read (\(reason)); a newer userdp may have written it"
        case .inconsistentLegacyLemma(let key, let reason):
            return "\(key): \(reason); the group-privacy lemma markers of results written before userdp stored the lemma as an event must say dp_event_unit = \"record\" and dp_event_group_size = k of a group run with lemma accounting"
        }
    }

    /// Legacy lemma markers of group size `k` beside a config that is not a `group` run with
    /// lemma accounting and that k.
    static func legacyLemmaMismatch(groupSize k: Int, config: RunConfig) -> StoredEventError {
        .inconsistentLegacyLemma(
            key: "extra.\(RunResult.legacyGroupSizeKey)",
            reason: "marks a lemma event of k = \(k) but the config is mechanism \(config.mechanism.rawValue) with k = \(config.k)"
                + " and group accounting \(config.mechanismOptions.group.accounting.rawValue)")
    }
}

extension RunResult {
    /// The run's DP event in today's vocabulary, from which its ε was computed: user-level for
    /// `user`, `group` (either accounting) and `asi-liu`, record-level for `record`; nil for
    /// `nonprivate` (`dp_event` is null).
    ///
    /// This and the mechanism's ``Mechanism/storedEvent(_:legacyLemmaGroupSize:config:)`` are
    /// the one place that reads the legacy form of the group-privacy lemma. Results of
    /// `group` runs with `mechanism_options.group.accounting = "lemma"` written before the lemma
    /// was an event (userdp 0.2.0 up to the change that added `DPEvent.groupPrivacy`) store the
    /// record-level event in `dp_event` and say so beside it with `extra.dp_event_unit` =
    /// `"record"` and `extra.dp_event_group_size` = k. Such a result reads as
    /// `.groupPrivacy(event: dp_event, groupSize: k, conversion: .lemma)`: exactly the event a
    /// run writes today, whose ε by the run's accountant is the stored user-level `epsilon`.
    /// The file itself is never rewritten.
    ///
    /// - Throws: ``StoredEventError/unreadableEvent(reason:)`` when `dp_event` does not decode,
    ///   ``StoredEventError/inconsistentLegacyLemma(key:reason:)`` when the legacy markers are
    ///   incomplete, contradict the config, or sit beside an event that already is a
    ///   group-privacy conversion.
    public func privacyEvent() throws(StoredEventError) -> DPEvent? {
        if case .null = dpEvent { return nil }
        let event: DPEvent
        do {
            event = try JSONDecoder().decode(DPEvent.self, from: Data(dpEvent.canonicalText().utf8))
        } catch {
            throw .unreadableEvent(reason: Self.describe(error))
        }
        return try config.mechanism.definition.storedEvent(event, legacyLemmaGroupSize: try legacyLemmaGroupSize(), config: config)
    }

    /// The group size k of the legacy lemma markers, nil when the result has none.
    /// - Throws: ``StoredEventError/inconsistentLegacyLemma(key:reason:)`` when they are
    ///   incomplete or do not mark a record-level event.
    private func legacyLemmaGroupSize() throws(StoredEventError) -> Int? {
        guard let unit = extra[Self.legacyUnitKey] else {
            if extra[Self.legacyGroupSizeKey] != nil {
                throw .inconsistentLegacyLemma(
                    key: "extra.\(Self.legacyGroupSizeKey)", reason: "present without extra.\(Self.legacyUnitKey)")
            }
            return nil
        }
        guard unit == .string("record") else {
            throw .inconsistentLegacyLemma(key: "extra.\(Self.legacyUnitKey)", reason: "is \(unit.canonicalText()), not \"record\"")
        }
        guard case .integer(let k)? = extra[Self.legacyGroupSizeKey]?.normalized, k >= 1 else {
            let found = extra[Self.legacyGroupSizeKey].map { "is \($0.canonicalText())" } ?? "is missing"
            throw .inconsistentLegacyLemma(key: "extra.\(Self.legacyGroupSizeKey)", reason: "\(found), not a group size k >= 1")
        }
        return k
    }

    /// For a mechanism whose stored event is record-level (`record`): the user-level event of
    /// the user with the most records, the record-level event under the group-privacy lemma
    /// with k = n (``PerUserPrivacy/lemmaEvent(records:recordLevel:)``), whose ε at the run's δ
    /// is the result's `epsilon` (``Mechanism/largestUserEvent(of:)``). Nil for other mechanisms
    /// and for results without that count.
    /// - Throws: what ``privacyEvent()`` throws.
    public func largestUserEvent() throws(StoredEventError) -> DPEvent? {
        try config.mechanism.definition.largestUserEvent(of: self)
    }

    /// The run's stored event re-accounted at `delta` by `accountant` (default: the run's own,
    /// ``RunConfig/accountant``); nil for `nonprivate`. At the run's own δ and accountant
    /// this is the recorded `epsilon` (for `record` runs, the record-level ε, and the largest
    /// user's is the recorded `epsilon`): the event is the guarantee, not a summary of it.
    ///
    /// The answer is an upper bound, as the accountant's always is; ∞ when no finite ε reaches
    /// `delta` (for example when an event's failure probability p needs δ > 2p).
    /// - Throws: ``StoredEventError`` when the stored event cannot be read, ``PrivacyError`` when
    ///   `delta` is outside (0, 1) or the accountant cannot account for the event (RDP and a
    ///   tight group's mixture of Gaussians: ``PrivacyError/unsupportedEvent(accountant:event:)``).
    public func reaccounted(delta: Double, accountant: AccountantKind? = nil) throws -> ReaccountedRun? {
        guard let event = try privacyEvent() else { return nil }
        let accountant = try (accountant ?? config.accountant).makeAccountant()
        var largestUser: ReaccountedRun.LargestUser?
        if let largest = try largestUserEvent(), case .groupPrivacy(_, let records, _) = largest {
            largestUser = .init(records: records, epsilon: try accountant.epsilon(for: largest, delta: delta))
        }
        return ReaccountedRun(event: event, epsilon: try accountant.epsilon(for: event, delta: delta), largestUser: largestUser)
    }

    /// `extra` key of the legacy lemma form: the unit of the stored event (`"record"`).
    static let legacyUnitKey = "dp_event_unit"
    /// `extra` key of the legacy lemma form: the group size k the lemma applies.
    static let legacyGroupSizeKey = "dp_event_group_size"

    /// A decoding failure as "key.path: what was wrong" (the path inside `dp_event`).
    private static func describe(_ error: any Error) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return keys.isEmpty ? "" : "at \(keys): "
        }
        switch error {
        case DecodingError.typeMismatch(let type, let context): return "\(path(context))expected a value of type \(type)"
        case DecodingError.valueNotFound(_, let context): return "\(path(context))a value is missing"
        case DecodingError.keyNotFound(let key, let context): return "\(path(context))missing key \"\(key.stringValue)\""
        case DecodingError.dataCorrupted(let context): return "\(path(context))\(context.debugDescription)"
        default: return error.localizedDescription
        }
    }
}

/// A finished run's stored guarantee re-accounted at some δ (``RunResult/reaccounted(delta:accountant:)``).
public struct ReaccountedRun: Sendable, Equatable {
    /// The user with the most records under a record-level run.
    public struct LargestUser: Sendable, Equatable {
        /// Their record count n.
        public var records: Int
        /// Their user-level ε: the record-level event under the group-privacy lemma with k = n.
        public var epsilon: Double
    }

    /// The stored event, in today's vocabulary (``RunResult/privacyEvent()``).
    public var event: DPEvent
    /// ε of `event` at the asked δ; ∞ when no finite ε reaches it.
    public var epsilon: Double
    /// For `record` runs (whose `event` is record-level): the largest user's ε at the same δ.
    public var largestUser: LargestUser?
}
