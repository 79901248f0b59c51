import Foundation
import Persistence
import Privacy

extension MechanismKind {
    /// User-wise DP-SGD: sample users, clip the mean of k unit gradients per user.
    public static let user = MechanismKind(declaring: "user")
}

/// `user` (User-wise DP-SGD): Poisson-sample users; each sampled user contributes k sequences
/// chosen afresh by the selection strategy at every step; the mean of a user's sequence
/// gradients is clipped to C, so the event is a Poisson-subsampled Gaussian over users with
/// sensitivity C.
struct UserMechanism: Mechanism {
    let kind = MechanismKind.user
    let isPrivate = true
    let eventUnit = PrivacyUnit.user
    let population = UnitPopulation.users
    let readKeys = dpSGDReadKeys.union(["k", "selection"])
    let optionsKey: String? = nil
    let resultKeys: Set<String> = ["accountant", "calibrated_epsilon"]

    func privacyPlan(config: RunConfig, plan: TrainingPlan, calibrationDirectory: URL) throws -> PrivacyPlan {
        try DPSGDCalibration(
            unit: .user, accountant: config.accountant, config: config, plan: plan, calibrationDirectory: calibrationDirectory
        ).privacyPlan(config: config, plan: plan)
    }

    func guarantee(of config: RunConfig, event: DPEvent?, steps: String) -> String {
        "User-wise DP-SGD (\(steps)); user-level event: Poisson-subsampled Gaussian over users"
    }
}
