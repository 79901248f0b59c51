import ArgumentParser
import Foundation
import LanguageModel
import LinearAlgebra

/// `userdp pretrain`: train a base model from scratch on public text.
struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Pretrain a base model on public text.",
        discussion: """
            Trains a GPT-2-architecture model with AdamW (decoupled weight decay), linear warmup \
            and cosine decay, and global-norm gradient clipping, on random windows of the \
            tokenized corpus. Held-out perplexity is measured on --heldout, or else on the last \
            --heldout-fraction of the corpus tokens. The output directory receives config.json, \
            model.safetensors, vocab.json, merges.txt and pretrain.json (hyperparameters, \
            held-out history, wall time, BLAS kernel).
            """
    )

    @Option(parsing: .upToNextOption, help: "Text files or directories of *.txt files.")
    var corpus: [String]

    @Option(help: "Held-out text file (default: the last --heldout-fraction of the corpus).")
    var heldout: String?

    @Option(name: .customLong("heldout-fraction"), help: "Fraction of corpus tokens held out when --heldout is not given.")
    var heldoutFraction: Double = 0.05

    @Option(help: "Tokenizer directory (vocab.json + merges.txt).")
    var tokenizer: String

    @Option(help: "Transformer blocks.") var layers: Int = 4
    @Option(help: "Model width.") var width: Int = 128
    @Option(help: "Attention heads.") var heads: Int = 4
    @Option(help: "Context length in tokens.") var context: Int = 128
    @Option(help: "Optimizer steps.") var steps: Int = 1000
    @Option(help: "Windows per step.") var batch: Int = 16
    @Option(help: "Peak learning rate.") var lr: Float = 1e-3
    @Option(name: .customLong("min-lr"), help: "Final learning rate (default: lr / 10).") var minimumLR: Float?
    @Option(help: "Warmup steps.") var warmup: Int = 100
    @Option(name: .customLong("weight-decay"), help: "AdamW weight decay.") var weightDecay: Float = 0.1
    @Option(help: "Global gradient-norm clip.") var clip: Float = 1
    @Option(help: "Seed.") var seed: UInt64 = 0
    @Option(name: .customLong("eval-interval"), help: "Steps between held-out evaluations (0: only at the end).") var evalInterval: Int = 100
    @Option(name: .customLong("checkpoint-interval"), help: "Steps between checkpoints (0: only at the end).") var checkpointInterval: Int = 500
    @Option(name: .customLong("log-interval"), help: "Steps between progress lines when not on a terminal.") var logInterval: Int = 10
    @Option(help: "BLAS threads (default: USERDP_BLAS_THREADS, OPENBLAS_NUM_THREADS or one per core).") var threads: Int?

    @Option(help: "Output model directory.")
    var out: String

    func run() throws {
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            BLASEnvironment.setThreadCount(threads)
        }
        guard heldoutFraction > 0, heldoutFraction < 1 else { throw ValidationError("--heldout-fraction must be in (0, 1)") }
        let config = PretrainConfig(
            layers: layers, width: width, heads: heads, context: context, steps: steps, batch: batch,
            lr: lr, minimumLR: minimumLR ?? lr / 10, warmup: warmup, weightDecay: weightDecay, clipNorm: clip,
            seed: seed, evalInterval: evalInterval, checkpointInterval: checkpointInterval)
        try config.validate()

        let tokenizer = try BPETokenizer.load(directory: URL(fileURLWithPath: self.tokenizer))
        var trainTokens = TokenStream.tokens(of: try TextFiles.read(corpus), tokenizer: tokenizer)
        let heldOutTokens: [Int32]
        if let heldout {
            // Encoded as `userdp eval` does (no <|endoftext|> appended), so both report the same number.
            heldOutTokens = tokenizer.encode(try TextFiles.read([heldout])[0].text).map(Int32.init)
        } else {
            let split = trainTokens.count - Int(Double(trainTokens.count) * heldoutFraction)
            heldOutTokens = Array(trainTokens[split...])
            trainTokens.removeLast(trainTokens.count - split)
        }
        print(BLASEnvironment.kernelChoice)
        print("corpus: \(trainTokens.count) training tokens, \(heldOutTokens.count) held-out tokens, vocabulary \(tokenizer.vocabularySize)")

        let progress = ProgressLine()
        let (model, summary) = try Pretraining.run(
            config: config, tokenizer: tokenizer, trainTokens: trainTokens, heldOutTokens: heldOutTokens,
            outputDirectory: URL(fileURLWithPath: out), workers: defaultWorkerCount
        ) { report in
            if report.step == 1 { print("model: \(report.totalSteps) steps, batch \(batch) × context \(context)") }
            var line = String(format: "step %d/%d  loss %.4f  lr %.2e  |g| %.2f  %.0f tok/s  elapsed %@  ETA %@",
                              report.step, report.totalSteps, report.loss, report.lr, report.gradientNorm, report.tokensPerSecond,
                              ProgressLine.clock(report.elapsedSeconds), ProgressLine.clock(report.remainingSeconds))
            if let heldOut = report.heldOut {
                line += String(format: "  held-out ppl %.2f", heldOut.perplexity)
                progress.permanent(line)
            } else if progress.isTerminal || report.step % max(logInterval, 1) == 0 {
                progress.transient(line)
            }
        }
        progress.finish()
        print("parameters: \(model.parameterCount)")
        print(String(format: "held-out perplexity %.3f (mean NLL %.4f nats over %d tokens)", summary.finalHeldOut.perplexity, summary.finalHeldOut.meanNegativeLogLikelihood, summary.finalHeldOut.predictedTokens))
        print(String(format: "tokens seen %d, wall time %.1f s", summary.tokensSeen, summary.wallSeconds))
        print("wrote \(out)")
    }
}

/// A progress line: rewritten in place with a carriage return on a terminal, plain lines
/// otherwise (logs, pipes).
final class ProgressLine {
    let isTerminal = isatty(STDOUT_FILENO) != 0
    private var pending = false

    /// A line that the next one may overwrite (on a terminal).
    func transient(_ line: String) {
        if isTerminal {
            FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8))
            pending = true
        } else {
            print(line)
            fflush(nil)  // a log file or pipe is block-buffered; show progress as it happens
        }
    }

    /// A line that stays.
    func permanent(_ line: String) {
        if isTerminal {
            FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line + "\n").utf8))
            pending = false
        } else {
            print(line)
            fflush(nil)
        }
    }

    /// Ends a pending transient line.
    func finish() {
        if pending { FileHandle.standardOutput.write(Data("\n".utf8)) }
        pending = false
    }

    /// `h:mm:ss` or `m:ss`.
    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let total = Int(seconds.rounded())
        let (hours, minutes, rest) = (total / 3600, total / 60 % 60, total % 60)
        return hours > 0 ? String(format: "%d:%02d:%02d", hours, minutes, rest) : String(format: "%d:%02d", minutes, rest)
    }
}
