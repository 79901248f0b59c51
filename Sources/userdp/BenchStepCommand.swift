import ArgumentParser
import Foundation
import LanguageModel
import LinearAlgebra
import Randomness

/// `userdp bench step`: forward+backward throughput of one model configuration, beside the
/// sgemm peak measured in the same process.
struct BenchStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Forward+backward throughput of a model configuration.",
        discussion: """
            Times lossAndGradient (or, with --clip, clippedGradientSum with one privacy unit per \
            sequence) on random tokens and prints tokens/s and achieved GFLOP/s of the matrix \
            products, beside the sgemm 1024 peak measured in the same run. Numbers on a shared \
            machine are provisional.
            """)

    @Option(help: "Transformer blocks.") var layers = 2
    @Option(help: "Model width d.") var width = 256
    @Option(help: "Attention heads.") var heads = 4
    @Option(help: "Context length T (every sequence is this long).") var context = 128
    @Option(help: "Sequences per step B.") var batch = 32
    @Option(help: "Vocabulary size.") var vocab = 1024
    @Option(help: "LoRA rank on all four projections; 0 trains every base parameter.") var loraRank = 0
    @Option(help: "Timed steps (after one warm-up step).") var iterations = 5
    @Flag(help: "Time clippedGradientSum with one unit per sequence instead of lossAndGradient.") var clip = false
    @Option(help: "Worker threads sharing the batch (model replicas, one BLAS thread each); default: the thread budget.") var workers: Int?
    @Option(help: "Tokens per shard of the batch (as training splits a step).") var shardTokens = ModelWorkers.shardTokens

    func validate() throws {
        for (name, value) in [("layers", layers), ("width", width), ("heads", heads), ("context", context), ("batch", batch), ("vocab", vocab), ("iterations", iterations)] where value < 1 {
            throw ValidationError("--\(name) must be at least 1, got \(value)")
        }
        if loraRank < 0 { throw ValidationError("--lora-rank must be 0 (off) or positive, got \(loraRank)") }
        if width % heads != 0 { throw ValidationError("--heads \(heads) must divide --width \(width)") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1, got \(workers)") }
        if shardTokens < 1 { throw ValidationError("--shard-tokens must be at least 1, got \(shardTokens)") }
    }

    func run() throws {
        let config = GPTConfig(vocabularySize: vocab, contextLength: context, width: width, layerCount: layers, headCount: heads)
        let model = try GPTModel(validating: config, seed: 1)
        if loraRank > 0 { try model.enableLoRA(LoRAConfig(rank: loraRank, alpha: Float(loraRank), targets: Set(LoRATarget.allCases)), seed: 1) }
        var rng = Philox(seed: 1, stream: "bench-step")
        let n = batch * context
        let tokens = (0...n).map { _ in Int32(rng.next() % UInt64(vocab)) }
        let data = TokenBatch(tokens: Array(tokens[0..<n]), targets: Array(tokens[1...n]), mask: [Float](repeating: 1, count: n), sequenceCount: batch, length: context)

        print("model: \(layers) layers, width \(width), \(heads) heads, context \(context), vocabulary \(vocab); \(model.parameterCount) parameters, \(model.trainableParameterCount) trainable\(loraRank > 0 ? " (LoRA rank \(loraRank) on all projections)" : "")")
        print("batch: \(batch) × \(context) = \(n) tokens; OpenBLAS core \(BLAS.coreName) on \(CPUFeatures.current.modelName)")
        let gemm = GemmBenchmark.measure(size: 1024)
        let peak = gemm.bestGFLOPS
        print(String(format: "sgemm 1024 peak: %.1f GFLOP/s (best of %d)", peak, gemm.repetitions))

        // The batch in shards of whole sequences fixed by --shard-tokens (as training splits a
        // step), spread over the workers and combined in shard order.
        let pool = ModelWorkers(model, workers: workers ?? defaultWorkerCount)
        let shards = ModelWorkers.shards(of: data, shardTokens: shardTokens)
        print("workers: \(pool.count), one BLAS thread each; \(shards.count) shard\(shards.count == 1 ? "" : "s") of at most \(shardTokens) tokens")
        // Sliced once: only the passes are timed.
        let shardBatches = shards.map { data.sequences($0) }
        let shardUnits = shardBatches.map { shard in (0..<shard.sequenceCount).map { $0 ..< $0 + 1 } }
        let clipped = clip
        let p = model.trainableParameterCount
        let step = {
            if clipped {
                var total = [Float](repeating: 0, count: p)
                pool.forEach(
                    shardBatches.count,
                    compute: { index, replica in replica.clippedGradientSum(shardBatches[index], units: shardUnits[index], clipNorm: 1).sum },
                    combine: { _, part in BLAS.axpy(1, part, &total) })
            } else {
                _ = pool.lossAndGradient(data, shardTokens: shardTokens)
            }
        }
        step()  // warm-up: allocates buffers
        var stepTimes: [Double] = []
        let cpuStart = processCPUSeconds()
        for _ in 0..<iterations { stepTimes.append(seconds(step)) }
        let cpuPerStep = (processCPUSeconds() - cpuStart) / Double(iterations)
        var forwardTimes: [Double] = []
        for _ in 0..<max(1, iterations / 2) {
            forwardTimes.append(seconds { _ = pool.sequenceLosses(data, shardTokens: shardTokens) })
        }

        let flops = model.stepFLOPs(sequenceCount: batch, length: context)
        let median = stepTimes.sorted()[stepTimes.count / 2], best = stepTimes.min()!
        let forwardMedian = forwardTimes.sorted()[forwardTimes.count / 2]
        let total = flops.forward + flops.backward
        let achieved = total / median / 1e9
        print(String(format: "%@ step: median %.4f s, best %.4f s over %d iterations (forward alone: %.4f s)", clip ? "clipped per-unit" : "forward+backward", median, best, iterations, forwardMedian))
        print(String(format: "throughput: %.0f tokens/s; %.1f GFLOP/s (%.2f GFLOP per step, forward %.2f) = %.0f%% of the sgemm peak", Double(n) / median, achieved, total / 1e9, flops.forward / 1e9, 100 * achieved / peak))
        print(String(format: "CPU time per step: %.4f s over all threads (%.0f tokens per CPU-second; contention-robust when BLAS runs one thread)", cpuPerStep, Double(n) / cpuPerStep))
        print("FLOPs count matrix products as executed (2·m·n·k; attention over the full T×T); elementwise layers are not counted.")
    }
}

/// Wall-clock seconds of one call.
private func seconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// CPU seconds used so far by every thread of this process.
private func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
