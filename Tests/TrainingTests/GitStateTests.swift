import Foundation
import Testing
import TestSupport
@testable import Training

/// `EmbedGitStateTool`, built beside the tests as the EmbedGitState plugin's tool.
private let embedTool = builtExecutable("EmbedGitStateTool")

/// An independent FNV-1a 64 (the oracle for the tool's diff hash), checked against the
/// published vectors below.
private func fnv(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 14_695_981_039_346_656_037
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 1_099_511_628_211
    }
    return String(format: "%016llx", hash)
}

/// What a generated `BuildGitState.swift` says.
struct EmbeddedGitState: Equatable {
    var commit: String?
    var shortCommit: String
    var dirty: Bool
    var diffHash: String?

    init(commit: String?, shortCommit: String, dirty: Bool, diffHash: String?) {
        (self.commit, self.shortCommit, self.dirty, self.diffHash) = (commit, shortCommit, dirty, diffHash)
    }

    /// Parses the generated file (one `static let name ... = value` per field).
    init(source: String) throws {
        func value(_ name: String) throws -> String {
            let line = try #require(source.split(separator: "\n").first { $0.contains("static let \(name)") }, "no \(name) in \(source)")
            return String(line[line.range(of: "= ")!.upperBound...])
        }
        func string(_ text: String) -> String? { text == "nil" ? nil : String(text.dropFirst().dropLast()) }
        commit = string(try value("commit"))
        shortCommit = string(try value("shortCommit")) ?? ""
        dirty = try value("dirty") == "true"
        diffHash = string(try value("diffHash"))
    }
}

@Suite("Provenance of the build: the git state embedded by EmbedGitStateTool", .enabled(if: embedTool != nil, "EmbedGitStateTool is not built beside the tests"))
struct GitStateTests {
    /// A fresh repository with one committed code file and one committed results.csv.
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("userdp-git-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("repo/results/s/l"), withIntermediateDirectories: true)
    }

    var repo: URL { root.appendingPathComponent("repo") }
    var output: URL { root.appendingPathComponent("BuildGitState.swift") }

    func makeRepository() throws {
        try Data("a\n".utf8).write(to: repo.appendingPathComponent("code.swift"))
        try Data("run_id\n".utf8).write(to: repo.appendingPathComponent("results/s/l/results.csv"))
        #expect(git(["init", "-q"], in: repo) != nil)
        git(["add", "-A"], in: repo)
        #expect(git(["commit", "-q", "-m", "first"], in: repo) != nil)
    }

    /// Runs the tool on `tree`, writing `output`; what it embedded.
    func embed(_ tree: URL) throws -> EmbeddedGitState {
        let process = Process()
        guard let embedTool else { throw CocoaError(.fileNoSuchFile) }
        process.executableURL = embedTool
        process.arguments = [tree.path, output.path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return try EmbeddedGitState(source: String(contentsOf: output, encoding: .utf8))
    }

    @Test("the oracle FNV-1a 64 matches its published test vectors")
    func fnvVectors() {
        // Fowler, Noll, Vo reference vectors: "" and "a".
        #expect(fnv([]) == "cbf29ce484222325" && fnv(Array("a".utf8)) == "af63dc4c8601ec8c")
    }

    /// A sweep running from a checkout rewrites the committed results.csv after every run; that
    /// must not mark the code dirty (nor change the default label), while a code change must,
    /// with the FNV-1a 64 of `git diff HEAD` outside results/ as its hash.
    @Test("commit and short commit of HEAD; changes under results/ are not dirty; a code change is, with the diff's hash")
    func resultsAreNotCode() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try makeRepository()
        let head = try #require(git(["rev-parse", "HEAD"], in: repo))
        let short = try #require(git(["rev-parse", "--short", "HEAD"], in: repo))
        #expect(try embed(repo) == EmbeddedGitState(commit: head, shortCommit: short, dirty: false, diffHash: nil))
        try Data("run_id\nabc\n".utf8).write(to: repo.appendingPathComponent("results/s/l/results.csv"))
        #expect(try embed(repo) == EmbeddedGitState(commit: head, shortCommit: short, dirty: false, diffHash: nil), "a rewritten results.csv is data, not a code change")
        try Data("b\n".utf8).write(to: repo.appendingPathComponent("code.swift"))
        let diff = try #require(git(["diff", "HEAD", "--", ":(top)", ":(top,exclude)results"], in: repo, raw: true))
        #expect(try embed(repo) == EmbeddedGitState(commit: head, shortCommit: short, dirty: true, diffHash: fnv(Array(diff.utf8))))
        #expect(GitState(commit: head, shortCommit: short, dirty: true, diffHash: "0").label == short + "-dirty")
    }

    /// The generated file is rewritten only when the state changes, so an unchanged tree
    /// recompiles nothing (the build stays incremental).
    @Test("an unchanged state leaves the generated file untouched; a commit rewrites it")
    func writesOnlyOnChange() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try makeRepository()
        _ = try embed(repo)
        let old = Date(timeIntervalSince1970: 1_000_000_000)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: output.path)
        _ = try embed(repo)
        #expect(try FileManager.default.attributesOfItem(atPath: output.path)[.modificationDate] as? Date == old)
        #expect(git(["commit", "-q", "--allow-empty", "-m", "second"], in: repo) != nil)
        let second = try embed(repo)
        #expect(second.commit == git(["rev-parse", "HEAD"], in: repo))
        #expect(try FileManager.default.attributesOfItem(atPath: output.path)[.modificationDate] as? Date != old)
    }

    /// A git worktree has a `.git` file, not a folder; outside git (a source tarball) there is no
    /// commit, and the build still succeeds.
    @Test("a git worktree embeds its own HEAD and dirty state; a folder outside git embeds no commit")
    func worktreeAndNoGit() throws {
        defer { try? FileManager.default.removeItem(at: root) }
        try makeRepository()
        let worktree = root.appendingPathComponent("worktree")
        #expect(git(["worktree", "add", "-q", "-b", "side", worktree.path], in: repo) != nil)
        try Data("c\n".utf8).write(to: worktree.appendingPathComponent("code.swift"))
        #expect(git(["commit", "-q", "-am", "side"], in: worktree) != nil)
        let sideHead = try #require(git(["rev-parse", "HEAD"], in: worktree))
        #expect(sideHead != git(["rev-parse", "HEAD"], in: repo))
        var embedded = try embed(worktree)
        #expect(embedded.commit == sideHead && !embedded.dirty)
        try Data("d\n".utf8).write(to: worktree.appendingPathComponent("code.swift"))
        embedded = try embed(worktree)
        #expect(embedded.commit == sideHead && embedded.dirty && embedded.diffHash != nil)
        #expect(try embed(repo).dirty == false, "the main tree is untouched")

        let plain = root.appendingPathComponent("plain")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        // GIT_CEILING_DIRECTORIES is not needed: the temporary folder is not inside a repository.
        #expect(git(["rev-parse", "HEAD"], in: plain) == nil)
        #expect(try embed(plain) == EmbeddedGitState(commit: nil, shortCommit: "", dirty: false, diffHash: nil))
    }

    /// This build's own state (the tests were built from the package's tree just now).
    @Test("this build embeds the package's HEAD")
    func thisBuild() throws {
        guard let head = git(["rev-parse", "HEAD"], in: packageRoot) else { return }  // built outside git
        #expect(UserDPVersion.gitState?.commit == head)
        #expect(UserDPVersion.label.hasPrefix("\(UserDPVersion.semantic)-\(UserDPVersion.gitState?.shortCommit ?? "?")"))
    }
}
