import Foundation
import LanguageModel
import Randomness
import UserData

/// Times one full training step of each mechanism on the same data (`userdp bench dp-step`):
/// the non-private step against record-level DP-SGD (one unit per sequence) and User-wise
/// DP-SGD (users of k sequences), each including sampling, per-unit clipping, noise and the
/// optimizer update. Sampling rate 1, so every step sees exactly the same batch. The step
/// runs as in training: micro-batches of `microBatchTokens` shared by `workers` threads.
public struct DPStepBenchmark: Sendable {
    /// One timed mechanism.
    public struct Row: Sendable {
        public var mechanism: String
        public var medianSeconds: Double
        public var tokensPerSecond: Double
        /// Median step time over the non-private step's.
        public var overhead: Double
        /// Floating-point operations of the matrix products per step (`GPTModel.stepFLOPs`),
        /// per second of the median step, in GFLOP/s.
        public var gigaflopsPerSecond: Double
    }

    public var model: GPTConfig
    public var lora: LoRAConfig?
    public var sequences: Int
    public var length: Int
    public var recordsPerUser: Int
    public var iterations: Int
    /// Worker threads (model replicas with one BLAS thread each when more than one).
    public var workers: Int
    /// Micro-batch token budget, as in training.
    public var microBatchTokens: Int
    /// The micro-batch budget training runs use.
    public static let defaultMicroBatchTokens = StepRunner.defaultMicroBatchTokens

    public init(
        model: GPTConfig, lora: LoRAConfig?, sequences: Int, length: Int, recordsPerUser: Int, iterations: Int,
        workers: Int = 1, microBatchTokens: Int = DPStepBenchmark.defaultMicroBatchTokens
    ) {
        self.workers = workers
        self.microBatchTokens = microBatchTokens
        self.model = model
        self.lora = lora
        self.sequences = sequences
        self.length = length
        self.recordsPerUser = recordsPerUser
        self.iterations = iterations
    }

    /// Runs the benchmark; rows in the order nonprivate, record, user.
    public func run() throws -> [Row] {
        var rng = Philox(seed: 1, stream: "bench-dp-step")
        let data = (0..<sequences).map { _ in (0...length).map { _ in Int32(rng.next() % UInt64(model.vocabularySize)) } }
        let users = stride(from: 0, to: sequences, by: recordsPerUser).map { start in
            TokenizedUser(user: "u\(start)", records: Array(data[start..<min(start + recordsPerUser, sequences)]))
        }
        var config = RunConfig()
        config.contextLength = length
        config.k = recordsPerUser
        config.lora = nil
        // σ = 1 for the private steps: the cost does not depend on it.
        let cases: [(String, MechanismKind, TrainingPlan.Population, any StepAggregation)] = [
            ("nonprivate", .nonprivate, .sequences(data), MeanGradientAggregation()),
            ("record", .record, .sequences(data), ClippedGaussianAggregation(sigma: 1, clipNorm: config.clipNorm)),
            ("user (\(users.count) users × \(recordsPerUser))", .user, .users(users), ClippedGaussianAggregation(sigma: 1, clipNorm: config.clipNorm)),
        ]
        var rows: [Row] = []
        for (name, mechanism, population, aggregation) in cases {
            let gpt = GPTModel(config: model, seed: 1)
            if let lora { try gpt.enableLoRA(lora, seed: 1) }
            config.mechanism = mechanism
            // Longest-first selection keeps the user's k records as they are (no resampling).
            let plan = TrainingPlan(population: population, samplingRate: 1, strategy: .longest)
            var runner = StepRunner(
                config: config, plan: plan, aggregation: aggregation, workers: ModelWorkers(gpt, workers: workers),
                microBatchTokens: microBatchTokens)
            _ = try runner.step(1)  // warm-up: workspace allocation
            var times: [Double] = []
            for step in 0..<iterations {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try runner.step(step + 2)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            let median = times.sorted()[times.count / 2]
            let baseline = rows.first?.medianSeconds ?? median
            let flops = gpt.stepFLOPs(sequenceCount: sequences, length: length)
            rows.append(Row(
                mechanism: name, medianSeconds: median, tokensPerSecond: Double(sequences * length) / median, overhead: median / baseline,
                gigaflopsPerSecond: (flops.forward + flops.backward) / median / 1e9))
        }
        return rows
    }
}
