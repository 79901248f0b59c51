import Foundation
import Persistence

/// Why one attempt of a run failed: `runs/ID/failure.json`, written by the dispatcher through
/// `ResultStore.recordFailure` and archived with the attempt's other files (`attempts/N/`)
/// when another attempt follows.
///
/// `code` is what the dispatcher compares runs' failures by (fail-fast stops when one code
/// ended `failFastAfter` runs): the trainer's own code from `trainer-failure.json`
/// (`TrainerFailure`) when it wrote one, else the child's termination (`exit.N`,
/// `signal.SIGNAME`), or `result.unusable` when it exited but left a result that cannot stand.
///
/// Result folders outlive versions of userdp, so every field has a default when reading:
/// files written before the record was typed have no `code` (read as `unknown`) and may lack
/// other keys.
public struct RunFailure: Codable, Sendable, Equatable {
    /// The code of a failure recorded without one (by an earlier version of userdp).
    public static let unknownCode = "unknown"
    /// The code of a trainer that exited but whose `result.json` does not decode or records
    /// other inputs than planned.
    public static let unusableResultCode = "result.unusable"

    /// The failed attempt's number (1-based, counting earlier invocations); 0 when unknown.
    public var attempt: Int
    /// The child's termination or the unusable result, for a person (`exit status 3`).
    public var reason: String
    /// Whether the failure looks transient (killed by a signal, exit status 137) and is retried.
    public var transient: Bool
    /// Wall time of the attempt, seconds.
    public var seconds: Double
    /// Host of the dispatcher that recorded it.
    public var host: String
    /// When it was recorded, seconds since 1970; nil in files that do not say.
    public var finishedAt: Double?
    /// The last lines of the attempt's output and log, each file's introduced by `[name]`.
    public var lastLines: [String]
    /// What the failure is, stable across runs: see the type's summary.
    public var code: String
    /// The trainer's own message, when it wrote `trainer-failure.json`.
    public var message: String?

    enum CodingKeys: String, CodingKey {
        case attempt, reason, transient, seconds, host, code, message
        case finishedAt = "finished_at"
        case lastLines = "last_lines"
    }

    /// A failure with every part given.
    public init(
        attempt: Int, reason: String, transient: Bool, seconds: Double, host: String, finishedAt: Double?,
        lastLines: [String], code: String, message: String?
    ) {
        self.attempt = attempt
        self.reason = reason
        self.transient = transient
        self.seconds = seconds
        self.host = host
        self.finishedAt = finishedAt
        self.lastLines = lastLines
        self.code = code
        self.message = message
    }

    /// Reads a record, taking defaults for missing keys (see the type's summary); a key present
    /// with the wrong type is an error.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        attempt = try container.decodeIfPresent(Int.self, forKey: .attempt) ?? 0
        reason = try container.decodeIfPresent(String.self, forKey: .reason) ?? "failed"
        transient = try container.decodeIfPresent(Bool.self, forKey: .transient) ?? false
        seconds = try container.decodeIfPresent(Double.self, forKey: .seconds) ?? 0
        host = try container.decodeIfPresent(String.self, forKey: .host) ?? ""
        finishedAt = try container.decodeIfPresent(Double.self, forKey: .finishedAt)
        lastLines = try container.decodeIfPresent([String].self, forKey: .lastLines) ?? []
        code = try container.decodeIfPresent(String.self, forKey: .code) ?? Self.unknownCode
        message = try container.decodeIfPresent(String.self, forKey: .message)
    }
}

extension RunExit {
    /// The exit as a failure code: `exit.N` or `signal.SIGNAME` (`signal.N` for a signal
    /// without a name here).
    public var failureCode: String {
        switch self {
        case .status(let status): return "exit.\(status)"
        case .signal(let number):
            let name = signalName(number)
            return "signal.\(name.hasPrefix("SIG") ? name : String(number))"
        }
    }
}
