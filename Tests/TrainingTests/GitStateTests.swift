import Foundation
import Testing
@testable import Training

@Suite("GitState: what counts as a dirty tree")
struct GitStateTests {
    /// A sweep running from a checkout rewrites the committed results.csv after every run; that
    /// must not mark the code dirty (nor change the default label), while a code change must.
    @Test("changes under results/ do not make the tree dirty; changes elsewhere do")
    func resultsAreNotCode() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("userdp-git-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("results/s/l"), withIntermediateDirectories: true)
        try Data("a\n".utf8).write(to: root.appendingPathComponent("code.swift"))
        try Data("run_id\n".utf8).write(to: root.appendingPathComponent("results/s/l/results.csv"))
        func git(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["git", "-C", root.path, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"] + arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "git \(arguments)")
        }
        try git(["init", "-q"])
        try git(["add", "-A"])
        try git(["commit", "-q", "-m", "first"])
        #expect(GitState.read(at: root)?.dirty == false)
        try Data("run_id\nabc\n".utf8).write(to: root.appendingPathComponent("results/s/l/results.csv"))
        let afterResults = try #require(GitState.read(at: root))
        #expect(!afterResults.dirty && afterResults.diffHash == nil, "a rewritten results.csv is data, not a code change")
        try Data("b\n".utf8).write(to: root.appendingPathComponent("code.swift"))
        let afterCode = try #require(GitState.read(at: root))
        #expect(afterCode.dirty && afterCode.diffHash != nil && afterCode.label.hasSuffix("-dirty"))
    }
}
