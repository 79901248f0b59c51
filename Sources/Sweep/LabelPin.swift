import Foundation
import Persistence
import Training

/// The code a label's results must come from (`RESULTS/NAME/LABEL/pin.json`, written by
/// `userdp sweep pin`): a set of clean commits that give the same results bit for bit.
///
/// A long grid runs over several sittings and commits; results from code that computes
/// differently must never mix silently under one label. With a pin:
/// - a stored result counts as done only when it records a pinned commit and a clean tree
///   (`unusableReason`); others are moved aside and redone by `sweep run`, and left out of
///   tables meanwhile;
/// - `sweep run` refuses to start when this binary is not a clean build of a pinned commit;
/// - a commit joins only after it reproduced stored results of every commit already pinned
///   bit for bit on this machine (`PinVerification`), and the pin records which runs showed it.
///
/// Without `pin.json` a label accepts results from any code, as before.
public struct LabelPin: Sendable, Equatable, Codable {
    /// The file name inside a label folder.
    public static let fileName = "pin.json"
    /// The highest format version this build reads.
    public static let currentVersion = 1

    /// One commit whose results the label accepts.
    public struct Commit: Sendable, Equatable, Codable {
        /// Full commit hash.
        public var commit: String
        /// When it joined (ISO 8601, UTC).
        public var joined: String
        /// Stored runs it reproduced bit for bit when it joined, as `run id @ short commit` of
        /// the stored result (empty for a commit that joined a label without results).
        public var reproduced: [String]
        /// The OpenBLAS kernel of the verifying machine.
        public var openblasCore: String

        /// A pinned commit with every field given.
        public init(commit: String, joined: String, reproduced: [String], openblasCore: String) {
            self.commit = commit
            self.joined = joined
            self.reproduced = reproduced
            self.openblasCore = openblasCore
        }

        enum CodingKeys: String, CodingKey {
            case commit, joined, reproduced
            case openblasCore = "openblas_core"
        }
    }

    /// Format version.
    public var version: Int
    /// The accepted commits, in the order they joined.
    public var commits: [Commit]

    /// A pin accepting `commits`.
    public init(commits: [Commit]) {
        version = Self.currentVersion
        self.commits = commits
    }

    /// Whether a result with this provenance may stand under the label.
    public func accepts(_ provenance: Provenance) -> Bool {
        !provenance.gitDirty && commits.contains { $0.commit == provenance.gitCommit }
    }

    /// Whether this binary (`UserDPVersion.gitState`) may write results under the label.
    public func acceptsThisBuild() -> Bool {
        guard let git = UserDPVersion.gitState else { return false }
        return !git.dirty && commits.contains { $0.commit == git.commit }
    }

    /// The pinned commits, short, for messages: `3db5e75, 5643a1c`.
    public var shortList: String { commits.map { String($0.commit.prefix(7)) }.joined(separator: ", ") }

    /// Why a result with this provenance cannot stand under the label, or nil when it can.
    public func rejection(of provenance: Provenance) -> String? {
        guard !accepts(provenance) else { return nil }
        return "result.json was produced by \(Self.describe(commit: provenance.gitCommit, dirty: provenance.gitDirty)), "
            + "but the label is pinned to \(shortList)"
    }

    /// `commit 3db5e75` or `commit 3db5e75 with a modified tree`.
    static func describe(commit: String, dirty: Bool) -> String {
        "commit \(commit.prefix(7))" + (dirty ? " with a modified tree" : "")
    }

    /// This binary, described as in `rejection(of:)`.
    public static var thisBuild: String {
        guard let git = UserDPVersion.gitState else { return "a build without git state" }
        return describe(commit: git.commit, dirty: git.dirty)
    }

    /// Reads `pin.json` from a label folder: nil when there is none; `SweepError.unreadable`
    /// or `.unsupportedVersion` naming the file when it cannot be used (never ignored: an
    /// unreadable pin must not let other code's results in).
    public static func read(labelFolder: URL) throws(SweepError) -> LabelPin? {
        let url = labelFolder.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let pin: LabelPin
        do { pin = try JSONDecoder().decode(LabelPin.self, from: Data(contentsOf: url)) } catch {
            throw .unreadable(file: url.path, reason: ResultStore.shortReason(error))
        }
        guard pin.version <= currentVersion else {
            throw .unsupportedVersion(file: url.path, found: pin.version, highestSupported: currentVersion)
        }
        guard !pin.commits.isEmpty else { throw .unreadable(file: url.path, reason: "no commits") }
        return pin
    }

    /// Writes `pin.json` into a label folder atomically (snake_case keys, sorted, one per line).
    public func write(labelFolder: URL) throws(SweepError) {
        let url = labelFolder.appendingPathComponent(Self.fileName)
        do {
            try FileManager.default.createDirectory(at: labelFolder, withIntermediateDirectories: true)
            try AtomicFile.write(JSONOutput.data(self), to: url)
        } catch {
            throw .storage(path: url.path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}

extension ResultStore {
    /// The label's pin, nil when it has none (`LabelPin.read`).
    public func pin() throws(SweepError) -> LabelPin? { try LabelPin.read(labelFolder: root) }
}
