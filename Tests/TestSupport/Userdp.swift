import Foundation

// Running the real `userdp` binary from tests: finding it, running it to completion with its
// output captured, or starting it in the background.

/// The `userdp` executable built beside the test bundle (`swift build --build-tests` builds both
/// into the same folder); nil when it was not built, so suites that need it can be disabled.
public let userdpExecutable: URL? = builtExecutable("userdp")

/// The executable `name` of this package built beside the test bundle, or nil.
public func builtExecutable(_ name: String) -> URL? {
    var candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)]
    for bundle in Bundle.allBundles {
        candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent(name))
    }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

/// The package root (for the shipped model, data, fixtures and sweeps), found from this file's
/// path: `Tests/TestSupport/Userdp.swift`.
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// How one `userdp` invocation ended.
public struct Outcome: CustomStringConvertible, Sendable {
    /// The arguments it ran with.
    public var arguments: [String]
    /// Exit status, or the signal number when `signalled`.
    public var status: Int32
    public var signalled: Bool
    public var timedOut: Bool
    public var standardOutput: String
    public var standardError: String
    /// Wall time, seconds.
    public var seconds: Double

    /// The lines of standard error, without a final empty one.
    public var errorLines: [Substring] {
        standardError.split(separator: "\n", omittingEmptySubsequences: false).dropLast(standardError.hasSuffix("\n") ? 1 : 0).map { $0 }
    }

    /// Exit 0, or a non-zero exit with exactly one printable line on standard error, `Error: ...`
    /// (how userdp prints every failure that is not a usage mistake); never a signal or a
    /// timeout.
    public var isCleanOutcome: Bool {
        guard !signalled, !timedOut else { return false }
        if status == 0 { return true }
        let lines = errorLines
        guard lines.count == 1, let line = lines.first, line.hasPrefix("Error: ") else { return false }
        return line.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) }
            && !line.contains("\u{fffd}") && !line.contains("NSCocoaErrorDomain") && !line.contains("DecodingError")
            && line.count <= 2100
    }

    public var description: String {
        let how = timedOut ? "timed out" : signalled ? "killed by signal \(status)" : "exit \(status)"
        return "userdp \(arguments.joined(separator: " ")): \(how) after \(String(format: "%.2f", seconds)) s; stderr: \(standardError.debugDescription.prefix(1500))"
    }
}

/// Runs `userdp` with `arguments` in `directory` to completion, killing it after `timeout`
/// seconds. Standard input is empty; standard output and error are captured through files (no
/// pipe can fill up). The environment is this process's with one BLAS thread, `USERDP_DATA` set
/// to `directory` and the cache under it, then `extra`. `shellPrefix`, when given, runs the
/// command through `/bin/sh -c "<prefix>; exec userdp ..."` (for `ulimit` and `trap`).
/// Throws when the executable was not built or cannot be started.
public func runUserdp(
    _ arguments: [String], in directory: URL, environment extra: [String: String] = [:], timeout: Double = 30,
    shellPrefix: String? = nil
) throws -> Outcome {
    guard let executable = userdpExecutable else { throw CocoaError(.fileNoSuchFile) }
    let process = Process()
    if let shellPrefix {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let quoted = ([executable.path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        process.arguments = ["-c", "\(shellPrefix); exec \(quoted.joined(separator: " "))"]
    } else {
        process.executableURL = executable
        process.arguments = arguments
    }
    var environment = ProcessInfo.processInfo.environment
    // One BLAS thread: tests run many short processes on a shared machine.
    environment["USERDP_BLAS_THREADS"] = "1"
    environment["OPENBLAS_NUM_THREADS"] = "1"
    environment["USERDP_DATA"] = directory.path
    environment["XDG_CACHE_HOME"] = directory.appendingPathComponent(".cache").path
    for (key, value) in extra { environment[key] = value }
    process.environment = environment
    process.currentDirectoryURL = directory
    let capture = try temporaryFolder("capture")
    defer { try? FileManager.default.removeItem(at: capture) }
    let outURL = capture.appendingPathComponent("out"), errURL = capture.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    let start = Date()
    try process.run()
    try out.close()
    try err.close()
    var timedOut = false
    if finished.wait(timeout: .now() + timeout) == .timedOut {
        timedOut = true
        kill(process.processIdentifier, SIGKILL)
        finished.wait()
    }
    return Outcome(
        arguments: arguments, status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
        timedOut: timedOut,
        standardOutput: String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self),
        standardError: String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self),
        seconds: Date().timeIntervalSince(start))
}

/// A started `userdp` process with its output (standard output and error together) going to a
/// file.
public struct Launched {
    public let process: Process
    public let output: URL

    /// The output so far.
    public var text: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }
}

/// Starts `userdp` in `directory` with exactly `environment` and returns at once; its output
/// goes to a file in `outputDirectory` (default: `directory`). Throws when it cannot start.
public func launchUserdp(_ arguments: [String], environment: [String: String], in directory: URL, outputDirectory: URL? = nil) throws -> Launched {
    let process = Process()
    process.executableURL = userdpExecutable
    process.arguments = arguments
    process.environment = environment
    process.currentDirectoryURL = directory
    let output = (outputDirectory ?? directory).appendingPathComponent("userdp-\(UUID().uuidString).out")
    _ = FileManager.default.createFile(atPath: output.path, contents: nil)
    let handle = try FileHandle(forWritingTo: output)
    process.standardOutput = handle
    process.standardError = handle
    process.standardInput = FileHandle.nullDevice
    try process.run()
    try handle.close()
    return Launched(process: process, output: output)
}
