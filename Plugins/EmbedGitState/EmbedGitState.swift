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
///   or `git add`), in the git directory that `.git` is or, in a worktree, names. Only files
///   that exist when the plan is made are listed.
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
    /// outside a git work tree. Found without running git: the nearest `.git` at or above `root`
    /// is the git directory, or (in a worktree or submodule) a file naming it (`gitdir: PATH`).
    private func gitMetadataFiles(of root: URL) -> [URL] {
        var folder = root.standardizedFileURL
        while true {
            let dotGit = folder.appending(path: ".git")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: dotGit.path, isDirectory: &isDirectory) {
                guard let gitDirectory = isDirectory.boolValue ? dotGit : linkedGitDirectory(dotGit, in: folder) else { return [] }
                return ["HEAD", "logs/HEAD", "index"].map { gitDirectory.appending(path: $0) }
                    .filter { FileManager.default.fileExists(atPath: $0.path) }
            }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path { return [] }
            folder = parent
        }
    }

    /// The git directory a `.git` file names (`gitdir: PATH`, relative to `folder` or absolute).
    private func linkedGitDirectory(_ file: URL, in folder: URL) -> URL? {
        guard let text = try? String(contentsOf: file, encoding: .utf8),
            let line = text.split(whereSeparator: \.isNewline).first, line.hasPrefix("gitdir:")
        else { return nil }
        let path = line.dropFirst("gitdir:".count).trimmingCharacters(in: .whitespaces)
        return path.hasPrefix("/") ? URL(fileURLWithPath: path) : folder.appending(path: path)
    }
}
