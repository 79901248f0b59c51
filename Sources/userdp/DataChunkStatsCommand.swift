import ArgumentParser
import Foundation
import Training
import UserData

/// `userdp data chunk-stats`: what `random-chunk` windows hold on a dataset.
struct DataChunkStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chunk-stats",
        abstract: "What random-chunk windows of L tokens hold: record boundaries, mid-record starts, tokens per unit.",
        discussion: """
            Exact expectations over the uniform window offset, each user weighted once. Tokens \
            are counted with the tokenizer of --model; the separator is its end-of-text token.
            """
    )

    @Argument(help: "Dataset name (e.g. shakespeare), folder or .jsonl file.")
    var dataset: String

    @Option(name: .customLong("context-length"), help: "L, the window length in tokens.")
    var contextLength = 128

    @Option(help: "Model folder whose tokenizer counts tokens (vocab.json + merges.txt).")
    var model = "models/base"

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let location = try DatasetLocator.locate(dataset)
        let (loaded, _) = try Dataset.load(from: location)
        let tokenizer = try ModelTokenizer(modelDirectory: model)
        let statistics = try RandomChunkStatistics(
            dataset: TokenizedDataset.tokenize(loaded, with: tokenizer), contextLength: contextLength)
        if json {
            try printJSON(statistics)
        } else {
            print(statistics.table(title: "random-chunk windows: \(loaded.manifest.name)  (\(location.path))"))
        }
    }
}
