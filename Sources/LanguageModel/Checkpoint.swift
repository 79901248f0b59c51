import Foundation
import Persistence

/// Errors from loading or saving a model directory, beyond those of the safetensors file
/// (`SafeTensorsError`) and the tokenizer files (`TokenizerError`).
public enum CheckpointError: Error, Equatable, LocalizedError {
    /// `config.json` could not be read.
    case configUnreadable(path: String, reason: String)
    /// A `config.json` key is missing, ill-typed or describes no valid model.
    case invalidConfig(path: String, key: String, reason: String)
    /// The tokenizer's vocabulary size differs from the number of rows of the model's token
    /// embedding (`vocab_size`).
    case vocabularyMismatch(path: String, modelVocabulary: Int, tokenizerVocabulary: Int)
    /// The weights file holds a tensor the GPT-2 architecture does not have.
    case unexpectedTensor(path: String, tensor: String)
    /// `lm_head.weight` is present but differs from `wte.weight`; the model ties them.
    case untiedLMHead(path: String)
    /// `config.json` records a tokenizer digest (``Checkpoint/tokenizerDigestKey``) that differs
    /// from that of `vocab.json` and `merges.txt`: the tokenizer files were replaced or edited.
    case tokenizerDigestMismatch(path: String, recorded: String, actual: String)
    /// `save` was called on a model with active LoRA adapters.
    case adaptersNotMerged
    /// The directory could not be created or written.
    case directoryUnwritable(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .configUnreadable(path, reason):
            "\(path): cannot read the model configuration (\(reason))"
        case let .invalidConfig(path, key, reason):
            "\(path): '\(key)': \(reason)"
        case let .vocabularyMismatch(path, model, tokenizer):
            "\(path): the tokenizer (vocab.json, merges.txt) has \(tokenizer) tokens but the model's vocab_size is \(model); they must be equal"
        case let .unexpectedTensor(path, tensor):
            "\(path): unexpected tensor '\(tensor)' (not part of a GPT-2 model with this config.json)"
        case let .untiedLMHead(path):
            "\(path): lm_head.weight differs from wte.weight, but userdp's model ties the LM head to the token embedding"
        case let .tokenizerDigestMismatch(path, recorded, actual):
            "\(path): the tokenizer files (vocab.json, merges.txt) are not the ones this model was saved with (config.json records tokenizer digest \(recorded), the files give \(actual))"
        case .adaptersNotMerged:
            "the model has active LoRA adapters; call mergeLoRA() (or save the adapters separately) before saving a checkpoint"
        case let .directoryUnwritable(path, reason):
            "\(path): cannot write the model directory (\(reason))"
        }
    }
}

/// A model directory as HuggingFace lays out GPT-2: `config.json` (GPT-2 keys), `model.safetensors`
/// (HF tensor names and layouts), `vocab.json` and `merges.txt`.
///
/// Loading accepts HF's own files: names may carry a `transformer.` prefix, the causal-mask
/// buffers `h.{i}.attn.bias` / `h.{i}.attn.masked_bias` are skipped, and `lm_head.weight`, if
/// present, must equal `wte.weight` (GPT-2 ties them). Half-precision weights are converted.
public enum Checkpoint {
    /// Model configuration file name.
    public static let configFileName = "config.json"
    /// Weights file name.
    public static let weightsFileName = "model.safetensors"
    /// The `config.json` key under which ``save(_:tokenizer:to:metadata:)`` records the
    /// tokenizer's ``BPETokenizer/contentDigest``. Optional: HuggingFace checkpoints lack it.
    public static let tokenizerDigestKey = "userdp_tokenizer_digest"

    /// Loads the model and its tokenizer from a directory, and checks that they belong
    /// together: the tokenizer's vocabulary has exactly `vocab_size` tokens, every token is
    /// explained by the merges (see `BPETokenizer.load(directory:)`), and when `config.json`
    /// records a tokenizer digest (models saved by userdp), the files match it.
    ///
    /// - Throws: `CheckpointError`, `SafeTensorsError` (missing tensor, wrong shape, corrupt
    ///   file: each names the file and tensor) or `TokenizerError`.
    public static func load(directory: URL) throws -> (GPTModel, BPETokenizer) {
        let model = try loadModel(directory: directory)
        let tokenizer = try BPETokenizer.load(directory: directory)
        // A tokenizer with fewer tokens than embedding rows is as wrong as one with more: it is
        // not the tokenizer the model was trained with (or its files are cut short).
        if tokenizer.vocabularySize != model.config.vocabularySize {
            throw CheckpointError.vocabularyMismatch(
                path: directory.path, modelVocabulary: model.config.vocabularySize, tokenizerVocabulary: tokenizer.vocabularySize)
        }
        // loadModel has read and parsed config.json already; it is small.
        let configData = (try? Data(contentsOf: directory.appendingPathComponent(configFileName))) ?? Data()
        if case .string(let recorded)? = (try? JSONValue(parsing: configData))?.value(atKeyPath: tokenizerDigestKey),
            recorded != tokenizer.contentDigest
        {
            throw CheckpointError.tokenizerDigestMismatch(path: directory.path, recorded: recorded, actual: tokenizer.contentDigest)
        }
        return (model, tokenizer)
    }

