import ArgumentParser
import Foundation
import Training
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
            DataStatsCommand.self, DataChunkStatsCommand.self, DataBuildShakespeareCommand.self, DataImportCommand.self,
            DataSplitCommand.self,
        ]
    )
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
        discussion: "Tokens are counted with the tokenizer of --model (default: the shipped base model); --bytes counts UTF-8 bytes instead."
    )

    @Option(help: "Model folder whose tokenizer counts tokens (vocab.json + merges.txt).")
    var model = "models/base"

    @Flag(help: "Count UTF-8 bytes instead of model tokens.")
    var bytes = false

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

        enum CodingKeys: String, CodingKey {
            case name, location, statistics
            case skippedLines = "skipped_lines"
        }
    }

    func run() throws {
        let location = try DatasetLocator.locate(dataset)
        let (loaded, load) = try Dataset.load(from: location, skipInvalid: skipInvalid)
        let tokenizer: any Tokenizing = bytes ? ByteTokenizer() : try ModelTokenizer(modelDirectory: model)
        let statistics = loaded.statistics(tokenizer: tokenizer)
        if json {
            try printJSON(
                Report(
                    name: loaded.manifest.name, location: location.path, skippedLines: load.skipped.count,
                    statistics: statistics))
        } else {
            print(statistics.table(title: "\(loaded.manifest.name)  (\(location.path))"))
            if !load.skipped.isEmpty {
                print("\nskipped \(load.skipped.count) invalid lines; first: \(load.skipped[0].localizedDescription)")
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

    @Option(help: "What one record holds: speech (one speech) or scene (a speaker's speeches within one scene).")
    var records: ShakespeareRecordUnit = .speech

    @Option(help: "Output folder (default: data/shakespeare, or data/shakespeare-scenes for --records scene, of the repository).")
    var out: String?

    func run() throws {
        let root = repositoryRoot()
        let sourcesURL = sources.map { URL(fileURLWithPath: $0) } ?? root.appendingPathComponent("data/shakespeare/sources")
        let unit = records
        let outURL = out.map { URL(fileURLWithPath: $0) } ?? root.appendingPathComponent("data/\(unit.datasetName)")
        let (dataset, build) = try Shakespeare.buildDataset(sources: sourcesURL, to: outURL, unit: unit)
        print(dataset.manifest.statistics!.table(title: "\(unit.datasetName)  (\(outURL.path))"))
        print("\nlines without a speaker (dropped): \(build.droppedLines)")
    }
}

struct DataImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a dataset you bring: Enron emails or BookSum chapters.",
        subcommands: [DataImportEnronCommand.self, DataImportBookSumCommand.self]
    )
}

/// Writes an imported dataset with statistics and the command that made it, then prints the
/// importer's report and the statistics table.
///
/// An existing, non-empty `out` is refused unless `force`; with `force` the new dataset is
/// written beside it and swapped in (``Dataset/install(into:replacing:)``).
func writeImported<Report: Encodable>(
    records: [Record], manifest: DatasetManifest, report: Report, to out: String, force: Bool
) throws {
    var dataset = Dataset(manifest: manifest, records: records)
    guard !records.isEmpty else { throw UserDataError.emptyDataset(file: manifest.source) }
    dataset.manifest.statistics = dataset.statistics(tokenizer: ByteTokenizer())
    let folder = URL(fileURLWithPath: out)
    try dataset.install(into: folder, replacing: force)
    try printJSON(report)
    print(dataset.manifest.statistics!.table(title: "\(manifest.name)  (\(folder.path))"))
}

