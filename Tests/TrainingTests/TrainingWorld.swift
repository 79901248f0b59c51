import Foundation
import TestSupport
@testable import Training

/// A ``TinyWorld`` in a temporary folder of its own, with the token cache of its runs in the
/// folder and calibrations shared by every training test of the process (the same request is
/// calibrated once). The records come from seed 9, stream "world".
struct TrainingWorld {
    let root: URL
    let tiny: TinyWorld

    /// A world of `users` users in a fresh folder labelled `label`.
    init(users: Int, label: String) throws {
        root = try temporaryFolder(label)
        tiny = try TinyWorld(in: root, users: users, seed: 9, stream: "world")
    }

    var model: URL { tiny.model }
    var dataset: URL { tiny.dataset }

    /// Calibrations shared by the training tests.
    static let calibrations = FileManager.default.temporaryDirectory.appendingPathComponent("userdp-test-calibrations")

    /// Runs `config` into `root/name`.
    func train(_ config: RunConfig, _ name: String) throws -> ExperimentOutcome {
        try TrainingRun.execute(
            config: config, directory: root.appendingPathComponent(name), cacheDirectory: root.appendingPathComponent("cache"),
            calibrationDirectory: TrainingWorld.calibrations)
    }
}