    /// Reads and validates `config.json` (HF GPT-2 keys; other keys ignored).
    public static func loadConfig(directory: URL) throws -> GPTConfig {
        let url = directory.appendingPathComponent(configFileName)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw CheckpointError.configUnreadable(path: url.path, reason: FileProblem.describe(error))
        }
        // The strict parser first: a duplicate key must not pick one of two model shapes.
        do {
            _ = try JSONValue(parsing: data)
        } catch {
            throw CheckpointError.configUnreadable(path: url.path, reason: "not valid JSON: \(error.reason)")
        }
        let config: GPTConfig
        do {
            config = try JSONDecoder().decode(GPTConfig.self, from: data)
        } catch let error as DecodingError {
            throw describe(error, path: url.path)
        } catch {
            throw CheckpointError.configUnreadable(path: url.path, reason: FileProblem.describe(error))
        }
        do {
            try config.validate()
        } catch let ModelError.invalidConfiguration(key, reason) {
            throw CheckpointError.invalidConfig(path: url.path, key: key, reason: reason)
        }
        return config
    }

    /// Loads `config.json` and `model.safetensors` into a model (no tokenizer).
    public static func loadModel(directory: URL) throws -> GPTModel {
        let config = try loadConfig(directory: directory)
        let file = try SafeTensorsFile(contentsOf: directory.appendingPathComponent(weightsFileName))
        let model = GPTModel(config: config, seed: 0)
        for tensor in try resolveTensors(in: file, expected: model.tensors.map { ($0.name, $0.shape) }) {
            try model.setTensor(named: tensor.name, shape: tensor.shape, values: tensor.values)
        }
        return model
    }

    /// The tensors of `file` for the expected (name, shape) list, in that order, applying HF
    /// GPT-2's naming conventions (see the type's documentation).
    ///
    /// - Throws: `SafeTensorsError.missingTensor` / `.shapeMismatch`,
    ///   `CheckpointError.unexpectedTensor` / `.untiedLMHead`.
    public static func resolveTensors(in file: SafeTensorsFile, expected: [(name: String, shape: [Int])]) throws -> [NamedTensor] {
        let prefix = "transformer."
        var used = Set<String>()
        var tensors: [NamedTensor] = []
        for (name, shape) in expected {
            let stored = file.entries[name] != nil ? name : (file.entries[prefix + name] != nil ? prefix + name : nil)
            guard let stored else { throw SafeTensorsError.missingTensor(path: file.path, tensor: name) }
            used.insert(stored)
            tensors.append(NamedTensor(name: name, shape: shape, values: try file.floats(stored, shape: shape)))
        }
        for name in file.names where !used.contains(name) {
            let bare = name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
            if bare.hasSuffix(".attn.bias") || bare.hasSuffix(".attn.masked_bias") { continue }
            if bare == "lm_head.weight", let embedding = tensors.first(where: { $0.name == "wte.weight" }) {
                guard try file.floats(name, shape: embedding.shape) == embedding.values else {
                    throw CheckpointError.untiedLMHead(path: file.path)
                }
                continue
            }
            throw CheckpointError.unexpectedTensor(path: file.path, tensor: name)
        }
        return tensors
    }

    /// Writes `config.json` (HF GPT-2 keys plus `model_type`, `architectures`,
    /// `activation_function` so HuggingFace tools recognise it), `model.safetensors` (float32,
    /// HF names, metadata `format: pt` plus `metadata`), `vocab.json` and `merges.txt` into
    /// `directory`, creating it if needed. Each file is written atomically.
    ///
    /// - Throws: `CheckpointError.adaptersNotMerged` if LoRA adapters are active (merge them
    ///   first); write failures.
    public static func save(_ model: GPTModel, tokenizer: BPETokenizer, to directory: URL, metadata: [String: String] = [:]) throws {
        guard model.loRAConfig == nil else { throw CheckpointError.adaptersNotMerged }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.directoryUnwritable(path: directory.path, reason: FileProblem.describe(error))
        }
        let config = model.config
        let json: [String: Any] = [
            "model_type": "gpt2",
            "architectures": ["GPT2LMHeadModel"],
            "activation_function": "gelu_new",
            "vocab_size": config.vocabularySize,
            "n_positions": config.contextLength,
            "n_ctx": config.contextLength,
            "n_embd": config.width,
            "n_layer": config.layerCount,
            "n_head": config.headCount,
            // Through the shortest decimal string, so 1e-5 is written as 1e-05, not 9.99999974737875e-06.
            "layer_norm_epsilon": Double("\(config.layerNormEpsilon)") ?? Double(config.layerNormEpsilon),
            "bos_token_id": tokenizer.endOfTextID,
            "eos_token_id": tokenizer.endOfTextID,
            "tie_word_embeddings": true,
            tokenizerDigestKey: tokenizer.contentDigest,
        ]
        let configURL = directory.appendingPathComponent(configFileName)
        do {
            let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(data + Data("\n".utf8), to: configURL)
        } catch {
            throw CheckpointError.directoryUnwritable(path: configURL.path, reason: FileProblem.describe(error))
        }
        let tensors = try model.tensors.map { NamedTensor(name: $0.name, shape: $0.shape, values: try model.tensor(named: $0.name)) }
        try SafeTensorsFile.write(tensors, metadata: metadata.merging(["format": "pt"]) { mine, _ in mine }, to: directory.appendingPathComponent(weightsFileName))
        try tokenizer.save(directory: directory)
    }

    private static func describe(_ error: DecodingError, path: String) -> CheckpointError {
        func key(_ codingPath: [any CodingKey]) -> String {
            codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case let .keyNotFound(missing, context):
            return .invalidConfig(path: path, key: key(context.codingPath + [missing]), reason: "required key is missing")
        case let .typeMismatch(type, context):
            return .invalidConfig(path: path, key: key(context.codingPath), reason: "expected \(type)")
        case let .valueNotFound(type, context):
            return .invalidConfig(path: path, key: key(context.codingPath), reason: "expected \(type), found null")
        case let .dataCorrupted(context):
            return .invalidConfig(path: path, key: key(context.codingPath), reason: context.debugDescription)
        @unknown default:
            return .configUnreadable(path: path, reason: FileProblem.describe(error))
        }
    }
}
