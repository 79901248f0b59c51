import ArgumentParser
import Foundation
import Privacy
import Training

/// `userdp privacy epsilon --run DIR --delta D`: ε at another δ for a finished run, re-accounted
/// from the DP event stored in its `result.json` (docs/PRIVACY.md, "ε of a finished run").
extension PrivacyEpsilonCommand {
    /// What `--run ... --json` prints (snake_case keys).
    struct RunReport: Encodable {
        struct LargestUser: Encodable {
            var records: Int
            var epsilon: Double
        }

        var run: String
        var mechanism: String
        /// "user" or "record": the unit of `epsilon`'s guarantee.
        var level: String
        var guarantee: String
        var accountant: String
        var delta: Double
        var epsilon: Double
        var recordedDelta: Double
        var recordedEpsilon: Double
        var targetEpsilon: Double
        var largestUser: LargestUser?
        var event: DPEvent?

        enum CodingKeys: String, CodingKey {
            case run, mechanism, level, guarantee, accountant, delta, epsilon, event
            case recordedDelta = "recorded_delta"
            case recordedEpsilon = "recorded_epsilon"
            case targetEpsilon = "target_epsilon"
            case largestUser = "largest_user"
        }
    }

    func reaccount(runDirectory: String) throws {
        let file = URL(fileURLWithPath: runDirectory).appendingPathComponent(RunResult.fileName)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw CommandFailure(message: "\(file.path): no such file; --run takes a finished run's folder (results/<sweep>/<label>/runs/<id>, or a train --out folder)")
        }
        let result: RunResult
        do { result = try RunResult(contentsOf: file) } catch {
            throw CommandFailure(message: "\(file.path): not a readable result (\(plainError(error)))")
        }
        let kind = options.accountant?.kind(discretization: options.discretization) ?? result.config.accountant
        let reaccounted: ReaccountedRun?
        do {
            reaccounted = try result.reaccounted(delta: options.delta, accountant: kind)
        } catch let error as StoredEventError {
            throw CommandFailure(message: "\(file.path): \(error.localizedDescription)")
        } catch let error as PrivacyError {
            if case .deltaOutOfRange = error { throw CommandFailure(message: error.localizedDescription) }
            throw CommandFailure(message: "\(file.path): its event cannot be re-accounted with \(kind.summary): \(error.localizedDescription)")
        }
        let mechanism = result.config.mechanism
        let level = mechanism.eventUnit.rawValue
        let guarantee = mechanism.guarantee(of: result, event: reaccounted?.event)
        let report = RunReport(
            run: runDirectory, mechanism: mechanism.rawValue, level: level, guarantee: guarantee,
            accountant: kind.summary, delta: options.delta, epsilon: reaccounted?.epsilon ?? .infinity,
            recordedDelta: result.delta, recordedEpsilon: mechanism.recordedEventEpsilon(of: result), targetEpsilon: result.config.epsilon,
            largestUser: reaccounted?.largestUser.map { RunReport.LargestUser(records: $0.records, epsilon: $0.epsilon) },
            event: reaccounted?.event)
        if options.json {
            try printJSON(report)
            return
        }
        print("\(file.path): \(guarantee)")
        guard let reaccounted else {
            print("epsilon = inf at every delta: the run is not private (no DP event)")
            return
        }
        print("recorded: \(level)-level epsilon = \(format(report.recordedEpsilon)) at delta = \(result.delta) (target \(result.config.epsilon))")
        print("\(level)-level epsilon = \(format(reaccounted.epsilon)) at delta = \(options.delta)  [\(kind.summary)]")
        if !reaccounted.epsilon.isFinite { print(noFiniteEpsilonReason(reaccounted.event)) }
        if let largest = reaccounted.largestUser {
            print("user-level epsilon of the user with the most records (\(largest.records), group-privacy lemma) = \(format(largest.epsilon)) at delta = \(options.delta)")
        }
    }

    /// Why an event has no finite ε at the asked δ.
    private func noFiniteEpsilonReason(_ event: DPEvent) -> String {
        let failure = event.separatingFailureProbability().failureProbability
        if failure > 0, 2 * failure >= options.delta {
            return "no finite epsilon: the event's failure probability \(failure) adds at least \(2 * failure) to delta; ask for a larger delta"
        }
        return "no finite epsilon reaches delta = \(options.delta); ask for a larger delta"
    }

    private func format(_ value: Double) -> String {
        value.isFinite ? String(format: "%.5f", value) : (value.isNaN ? "unknown" : "inf")
    }
}
