import Foundation
import Testing

/// The `userdp` executable built beside the test bundle (`swift build --build-tests` builds both
/// into the same folder).
let userdpExecutable: URL? = {
    var candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("userdp")]
    for bundle in Bundle.allBundles {
        candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("userdp"))
    }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}()

/// The package root (for the shipped model and data).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// How one `userdp` invocation ended.
struct Outcome: CustomStringConvertible {
    var arguments: [String]
    /// Exit status, or the signal number when `signalled`.
    var status: Int32
    var signalled: Bool
    var timedOut: Bool
    var standardOutput: String
    var standardError: String
    var seconds: Double

    /// The lines of standard error, without a final empty one.
    var errorLines: [Substring] { standardError.split(separator: "\n", omittingEmptySubsequences: false).dropLast(standardError.hasSuffix("\n") ? 1 : 0).map { $0 } }

    /// Exit 0, or a non-zero exit with exactly one printable line on standard error ("Error: ..."
    /// from ArgumentParser or "error: ..." from the data commands); never a signal or a timeout.
    var isCleanOutcome: Bool {
        guard !signalled, !timedOut else { return false }
        if status == 0 { return true }
        let lines = errorLines
        guard lines.count == 1, let line = lines.first, line.lowercased().hasPrefix("error: ") else { return false }
        return line.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) }
            && !line.contains("\u{fffd}") && !line.contains("NSCocoaErrorDomain") && !line.contains("DecodingError")
            && line.count <= 2100
    }

    var description: String {
        let how = timedOut ? "timed out" : signalled ? "killed by signal \(status)" : "exit \(status)"
        return "userdp \(arguments.joined(separator: " ")): \(how) after \(String(format: "%.2f", seconds)) s; stderr: \(standardError.debugDescription.prefix(1500))"
    }
}

/// Runs `userdp` with `arguments` in `directory`, killing it after `timeout` seconds. Standard
/// input is empty; standard output and error are captured through files (no pipe can fill up).
/// `shellPrefix`, when given, runs the command through `/bin/sh -c "<prefix>; exec userdp ..."`
/// (for `ulimit` and `trap`).
func runUserdp(
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
    // One BLAS thread: the fuzz runs many short processes on a shared machine.
    environment["USERDP_BLAS_THREADS"] = "1"
    environment["OPENBLAS_NUM_THREADS"] = "1"
    environment["USERDP_DATA"] = directory.path
    environment["XDG_CACHE_HOME"] = directory.appendingPathComponent(".cache").path
    for (key, value) in extra { environment[key] = value }
    process.environment = environment
    process.currentDirectoryURL = directory
    let capture = FileManager.default.temporaryDirectory.appendingPathComponent("userdp-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: capture, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: capture) }
    let outURL = capture.appendingPathComponent("out"), errURL = capture.appendingPathComponent("err")
    FileManager.default.createFile(atPath: outURL.path, contents: nil)
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
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

/// A fresh temporary folder, removed by the caller.
func temporaryFolder(_ label: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("userdp-cli-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Every regular file below `folder` (relative path → contents), to check that a command
/// changed none of the files that existed before it ran.
func snapshot(_ folder: URL) -> [String: Data] {
    var files: [String: Data] = [:]
    guard let enumerator = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]) else { return files }
    let root = folder.resolvingSymlinksInPath().path
    for case let url as URL in enumerator {
        guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
        let path = url.resolvingSymlinksInPath().path
        let relative = path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
        files[relative] = try? Data(contentsOf: url)
    }
    return files
}

/// The files of `before` that are missing or different in `after`.
func changedFiles(_ before: [String: Data], _ after: [String: Data]) -> [String] {
    before.keys.sorted().filter { after[$0] != before[$0] }
}
