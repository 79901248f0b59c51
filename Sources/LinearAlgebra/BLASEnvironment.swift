internal import COpenBLAS
import Foundation

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Public API

/// Which OpenBLAS kernel and how many threads this process uses, and who chose them.
///
/// OpenBLAS (built with `DYNAMIC_ARCH`, as Debian's is) picks its kernel family once, when the
/// shared library loads, from CPUID or from the `OPENBLAS_CORETYPE` environment variable. Debian's
/// 0.3.21 does not recognise AMD Zen 4 and falls back to the generic SSE3 `Prescott` kernel, about
/// five times slower for sgemm than `SkylakeX` on the same chip. `BLASEnvironment.prepareProcess()`
/// repairs that by setting the variable and re-executing the binary once, before any work.
public enum BLASEnvironment {
    /// Environment variable OpenBLAS reads at load time to force a kernel family.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Environment variable OpenBLAS reads at load time for its thread count.
    public static let openBLASThreadsVariable = "OPENBLAS_NUM_THREADS"
    /// userdp's own thread-count variable; when set it takes precedence over `OPENBLAS_NUM_THREADS`.
    public static let userdpThreadsVariable = "USERDP_BLAS_THREADS"
    /// Marker set by userdp when it chose `OPENBLAS_CORETYPE` itself and re-executed. Its value is
    /// the core type userdp chose, so the re-executed process (and child processes, which inherit
    /// it) can tell userdp's choice from the user's, and never re-executes a second time.
    public static let selectionMarkerVariable = "USERDP_OPENBLAS_CORETYPE_CHOSEN"

    /// The kernel family OpenBLAS is running (`openblas_get_corename`), for example `SkylakeX`.
    public static var coreName: String { BLAS.coreName }

    /// The build configuration string of the loaded OpenBLAS (`openblas_get_config`).
    public static var configuration: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }

    /// The process's thread budget (`BLAS.threadCount`): how many workers run single-threaded
    /// BLAS calls side by side. OpenBLAS itself always runs one thread per call (see `BLAS`).
    public static var threadCount: Int { BLAS.threadCount }

    /// Sets the process's thread budget and records it in `USERDP_BLAS_THREADS`, so that
    /// `kernelChoice` reports it as the user's choice and child processes (for example sweep
    /// workers) inherit it.
    ///
    /// - Precondition: `count >= 1`.
    public static func setThreadCount(_ count: Int) {
        BLAS.setThreadCount(count)
        setenv(userdpThreadsVariable, String(count), 1)
    }

    /// What is in use now: core name, thread count and who chose each. Record it with every
    /// result so timings from different machines or settings can be told apart.
    public static var kernelChoice: KernelChoice {
        let environment = ProcessInfo.processInfo.environment
        return KernelChoice(
            coreName: coreName,
            threads: threadCount,
            coreSource: KernelSelection.coreSource(environment: environment),
            threadSource: KernelSelection.threadSource(environment: environment)
        )
    }

    /// Makes the running process use the fastest correct OpenBLAS kernel and the requested thread
    /// count. Call it first thing in `main`, before any other work.
    ///
    /// 1. If `OPENBLAS_CORETYPE` is unset, userdp has not re-executed yet, and the loaded kernel is
    ///    a weaker ISA tier than the CPU supports (see `KernelSelection.decide`), it sets
    ///    `OPENBLAS_CORETYPE` plus the marker variable and replaces the process with a fresh copy
    ///    of itself (`execv("/proc/self/exe", arguments)`). This call then does not return.
    /// 2. In the re-executed process, it checks the chosen kernel against a naive loop on one
    ///    small product; if the kernel computes wrong numbers it re-executes once more without
    ///    `OPENBLAS_CORETYPE` (the marker then says `rejected`, so no loop) and warns on stderr.
    /// 3. It applies `USERDP_BLAS_THREADS` if set.
    ///
    /// A value the user set for `OPENBLAS_CORETYPE` or the thread variables is never overridden.
    /// Outside Linux (no `/proc`), step 1 is skipped.
    ///
    /// - Returns: the kernel choice in effect.
    /// - Throws: `BLASEnvironmentError.invalidThreadCount` if `USERDP_BLAS_THREADS` is not a
    ///   positive integer.
    @discardableResult
    public static func prepareProcess(arguments: [String] = CommandLine.arguments) throws -> KernelChoice {
        let environment = ProcessInfo.processInfo.environment
        let threads = try KernelSelection.requestedThreadCount(environment: environment)

        if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            let features = CPUFeatures(cpuinfo: cpuinfo)
            let decision = KernelSelection.decide(currentCore: coreName, features: features, environment: environment)
            if case .reexecute(let coreType) = decision {
                setenv(coreTypeVariable, coreType, 1)
                setenv(selectionMarkerVariable, coreType, 1)
                reexecute(arguments: arguments)
                // execv only returns on failure: undo, and carry on with the library's kernel.
                unsetenv(coreTypeVariable)
                unsetenv(selectionMarkerVariable)
                warn("could not re-execute to select OpenBLAS core \(coreType); continuing with \(coreName)")
            }
        }

        if KernelSelection.coreSource(environment: environment) == .userdp {
            let error = kernelSelfCheckError()
            if !(error <= 1e-4) {
                let rejected = environment[coreTypeVariable] ?? "?"
                warn("OpenBLAS core \(rejected) chosen by userdp failed a self-check (relative error \(error)); reverting to OpenBLAS's own choice")
                unsetenv(coreTypeVariable)
                setenv(selectionMarkerVariable, "rejected:\(rejected)", 1)
                reexecute(arguments: arguments)
            }
        }

        if let threads { BLAS.setThreadCount(threads) }
        return kernelChoice
    }

    private static func reexecute(arguments: [String]) {
        #if os(Linux)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        _ = argv.withUnsafeMutableBufferPointer { execv("/proc/self/exe", $0.baseAddress!) }
        for pointer in argv { free(pointer) }
        #endif
    }

    private static func warn(_ message: String) {
        FileHandle.standardError.write(Data("userdp: warning: \(message)\n".utf8))
    }

    /// Largest relative error of one sgemm product against a double-precision naive loop. The
    /// sizes are above OpenBLAS's small-matrix threshold, so the main blocked kernel runs.
    private static func kernelSelfCheckError() -> Double {
        let (m, n, k) = (72, 80, 88)
        let a = deterministicMatrix(count: m * k, salt: 1)
        let b = deterministicMatrix(count: k * n, salt: 2)
        var c = [Float](repeating: 0, count: m * n)
        plainSgemm(m: m, n: n, k: k, a: a, b: b, c: &c)
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n { worst = max(worst, relativeErrorOfEntry(i, j, a: a, b: b, c: c, n: n, k: k)) }
        }
        return worst
    }
}

