import Foundation
import LinearAlgebra
import Testing
import TestSupport
@testable import LanguageModel

@Suite struct PretrainTests {
    /// AdamW in Double, written from the formulas of Loshchilov & Hutter (2019), Algorithm 2.
    struct ReferenceAdamW {
        var m: [Double], v: [Double], t = 0
        let beta1 = 0.9, beta2 = 0.95, epsilon = 1e-8, decay: Double
        let mask: [Bool]

        init(count: Int, decay: Double, mask: [Bool]) {
            m = Array(repeating: 0, count: count)
            v = m
            self.decay = decay
            self.mask = mask
        }

        mutating func step(_ theta: inout [Double], _ g: [Double], lr: Double) {
            t += 1
            for i in theta.indices {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                let mHat = m[i] / (1 - pow(beta1, Double(t)))
                let vHat = v[i] / (1 - pow(beta2, Double(t)))
                theta[i] -= lr * (mHat / (vHat.squareRoot() + epsilon) + (mask[i] ? decay * theta[i] : 0))
            }
        }
    }

    @Test func adamWMatchesTheAlgorithm() {
        let mask = [true, false, true, false]
        var optimizer = AdamW(decayMask: mask, weightDecay: 0.1)
        var reference = ReferenceAdamW(count: 4, decay: 0.1, mask: mask)
        var parameters: [Float] = [1, -2, 0.25, 3]
        var referenceParameters = parameters.map(Double.init)
        let gradients: [[Float]] = [[0.5, -0.1, 0, 2], [0.4, 0.3, -1, 1e-3], [-0.2, 0.2, 0.5, -5]]
        for (step, gradient) in gradients.enumerated() {
            let lr: Float = [0.1, 0.05, 0.01][step]
            parameters.withUnsafeMutableBufferPointer { optimizer.update($0, gradient: gradient, lr: lr, workers: 1) }
            reference.step(&referenceParameters, gradient.map(Double.init), lr: Double(lr))
        }
        let error = zip(parameters, referenceParameters).map { abs(Double($0) - $1) }.max()!
        #expect(error < 1e-6, "max |AdamW − reference| = \(error)")
        // First step by hand: m̂/√v̂ = sign(g), so θ₀ = 1 − 0.1·(1 + 0.1·1) before later steps.
        var once = AdamW(decayMask: mask, weightDecay: 0.1)
        var single: [Float] = [1, -2, 0.25, 3]
        single.withUnsafeMutableBufferPointer { once.update($0, gradient: [0.5, -0.1, 0, 2], lr: 0.1, workers: 1) }
        #expect(abs(single[0] - 0.89) < 1e-6 && abs(single[1] - -1.9) < 1e-6 && abs(single[2] - 0.2475) < 1e-7)
    }

    @Test func decayMaskCoversMatricesOnly() {
        let model = GPTModel(config: GPTConfig(vocabularySize: 5, contextLength: 4, width: 4, layerCount: 1, headCount: 2), seed: 1)
        let mask = AdamW.decayMask(for: model.trainableTensors, count: model.trainableParameterCount)
        for info in model.trainableTensors {
            #expect(mask[info.range].allSatisfy { $0 == (info.shape.count == 2) }, "\(info.name)")
        }
    }

    @Test func scheduleWarmsUpThenFollowsTheCosine() {
        let schedule = LearningRateSchedule(peak: 1, minimum: 0.1, warmupSteps: 4, totalSteps: 14)
        #expect((0..<4).map(schedule.rate(at:)) == [0.25, 0.5, 0.75, 1])
        #expect(schedule.rate(at: 4) == 1)
        #expect(abs(schedule.rate(at: 13) - 0.1) < 1e-6)
        // Decay steps 4...13 map to progress 0...1; step 8 is at progress 4/9.
        #expect(abs(schedule.rate(at: 8) - (0.1 + 0.9 * Float((1 + cos(Double.pi * 4 / 9)) / 2))) < 1e-6)
        let decaying = (4..<14).map(schedule.rate(at:))
        #expect(zip(decaying, decaying.dropFirst()).allSatisfy { $0 > $1 })
        #expect(LearningRateSchedule(peak: 2, minimum: 0, warmupSteps: 0, totalSteps: 1).rate(at: 0) == 2)
    }

