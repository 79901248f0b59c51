import Foundation
import Training
import Persistence

/// Where each run of a sweep stands (`userdp sweep status`).
public struct SweepStatus: Sendable, Equatable {
    /// A run whose claim is live.
    public struct Running: Sendable, Equatable {
        /// Run id.
        public var id: String
        /// `{axis=value, ..., seed=s}`.
        public var point: String
        /// Host of the claiming dispatcher.
        public var host: String
        /// Its process id.
        public var pid: Int32
        /// Attempt number.
        public var attempt: Int
        /// Seconds since the claim was made.
        public var seconds: Double
    }

    /// A run whose last attempt failed.
    public struct Failure: Sendable, Equatable {
        /// Run id.
        public var id: String
        /// `{axis=value, ..., seed=s}`.
        public var point: String
        /// Exit status or signal.
        public var reason: String
        /// Attempt number of the failed attempt.
        public var attempt: Int
        /// The last lines of the attempt's output and log.
        public var lastLines: [String]
    }

    /// Runs in the plan.
    public var total: Int
    /// Runs with a result.
    public var done: [String]
    /// Runs with a live claim.
    public var running: [Running]
    /// Runs whose last attempt failed (and which nobody runs now).
    public var failed: [Failure]
    /// Runs never started, interrupted, or with a stale claim.
    public var missing: [String]
    /// Runs among `missing` whose claim is stale (the next `sweep run` takes them over).
    public var staleClaims: [String]
    /// Runs among `missing` (or `failed`) whose `result.json` exists but does not decode or
    /// records other inputs than planned: not done; the next `sweep run` moves the file aside
    /// and redoes them.
    public var unreadable: [String] = []
    /// The label's pinned commits, short (`LabelPin.shortList`), nil when it has no pin; the
    /// reason when its pin cannot be read.
    public var pinned: String?

    /// Reads the state of every planned run from the store.
    public init(plan: SweepPlan, store: ResultStore, staleAfter: TimeInterval = 120, lines: Int = 5) {
        let claims = ClaimBook(store: store, token: "status", staleAfter: staleAfter)
        total = plan.runs.count
        switch Result(catching: { () throws(SweepError) in try store.pin() }) {
        case .success(let pin): pinned = pin?.shortList
        case .failure(let error): pinned = "an unreadable pin (\(error.localizedDescription))"
        }
        (done, running, failed, missing, staleClaims) = ([], [], [], [], [])
        for run in plan.runs {
            let point = run.describe(axes: plan.axes)
            if store.hasResult(run.id) {
                if store.unusableReason(run) == nil {
                    done.append(run.id)
                    continue
                }
                unreadable.append(run.id)
            }
            switch claims.state(of: run.id) {
            case .live(let claim):
                running.append(
                    Running(
                        id: run.id, point: point, host: claim.host, pid: claim.pid, attempt: claim.attempt,
                        seconds: Date().timeIntervalSince1970 - claim.claimedAt))
                continue
            case .stale:
                staleClaims.append(run.id)
            case .free:
                break
            }
            if let failure = store.failure(of: run.id) {
                failed.append(
                    Failure(id: run.id, point: point, reason: failure.reason, attempt: failure.attempt, lastLines: store.lastLines(of: run.id, count: lines)))
            } else {
                missing.append(run.id)
            }
        }
    }

    /// A human-readable report: counts, then running and failed runs (with their last lines).
    public func render() -> String {
        var lines = ["\(total) runs: \(done.count) done, \(running.count) running, \(failed.count) failed, \(missing.count) missing"]
        if let pinned { lines.append("label pinned to \(pinned) (pin.json): only their results count") }
        if !unreadable.isEmpty {
            lines.append("\(unreadable.count) unusable result.json (unreadable, computed on other inputs, or from code the label's pin does not accept: \(unreadable.joined(separator: ", "))): not counted as done; the next `sweep run` moves them aside and redoes the runs")
        }
        if !staleClaims.isEmpty {
            lines.append("\(staleClaims.count) stale claim(s) (owner gone): the next `sweep run` takes them over")
        }
        if !running.isEmpty { lines.append("running:") }
        for run in running {
            lines.append("  \(run.id) \(run.point) attempt \(run.attempt), pid \(run.pid) on \(run.host), \(formatDuration(run.seconds))")
        }
        if !failed.isEmpty { lines.append("failed:") }
        for failure in failed {
            lines.append("  \(failure.id) \(failure.point): \(failure.reason) (attempt \(failure.attempt))")
            lines += failure.lastLines.map { "      \($0)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// A duration as `45s`, `4m12s` or `1h03m`.
public func formatDuration(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    if total < 60 { return "\(total)s" }
    if total < 3600 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
    return "\(total / 3600)h\(String(format: "%02d", (total % 3600) / 60))m"
}

/// The one-line progress summary: `5/8 done, 2 running, 1 failed, ETA 4m12s`.
public func progressText(_ progress: DispatchProgress) -> String {
    var parts = ["\(progress.done)/\(progress.total) done", "\(progress.running) running", "\(progress.failed) failed"]
    if progress.elsewhere > 0 { parts.append("\(progress.elsewhere) elsewhere") }
    if let eta = progress.etaSeconds { parts.append("ETA \(formatDuration(eta))") }
    return parts.joined(separator: ", ")
}