/// Who decided a setting in a `KernelChoice`.
public enum KernelChoiceSource: String, Sendable, Codable, Equatable, CustomStringConvertible {
    /// userdp set it (automatic kernel selection).
    case userdp
    /// The user set it through an environment variable or a flag.
    case user
    /// Nobody did: OpenBLAS's own detection or default.
    case openBLAS = "openblas"

    public var description: String {
        switch self {
        case .userdp: "chosen by userdp"
        case .user: "set by the user"
        case .openBLAS: "OpenBLAS default"
        }
    }
}

/// The OpenBLAS kernel family and thread count in use, with who chose each. Codable so that
/// run results can store it beside the configuration.
public struct KernelChoice: Sendable, Codable, Equatable, CustomStringConvertible {
    /// `openblas_get_corename()`, for example `SkylakeX` or `Prescott`.
    public var coreName: String
    /// The thread budget (`BLAS.threadCount`): worker threads, each making single-threaded
    /// OpenBLAS calls.
    public var threads: Int
    /// Who chose the core.
    public var coreSource: KernelChoiceSource
    /// Who chose the thread count.
    public var threadSource: KernelChoiceSource

    /// Creates a report.
    public init(coreName: String, threads: Int, coreSource: KernelChoiceSource, threadSource: KernelChoiceSource) {
        self.coreName = coreName
        self.threads = threads
        self.coreSource = coreSource
        self.threadSource = threadSource
    }

    /// JSON spells the keys in snake_case (`core_name`, `core_source`, ...).
    enum CodingKeys: String, CodingKey {
        case threads
        case coreName = "core_name"
        case coreSource = "core_source"
        case threadSource = "thread_source"
    }

