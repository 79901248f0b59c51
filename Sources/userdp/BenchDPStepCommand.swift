import ArgumentParser
import Foundation
import LanguageModel
import LinearAlgebra
import Training

/// `userdp bench dp-step`: the cost of per-unit clipping and noise against the non-private step.
struct BenchDPStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dp-step",
        abstract: "One training step of each mechanism against the non-private step.",
        discussion: """
            Times complete steps (per-unit gradients, clipping, noise, optimizer) of nonprivate, \
            record-level and user-level DP-SGD on the same random batch, for full fine-tuning and \
            for LoRA, and prints step time, tokens/s and the overhead over the non-private step. \
            Steps run as in training: micro-batches shared by --workers threads (model replicas, \
            one BLAS thread each); the default is the BLAS thread count. The mechanisms' steps \
            alternate, so load from other processes falls on all of them alike; the CPU columns \
            (process CPU time per step, all threads) are the least disturbed by such load.
            """)

    @Option(help: "Transformer blocks.") var layers = 2
    @Option(help: "Model width.") var width = 128
    @Option(help: "Attention heads.") var heads = 4
    @Option(help: "Tokens per sequence.") var context = 128
    @Option(help: "Sequences per step.") var batch = 32
    @Option(help: "Vocabulary size.") var vocab = 512
    @Option(help: "Records per user for the user-level step.") var recordsPerUser = 4
    @Option(help: "LoRA rank for the LoRA rows (on c_attn).") var loraRank = 8
    @Option(help: "Timed steps per mechanism (after one warm-up).") var iterations = 5
    @Option(help: "Worker threads (default: the BLAS thread count).") var workers: Int?
    @Option(help: "Micro-batch token budget (sequences × length), as in training.") var microBatchTokens = DPStepBenchmark.defaultMicroBatchTokens
    @Flag(help: "Only the LoRA rows (skip full fine-tuning, e.g. at GPT-2 small's size).") var loraOnly = false

    func run() throws {
        let config = GPTConfig(vocabularySize: vocab, contextLength: context, width: width, layerCount: layers, headCount: heads)
        try config.validate()
        print("model: \(layers) layers, width \(width), context \(context), vocabulary \(vocab); batch \(batch) × \(context) = \(batch * context) tokens")
        print("CPU: \(CPUFeatures.current.modelName); OpenBLAS: \(BLASEnvironment.kernelChoice)")
        let workerCount = workers ?? defaultWorkerCount
        guard workerCount >= 1 else { throw ValidationError("--workers must be at least 1, got \(workerCount)") }
        print("workers: \(workerCount); micro-batches of up to \(microBatchTokens) tokens")
        let peak = GemmBenchmark.measure(size: 1024, threads: workerCount).bestGFLOPS
        print(String(format: "sgemm 1024 peak on %d thread%@: %.1f GFLOP/s", workerCount, workerCount == 1 ? "" : "s", peak))
        var variants: [(String, LoRAConfig?)] = [("LoRA rank \(loraRank) on c_attn", LoRAConfig(rank: loraRank, alpha: Float(2 * loraRank), targets: [.attentionQKV]))]
        if !loraOnly { variants.insert(("full fine-tuning", nil), at: 0) }
        for (label, lora) in variants {
            let rows = try DPStepBenchmark(model: config, lora: lora, sequences: batch, length: context, recordsPerUser: recordsPerUser, iterations: iterations,
                workers: workerCount, microBatchTokens: microBatchTokens).run()
            print("\n\(label):")
            print("| mechanism | step (s) | tokens/s | overhead | GFLOP/s | of sgemm peak | CPU s/step | CPU overhead |")
            print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for row in rows {
                print(String(format: "| %@ | %.4f | %.0f | %.2fx | %.1f | %.0f%% | %.3f | %.2fx |", row.mechanism, row.medianSeconds, row.tokensPerSecond, row.overhead, row.gigaflopsPerSecond,
                    100 * row.gigaflopsPerSecond / peak, row.medianCPUSeconds, row.medianCPUSeconds / rows[0].medianCPUSeconds))
            }
        }
        print(String(format: "peak memory (maximum resident set): %.2f GiB", peakResidentGiB()))
    }
}

/// The process's maximum resident set size so far, GiB (getrusage; Linux reports KiB).
private func peakResidentGiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / (1024 * 1024)
}