    @Test func globalNormClipping() {
        var gradient: [Float] = [3, 4]
        #expect(clipGlobalNorm(&gradient, maximumNorm: 1) == 5)
        #expect(abs(gradient[0] - 0.6) < 1e-7 && abs(gradient[1] - 0.8) < 1e-7)
        var small: [Float] = [0.3, 0.4]
        clipGlobalNorm(&small, maximumNorm: 1)
        #expect(small == [0.3, 0.4])
    }

    @Test func perplexityEqualsNaiveLogSoftmaxOverWindows() {
        let model = ModelFixture.model()
        let length = model.config.contextLength
        let tokens = ModelFixture.randomTokens(2 * length + 4, seed: 21)  // two full windows and a partial one
        var total = 0.0
        var count = 0
        var start = 0
        while start < tokens.count - 1 {
            let window = Array(tokens[start..<min(start + length + 1, tokens.count)])
            let t = window.count - 1
            let batch = TokenBatch(tokens: Array(window.prefix(t)), targets: Array(window.dropFirst()), mask: [Float](repeating: 1, count: t), sequenceCount: 1, length: t)
            let logits = model.logits(batch)
            let v = model.config.vocabularySize
            for position in 0..<t {
                let row = logits[(position * v)..<((position + 1) * v)].map(Double.init)
                let largest = row.max()!
                let logSum = largest + log(row.reduce(0) { $0 + exp($1 - largest) })
                total += logSum - row[Int(window[position + 1])]
                count += 1
            }
            start += length
        }
        let result = Perplexity.evaluate(model, tokens: tokens, batchSize: 1, workers: defaultWorkerCount)
        #expect(result.predictedTokens == count && count == tokens.count - 1)
        let error = abs(result.meanNegativeLogLikelihood - total / Double(count))
        #expect(error < 1e-4, "mean NLL differs from the naive loop by \(error)")
        #expect(abs(Perplexity.evaluate(model, tokens: tokens, batchSize: 16, workers: defaultWorkerCount).meanNegativeLogLikelihood - result.meanNegativeLogLikelihood) < 1e-6)
    }

    static let corpus = String(repeating: "the cat sat on the mat. the dog sat on the log. ", count: 60)

    static func config(steps: Int = 60) -> PretrainConfig {
        PretrainConfig(layers: 1, width: 16, heads: 2, context: 16, steps: steps, batch: 4, lr: 1e-2, minimumLR: 1e-3, warmup: 5, seed: 9, evalInterval: 20, checkpointInterval: 0)
    }

