import Foundation
import Testing
import TestSupport

/// The command line speaks one way, checked through the real binary: JSON output in
/// snake_case, fixed-value options with the aliases people type, one error layout, and
/// "Did you mean ...?" for a mistyped subcommand.
@Suite("userdp speaks one way", .serialized, .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct CommandLineVocabularyTests {
    // MARK: Unknown subcommands

    @Test("a mistyped subcommand gets the nearest names, with the usage of the command it was typed under", arguments: [
        (["sweep", "rnu"], "Unknown subcommand 'rnu' of 'userdp sweep'. Did you mean 'run'?", "Usage: userdp sweep <subcommand>"),
        (["privcy"], "Unknown subcommand 'privcy' of 'userdp'. Did you mean 'privacy'?", "Usage: userdp <subcommand>"),
        (["sweep", "tabel", "x.json"], "Unknown subcommand 'tabel' of 'userdp sweep'. Did you mean 'table' or 'label'?", "Usage: userdp sweep <subcommand>"),
        (["data", "import", "enrn", "--out", "x"], "Unknown subcommand 'enrn' of 'userdp data import'. Did you mean 'enron'?", "Usage: userdp data import <subcommand>"),
        (["priv", "epsilon"], "Unknown subcommand 'priv' of 'userdp'. Did you mean 'privacy'?", "Usage: userdp <subcommand>"),
    ])
    func didYouMean(_ arguments: [String], _ message: String, _ usage: String) throws {
        let folder = try temporaryFolder("did-you-mean")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(arguments, in: folder)
        #expect(outcome.status == 64 && !outcome.signalled, "\(outcome)")
        #expect(outcome.errorLines.first.map(String.init) == "Error: \(message)", "\(outcome)")
        #expect(outcome.errorLines.dropFirst().first.map(String.init) == usage, "\(outcome)")
        #expect(outcome.standardOutput.isEmpty, "\(outcome)")
    }

    @Test("a word close to no subcommand lists them all")
    func noCloseSubcommand() throws {
        let folder = try temporaryFolder("no-close")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(["sweep", "xyzzy"], in: folder)
        #expect(outcome.status == 64, "\(outcome)")
        #expect(
            outcome.errorLines.first == "Error: Unknown subcommand 'xyzzy' of 'userdp sweep'; its subcommands are run, status, table, diff, label, migrate, cancel, names, pin",
            "\(outcome)")
    }

    @Test("known subcommands and options are never second-guessed", arguments: [
        ["sweep", "--help"], ["help", "privacy"], ["privacy", "epsilon", "--help"], ["--version"],
    ])
    func knownWordsParse(_ arguments: [String]) throws {
        let folder = try temporaryFolder("known")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(arguments, in: folder)
        #expect(outcome.status == 0 && outcome.standardError.isEmpty && !outcome.standardOutput.isEmpty, "\(outcome)")
    }

    // MARK: Fixed-value options

    /// A label folder holding only a results.csv: two mechanisms, two seeds each.
    func resultsFolder(in folder: URL) throws -> URL {
        let label = folder.appendingPathComponent("results/s/label")
        try FileManager.default.createDirectory(at: label, withIntermediateDirectories: true)
        let csv = """
            run_id,mechanism,epsilon,seed,test_perplexity
            a1,user,8,0,30.5
            a2,user,8,1,31.5
            a3,record,8,0,33
            a4,record,8,1,34.25

            """
        try Data(csv.utf8).write(to: label.appendingPathComponent("results.csv"))
        return label
    }

    @Test("--format takes md for markdown and tex for latex", arguments: [("md", "markdown"), ("tex", "latex"), ("CSV", "csv")])
    func formatAliases(_ alias: String, _ name: String) throws {
        let folder = try temporaryFolder("format")
        defer { try? FileManager.default.removeItem(at: folder) }
        let label = try resultsFolder(in: folder)
        let table = ["sweep", "table", label.path, "--rows", "mechanism", "--cols", "epsilon", "--format"]
        let byAlias = try runUserdp(table + [alias], in: folder)
        let byName = try runUserdp(table + [name], in: folder)
        #expect(byAlias.status == 0 && byName.status == 0, "\(byAlias) / \(byName)")
        #expect(!byName.standardOutput.isEmpty && byAlias.standardOutput == byName.standardOutput)
        let diff = try runUserdp(["sweep", "diff", label.path, label.path, "--format", alias], in: folder)
        #expect(diff.status == 0 && !diff.standardOutput.isEmpty, "\(diff)")
    }

    @Test("an unknown --format or --accountant lists every valid value", arguments: [
        (["sweep", "table", "results.csv", "--format", "html"], "Error: The value 'html' is invalid for '--format <format>'. Please provide one of 'markdown', 'md', 'csv', 'latex' or 'tex'."),
        (["privacy", "epsilon", "--q", "0.01", "--sigma", "1", "--steps", "10", "--delta", "1e-5", "--accountant", "moments"],
         "Error: The value 'moments' is invalid for '--accountant <accountant>'. Please provide one of 'pld', 'rdp', 'group-lemma' or 'lemma'."),
        (["data", "split", "shakespeare", "--by", "speaker"], "Error: The value 'speaker' is invalid for '--by <by>'. Please provide one of 'user' and 'record'."),
    ])
    func invalidChoice(_ arguments: [String], _ message: String) throws {
        let folder = try temporaryFolder("choice")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(arguments, in: folder)
        #expect(outcome.status == 64 && outcome.errorLines.first.map(String.init) == message, "\(outcome)")
    }

    @Test("--accountant lemma is group-lemma")
    func accountantAlias() throws {
        let folder = try temporaryFolder("accountant")
        defer { try? FileManager.default.removeItem(at: folder) }
        let epsilon = ["privacy", "epsilon", "--q", "0.01", "--sigma", "1", "--steps", "10", "--delta", "1e-5", "--group-size", "2", "--accountant"]
        let byAlias = try runUserdp(epsilon + ["lemma"], in: folder)
        let byName = try runUserdp(epsilon + ["group-lemma"], in: folder)
        #expect(byAlias.status == 0 && byAlias.standardOutput == byName.standardOutput, "\(byAlias) / \(byName)")
        #expect(byAlias.standardOutput.contains("group-privacy lemma"), "\(byAlias)")
    }

    // MARK: JSON output

    /// A dataset folder of ten users with three records each, for the data commands.
    func dataset(in folder: URL) throws -> URL {
        let data = folder.appendingPathComponent("tiny")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try Data(#"{"version": 1, "name": "tiny", "source": "the test", "licence": "public domain"}"#.utf8)
            .write(to: data.appendingPathComponent("manifest.json"))
        let records = (0..<30).map { #"{"user": "u\#($0 % 10)", "text": "record \#($0) of the tiny dataset"}"# }
        try Data((records.joined(separator: "\n") + "\n").utf8).write(to: data.appendingPathComponent("records.jsonl"))
        return data
    }

    @Test("every --json output and import report uses snake_case keys")
    func jsonIsSnakeCase() throws {
        let folder = try temporaryFolder("json")
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = try dataset(in: folder).path
        let commands: [[String]] = [
            ["privacy", "epsilon", "--q", "0.01", "--sigma", "1", "--steps", "10", "--delta", "1e-5", "--group-size", "2", "--json"],
            ["privacy", "calibrate", "--epsilon", "3", "--q", "0.01", "--steps", "10", "--delta", "1e-5", "--accountant", "rdp", "--json"],
            ["privacy", "per-user", "--dataset", data, "--q", "0.1", "--sigma", "1", "--steps", "3", "--delta", "1e-5", "--json"],
            ["data", "stats", data, "--bytes", "--json"],
            ["data", "split", data, "--json"],
            ["data", "chunk-stats", data, "--context-length", "8", "--model", packageRoot.appendingPathComponent("models/base").path, "--json"],
        ]
        var outputs = ""
        for arguments in commands {
            let outcome = try runUserdp(arguments, in: folder, timeout: 60)
            #expect(outcome.status == 0, "\(outcome)")
            let json = try JSONSerialization.jsonObject(with: Data(outcome.standardOutput.utf8))
            #expect(nonSnakeKeys(json).isEmpty, "\(arguments.prefix(2)): \(nonSnakeKeys(json))")
            outputs += outcome.standardOutput
        }
        for key in [
            "sampling_rate", "target_epsilon", "achieved_epsilon", "lower_sigma", "skipped_lines", "records_per_user",
            "sampling_probability", "group_size", "value_discretization",
        ] {
            #expect(outputs.contains("\"\(key)\""), "\(key)")
        }

        // Import reports come first, then the statistics table.
        let fixtures = packageRoot.appendingPathComponent("Tests/UserDataTests/Fixtures")
        for arguments in [
            ["data", "import", "enron", "--csv", fixtures.appendingPathComponent("enron/emails.csv").path, "--out", "enron"],
            ["data", "import", "booksum", fixtures.appendingPathComponent("booksum/chapter_summaries.csv").path, "--out", "booksum"],
        ] {
            let outcome = try runUserdp(arguments, in: folder, timeout: 60)
            #expect(outcome.status == 0, "\(outcome)")
            let report = outcome.standardOutput.components(separatedBy: "\n}\n").first! + "\n}"
            let json = try JSONSerialization.jsonObject(with: Data(report.utf8))
            #expect(nonSnakeKeys(json).isEmpty, "\(arguments[2]): \(nonSnakeKeys(json))")
            let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("\(arguments[2])/manifest.json")))
            #expect(nonSnakeKeys(manifest).isEmpty, "\(arguments[2]) manifest: \(nonSnakeKeys(manifest))")
        }
    }

    // MARK: One error layout

    @Test("a library error is one line, Error: and the message, exit 1")
    func libraryErrorIsOneLine() throws {
        let folder = try temporaryFolder("library-error")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(["data", "stats", "no-such-dataset"], in: folder)
        #expect(outcome.status == 1 && outcome.errorLines.count == 1, "\(outcome)")
        #expect(outcome.errorLines.first?.hasPrefix("Error: dataset \"no-such-dataset\" not found") == true, "\(outcome)")
    }

    @Test("a usage mistake found after parsing shows the usage of the command that ran")
    func validationAfterParsing() throws {
        let folder = try temporaryFolder("validation")
        defer { try? FileManager.default.removeItem(at: folder) }
        let outcome = try runUserdp(["privacy", "per-user", "--q", "0.1", "--sigma", "1", "--steps", "3"], in: folder)
        #expect(outcome.status == 64, "\(outcome)")
        #expect(outcome.errorLines.first == "Error: give --delta (or --run, whose delta is the default)", "\(outcome)")
        #expect(outcome.errorLines.dropFirst().first?.hasPrefix("Usage: userdp privacy per-user ") == true, "\(outcome)")
        #expect(outcome.errorLines.last == "  See 'userdp privacy per-user --help' for more information.", "\(outcome)")
    }
}