struct DataImportEnronCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enron",
        abstract: "Import the Enron email corpus: user = sender address, record = cleaned body.",
        discussion: """
            Give either --csv (the widely distributed emails.csv with columns file, message) or \
            --maildir (the original maildir folder). Bodies lose quoted replies, forwarded and \
            original-message blocks and signatures; exact duplicates are dropped.
            """
    )

    @Option(help: "emails.csv with columns file, message.")
    var csv: String?

    @Option(help: "The maildir folder (maildir/<person>/<folder>/<n>.).")
    var maildir: String?

    @Option(help: "Output dataset folder (refused if it exists and is not empty, unless --force).")
    var out: String

    @Flag(help: "Replace an existing dataset folder at --out (written beside it, then swapped in).")
    var force = false

    @Option(help: "Dataset name in the manifest.")
    var name = "enron"

    @Option(help: "Drop users with fewer records.")
    var minRecords = 1

    @Option(help: "Keep at most this many records per user (the first in import order).")
    var maxRecords: Int?

    @Option(help: "Drop bodies shorter than this many characters.")
    var minLength = 1

    func validate() throws {
        guard (csv == nil) != (maildir == nil) else { throw ValidationError("give exactly one of --csv and --maildir") }
    }

    func run() throws {
        let options = EnronImportOptions(minRecordsPerUser: minRecords, maxRecordsPerUser: maxRecords, minLength: minLength)
        let source = csv ?? maildir!
        let (records, report) =
            try csv.map { try Enron.importCSV(URL(fileURLWithPath: $0), options: options) }
            ?? Enron.importMaildir(URL(fileURLWithPath: source), options: options)
        let manifest = Enron.manifest(
            name: name, source: source, build: (["userdp"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        try writeImported(records: records, manifest: manifest, report: report, to: out, force: force)
    }
}

struct DataImportBookSumCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "booksum",
        abstract: "Import BookSum chapters: user = book, record = chapter.",
        discussion: """
            Reads the chapter-level CSV (kmfoda/booksum: bid, chapter, ...) or JSON Lines \
            (ubaada/booksum-complete-cleaned: bid, text, ...). Aggregate rows and repeated \
            chapters (one row per summary source) are dropped.
            """
    )

    @Argument(help: "A .csv file or a JSON Lines file.")
    var file: String

    @Option(help: "Output dataset folder (refused if it exists and is not empty, unless --force).")
    var out: String

    @Flag(help: "Replace an existing dataset folder at --out (written beside it, then swapped in).")
    var force = false

    @Option(help: "Dataset name in the manifest.")
    var name = "booksum"

    @Option(help: "Column naming the book (default: bid, book_id or book_title).")
    var bookColumn: String?

    @Option(help: "Column holding the chapter text (default: chapter, text or chapters_text).")
    var textColumn: String?

    @Flag(help: "Keep rows flagged is_aggregate (several chapters in one text).")
    var keepAggregates = false

    func run() throws {
        let (records, report) = try BookSum.importFile(
            URL(fileURLWithPath: file),
            options: BookSumImportOptions(bookColumn: bookColumn, textColumn: textColumn, keepAggregates: keepAggregates))
        let manifest = BookSum.manifest(
            name: name, source: file, build: (["userdp"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        try writeImported(records: records, manifest: manifest, report: report, to: out, force: force)
    }
}

struct DataSplitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split",
        abstract: "Show (and optionally write) a dataset's train / validation / test split.",
        discussion: """
            Without options, the split in the dataset's manifest (80/10/10 by user, seed 0, \
            unless the manifest says otherwise). By user, test users never appear in training.
            """
    )

    @Argument(help: "Dataset name, folder or .jsonl file.")
    var dataset: String

    @Option(help: "Split by user or by record (default: the manifest's).")
    var by: SplitUnit?

    @Option(help: "Fractions train,validation,test, e.g. 0.8,0.1,0.1 (default: the manifest's).")
    var fractions: String?

    @Option(help: "Seed of the shuffle (default: the manifest's).")
    var seed: UInt64?

    @Option(help: "Write the three parts as datasets into this folder (train/, validation/, test/).")
    var write: String?

    @Flag(help: "Print JSON.")
    var json = false

    struct PartSummary: Encodable {
        var part: String
        var users: Int
        var records: Int
    }

    func run() throws {
        let (loaded, _) = try Dataset.load(from: DatasetLocator.locate(dataset))
        var settings = loaded.manifest.split
        if let by { settings.unit = by }
        if let seed { settings.seed = seed }
        if let fractions {
            let values = fractions.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == 3, let train = values[0], let validation = values[1], let test = values[2] else {
                throw ValidationError("--fractions takes three numbers: train,validation,test")
            }
            (settings.train, settings.validation, settings.test) = (train, validation, test)
        }
        let split = try loaded.split(settings)
        var summaries: [PartSummary] = []
        for part in SplitPart.allCases {
            let subset = loaded.subset(split.indices(of: part))
            summaries.append(PartSummary(part: part.rawValue, users: subset.userCount, records: subset.records.count))
            if let write {
                var manifest = loaded.manifest
                manifest.name = "\(loaded.manifest.name)-\(part.rawValue)"
                manifest.description = "The \(part.rawValue) part of \(loaded.manifest.name): \(settings.unit.rawValue) split \(settings.train)/\(settings.validation)/\(settings.test), seed \(settings.seed)."
                manifest.statistics = subset.statistics(tokenizer: ByteTokenizer())
                try Dataset(manifest: manifest, records: subset.records)
                    .write(to: URL(fileURLWithPath: write).appendingPathComponent(part.rawValue))
            }
        }
        if json {
            try printJSON(summaries)
        } else {
            print("\(loaded.manifest.name): split by \(settings.unit.rawValue), \(settings.train)/\(settings.validation)/\(settings.test), seed \(settings.seed)")
            for summary in summaries {
                print("\(summary.part.padding(toLength: 12, withPad: " ", startingAt: 0))users \(summary.users)  records \(summary.records)")
            }
        }
    }
}
