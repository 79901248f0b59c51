import Foundation

// EmbedGitStateTool ROOT OUTPUT
//
// Writes OUTPUT, a Swift file declaring `enum BuildGitState` with the git state of the work
// tree at ROOT: full and short commit of HEAD, whether tracked files outside `results/` differ
// from HEAD, and the FNV-1a 64 hash of that difference. Run by the EmbedGitState build-tool
// plugin at build time, so userdp names the commit it was built from (docs/ARCHITECTURE.md,
// "Provenance of the build"). The file is rewritten only when its content changes, so an
// unchanged state recompiles nothing. Without git, or outside a git work tree, the commit is nil
// (userdp then reports "unknown" and the label `<version>-nogit`). Git is asked not to take
// optional locks, so the build never rewrites `.git/index` (which is one of its own inputs).

/// The git state of a work tree (the fields of Training's `GitState`).
struct TreeState: Equatable {
    var commit: String
    var shortCommit: String
    var dirty: Bool
    var diffHash: String?
}

/// The work tree except the committed results (git pathspec magic, from the top): a sweep
/// rewriting `results/<sweep>/<label>/results.csv` is data, not a change to userdp.
let codePathspec = [":(top)", ":(top,exclude)results"]

/// Runs `git -C root args...`; nil on any failure (no git, not a work tree, a refused repository).
func git(_ arguments: [String], in root: URL) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git", "-C", root.path] + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["GIT_OPTIONAL_LOCKS"] = "0"
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    // Read before waiting: a large diff would otherwise fill the pipe and block git.
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationReason == .exit, process.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self)
}

/// FNV-1a 64-bit hash of bytes as 16 lowercase hex digits (Fowler, Noll, Vo). An identifier,
/// not a security hash.
func fnv1a64Hex(_ data: Data) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in data { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

/// The state of the work tree at `root`, or nil outside git.
func readState(at root: URL) -> TreeState? {
    guard let commit = git(["rev-parse", "HEAD"], in: root)?.trimmingCharacters(in: .whitespacesAndNewlines), !commit.isEmpty,
        let short = git(["rev-parse", "--short", "HEAD"], in: root)?.trimmingCharacters(in: .whitespacesAndNewlines),
        let status = git(["status", "--porcelain", "--untracked-files=no", "--"] + codePathspec, in: root)
    else { return nil }
    let dirty = !status.isEmpty
    var diffHash: String?
    if dirty, let diff = git(["diff", "HEAD", "--"] + codePathspec, in: root) {
        diffHash = fnv1a64Hex(Data(diff.utf8))
    }
    return TreeState(commit: commit, shortCommit: short, dirty: dirty, diffHash: diffHash)
}

/// `text` as a Swift string literal (git prints hex digits here; anything else is escaped).
func literal(_ text: String) -> String {
    "\"" + text.unicodeScalars.map { scalar in
        scalar.isASCII && scalar.value >= 0x20 && scalar != "\"" && scalar != "\\" ? String(scalar) : "\\u{\(String(scalar.value, radix: 16))}"
    }.joined() + "\""
}

/// The generated file for `state`.
func source(for state: TreeState?) -> String {
    let header = """
        // Generated at build time by the EmbedGitState plugin (Plugins/EmbedGitState), which runs
        // EmbedGitStateTool on the package's work tree. Not committed; do not edit.

        /// The git state of the work tree this userdp was built from.
        enum BuildGitState {

        """
    guard let state else {
        return header + """
                /// nil: not built from a git work tree, or git could not run.
                static let commit: String? = nil
                static let shortCommit = ""
                static let dirty = false
                static let diffHash: String? = nil
            }

            """
    }
    return header + """
            /// Full commit hash of HEAD.
            static let commit: String? = \(literal(state.commit))
            /// `git rev-parse --short HEAD`.
            static let shortCommit = \(literal(state.shortCommit))
            /// Whether tracked files outside `results/` differed from HEAD.
            static let dirty = \(state.dirty)
            /// FNV-1a 64 of `git diff HEAD` (outside `results/`) when dirty.
            static let diffHash: String? = \(state.diffHash.map(literal) ?? "nil")
        }

        """
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: EmbedGitStateTool ROOT OUTPUT.swift\n".utf8))
    exit(2)
}
let output = URL(fileURLWithPath: arguments[2])
let text = source(for: readState(at: URL(fileURLWithPath: arguments[1])))
if (try? String(contentsOf: output, encoding: .utf8)) != text {
    do {
        try Data(text.utf8).write(to: output, options: .atomic)
    } catch {
        FileHandle.standardError.write(Data("error: EmbedGitStateTool: cannot write \(output.path): \(error.localizedDescription)\n".utf8))
        exit(1)
    }
}
