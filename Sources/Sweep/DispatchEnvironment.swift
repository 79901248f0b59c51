import Foundation
import LinearAlgebra

/// The environment-variable contract between a dispatcher and each trainer it starts: the
/// dispatcher writes it (`apply(to:)`), `userdp train` reads it (`init?(environment:)`, used by
/// `SweepChild`). One type for both sides, so a variable cannot be renamed on one side only.
public struct DispatchEnvironment: Sendable, Equatable {
    /// Environment variable carrying the dispatcher's pid, so that the child can tell when the
    /// dispatcher died (`SweepChild`). Its presence is what makes a trainer a dispatched child.
    public static let dispatcherPIDVariable = "USERDP_DISPATCHER_PID"
    /// Environment variable carrying the dispatcher's start time (clock ticks since boot, from
    /// /proc) with its pid, so that a recycled pid is not taken for the dispatcher.
    public static let dispatcherStartVariable = "USERDP_DISPATCHER_START"
    /// Environment variable carrying the run id.
    public static let runIDVariable = "USERDP_RUN_ID"
    /// Environment variable through which trainers find the sweep's shared calibration cache.
    public static let calibrationCacheVariable = "USERDP_CALIBRATION_CACHE"
    /// OpenBLAS's own thread-count variable, read by the library when the trainer starts: the
    /// child's share of the machine's cores.
    public static let blasThreadsVariable = BLASEnvironment.openBLASThreadsVariable

    /// The dispatcher's process id.
    public var dispatcherPID: Int32
    /// The dispatcher's process start time, where /proc tells it.
    public var dispatcherStart: UInt64?
    /// The run the trainer runs (always set by a dispatcher; optional when reading, for
    /// wrappers that set only the pid).
    public var runID: String?
    /// The sweep's calibration cache folder (`RESULTS/NAME/.calibration`).
    public var calibrationCache: URL?
    /// BLAS threads for the trainer (`OPENBLAS_NUM_THREADS`); nil when unknown.
    public var blasThreads: Int?

    /// The contract with every part given.
    public init(dispatcherPID: Int32, dispatcherStart: UInt64?, runID: String?, calibrationCache: URL?, blasThreads: Int?) {
        self.dispatcherPID = dispatcherPID
        self.dispatcherStart = dispatcherStart
        self.runID = runID
        self.calibrationCache = calibrationCache
        self.blasThreads = blasThreads
    }

    /// The BLAS threads of each of `jobs` trainers on `cores` cores: the user's
    /// `OPENBLAS_NUM_THREADS` in `environment` when it is a number, else an equal share of the
    /// cores (at least one).
    public static func blasThreads(cores: Int, jobs: Int, environment: [String: String]) -> Int {
        environment[blasThreadsVariable].flatMap { Int($0) } ?? max(1, cores / max(1, jobs))
    }

    /// The calibration cache folder `environment` names (`USERDP_CALIBRATION_CACHE`), whether
    /// or not a dispatcher started the process: a person may point a lone `userdp train` at a
    /// sweep's cache too.
    public static func calibrationCache(in environment: [String: String]) -> URL? {
        environment[calibrationCacheVariable].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
    }

    /// Reads the contract from a trainer's environment; nil when no dispatcher started it
    /// (no positive `USERDP_DISPATCHER_PID`). An unparsable start time counts as unknown.
    public init?(environment: [String: String]) {
        guard let text = environment[Self.dispatcherPIDVariable], let pid = Int32(text), pid > 0 else { return nil }
        dispatcherPID = pid
        dispatcherStart = environment[Self.dispatcherStartVariable].flatMap { UInt64($0) }
        runID = environment[Self.runIDVariable].flatMap { $0.isEmpty ? nil : $0 }
        calibrationCache = Self.calibrationCache(in: environment)
        blasThreads = environment[Self.blasThreadsVariable].flatMap { Int($0) }
    }

    /// Writes the contract into a child's environment (replacing earlier values; an unknown
    /// start time removes the variable). `OPENBLAS_NUM_THREADS` is the exception: a value
    /// already in `environment` is the user's and stays; the contract only fills it in.
    public func apply(to environment: inout [String: String]) {
        environment[Self.dispatcherPIDVariable] = String(dispatcherPID)
        environment[Self.dispatcherStartVariable] = dispatcherStart.map(String.init)
        environment[Self.runIDVariable] = runID
        environment[Self.calibrationCacheVariable] = calibrationCache?.path
        if environment[Self.blasThreadsVariable] == nil, let blasThreads {
            environment[Self.blasThreadsVariable] = String(blasThreads)
        }
    }
}
