import Foundation

/// The identity of this userdp build: its semantic version (edited here on release) and the
/// git state of the work tree it was built from.
///
/// The git state is embedded at build time: the EmbedGitState build-tool plugin runs
/// `EmbedGitStateTool`, which writes `BuildGitState` (commit, short commit, dirty flag, diff
/// hash) into this module whenever a source file, the manifest or git's HEAD, reflog or index
/// changed since the last build (docs/ARCHITECTURE.md, "Provenance of the build"). So the
/// binary names the commit it was compiled from wherever it runs and whatever is checked out
/// since, never the caller's working directory. Built outside a git work tree, or where git
/// cannot run, it has commit "unknown" and the label `<version>-nogit`.
public enum UserDPVersion {
    /// Semantic version of userdp. Version 0.2.0: config version 2, run ids with input hashes.
    public static let semantic = "0.2.0"

    /// The git state of the work tree this binary was built from; nil when it was not built
    /// from a git work tree (or git could not run at build time).
    public static let gitState: GitState? = BuildGitState.commit.map {
        GitState(commit: $0, shortCommit: BuildGitState.shortCommit, dirty: BuildGitState.dirty, diffHash: BuildGitState.diffHash)
    }

    /// `0.2.0-abc1234` (`-dirty` appended for a modified tree; `0.2.0-nogit` without git): the
    /// default sweep label and the `userdp_version` of every result.
    public static var label: String {
        guard let git = gitState else { return "\(semantic)-nogit" }
        return "\(semantic)-\(git.label)"
    }

    /// The text of `userdp --version`: version, commit (full) and dirty flag.
    public static var description: String {
        guard let git = gitState else { return "userdp \(semantic) (commit unknown: not built from a git checkout)" }
        return "userdp \(semantic) (commit \(git.commit)\(git.dirty ? ", modified tree" : ""))"
    }
}
