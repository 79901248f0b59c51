import Foundation
import PackagePlugin

/// Embeds the git state of userdp's source tree in the build: a build command runs
/// `EmbedGitStateTool`, which writes `BuildGitState.swift` (commit, short commit, dirty flag and
/// diff hash) into the target, rewriting it only when its content changes so that builds stay
/// incremental (docs/ARCHITECTURE.md, "Provenance of the build").
///
/// Why a build command and not a prebuild command: SwiftPM 6.3's native build system runs
/// prebuild commands only when it re-plans the build (after a manifest change), not on every
/// build (swiftlang/swift-package-manager#5476), so a commit or an edit would go unseen. A build
/// command runs whenever one of its inputs changed since its last run. Its inputs here:
/// - every source and header file of the package's targets (an edit that changes the binary);
///   SwiftPM re-plans when such files are added or removed, so the list never names a missing
///   file (a missing input would fail the build);
/// - `Package.swift`;
/// - git's `HEAD`, `logs/HEAD` and `index` files of this work tree (a commit, checkout, reset
///   or `git add`), found with `git rev-parse --git-path`, which also follows the `.git` file of
///   a worktree. Only files that exist when the plan is made are listed.
///
/// An edit confined to files outside the targets (docs, sweeps) shows in the dirty flag from the
/// next run of the command, which any source edit, commit or index update triggers.
@main
struct EmbedGitState: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let root = context.package.directoryURL
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildGitState.swift")
        var inputs = [root.appending(path: "Package.swift")]
        for case let module as SourceModuleTarget in context.package.targets {
            inputs += module.sourceFiles.filter { $0.type == .source || $0.type == .header }.map(\.url)
        }
        inputs += gitMetadataFiles(of: root)
        return [
            .buildCommand(
                displayName: "Embedding the git state of \(root.lastPathComponent) in \(target.name)",
                executable: try context.tool(named: "EmbedGitStateTool").url,
                arguments: [root.path, output.path],
                inputFiles: inputs,
                outputFiles: [output])
        ]
    }

    /// git's HEAD, reflog of HEAD and index of the work tree at `root`, those that exist; none
    /// when `root` is not in a git work tree or git cannot run.
    private func gitMetadataFiles(of root: URL) -> [URL] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", root.path, "rev-parse", "--git-path", "HEAD", "--git-path", "logs/HEAD", "--git-path", "index"]
        var environment = ProcessInfo.processInfo.environment
        environment["GIT_OPTIONAL_LOCKS"] = "0"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return [] }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else { return [] }
        // Relative paths are relative to `root` (older git prints them so).
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map { line in
            let path = String(line)
            return path.hasPrefix("/") ? URL(fileURLWithPath: path) : root.appending(path: path)
        }.filter { FileManager.default.fileExists(atPath: $0.path) }
    }
}
