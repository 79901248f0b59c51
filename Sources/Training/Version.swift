import Foundation

/// The identity of this userdp build: its semantic version (edited here on release) and the
/// git state of the source tree it was built from.
///
/// The commit is read from the repository that holds the *executable* (a binary in
/// `<root>/.build/<triple>/<configuration>/userdp` reads `<root>`'s git state), never from the
/// caller's working directory: running userdp from another repository must not record that
/// repository's commit. Limits: the state is read when userdp runs, so after a checkout
/// without a rebuild it names the checked-out commit; a binary copied out of its source tree
/// has commit "unknown".
public enum UserDPVersion {
    /// Semantic version of userdp. Version 0.2.0: config version 2, run ids with input hashes.
    public static let semantic = "0.2.0"

    /// The source root of this build: the nearest ancestor of the running executable that
    /// holds `Package.swift`, or nil (an installed copy outside its tree).
    public static func sourceRoot(executable: URL? = Bundle.main.executableURL) -> URL? {
        guard var folder = executable?.resolvingSymlinksInPath().deletingLastPathComponent().standardizedFileURL else { return nil }
        while true {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) { return folder }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path { return nil }
            folder = parent
        }
    }

    /// The git state of this build's source tree, nil outside git. Computed once per process.
    public static let gitState: GitState? = sourceRoot().flatMap { GitState.read(at: $0) }

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
