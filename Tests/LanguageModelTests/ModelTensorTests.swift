import Foundation
import LanguageModel
import Testing

@Suite("Model configuration and named tensors")
struct ModelTensorTests {
    @Test("tensor names and shapes follow HuggingFace GPT-2")
    func hfNamesAndShapes() throws {
        let model = GPTModel(config: ModelFixture.config, seed: 1)
        let names = model.tensors.map(\.name)
        #expect(names.prefix(4) == ["wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.ln_1.bias"])
        #expect(names.last == "ln_f.bias")
        let shapes = Dictionary(uniqueKeysWithValues: model.tensors.map { ($0.name, $0.shape) })
        #expect(shapes["wte.weight"] == [13, 8])
        #expect(shapes["wpe.weight"] == [8, 8])
        #expect(shapes["h.1.attn.c_attn.weight"] == [8, 24])
        #expect(shapes["h.1.attn.c_proj.weight"] == [8, 8])
        #expect(shapes["h.1.mlp.c_fc.weight"] == [8, 32])
        #expect(shapes["h.1.mlp.c_proj.weight"] == [32, 8])
        #expect(model.parameterCount == model.tensors.reduce(0) { $0 + $1.count })
        // Packed back to back.
        for (a, b) in zip(model.tensors, model.tensors.dropFirst()) { #expect(a.offset + a.count == b.offset) }
    }

    @Test("initialisation follows GPT-2 and is reproducible")
    func initialisation() throws {
        let a = GPTModel(config: ModelFixture.config, seed: 42)
        let b = GPTModel(config: ModelFixture.config, seed: 42)
        let c = GPTModel(config: ModelFixture.config, seed: 43)
        #expect(a.trainableParameters() == b.trainableParameters())
        #expect(a.trainableParameters() != c.trainableParameters())
        #expect(try a.tensor(named: "h.0.ln_1.weight").allSatisfy { $0 == 1 })
        #expect(try a.tensor(named: "h.0.mlp.c_fc.bias").allSatisfy { $0 == 0 })
        let wide = GPTModel(config: GPTConfig(vocabularySize: 64, contextLength: 16, width: 64, layerCount: 8, headCount: 4), seed: 1)
        let std = { (values: [Float]) in (values.reduce(0) { $0 + $1 * $1 } / Float(values.count)).squareRoot() }
        let fc = std(try wide.tensor(named: "h.0.mlp.c_fc.weight"))
        let proj = std(try wide.tensor(named: "h.0.mlp.c_proj.weight"))
        #expect(abs(fc - 0.02) < 0.001, "c_fc std \(fc)")
        #expect(abs(proj - 0.02 / 4) < 0.0003, "c_proj std \(proj), expected 0.02/sqrt(2·8)")
    }

    @Test("setTensor checks names and shapes with exact errors")
    func setTensorErrors() throws {
        let model = GPTModel(config: ModelFixture.config, seed: 1)
        #expect(throws: ModelError.unknownTensor(name: "h.9.ln_1.weight")) { try model.tensor(named: "h.9.ln_1.weight") }
        #expect(throws: ModelError.tensorShapeMismatch(name: "wpe.weight", expected: [8, 8], actual: [8, 7])) {
            try model.setTensor(named: "wpe.weight", shape: [8, 7], values: [Float](repeating: 0, count: 56))
        }
        #expect(throws: ModelError.tensorShapeMismatch(name: "ln_f.bias", expected: [8], actual: [7])) {
            try model.setTensor(named: "ln_f.bias", shape: [8], values: [Float](repeating: 0, count: 7))
        }
        let values = (0..<8).map(Float.init)
        try model.setTensor(named: "ln_f.bias", shape: [8], values: values)
        #expect(try model.tensor(named: "ln_f.bias") == values)
    }

    @Test("GPTConfig decodes HuggingFace config.json keys and validates")
    func configCoding() throws {
        let json = #"{"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12, "layer_norm_epsilon": 1e-05, "activation_function": "gelu_new", "model_type": "gpt2"}"#
        let config = try JSONDecoder().decode(GPTConfig.self, from: Data(json.utf8))
        #expect(config == .gpt2Small)
        let roundTrip = try JSONDecoder().decode(GPTConfig.self, from: JSONEncoder().encode(config))
        #expect(roundTrip == config)
        var bad = config
        bad.headCount = 5
        #expect(throws: ModelError.invalidConfiguration(key: "n_head", reason: "5 heads do not divide n_embd = 768")) { try bad.validate() }
        bad = config
        bad.layerCount = 0
        #expect(throws: ModelError.invalidConfiguration(key: "n_layer", reason: "must be positive, got 0")) { try GPTModel(validating: bad, seed: 1) }
    }

    @Test("TokenBatch(sequences:) shifts targets and masks padding")
    func batchFromSequences() {
        let batch = TokenBatch(sequences: [[1, 2, 3, 4], [5, 6], [7]], length: 3, padToken: 0)
        #expect(batch.tokens == [1, 2, 3, 5, 0, 0, 7, 0, 0])
        #expect(batch.targets == [2, 3, 4, 6, 0, 0, 0, 0, 0])
        #expect(batch.mask == [1, 1, 1, 1, 0, 0, 0, 0, 0])
    }
}
