import ArgumentParser
import Foundation
import LanguageModel
import LinearAlgebra

/// `userdp eval`: perplexity of a model on a text file.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Perplexity of a model on a text file.",
        discussion: """
            Perplexity = exp(mean next-token NLL). The text is tokenized as one document (no \
            <|endoftext|> added) and scored in consecutive windows of the model's context length; \
            every token but the first is predicted once.
            """
    )

    @Option(help: "Model directory (config.json, model.safetensors, vocab.json, merges.txt).")
    var model: String

    @Option(help: "UTF-8 text file to score.")
    var text: String

    @Option(help: "BLAS threads (default: USERDP_BLAS_THREADS, OPENBLAS_NUM_THREADS or one per core).")
    var threads: Int?

    func run() throws {
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            BLASEnvironment.setThreadCount(threads)
        }
        let (model, tokenizer) = try Checkpoint.load(directory: URL(fileURLWithPath: self.model))
        let document = try TextFiles.read([text])[0]
        let tokens = tokenizer.encode(document.text).map(Int32.init)
        guard tokens.count >= 2 else { throw ValidationError("\(text): needs at least two tokens, has \(tokens.count)") }
        let clock = ContinuousClock()
        let start = clock.now
        let result = Perplexity.evaluate(model, tokens: tokens, workers: defaultWorkerCount)
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        print(BLASEnvironment.kernelChoice)
        print("model: \(model.parameterCount) parameters, context \(model.config.contextLength), vocabulary \(model.config.vocabularySize)")
        print(String(format: "%@: %d tokens scored in %.2f s", text, result.predictedTokens, seconds))
        print(String(format: "perplexity %.3f  (mean NLL %.4f nats/token)", result.perplexity, result.meanNegativeLogLikelihood))
    }
}