    @Test func pretrainingLearnsIsReproducibleAndSavesALoadableModel() throws {
        let tokenizer = try BPETokenizer.train(corpus: [Self.corpus], vocabularySize: 300)
        let stream = TokenStream.tokens(of: [TextDocument(path: "c", text: Self.corpus)], tokenizer: tokenizer)
        #expect(stream.last == Int32(tokenizer.endOfTextID))
        let split = stream.count * 9 / 10
        let (train, heldOut) = (Array(stream[..<split]), Array(stream[split...]))
        let directory = try TemporaryDirectory()

        var reports: [PretrainProgress] = []
        let (model, summary) = try Pretraining.run(config: Self.config(), tokenizer: tokenizer, trainTokens: train, heldOutTokens: heldOut, outputDirectory: directory.url, workers: defaultWorkerCount) { reports.append($0) }
        #expect(reports.map(\.step) == Array(1...60))
        #expect(reports.compactMap(\.heldOut).count == 3)
        // The untrained model (same seed, same initialisation) scores about ln(300) ≈ 5.7 nats.
        let untrained = GPTModel(config: model.config, seed: 9)
        let initial = Perplexity.evaluate(untrained, tokens: heldOut, workers: defaultWorkerCount).meanNegativeLogLikelihood
        let nll = summary.evaluations.map(\.heldOutNLL)
        #expect(nll.last! < initial - 2, "held-out NLL \(initial) untrained → \(nll)")
        #expect(zip(nll, nll.dropFirst()).allSatisfy { $0 > $1 }, "held-out NLL should fall: \(nll)")
        #expect(summary.evaluations.map(\.step) == [20, 40, 60])
        #expect(summary.tokensSeen == 60 * 4 * 16 && summary.parameterCount == model.parameterCount)

        let (again, _) = try Pretraining.run(config: Self.config(), tokenizer: tokenizer, trainTokens: train, heldOutTokens: heldOut, outputDirectory: nil, workers: defaultWorkerCount) { _ in }
        #expect(again.trainableParameters() == model.trainableParameters())

        let (loaded, loadedTokenizer) = try Checkpoint.load(directory: directory.url)
        #expect(loadedTokenizer == tokenizer)
        #expect(Perplexity.evaluate(loaded, tokens: heldOut, workers: defaultWorkerCount) == summary.finalHeldOut)
        let savedData = try Data(contentsOf: directory.file(Pretraining.summaryFileName))
        let saved = try JSONDecoder().decode(PretrainSummary.self, from: savedData)
        #expect(saved.config == Self.config() && saved.finalHeldOut == summary.finalHeldOut)
        // pretrain.json speaks snake_case like every JSON userdp writes.
        let text = String(decoding: savedData, as: UTF8.self)
        for key in ["held_out_nll", "final_held_out", "mean_negative_log_likelihood", "minimum_lr", "core_name", "tokens_seen"] {
            #expect(text.contains("\"\(key)\""), "\(key) missing from pretrain.json")
        }
        #expect(text.range(of: #""[a-z]+[A-Z][A-Za-z]*" :"#, options: .regularExpression) == nil, "a camelCase key in \(text)")
    }

    /// The shipped base model's record is in the current format.
    @Test func shippedPretrainSummaryReads() throws {
        let data = try Data(contentsOf: packageRoot.appendingPathComponent("models/base").appendingPathComponent(Pretraining.summaryFileName))
        let summary = try JSONDecoder().decode(PretrainSummary.self, from: data)
        #expect(summary.config.steps == 1200 && summary.evaluations.count == 12 && summary.vocabularySize == 1536)
        #expect(summary.evaluations.last?.heldOutNLL == summary.finalHeldOut.meanNegativeLogLikelihood)
    }

    @Test func badSettingsNameTheFlag() throws {
        var config = Self.config()
        config.heads = 3
        #expect(throws: PretrainError.invalidSetting(name: "--heads", value: "3", expected: "a positive divisor of --width 16")) { try config.validate() }
        config = Self.config()
        config.warmup = 100
        #expect(throws: PretrainError.invalidSetting(name: "--warmup", value: "100", expected: "between 0 and --steps")) { try config.validate() }
        let tokenizer = try TokenizerTests.handMade()
        #expect(throws: PretrainError.corpusTooSmall(tokens: 5, needed: 17)) {
            try Pretraining.run(config: Self.config(), tokenizer: tokenizer, trainTokens: [1, 2, 3, 4, 5], heldOutTokens: [1, 2], outputDirectory: nil, workers: defaultWorkerCount) { _ in }
        }
    }

    @Test func textFilesReadDirectoriesInOrderAndRejectBadInput() throws {
        let directory = try TemporaryDirectory()
        try directory.write("b", to: "2.txt")
        try Data([0xEF, 0xBB, 0xBF] + Array("a".utf8)).write(to: directory.file("1.txt"))
        try directory.write("ignored", to: "notes.md")
        let documents = try TextFiles.read([directory.url.path])
        #expect(documents.map(\.text) == ["a", "b"])
        try Data([0x61, 0xFF]).write(to: directory.file("3.txt"))
        #expect(throws: PretrainError.notUTF8(path: directory.file("3.txt").path)) { try TextFiles.read([directory.url.path]) }
        let empty = try TemporaryDirectory()
        #expect(throws: PretrainError.noTextFiles(directory: empty.url.path)) { try TextFiles.read([empty.url.path]) }
        #expect(throws: PretrainError.fileUnreadable(path: "/nonexistent/x.txt", reason: "no such file or directory")) { try TextFiles.read(["/nonexistent/x.txt"]) }
    }
}
