import LinearAlgebra
import LanguageModel
import Persistence
import Randomness

/// How one step of a mechanism turns its sampled units into the gradient the optimizer steps
/// with (docs/TRAINING.md): the per-step aggregation a ``Mechanism`` supplies with its
/// ``PrivacyPlan``, run by ``StepRunner``.
///
/// Contract: `aggregate` computes every unit's gradient through ``StepContext/forEachMicroBatch``
/// (so micro-batches run on the workers and their results are combined in micro-batch order,
/// the same for every worker count), draws noise only from the context's `noise` stream, and
/// returns the loss tally of every sequence it trained on. It does not touch the model's
/// parameters: the runner checks the gradient and steps the optimizer.
protocol StepAggregation {
    /// Step `step`'s update from `units` (each unit's sequences, in the runner's order).
    mutating func aggregate(_ units: [[[Int32]]], step: Int, context: inout StepContext) throws -> StepUpdate
    /// `extra` fields of `result.json` about the whole run (none by default).
    var resultExtra: [String: JSONValue] { get }
    /// Lines for the log after the last step of a run of `plannedSteps` steps (none by default).
    func closingMessages(plannedSteps: Int) -> [String]
}

extension StepAggregation {
    var resultExtra: [String: JSONValue] { [:] }
    func closingMessages(plannedSteps: Int) -> [String] { [] }
}

/// What one step's aggregation hands back to the runner.
struct StepUpdate {
    /// The gradient the optimizer steps with; nil when the step makes no update.
    var gradient: [Float]?
    /// Loss, sequences and tokens of the step's micro-batches.
    var tally: StepTally
    /// Whether training ends after this step (the model is evaluated as it is).
    var halt = false
    /// A line for the log about this step, if any.
    var message: String?
}

/// The running loss total, sequence count and token count of a step's micro-batches.
struct StepTally {
    var lossTotal = 0.0
    var sequenceCount = 0
    var tokens = 0

    /// Adds one micro-batch: its per-sequence losses (summed in order, in double) and sizes.
    mutating func add(_ losses: [Float], of batch: MicroBatch) {
        lossTotal += losses.reduce(0) { $0 + Double($1) }
        sequenceCount += batch.sequenceCount
        tokens += batch.tokenCount
    }

    /// Mean per-sequence loss; NaN for a step without sequences.
    var meanLoss: Double { sequenceCount > 0 ? lossTotal / Double(sequenceCount) : .nan }
}

/// What a step aggregation works with: the workers and the micro-batching of a step, the sizes
/// it divides by, and the run's noise stream.
struct StepContext {
    /// The model and its replicas, one per worker thread.
    let workers: ModelWorkers
    /// Token budget (sequences × padded length) of one forward/backward; units are never split
    /// across micro-batches, so a single unit may exceed it.
    let microBatchTokens: Int
    /// L: the longest a sequence is padded to.
    let contextLength: Int
    /// Trainable parameters P (the gradient's length).
    let parameterCount: Int
    /// q · M: the expected number of units per step.
    let expectedUnits: Double
    /// The run's "noise" stream: every noise draw of the run, in order.
    var noise: Philox

    /// Runs `compute` on every micro-batch of `units` on the workers (`ModelWorkers.forEach`)
    /// and hands each result to `combine` in micro-batch order. `compute` gets the padded batch,
    /// each unit's range of its sequences and the worker's model.
    func forEachMicroBatch<R>(
        _ units: [[[Int32]]], compute: (MicroBatch, [Range<Int>], GPTModel) -> R, combine: (MicroBatch, R) -> Void
    ) {
        let batches = microBatches(units)
        workers.forEach(
            batches.count,
            compute: { index, model in compute(batches[index].batch, batches[index].units, model) },
            combine: { index, result in combine(batches[index].batch, result) })
    }

    /// Consecutive micro-batches of whole units (within `microBatchTokens` counted as
    /// sequences × padded length, at least one unit each), each with its units' ranges of
    /// sequences. Sequences are padded to the longest in the micro-batch, at most the context
    /// length.
    private func microBatches(_ units: [[[Int32]]]) -> [(batch: MicroBatch, units: [Range<Int>])] {
        var result: [(batch: MicroBatch, units: [Range<Int>])] = []
        var start = 0
        while start < units.count {
            var end = start
            var sequences: [[Int32]] = []
            var ranges: [Range<Int>] = []
            var longest = 0
            while end < units.count {
                let unitLongest = max(longest, units[end].map(\.count).max() ?? 0)
                let cost = (sequences.count + units[end].count) * max(unitLongest - 1, 1)
                if !sequences.isEmpty, cost > microBatchTokens { break }
                ranges.append(sequences.count..<(sequences.count + units[end].count))
                sequences.append(contentsOf: units[end])
                longest = unitLongest
                end += 1
            }
            let length = max(1, min(contextLength, (sequences.map(\.count).max() ?? 2) - 1))
            let tokens = sequences.reduce(0) { $0 + min(max($1.count - 1, 0), length) }
            result.append((MicroBatch(tokens: TokenBatch(sequences: sequences, length: length), sequenceCount: sequences.count, tokenCount: tokens), ranges))
            start = end
        }
        return result
    }
}

/// One micro-batch of whole units: the padded token batch, its sequence count and the number
/// of next-token predictions it trains on.
struct MicroBatch {
    let tokens: TokenBatch
    let sequenceCount: Int
    let tokenCount: Int
}

/// `target[i] += scale · values[i]` for every i, in fixed chunks on `workers` threads (the
/// step's own: `StepContext.workers.count`): elementwise, so the bits equal one serial loop's
/// whatever the worker count.
func addInPlace(_ target: inout [Float], _ values: [Float], scale: Float = 1, workers: Int) {
    let count = target.count, chunk = 1 << 16
    target.withUnsafeMutableBufferPointer { t in
        values.withUnsafeBufferPointer { v in
            _ = parallelMap((count + chunk - 1) / chunk, workers: count > chunk ? workers : 1) { index, _ in
                for i in index * chunk ..< min(count, (index + 1) * chunk) { t[i] += scale * v[i] }
            }
        }
    }
}

/// `sum` divided by `divisor`, as a multiplication by its float inverse (the order of operations
/// every mechanism's results were computed with).
func divided(_ sum: [Float], by divisor: Float) -> [Float] {
    var gradient = sum
    let inverse = 1 / divisor
    for i in 0..<gradient.count { gradient[i] *= inverse }
    return gradient
}
