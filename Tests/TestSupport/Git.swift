import Foundation

/// Runs `git -C directory arguments...` with a fixed identity and no commit signing; its
/// standard output (trimmed unless `raw`), or nil when git fails or is not installed.
@discardableResult
public func git(_ arguments: [String], in directory: URL, raw: Bool = false) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git", "-C", directory.path, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationReason == .exit, process.terminationStatus == 0 else { return nil }
    let text = String(decoding: data, as: UTF8.self)
    return raw ? text : text.trimmingCharacters(in: .whitespacesAndNewlines)
}
