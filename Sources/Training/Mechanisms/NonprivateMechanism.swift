import Foundation
import Persistence
import Privacy

extension MechanismKind {
    /// Fine-tuning without clipping, noise or accounting.
    public static let nonprivate = MechanismKind(declaring: "nonprivate")
}

/// `nonprivate`: plain fine-tuning on every training record (the baseline). Each step samples
/// records at rate q and averages their gradients; there is no clipping, no noise and no
/// accounting, so the run reports ε = ∞, σ = 0 and no DP event.
struct NonprivateMechanism: Mechanism {
    let kind = MechanismKind.nonprivate
    let isPrivate = false
    let eventUnit = PrivacyUnit.user
    let population = UnitPopulation.records
    /// Reads no privacy budget, accountant, clip norm, k or selection.
    let readKeys: Set<String> = []
    let optionsKey: String? = nil
    let resultKeys: Set<String> = []

    func privacyPlan(config: RunConfig, plan: TrainingPlan, calibrationDirectory: URL) throws -> PrivacyPlan {
        PrivacyPlan(
            sigma: 0, userEpsilon: .infinity, eventJSON: .null, extra: [:],
            summary: "nonprivate: no clipping, no noise, ε = ∞", aggregation: MeanGradientAggregation())
    }

    func guarantee(of config: RunConfig, event: DPEvent?, steps: String) -> String {
        "nonprivate run (no clipping, no noise)"
    }
}

/// The non-private step: the mean of the sampled sequences' gradients. Each micro-batch's mean
/// gradient is weighted back to a sum by its sequence count; the sums are added in micro-batch
/// order and divided by the number of sequences.
struct MeanGradientAggregation: StepAggregation {
    mutating func aggregate(_ units: [[[Int32]]], step: Int, context: inout StepContext) throws -> StepUpdate {
        var sum = [Float](repeating: 0, count: context.parameterCount)
        var tally = StepTally()
        let workers = context.workers.count
        context.forEachMicroBatch(
            units,
            compute: { batch, _, model -> (losses: [Float], gradient: [Float]) in
                // lossAndGradient averages over the micro-batch's sequences.
                let result = model.lossAndGradient(batch.tokens)
                return ([Float](repeating: result.loss, count: batch.sequenceCount), result.gradient)
            },
            combine: { batch, result in
                addInPlace(&sum, result.gradient, scale: Float(batch.sequenceCount), workers: workers)
                tally.add(result.losses, of: batch)
            })
        return StepUpdate(gradient: divided(sum, by: Float(max(tally.sequenceCount, 1))), tally: tally)
    }
}
