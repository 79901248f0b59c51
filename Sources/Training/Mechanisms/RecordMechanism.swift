import Foundation
import Persistence
import Privacy

extension MechanismKind {
    /// Record-level DP-SGD on all records (Abadi et al. 2016).
    public static let record = MechanismKind(declaring: "record")
}

/// `record`: record-level DP-SGD on every training record (Abadi et al. 2016). Its target
/// (ε, δ) and its stored event are record-level; the user-level ε it reports is that of the
/// user with the most records n, the record-level event under the group-privacy lemma with
/// k = n (`PerUserPrivacy.lemmaEvent`), beside `extra.record_epsilon`.
struct RecordMechanism: Mechanism {
    let kind = MechanismKind.record
    let isPrivate = true
    let eventUnit = PrivacyUnit.record
    let population = UnitPopulation.records
    /// Trains on every record: no k, no selection.
    let readKeys = dpSGDReadKeys
    let optionsKey: String? = nil
    let resultKeys: Set<String> = ["accountant", "calibrated_epsilon", "record_epsilon", Self.largestUserRecordsKey]
    /// The `extra` key of the largest training user's record count n.
    static let largestUserRecordsKey = "largest_user_records"

    func privacyPlan(config: RunConfig, plan: TrainingPlan, calibrationDirectory: URL) throws -> PrivacyPlan {
        let accountant = config.accountant
        let calibration = try DPSGDCalibration(
            unit: .record, accountant: accountant, config: config, plan: plan, calibrationDirectory: calibrationDirectory)
        // The record-level guarantee, and what it means for the user with the most records.
        let largest = max(plan.largestUserRecords, 1)
        let lemma = try? accountant.makeAccountant().epsilon(
            for: PerUserPrivacy.lemmaEvent(records: largest, recordLevel: calibration.event), delta: config.delta)
        return calibration.privacyPlan(
            config: config, plan: plan, userEpsilon: lemma ?? .infinity,
            extra: ["record_epsilon": .number(calibration.achievedEpsilon), Self.largestUserRecordsKey: .integer(largest)])
    }

    /// The record-level event under the group-privacy lemma with k = n, n from
    /// `extra.largest_user_records`; nil for results without that count.
    func largestUserEvent(of result: RunResult) throws(StoredEventError) -> DPEvent? {
        guard case .integer(let records)? = result.extra[Self.largestUserRecordsKey]?.normalized, records >= 1,
            let recordLevel = try result.privacyEvent()
        else { return nil }
        do {
            return try PerUserPrivacy.lemmaEvent(records: records, recordLevel: recordLevel)
        } catch {
            throw .unreadableEvent(reason: "extra.\(Self.largestUserRecordsKey): \(error.localizedDescription)")
        }
    }

    func guarantee(of config: RunConfig, event: DPEvent?, steps: String) -> String {
        "record-level DP-SGD (\(steps)); its event is record-level"
    }

    /// `extra.record_epsilon`: the result's `epsilon` is the largest user's.
    func recordedEventEpsilon(of result: RunResult) -> Double {
        switch result.extra["record_epsilon"]?.normalized {
        case .integer(let value)?: return Double(value)
        case .number(let value)?: return value
        default: return .nan
        }
    }
}