    /// One line such as `OpenBLAS core SkylakeX (chosen by userdp), 2 threads (OpenBLAS default)`.
    public var description: String {
        "OpenBLAS core \(coreName) (\(coreSource)), \(threads) thread\(threads == 1 ? "" : "s") (\(threadSource))"
    }
}

/// Errors from reading the BLAS environment.
public enum BLASEnvironmentError: Error, Equatable, LocalizedError {
    /// A thread-count variable holds something other than a positive integer.
    case invalidThreadCount(variable: String, value: String)

    public var errorDescription: String? {
        switch self {
        case let .invalidThreadCount(variable, value):
            "\(variable)=\"\(value)\" is not a positive integer; set it to the number of BLAS threads (for example 1 or 2) or unset it"
        }
    }
}

/// The CPU facts kernel selection depends on: vendor and ISA feature flags.
public struct CPUFeatures: Sendable, Equatable {
    /// `vendor_id` from /proc/cpuinfo, for example `AuthenticAMD` or `GenuineIntel`.
    public var vendor: String
    /// Lower-case feature flags as the Linux kernel names them (`avx2`, `fma`, `avx512f`, ...).
    public var flags: Set<String>
    /// `model name` from /proc/cpuinfo, for example `AMD EPYC` or `Intel(R) Xeon(R) ...`;
    /// empty when unknown.
    public var modelName: String

    /// Creates features from explicit values (tests, other platforms).
    public init(vendor: String, flags: Set<String>, modelName: String = "") {
        self.vendor = vendor
        self.flags = flags
        self.modelName = modelName
    }

    /// This machine's features (empty outside Linux).
    public static var current: CPUFeatures {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return CPUFeatures(vendor: "", flags: []) }
        return CPUFeatures(cpuinfo: cpuinfo)
    }

    /// Parses the first processor block of Linux's /proc/cpuinfo (`vendor_id` and `flags`
    /// lines). Missing lines give an empty vendor or flag set, which selects nothing.
    public init(cpuinfo: String) {
        var vendor = ""
        var modelName = ""
        var flags: Set<String> = []
        for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let colon = line.firstIndex(of: ":") else {
                // A blank line ends the first processor's block; all cores report the same ISA.
                if line.allSatisfy(\.isWhitespace), !flags.isEmpty { break }
                continue
            }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if key == "vendor_id", vendor.isEmpty { vendor = value }
            if key == "model name", modelName.isEmpty { modelName = value }
            if key == "flags", flags.isEmpty { flags = Set(value.split(separator: " ").map { $0.lowercased() }) }
        }
        self.init(vendor: vendor, flags: flags, modelName: modelName)
    }
}

/// The pure decision rules behind `BLASEnvironment.prepareProcess()`, separated so they can be
/// tested without starting processes.
public enum KernelSelection {
    /// What to do about the OpenBLAS kernel at start-up.
    public enum Decision: Sendable, Equatable {
        /// Keep the loaded kernel; the reason is for diagnostics.
        case keep(reason: String)
        /// Set `OPENBLAS_CORETYPE` to this value and re-execute.
        case reexecute(coreType: String)
    }

    /// ISA tiers of OpenBLAS's x86-64 kernel families: 1 = SSE2/SSE3, 2 = AVX, 3 = AVX2 + FMA,
    /// 4 = AVX-512. Names are `openblas_get_corename()` values, compared case-insensitively.
    /// Names not listed (other architectures, future cores) have no tier and are never replaced.
    static let tiers: [String: Int] = [
        "katmai": 1, "coppermine": 1, "northwood": 1, "prescott": 1, "banias": 1, "atom": 1,
        "core2": 1, "penryn": 1, "dunnington": 1, "nehalem": 1, "athlon": 1, "opteron": 1,
        "opteron(sse3)": 1, "barcelona": 1, "nano": 1, "bobcat": 1,
        "sandybridge": 2, "bulldozer": 2, "piledriver": 2, "steamroller": 2, "excavator": 2,
        "haswell": 3, "zen": 3,
        "skylakex": 4, "cooperlake": 4, "sapphirerapids": 4,
    ]

    /// The ISA tier of an OpenBLAS core name, or nil when unknown.
    public static func tier(ofCore name: String) -> Int? { tiers[name.lowercased()] }

