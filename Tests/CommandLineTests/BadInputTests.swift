import Foundation
import Randomness
import Testing
import TestSupport

/// Bad input through the real binary: each reproduction from a stress trial of the command line
/// ends in one clean line (or a clean success), quickly, without touching existing files.
@Suite("userdp on bad input", .serialized, .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct CommandLineBadInputTests {
    let enronCSV = packageRoot.appendingPathComponent("Tests/UserDataTests/Fixtures/enron/emails.csv")

    func expectCleanError(_ outcome: Outcome, containing text: String, within seconds: Double = 20) {
        #expect(outcome.status != 0 && outcome.isCleanOutcome, "\(outcome)")
        #expect(outcome.standardError.contains(text), "\(outcome)")
        #expect(outcome.seconds < seconds, "\(outcome)")
    }

    @Test("help and version print to stdout and exit 0 (the one-line error renderer passes ArgumentParser's own errors through)", arguments: [
        ["--help"], ["train", "--help"], ["help", "sweep"], ["sweep", "run", "--help"],
    ])
    func helpIsNotAnError(_ arguments: [String]) throws {
        let folder = try temporaryFolder("help")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(arguments, in: folder)
        #expect(outcome.status == 0 && outcome.standardOutput.contains("USAGE:") && outcome.standardError.isEmpty, "\(outcome)")
    }

    // MARK: Counts beyond the limits

    @Test("privacy epsilon with huge --steps is a clean limit error, not SIGILL", arguments: [
        "1000000000000000", "1000000000000000000", "4611686018427387904", "9223372036854775807",
    ])
    func epsilonHugeSteps(_ steps: String) throws {
        let folder = try temporaryFolder("epsilon")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(["privacy", "epsilon", "--q", "0.01", "--sigma", "1", "--steps", steps, "--delta", "1e-5"], in: folder)
        expectCleanError(outcome, containing: "is outside 1...10000000")
    }

    @Test("privacy calibrate with huge --steps errors at once", arguments: ["1000000000000000000", "9223372036854775807"])
    func calibrateHugeSteps(_ steps: String) throws {
        let folder = try temporaryFolder("calibrate")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(
            ["privacy", "calibrate", "--q", "0.01", "--epsilon", "1", "--steps", steps, "--delta", "1e-5"], in: folder, timeout: 20)
        expectCleanError(outcome, containing: "is outside 1...10000000", within: 10)
    }

    @Test("a train config with steps = Int.max is refused before anything runs")
    func trainHugeSteps() throws {
        let folder = try temporaryFolder("train-steps")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(#"{"steps": 9223372036854775807}"#.utf8).write(to: folder.appendingPathComponent("config.json"))
        let outcome = try runUserdp(["train", "--config", "config.json", "--out", "run"], in: folder, timeout: 20)
        expectCleanError(outcome, containing: "steps: expected an integer in 1...10000000", within: 10)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("run/result.json").path))
    }

    @Test("--group-size 1000000 names the limit")
    func hugeGroupSize() throws {
        let folder = try temporaryFolder("group")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(
            ["privacy", "epsilon", "--q", "0.01", "--sigma", "1", "--steps", "10", "--delta", "1e-5", "--group-size", "1000000"], in: folder)
        expectCleanError(outcome, containing: "group size k = 1000000 is outside 1...1000")
        #expect(!outcome.standardError.contains("sum to"))
    }

    // MARK: Defect 4: data import over an existing dataset

    func copyOfDataset(in folder: URL) throws -> URL {
        let target = folder.appendingPathComponent("shakespeare-copy")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        // A small stand-in for a copy of data/shakespeare: a real dataset folder with records.
        let lines = (0..<50).map { #"{"user": "speaker\#($0 % 5)", "text": "line \#($0)"}"# }.joined(separator: "\n") + "\n"
        try Data(lines.utf8).write(to: target.appendingPathComponent("records.jsonl"))
        try Data(#"{"version": 1, "name": "copy", "source": "test", "licence": "none"}"#.utf8).write(to: target.appendingPathComponent("manifest.json"))
        return target
    }

    @Test("data import refuses an existing dataset folder without --force and leaves it intact")
    func importRefusesExisting() throws {
        let folder = try temporaryFolder("import")
        defer { try? FileManager.default.removeItem(at: folder) }
        let target = try copyOfDataset(in: folder)
        let before = snapshot(target)
        let outcome = try runUserdp(["data", "import", "enron", "--csv", enronCSV.path, "--out", target.path], in: folder)
        expectCleanError(outcome, containing: "already exists and is not empty")
        #expect(snapshot(target) == before)
    }

    @Test("with --force the new dataset replaces the old one whole")
    func importForceReplaces() throws {
        let folder = try temporaryFolder("import-force")
        defer { try? FileManager.default.removeItem(at: folder) }
        let target = try copyOfDataset(in: folder)
        let outcome = try runUserdp(["data", "import", "enron", "--csv", enronCSV.path, "--out", target.path, "--force"], in: folder)
        #expect(outcome.status == 0, "\(outcome)")
        let records = try String(contentsOf: target.appendingPathComponent("records.jsonl"), encoding: .utf8)
        #expect(records.split(separator: "\n").count == 7 && !records.contains("speaker0"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["shakespeare-copy"], "no staging folder left")
    }

    // MARK: Defect 5: truncated merges.txt

    @Test("a model whose merges.txt is cut in half or empty does not load", arguments: [0.5, 0.0])
    func truncatedMerges(_ fraction: Double) throws {
        let folder = try temporaryFolder("merges")
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("model")
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("models/base"), to: model)
        let merges = try String(contentsOf: model.appendingPathComponent("merges.txt"), encoding: .utf8).split(separator: "\n")
        let kept = merges.prefix(Int(Double(merges.count) * fraction)).joined(separator: "\n")
        try Data(kept.utf8).write(to: model.appendingPathComponent("merges.txt"))
        try Data("To be, or not to be, that is the question.\n".utf8).write(to: folder.appendingPathComponent("text.txt"))
        let outcome = try runUserdp(["eval", "--model", model.path, "--text", "text.txt"], in: folder)
        expectCleanError(outcome, containing: model.appendingPathComponent("merges.txt").path)
    }

    // MARK: Defect 6: duplicate keys

    @Test("a config with a duplicate key is refused, naming the key")
    func duplicateKey() throws {
        let folder = try temporaryFolder("duplicate")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(#"{"k": 2, "k": 3}"#.utf8).write(to: folder.appendingPathComponent("config.json"))
        let outcome = try runUserdp(["train", "--config", "config.json", "--out", "run"], in: folder)
        expectCleanError(outcome, containing: #"duplicate key "k""#)
    }

    // MARK: Defect 7: a full disk and the optional cache

    @Test("calibrate --cache on a full disk warns, succeeds and leaves no temporary file")
    func cacheWriteFailure() throws {
        let folder = try temporaryFolder("cache")
        defer { try? FileManager.default.removeItem(at: folder) }
        let arguments = [
            "privacy", "calibrate", "--q", "0.02", "--epsilon", "2", "--steps", "200", "--delta", "1e-5", "--accountant", "rdp",
            "--cache", "cache",
        ]
        // The file-size limit (one 512-byte block in dash) makes every write past 512 bytes fail
        // with EFBIG, as a full disk fails with ENOSPC; a cache entry (about 700 bytes) is larger,
        // the output lines are smaller. SIGXFSZ is ignored so the write fails instead of killing
        // the process.
        let outcome = try runUserdp(arguments, in: folder, shellPrefix: "trap '' XFSZ; ulimit -f 1")
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.standardError.hasPrefix("warning: calibration cache file"), "\(outcome)")
        #expect(outcome.standardOutput.contains("sigma = "), "\(outcome)")
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent("cache").path)
        #expect(left.isEmpty, "temporary files left: \(left)")
    }

    // MARK: Defect 9: error text

    @Test("a folder as a config file, and an output under a file, are plain messages")
    func folderAndUnwritable() throws {
        let folder = try temporaryFolder("cocoa")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("dir"), withIntermediateDirectories: true)
        let asFolder = try runUserdp(["train", "--config", "dir", "--out", "run"], in: folder)
        expectCleanError(asFolder, containing: "is a folder, not a file")
        try Data("x".utf8).write(to: folder.appendingPathComponent("file"))
        let under = try runUserdp(["data", "import", "enron", "--csv", enronCSV.path, "--out", "file/out"], in: folder)
        expectCleanError(under, containing: "not a folder")
    }

    @Test("epsilon 1e999 in a config is one short line, not a DecodingError dump")
    func hugeEpsilon() throws {
        let folder = try temporaryFolder("epsilon-config")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(#"{"epsilon": 1e999}"#.utf8).write(to: folder.appendingPathComponent("config.json"))
        let outcome = try runUserdp(["train", "--config", "config.json", "--out", "run"], in: folder)
        expectCleanError(outcome, containing: "number 1e999 is beyond the range of a double")
    }

    @Test("a missing --maildir says not found")
    func missingMaildir() throws {
        let folder = try temporaryFolder("maildir")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(["data", "import", "enron", "--maildir", "nowhere", "--out", "out"], in: folder)
        expectCleanError(outcome, containing: "nowhere: not found")
    }

    @Test("random bytes as a CSV give one escaped line")
    func binaryCSV() throws {
        let folder = try temporaryFolder("binary")
        defer { try? FileManager.default.removeItem(at: folder) }
        var generator = Philox(seed: 9, stream: "random-csv")
        try Data((0..<8192).map { _ in UInt8(truncatingIfNeeded: generator.next()) }).write(to: folder.appendingPathComponent("random.csv"))
        for arguments in [["data", "import", "enron", "--csv", "random.csv", "--out", "out"], ["data", "import", "booksum", "random.csv", "--out", "out"]] {
            let outcome = try runUserdp(arguments, in: folder)
            #expect(outcome.status != 0 && outcome.isCleanOutcome, "\(outcome)")
        }
    }

    @Test("sweep table --digits -3 is rejected")
    func negativeDigits() throws {
        let folder = try temporaryFolder("digits")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(["sweep", "table", "results.csv", "--digits=-3"], in: folder)
        #expect(outcome.status != 0 && !outcome.signalled, "\(outcome)")
        #expect(outcome.errorLines.first == "Error: --digits -3 is outside 0...12", "\(outcome)")
        #expect(!outcome.standardOutput.contains("%"))
        // Written with a space, -3 reads as an option: ArgumentParser's own usage error.
        let spaced = try runUserdp(["sweep", "table", "results.csv", "--digits", "-3"], in: folder)
        #expect(spaced.status != 0 && !spaced.signalled && spaced.standardOutput.isEmpty, "\(spaced)")
    }

    // MARK: Defect 10: records outside the dataset

    @Test("a manifest's records path outside the dataset folder is refused")
    func recordsOutside() throws {
        let folder = try temporaryFolder("outside")
        defer { try? FileManager.default.removeItem(at: folder) }
        let dataset = folder.appendingPathComponent("ds")
        try FileManager.default.createDirectory(at: dataset, withIntermediateDirectories: true)
        try Data(#"{"version": 1, "name": "x", "source": "s", "licence": "l", "records": "../../../../etc/passwd"}"#.utf8)
            .write(to: dataset.appendingPathComponent("manifest.json"))
        let outcome = try runUserdp(["data", "stats", "ds", "--bytes"], in: folder)
        expectCleanError(outcome, containing: "points outside the dataset folder")
        #expect(!outcome.standardError.contains("root:"))
    }
}
