import LanguageModel
import Testing

@Suite("LoRA adapters")
struct LoRAGradientTests {
    static let allTargets = LoRAConfig(rank: 2, alpha: 4, targets: Set(LoRATarget.allCases))

    /// A tiny randomised model with adapters whose B is non-zero (at B = 0 the gradient of A
    /// vanishes and a check of it proves nothing).
    static func adaptedModel(_ lora: LoRAConfig) -> GPTModel {
        let model = ModelFixture.model()
        try! model.enableLoRA(lora, seed: 5)
        ModelFixture.randomise(model, tensors: model.adapterTensors, seed: 9)
        return model
    }

    @Test("a fresh adapter leaves the model's function unchanged")
    func freshAdapterIsIdentity() throws {
        let model = ModelFixture.model()
        let batch = ModelFixture.batch()
        let before = model.sequenceLosses(batch)
        try model.enableLoRA(Self.allTargets, seed: 5)
        #expect(model.sequenceLosses(batch) == before)
        #expect(try model.tensor(named: "h.1.mlp.c_fc.lora_B").allSatisfy { $0 == 0 })
        #expect(try model.tensor(named: "h.1.mlp.c_fc.lora_A").contains { $0 != 0 })
    }

    @Test("adapter tensors are named and shaped per target", arguments: [
        Set(LoRATarget.allCases), [LoRATarget.mlpExpansion, .attentionProjection], [.mlpProjection],
    ])
    func adapterLayout(targets: Set<LoRATarget>) throws {
        let model = ModelFixture.model()
        try model.enableLoRA(LoRAConfig(rank: 3, alpha: 1, targets: targets), seed: 1)
        var expected: [String] = []
        for layer in 0..<2 {
            for target in LoRATarget.allCases where targets.contains(target) {
                expected += ["h.\(layer).\(target.modulePath).lora_A", "h.\(layer).\(target.modulePath).lora_B"]
            }
        }
        #expect(model.adapterTensors.map(\.name) == expected)
        #expect(model.trainableTensors == model.adapterTensors)
        #expect(model.trainableParameterCount == model.adapterTensors.reduce(0) { $0 + $1.count })
        let fc = model.adapterTensors.first { $0.name == "h.0.mlp.c_proj.lora_A" }
        if targets.contains(.mlpProjection) { #expect(fc?.shape == [32, 3]) }
    }

    @Test("finite-difference check of every adapter tensor", arguments: [
        allTargets, LoRAConfig(rank: 1, alpha: 3, targets: [.mlpExpansion, .attentionProjection]),
    ])
    func adapterGradientMatchesFiniteDifferences(lora: LoRAConfig) {
        let model = Self.adaptedModel(lora)
        let batch = ModelFixture.batch()
        let baseBefore = try! model.tensor(named: "h.0.attn.c_attn.weight")
        let (_, gradient) = model.lossAndGradient(batch)
        #expect(gradient.count == model.trainableParameterCount)
        #expect(gradient.contains { $0 != 0 })
        let check = checkGradient(model: model, batch: batch, gradient: gradient, samples: 6)
        #expect(check.maxRelativeError < 2e-3, "max relative error \(check.maxRelativeError) at \(check.worst)")
        #expect(check.checkedTensors == model.adapterTensors.map(\.name))
        print("LoRA \(lora.targets.sorted().map(\.rawValue)) gradient check: \(check.checkedCoordinates) coordinates in \(check.checkedTensors.count) tensors, max relative error \(check.maxRelativeError) (\(check.worst))")
        // Only adapters are trainable: setting the trainable vector leaves the base alone.
        model.setTrainableParameters(gradient)
        #expect(try! model.tensor(named: "h.0.attn.c_attn.weight") == baseBefore)
    }

    @Test("mergeLoRA keeps the loss and restores plain GPT-2 tensors")
    func mergeKeepsLoss() {
        let model = Self.adaptedModel(Self.allTargets)
        let batch = ModelFixture.batch()
        let before = model.sequenceLosses(batch)
        let baseCount = model.parameterCount
        model.mergeLoRA()
        let after = model.sequenceLosses(batch)
        let (error, index) = maxRelativeDifference(before, after, floor: 1e-3)
        #expect(error < 1e-5, "loss changed by relative \(error) at sequence \(index): \(before) vs \(after)")
        #expect(model.loRAConfig == nil && model.adapterTensors.isEmpty)
        #expect(model.trainableParameterCount == baseCount)
        #expect(model.lossAndGradient(batch).gradient.count == baseCount)
    }

    @Test("invalid or repeated LoRA configurations are rejected with the exact error")
    func invalidConfigurations() throws {
        let model = ModelFixture.model()
        #expect(throws: ModelError.invalidLoRA(reason: "rank must be at least 1, got 0")) {
            try model.enableLoRA(LoRAConfig(rank: 0, alpha: 1, targets: [.mlpExpansion]), seed: 1)
        }
        #expect(throws: ModelError.self) { try model.enableLoRA(LoRAConfig(rank: 2, alpha: 1, targets: []), seed: 1) }
        try model.enableLoRA(Self.allTargets, seed: 1)
        #expect(throws: ModelError.loRAAlreadyEnabled) { try model.enableLoRA(Self.allTargets, seed: 2) }
    }
}