    /// The best OpenBLAS core type these CPU features support, or nil when nothing better than
    /// the generic kernels applies.
    ///
    /// AVX-512 F, BW, DQ and VL (the subset OpenBLAS's SkylakeX kernels use) → `SkylakeX`;
    /// AVX2 and FMA → `Zen` on AMD or Hygon, `Haswell` otherwise.
    public static func recommendedCore(for features: CPUFeatures) -> String? {
        let flags = features.flags
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) { return "SkylakeX" }
        if flags.contains("avx2"), flags.contains("fma") {
            return ["AuthenticAMD", "HygonGenuine"].contains(features.vendor) ? "Zen" : "Haswell"
        }
        return nil
    }

    /// Decides whether to force a better kernel.
    ///
    /// Re-execute only when all hold: the user did not set `OPENBLAS_CORETYPE` (an empty value
    /// counts as unset, as OpenBLAS ignores it); userdp has not already re-executed (marker
    /// variable unset); the loaded core's tier is known and lower than the recommended core's.
    public static func decide(currentCore: String, features: CPUFeatures, environment: [String: String]) -> Decision {
        if let value = environment[BLASEnvironment.coreTypeVariable], !value.isEmpty {
            return .keep(reason: "OPENBLAS_CORETYPE=\(value) set by the user")
        }
        if let marker = environment[BLASEnvironment.selectionMarkerVariable] {
            return .keep(reason: "already re-executed once (\(BLASEnvironment.selectionMarkerVariable)=\(marker))")
        }
        guard let recommended = recommendedCore(for: features), let wanted = tier(ofCore: recommended) else {
            return .keep(reason: "the CPU offers nothing beyond the loaded kernel")
        }
        guard let current = tier(ofCore: currentCore) else {
            return .keep(reason: "unknown core \(currentCore); leaving OpenBLAS's choice alone")
        }
        if current >= wanted { return .keep(reason: "\(currentCore) already uses the CPU's widest vector ISA") }
        return .reexecute(coreType: recommended)
    }

    /// Who chose the core type, judged from the environment of a process.
    public static func coreSource(environment: [String: String]) -> KernelChoiceSource {
        guard let value = environment[BLASEnvironment.coreTypeVariable], !value.isEmpty else { return .openBLAS }
        return environment[BLASEnvironment.selectionMarkerVariable] == value ? .userdp : .user
    }

    /// Who chose the thread count: the user when `USERDP_BLAS_THREADS`, `OPENBLAS_NUM_THREADS`,
    /// `GOTO_NUM_THREADS` or `OMP_NUM_THREADS` is set (the last three are read by OpenBLAS
    /// itself at load), OpenBLAS otherwise (one thread per core).
    public static func threadSource(environment: [String: String]) -> KernelChoiceSource {
        let variables = [BLASEnvironment.userdpThreadsVariable, BLASEnvironment.openBLASThreadsVariable, "GOTO_NUM_THREADS", "OMP_NUM_THREADS"]
        return variables.contains { !(environment[$0] ?? "").isEmpty } ? .user : .openBLAS
    }

    /// The thread count `USERDP_BLAS_THREADS` asks for, or nil when unset or empty.
    ///
    /// - Throws: `BLASEnvironmentError.invalidThreadCount` if set to anything but a positive
    ///   integer.
    public static func requestedThreadCount(environment: [String: String]) throws -> Int? {
        let variable = BLASEnvironment.userdpThreadsVariable
        guard let text = environment[variable], !text.isEmpty else { return nil }
        guard let count = Int(text.trimmingCharacters(in: .whitespaces)), count >= 1 else {
            throw BLASEnvironmentError.invalidThreadCount(variable: variable, value: text)
        }
        return count
    }
}

// MARK: - sgemm benchmark

/// Throughput of one square sgemm size, from `GemmBenchmark.measure`.
public struct GemmMeasurement: Sendable, Codable, Equatable {
    /// Matrix side n (C = A·B with all three n × n, row-major, no transposes).
    public var size: Int
    /// Number of timed products.
    public var repetitions: Int
    /// GFLOP/s of the fastest product (2n³ floating-point operations each); the best figure is
    /// the least disturbed by other processes on a shared machine.
    public var bestGFLOPS: Double
    /// GFLOP/s over all timed products together.
    public var meanGFLOPS: Double
    /// Largest relative error of sampled entries of C against a double-precision dot product
    /// (error divided by the sum of absolute terms); float32 gives about 1e-7 · n at worst.
    public var maxRelativeError: Double
}

