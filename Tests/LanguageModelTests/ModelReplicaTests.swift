import LanguageModel
import LinearAlgebra
import Testing

@Suite("Model replicas and workers")
struct ModelReplicaTests {
    @Test("a replica computes exactly what its model computes, and sees its parameter updates")
    func replicaSharesParameters() {
        let model = ModelFixture.model()
        let replica = model.replica()
        let batch = ModelFixture.fullBatch(sequences: 3, length: 8, seed: 12)
        #expect(replica.lossAndGradient(batch).gradient == model.lossAndGradient(batch).gradient)
        // An update through the model reaches the replica (shared storage, not a copy) ...
        var parameters = model.trainableParameters()
        for i in stride(from: 0, to: parameters.count, by: 7) { parameters[i] += 0.05 }
        model.setTrainableParameters(parameters)
        #expect(replica.trainableParameters() == parameters)
        let after = model.sequenceLosses(batch)
        #expect(replica.sequenceLosses(batch) == after)
        // ... and one through the replica reaches the model.
        replica.updateTrainableParameters { $0[0] = 0.5 }
        #expect(model.trainableParameters()[0] == 0.5)
    }

    @Test("replicas made after enableLoRA share the adapters")
    func replicaWithLoRA() throws {
        let model = ModelFixture.model()
        try model.enableLoRA(LoRAConfig(rank: 2, alpha: 4, targets: [.attentionQKV]), seed: 3)
        let workers = ModelWorkers(model, workers: 3)
        #expect(workers.count == 3)
        let batch = ModelFixture.fullBatch(sequences: 2, length: 8, seed: 13)
        var adapters = model.trainableParameters()
        for i in adapters.indices { adapters[i] += Float(i % 5) * 0.01 }
        model.setTrainableParameters(adapters)
        let expected = model.lossAndGradient(batch).gradient
        for replica in workers.models.dropFirst() {
            #expect(replica.trainableParameterCount == model.trainableParameterCount)
            #expect(replica.lossAndGradient(batch).gradient == expected)
        }
    }

    @Test("workers running passes at the same time give the serial results")
    func concurrentPassesMatchSerial() {
        let model = ModelFixture.model()
        let batches = (0..<6).map { ModelFixture.fullBatch(sequences: 2, length: 8, seed: 20 + UInt64($0)) }
        let workers = ModelWorkers(model, workers: 2)
        let parallel = workers.map(batches.count) { index, replica in replica.lossAndGradient(batches[index]).gradient }
        // The reference: every batch in turn on the one model, with the workers' single BLAS thread.
        let reference = parallelMap(1, workers: 2) { _, _ in batches.map { model.lossAndGradient($0).gradient } }[0]
        #expect(parallel == reference)
    }
}
