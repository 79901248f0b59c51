import Foundation
import Randomness
import Testing
import TestSupport
@testable import LanguageModel

@Suite struct CheckpointTests {
    /// A tiny model over the hand-made tokenizer's 263 tokens, every tensor randomised.
    static func tinyModel() throws -> (GPTModel, BPETokenizer) {
        let tokenizer = try TokenizerTests.handMade()
        let config = GPTConfig(vocabularySize: tokenizer.vocabularySize, contextLength: 8, width: 8, layerCount: 2, headCount: 2)
        let model = GPTModel(config: config, seed: 1)
        ModelFixture.randomise(model, tensors: model.tensors, seed: 5)
        return (model, tokenizer)
    }

    static func batch(_ tokenizer: BPETokenizer) -> TokenBatch {
        let ids = tokenizer.encode("hello world, hello world").map(Int32.init)
        return TokenBatch(sequences: [ids, Array(ids.prefix(5))], length: 7)
    }

    func tensors(of model: GPTModel) throws -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: try model.tensors.map { ($0.name, try model.tensor(named: $0.name)) })
    }

    @Test func saveThenLoadReproducesTheModelExactly() throws {
        let (model, tokenizer) = try Self.tinyModel()
        let directory = try TemporaryDirectory()
        try Checkpoint.save(model, tokenizer: tokenizer, to: directory.url, metadata: ["note": "test"])
        for name in ["config.json", "model.safetensors", "vocab.json", "merges.txt"] {
            #expect(FileManager.default.fileExists(atPath: directory.file(name).path), "\(name)")
        }
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.file("config.json"))) as! [String: Any]
        #expect(config["n_embd"] as? Int == 8 && config["n_layer"] as? Int == 2 && config["vocab_size"] as? Int == 263)
        #expect(config["layer_norm_epsilon"] as? Double == 1e-5)
        #expect(try SafeTensorsFile(contentsOf: directory.file("model.safetensors")).metadata == ["format": "pt", "note": "test"])

        let (loaded, loadedTokenizer) = try Checkpoint.load(directory: directory.url)
        #expect(loaded.config == model.config)
        #expect(loadedTokenizer == tokenizer)
        #expect(try tensors(of: loaded) == tensors(of: model))
        let batch = Self.batch(tokenizer)
        #expect(loaded.sequenceLosses(batch) == model.sequenceLosses(batch))
    }

    /// Writes the model's tensors the way HuggingFace's GPT-2 files name them.
    func writeHuggingFaceStyle(_ model: GPTModel, to url: URL, lmHead: [Float]? = nil, extra: [NamedTensor] = []) throws {
        var named = try model.tensors.map { NamedTensor(name: "transformer." + $0.name, shape: $0.shape, values: try model.tensor(named: $0.name)) }
        let d = model.config.width, context = model.config.contextLength
        for layer in 0..<model.config.layerCount {
            // The causal-mask buffers older HF checkpoints carry.
            named.append(NamedTensor(name: "transformer.h.\(layer).attn.bias", shape: [1, 1, context, context], values: [Float](repeating: 1, count: context * context)))
            named.append(NamedTensor(name: "transformer.h.\(layer).attn.masked_bias", shape: [], values: [-1e4]))
        }
        let wte = try model.tensor(named: "wte.weight")
        named.append(NamedTensor(name: "lm_head.weight", shape: [model.config.vocabularySize, d], values: lmHead ?? wte))
        try SafeTensorsFile.write(named + extra, metadata: ["format": "pt"], to: url)
    }

    @Test func loadsHuggingFaceNamingBuffersAndTiedHead() throws {
        let (model, tokenizer) = try Self.tinyModel()
        let directory = try TemporaryDirectory()
        try Checkpoint.save(model, tokenizer: tokenizer, to: directory.url)
        try writeHuggingFaceStyle(model, to: directory.file("model.safetensors"))
        // HF's config.json has many more keys; unknown ones are ignored.
        try directory.write("""
            {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "n_ctx": 8, "n_embd": 8,
             "n_head": 2, "n_layer": 2, "n_positions": 8, "vocab_size": 263, "resid_pdrop": 0.1,
             "task_specific_params": {"text-generation": {"do_sample": true}}}
            """, to: "config.json")
        let (loaded, _) = try Checkpoint.load(directory: directory.url)
        #expect(loaded.config.layerNormEpsilon == 1e-5)
        #expect(try tensors(of: loaded) == tensors(of: model))
    }

    @Test func badWeightsNameTheFileAndTensor() throws {
        let (model, tokenizer) = try Self.tinyModel()
        let directory = try TemporaryDirectory()
        try Checkpoint.save(model, tokenizer: tokenizer, to: directory.url)
        let weights = directory.file("model.safetensors")
        let all = try model.tensors.map { NamedTensor(name: $0.name, shape: $0.shape, values: try model.tensor(named: $0.name)) }

        try SafeTensorsFile.write(all.filter { $0.name != "h.1.mlp.c_fc.bias" }, to: weights)
        #expect(throws: SafeTensorsError.missingTensor(path: weights.path, tensor: "h.1.mlp.c_fc.bias")) { try Checkpoint.load(directory: directory.url) }

        var transposed = all
        let index = transposed.firstIndex { $0.name == "h.0.attn.c_attn.weight" }!
        transposed[index].shape = [24, 8]  // out × in, as a PyTorch Linear would store it
        try SafeTensorsFile.write(transposed, to: weights)
        #expect(throws: SafeTensorsError.shapeMismatch(path: weights.path, tensor: "h.0.attn.c_attn.weight", expected: [8, 24], actual: [24, 8])) {
            try Checkpoint.load(directory: directory.url)
        }

        try SafeTensorsFile.write(all + [NamedTensor(name: "h.2.ln_1.weight", shape: [8], values: [Float](repeating: 1, count: 8))], to: weights)
        #expect(throws: CheckpointError.unexpectedTensor(path: weights.path, tensor: "h.2.ln_1.weight")) { try Checkpoint.load(directory: directory.url) }

        var untied = try model.tensor(named: "wte.weight")
        untied[3] += 1
        try writeHuggingFaceStyle(model, to: weights, lmHead: untied)
        #expect(throws: CheckpointError.untiedLMHead(path: weights.path)) { try Checkpoint.load(directory: directory.url) }

        // A truncated weights file fails at open, naming the file.
        try Checkpoint.save(model, tokenizer: tokenizer, to: directory.url)
        let bytes = try Data(contentsOf: weights)
        try bytes.prefix(bytes.count - 10).write(to: weights)
        do {
            _ = try Checkpoint.load(directory: directory.url)
            Issue.record("a truncated file must not load")
        } catch let SafeTensorsError.offsetsOutOfBounds(path, tensor, _, _, _) {
            #expect(path == weights.path && tensor == "ln_f.bias")
        }
    }

    @Test func badConfigNamesTheKey() throws {
        let (model, tokenizer) = try Self.tinyModel()
        let directory = try TemporaryDirectory()
        try Checkpoint.save(model, tokenizer: tokenizer, to: directory.url)
        let path = directory.file("config.json").path

        try directory.write(#"{"vocab_size": 263, "n_positions": 8, "n_embd": 8, "n_layer": 2}"#, to: "config.json")
        #expect(throws: CheckpointError.invalidConfig(path: path, key: "n_head", reason: "required key is missing")) { try Checkpoint.load(directory: directory.url) }

        try directory.write(#"{"vocab_size": 263, "n_positions": 8, "n_embd": 8, "n_layer": "two", "n_head": 2}"#, to: "config.json")
        #expect(throws: CheckpointError.invalidConfig(path: path, key: "n_layer", reason: "expected Int")) { try Checkpoint.load(directory: directory.url) }

        try directory.write(#"{"vocab_size": 263, "n_positions": 8, "n_embd": 8, "n_layer": 2, "n_head": 3}"#, to: "config.json")
        #expect(throws: CheckpointError.invalidConfig(path: path, key: "n_head", reason: "3 heads do not divide n_embd = 8")) { try Checkpoint.load(directory: directory.url) }

        // A model whose embedding is smaller than the tokenizer's vocabulary.
        let small = GPTModel(config: GPTConfig(vocabularySize: 100, contextLength: 8, width: 8, layerCount: 1, headCount: 2), seed: 1)
        try Checkpoint.save(small, tokenizer: tokenizer, to: directory.url)
        #expect(throws: CheckpointError.vocabularyMismatch(path: directory.url.path, modelVocabulary: 100, tokenizerVocabulary: 263)) {
            try Checkpoint.load(directory: directory.url)
        }

        try FileManager.default.removeItem(at: directory.file("config.json"))
        do {
            _ = try Checkpoint.load(directory: directory.url)
            Issue.record("a missing config.json must fail")
        } catch let CheckpointError.configUnreadable(errorPath, _) {
            #expect(errorPath == path)
        }
    }

    @Test func refusesToSaveUnmergedAdapters() throws {
        let (model, tokenizer) = try Self.tinyModel()
        try model.enableLoRA(LoRAConfig(rank: 2, alpha: 4, targets: [.attentionQKV]), seed: 3)
        let directory = try TemporaryDirectory()
        #expect(throws: CheckpointError.adaptersNotMerged) { try Checkpoint.save(model, tokenizer: tokenizer, to: directory.url) }
        model.mergeLoRA()
        try Checkpoint.save(model, tokenizer: tokenizer, to: directory.url)
    }
}