/// Measures OpenBLAS sgemm speed on square matrices, for `userdp bench gemm` and as the peak
/// figure other benchmarks compare against.
public enum GemmBenchmark {
    /// Times C = A·B for n × n float32 matrices on `threads` OpenBLAS threads (default: the
    /// process's thread budget; see `BLAS.withThreads`): one untimed warm-up, then products
    /// until `minimumSeconds` have passed (at least three). Nothing else may call BLAS while it
    /// runs.
    ///
    /// - Precondition: `size >= 1`, `minimumSeconds >= 0`, `threads >= 1`.
    public static func measure(size: Int, minimumSeconds: Double = 0.3, threads: Int = BLAS.threadCount) -> GemmMeasurement {
        BLAS.withThreads(threads) { timedProducts(size: size, minimumSeconds: minimumSeconds) }
    }

    private static func timedProducts(size: Int, minimumSeconds: Double) -> GemmMeasurement {
        precondition(size >= 1 && minimumSeconds >= 0)
        let a = deterministicMatrix(count: size * size, salt: 3)
        let b = deterministicMatrix(count: size * size, salt: 4)
        var c = [Float](repeating: 0, count: size * size)
        plainSgemm(m: size, n: size, k: size, a: a, b: b, c: &c)

        let clock = ContinuousClock()
        var best = Double.infinity
        var total = 0.0
        var repetitions = 0
        while repetitions < 3 || total < minimumSeconds {
            let start = clock.now
            plainSgemm(m: size, n: size, k: size, a: a, b: b, c: &c)
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            best = min(best, seconds)
            total += seconds
            repetitions += 1
        }
        let flops = 2.0 * Double(size) * Double(size) * Double(size)

        // Check a fixed sample of entries (all of them for small sizes) against double precision.
        var worst = 0.0
        let stride = max(1, size * size / 256)
        for index in Swift.stride(from: 0, to: size * size, by: stride) {
            let (i, j) = (index / size, (index * 7 + 3) % size)
            worst = max(worst, relativeErrorOfEntry(i, j, a: a, b: b, c: c, n: size, k: size))
        }
        return GemmMeasurement(
            size: size,
            repetitions: repetitions,
            bestGFLOPS: flops / best / 1e9,
            meanGFLOPS: flops * Double(repetitions) / total / 1e9,
            maxRelativeError: worst
        )
    }
}

// MARK: - Implementation details

/// Values in [-0.5, 0.5) from a multiplicative hash of the index: deterministic, no RNG needed.
func deterministicMatrix(count: Int, salt: UInt32) -> [Float] {
    (0..<count).map { index in
        let hashed = (UInt32(truncatingIfNeeded: index) &+ salt &* 0x9E37_79B9) &* 2_654_435_761
        return Float(hashed >> 8) / Float(1 << 24) - 0.5
    }
}

/// |C[i,j] − (A·B)[i,j]| / Σ_p |A[i,p]·B[p,j]| with the exact product in double precision, for
/// row-major A (· × k), B (k × n), C (· × n). Dividing by the sum of absolute terms makes the
/// bound independent of cancellation: float32 accumulation gives at most about k · 6e-8.
func relativeErrorOfEntry(_ i: Int, _ j: Int, a: [Float], b: [Float], c: [Float], n: Int, k: Int) -> Double {
    var exact = 0.0
    var magnitude = 0.0
    for p in 0..<k {
        let term = Double(a[i * k + p]) * Double(b[p * n + j])
        exact += term
        magnitude += abs(term)
    }
    return abs(Double(c[i * n + j]) - exact) / max(magnitude, 1e-30)
}

/// Row-major C (m × n) = A (m × k) · B (k × n), dense, through the shared `BLAS.gemm` wrapper.
func plainSgemm(m: Int, n: Int, k: Int, a: [Float], b: [Float], c: inout [Float]) {
    precondition(a.count == m * k && b.count == k * n && c.count == m * n)
    a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            c.withUnsafeMutableBufferPointer { c in
                BLAS.gemm(MatrixView(a, rows: m, columns: k), MatrixView(b, rows: k, columns: n), into: MutableMatrixView(c, rows: m, columns: n))
            }
        }
    }
}
