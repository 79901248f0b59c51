import Foundation
import LanguageModel
import Randomness
import UserData

/// Times one full training step of each mechanism on the same data (`userdp bench dp-step`):
/// the non-private step against record-level DP-SGD (one unit per sequence) and User-wise
/// DP-SGD (users of k sequences), each including sampling, per-unit clipping, noise and the
/// optimizer update. Sampling rate 1, so every step sees exactly the same batch. The step
/// runs as in training: micro-batches of `microBatchTokens` shared by `workers` threads.
///
/// The mechanisms' timed steps alternate (nonprivate, record, user, nonprivate, …) on one
/// shared model, so that load from other processes changing during the run falls on all of
/// them alike and the overhead ratios stay meaningful on a busy machine. Sharing the model
/// means a step starts from the parameters the previous mechanism's step left: fine for
/// timing, which does not depend on the values.
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
        /// Median process CPU time (user + system, all threads) of one step, seconds: the work a
        /// step does, which other load on the machine disturbs far less than the wall time.
        public var medianCPUSeconds: Double
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
        let gpt = GPTModel(config: model, seed: 1)
        if let lora { try gpt.enableLoRA(lora, seed: 1) }
        let shared = ModelWorkers(gpt, workers: workers)
        var runners: [StepRunner] = []
        for (_, mechanism, population, aggregation) in cases {
            config.mechanism = mechanism
            // Longest-first selection keeps the user's k records as they are (no resampling).
            let plan = TrainingPlan(population: population, samplingRate: 1, strategy: .longest)
            runners.append(StepRunner(
                config: config, plan: plan, aggregation: aggregation, workers: shared, microBatchTokens: microBatchTokens))
        }
        for index in runners.indices { _ = try runners[index].step(1) }  // warm-up: workspace allocation
        var times = [[Double]](repeating: [], count: cases.count), cpuTimes = times
        for step in 0..<iterations {
            for index in runners.indices {
                let start = DispatchTime.now().uptimeNanoseconds, cpuStart = processCPUSeconds()
                _ = try runners[index].step(step + 2)
                times[index].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                cpuTimes[index].append(processCPUSeconds() - cpuStart)
            }
        }
        var rows: [Row] = []
        let flops = gpt.stepFLOPs(sequenceCount: sequences, length: length)
        for (index, (name, _, _, _)) in cases.enumerated() {
            let median = times[index].sorted()[times[index].count / 2]
            let baseline = rows.first?.medianSeconds ?? median
            rows.append(Row(
                mechanism: name, medianSeconds: median, tokensPerSecond: Double(sequences * length) / median, overhead: median / baseline,
                gigaflopsPerSecond: (flops.forward + flops.backward) / median / 1e9,
                medianCPUSeconds: cpuTimes[index].sorted()[cpuTimes[index].count / 2]))
        }
        return rows
    }
}

/// User plus system CPU time of the whole process so far, seconds.
private func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
    let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    return user + system
}
