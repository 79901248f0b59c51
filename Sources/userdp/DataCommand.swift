import ArgumentParser
import Foundation
import UserData

/// `userdp data ...`: build, import, split and describe user-level datasets.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "User-level datasets: build, import, split, statistics.",
        discussion: """
            A dataset is a folder with manifest.json and records.jsonl (one {"user", "text"} \
            object per line). Name a dataset by path or by name: a name is looked up in \
            $USERDP_DATA, then in the data/ folder of the repository. See docs/DATASETS.md.
            """,
        subcommands: [
            DataStatsCommand.self, DataBuildShakespeareCommand.self, DataImportCommand.self, DataSplitCommand.self,
        ]
    )
}

/// Runs `body`, printing a ``UserDataError`` as its message on standard error and exiting with
/// status 1, rather than Swift's default rendering of the enum.
func reportingDataErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as UserDataError {
        FileHandle.standardError.write(Data("error: \(error.localizedDescription)\n".utf8))
        throw ExitCode.failure
    }
}

/// The repository folder holding `data/`, found upward from the working directory and then
/// from the executable; the working directory when neither finds one.
func repositoryRoot() -> URL {
    let current = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    if let root = DatasetLocator.repositoryRoot(from: current) { return root }
    if let executable = Bundle.main.executableURL,
        let root = DatasetLocator.repositoryRoot(from: executable.deletingLastPathComponent())
    {
        return root
    }
    return current
}

struct DataStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Users, records, tokens and their quantiles for a dataset.",
        discussion: "Tokens are counted with the UTF-8 byte tokenizer until a model tokenizer is given."
    )

    @Argument(help: "Dataset name (e.g. shakespeare), folder or .jsonl file.")
    var dataset: String

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Flag(help: "Skip invalid lines (and report how many) instead of stopping at the first.")
    var skipInvalid = false

    /// What `--json` prints.
    struct Report: Encodable {
        var name: String
        var location: String
        var skippedLines: Int
        var statistics: DatasetStatistics
    }

    func run() throws {
        try reportingDataErrors {
            let location = try DatasetLocator.locate(dataset)
            let (loaded, load) = try Dataset.load(from: location, skipInvalid: skipInvalid)
            let statistics = loaded.statistics(tokenizer: ByteTokenizer())
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                let report = Report(
                    name: loaded.manifest.name, location: location.path, skippedLines: load.skipped.count,
                    statistics: statistics)
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(statistics.table(title: "\(loaded.manifest.name)  (\(location.path))"))
                if !load.skipped.isEmpty {
                    print("\nskipped \(load.skipped.count) invalid lines; first: \(load.skipped[0].localizedDescription)")
                }
            }
        }
    }
}

struct DataBuildShakespeareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build-shakespeare",
        abstract: "Build the Shakespeare-by-speaker dataset from the plays' text files.",
        discussion: """
            Reads the 37 plays (never the poems) from --sources and writes records.jsonl, \
            manifest.json and speakers.tsv (how each speaker label was resolved) to --out.
            """
    )

    @Option(help: "Folder with the plays' .txt files (default: data/shakespeare/sources of the repository).")
    var sources: String?

    @Option(help: "Output folder (default: data/shakespeare of the repository).")
    var out: String?

    func run() throws {
        try reportingDataErrors {
            let root = repositoryRoot()
            let sourcesURL = sources.map { URL(fileURLWithPath: $0) } ?? root.appendingPathComponent("data/shakespeare/sources")
            let outURL = out.map { URL(fileURLWithPath: $0) } ?? root.appendingPathComponent("data/shakespeare")
            let (dataset, build) = try Shakespeare.buildDataset(sources: sourcesURL, to: outURL)
            print(dataset.manifest.statistics!.table(title: "shakespeare  (\(outURL.path))"))
            print("\nlines without a speaker (dropped): \(build.droppedLines)")
        }
    }
}

struct DataImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a dataset you bring: Enron emails or BookSum chapters.",
        subcommands: []
    )
}

struct DataSplitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split", abstract: "Show (and optionally write) a dataset's train / validation / test split.")
}
