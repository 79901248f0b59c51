import Foundation

/// Runs Slurm's command-line tools (`sbatch`, `squeue`, `sacct`, `scancel`), found on `PATH`.
public struct SlurmClient: Sendable {
    /// The environment the tools run with (and that `sbatch` exports to the job by default).
    public var environment: [String: String]

    /// A client with this process's environment.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// What a tool printed and how it exited.
    public struct Output: Sendable, Equatable {
        /// Exit status (127 when the tool could not be started).
        public var status: Int32
        /// Standard output.
        public var standardOutput: String
        /// Standard error.
        public var standardError: String
    }

    /// Runs `tool arguments...` to completion, optionally feeding `input` on standard input.
    /// Never throws: a tool that cannot be started gives status 127.
    public func run(_ tool: String, _ arguments: [String], input: String? = nil) -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.environment = environment
        // Standard error goes to a file, standard output through a pipe read to its end before
        // waiting: a chatty tool can block on neither.
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("userdp-slurm-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let err = try? FileHandle(forWritingTo: errorFile)
        defer { try? err?.close() }
        let out = Pipe()
        let stdin = Pipe()
        process.standardOutput = out
        process.standardError = err ?? FileHandle.nullDevice
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        do { try process.run() } catch {
            return Output(status: 127, standardOutput: "", standardError: error.localizedDescription)
        }
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        let outputData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "")
    }

    /// Whether `tool` answers (`sinfo`, for example): exit status 0.
    public func answers(_ tool: String, _ arguments: [String] = []) -> Bool {
        run(tool, arguments).status == 0
    }
}
