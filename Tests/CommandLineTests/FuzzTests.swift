import Foundation
import LanguageModel
import Persistence
import Randomness
import Testing
import TestSupport
import Training

/// Seeded fuzzing of every file format userdp reads, through the real binary.
///
/// Each category starts from a valid file, applies seeded mutations (byte flips, cuts, random
/// bytes, duplicate keys, extreme numbers, escaping paths, deep nesting, ...) and runs the
/// command that reads it. Every input must end in exit 0 or a non-zero exit with exactly one
/// printable error line; never a signal, never a hang (each run is killed after
/// ``caseTimeout``), and no file that existed before the run may change.
///
/// Bounded: ``casesPerCategory`` cases per category, and a category stops early when its share
/// of ``totalBudget`` is spent (on a slow machine fewer cases run, never more time). Failing
/// inputs are kept under `$TMPDIR/userdp-fuzz-failures/` to reproduce; `USERDP_FUZZ_VERBOSE=1`
/// prints every case's first error line.
@Suite("Fuzz: every bad input ends cleanly", .serialized, .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct FuzzTests {
    static let casesPerCategory = 50
    static let totalBudget = 96.0
    static let categories = 8.0
    static let caseTimeout = 20.0
    /// The privacy category's timeout: a valid request at the documented limit (T = 10⁷ steps
    /// with PLD, docs/PRIVACY.md "Known limits") takes about 8 CPU-seconds in a debug build, and
    /// more wall time on a loaded machine; a hang still ends the case.
    static let privacyCaseTimeout = 90.0

    // MARK: Categories

    @Test("run configs (userdp train)")
    func runConfigs() throws {
        let seed = #"{"version": 1, "dataset": "fuzz-no-such-dataset", "model": "fuzz-no-such-model", "mechanism": "group", "epsilon": 8, "delta": 1e-5, "k": 2, "steps": 3, "batch_size": 4, "context_length": 32, "eval_every": 0, "lora": {"rank": 4, "alpha": 8, "targets": ["c_attn"]}, "selection": {"strategy": "random"}, "mechanism_options": {"group": {"accounting": "mixture"}}}"#
        try fuzz("config", seed: 0xC0F1) { random, folder in
            var data = mutateJSON(Data(seed.utf8), &random)
            // A config that is still valid must not start a real training run: keep its data
            // and model pointing nowhere.
            if (try? RunConfig(data: data)) != nil, case .object(var object)? = try? JSONValue(parsing: data) {
                object["dataset"] = .string("fuzz-no-such-dataset")
                object["model"] = .string("fuzz-no-such-model")
                data = Data(JSONValue.object(object).canonicalText().utf8)
            }
            try data.write(to: folder.appendingPathComponent("config.json"))
            return ["train", "--config", "config.json", "--out", "run"]
        }
    }

    @Test("sweep files (userdp sweep run --dry-run)")
    func sweepFiles() throws {
        let seed = #"{"version": 1, "name": "fuzz", "description": "d", "base": {"dataset": "fuzz-no-such-dataset", "model": "m", "epsilon": 8, "k": 2, "steps": 3}, "grid": {"mechanism": ["group", "user"], "epsilon": [1, 8]}, "seeds": [0, 1]}"#
        try fuzz("sweep", seed: 0x5EE9) { random, folder in
            try mutateJSON(Data(seed.utf8), &random).write(to: folder.appendingPathComponent("sweep.json"))
            return ["sweep", "run", "sweep.json", "--dry-run", "--results", "results"]
        }
    }

    static let manifestSeed = #"{"version": 1, "name": "fuzz", "description": "d", "source": "s", "licence": "l", "records": "records.jsonl", "split": {"unit": "user", "train": 0.8, "validation": 0.1, "test": 0.1, "seed": 3}}"#
    static let recordsSeed = (0..<12).map { #"{"user": "u\#($0 % 4)", "text": "record number \#($0) with some text", "id": "r\#($0)", "meta": {"n": \#($0)}}"# }
        .joined(separator: "\n") + "\n"

    @Test("dataset manifests (userdp data stats)")
    func manifests() throws {
        try fuzz("manifest", seed: 0x3A11) { random, folder in
            let dataset = folder.appendingPathComponent("ds")
            try FileManager.default.createDirectory(at: dataset, withIntermediateDirectories: true)
            try mutateJSON(Data(Self.manifestSeed.utf8), &random).write(to: dataset.appendingPathComponent("manifest.json"))
            try Data(Self.recordsSeed.utf8).write(to: dataset.appendingPathComponent("records.jsonl"))
            return random.below(2) == 0 ? ["data", "stats", "ds", "--bytes"] : ["data", "split", "ds"]
        }
    }

    @Test("dataset records (JSON Lines, userdp data stats)")
    func records() throws {
        try fuzz("jsonl", seed: 0x7E55) { random, folder in
            let dataset = folder.appendingPathComponent("ds")
            try FileManager.default.createDirectory(at: dataset, withIntermediateDirectories: true)
            try Data(Self.manifestSeed.utf8).write(to: dataset.appendingPathComponent("manifest.json"))
            var lines = Self.recordsSeed.split(separator: "\n").map { Data($0.utf8) }
            let index = random.below(lines.count)
            lines[index] = random.below(3) == 0 ? mutateBytes(lines[index], &random) : mutateJSON(lines[index], &random)
            if random.below(4) == 0 { lines = [mutateBytes(Data(Self.recordsSeed.utf8), &random)] }
            try Data(lines.joined(separator: [0x0A])).write(to: dataset.appendingPathComponent("records.jsonl"))
            return random.below(3) == 0 ? ["data", "stats", "ds", "--bytes", "--skip-invalid"] : ["data", "stats", "ds", "--bytes"]
        }
    }

    @Test("safetensors headers (userdp eval)")
    func safetensors() throws {
        let template = try Self.tinyModel()
        let original = try Data(contentsOf: template.appendingPathComponent(Checkpoint.weightsFileName))
        let headerLength = Int(original.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let header = original[8..<(8 + headerLength)]
        let body = original[(8 + headerLength)...]
        try fuzz("safetensors", seed: 0x5AFE) { random, folder in
            let model = folder.appendingPathComponent("model")
            try FileManager.default.copyItem(at: template, to: model)
            var file: Data
            switch random.below(4) {
            case 0:
                // A mutated header with a consistent length prefix.
                let mutated = mutateJSON(Data(header), &random)
                file = littleEndian(UInt64(mutated.count)) + mutated + body
            case 1:
                // A wrong length prefix.
                let lengths: [UInt64] = [0, 1, 7, UInt64(headerLength - 1), UInt64(headerLength + 1), 100_000_001, UInt64(Int.max), .max]
                file = littleEndian(lengths[random.below(lengths.count)]) + header + body
            case 2:
                file = mutateBytes(Data(original.prefix(8 + headerLength + 64)), &random) + body
            default:
                file = Data(original.prefix(random.below(8 + headerLength + 16)))
            }
            try file.write(to: model.appendingPathComponent(Checkpoint.weightsFileName))
            try Data("To be, or not to be, that is the question.\n".utf8).write(to: folder.appendingPathComponent("text.txt"))
            return ["eval", "--model", "model", "--text", "text.txt", "--threads", "1"]
        }
    }

    @Test("vocab.json and merges.txt (userdp tokenizer encode, userdp eval)")
    func tokenizerFiles() throws {
        let template = try Self.tinyModel()
        let vocabulary = try Data(contentsOf: template.appendingPathComponent("vocab.json"))
        let merges = try Data(contentsOf: template.appendingPathComponent("merges.txt"))
        try fuzz("tokenizer", seed: 0x70CE) { random, folder in
            let model = folder.appendingPathComponent("model")
            try FileManager.default.copyItem(at: template, to: model)
            if random.below(2) == 0 {
                try mutateJSON(vocabulary, &random).write(to: model.appendingPathComponent("vocab.json"))
            } else {
                try mutateLines(merges, &random).write(to: model.appendingPathComponent("merges.txt"))
            }
            try Data("To be, or not to be, that is the question.\n".utf8).write(to: folder.appendingPathComponent("text.txt"))
            return random.below(2) == 0
                ? ["tokenizer", "encode", "--tokenizer", "model", "--text", "text.txt"]
                : ["eval", "--model", "model", "--text", "text.txt", "--threads", "1"]
        }
    }

    @Test("importer CSVs (userdp data import enron, booksum)")
    func importerCSVs() throws {
        let fixtures = packageRoot.appendingPathComponent("Tests/UserDataTests/Fixtures")
        let enron = try Data(contentsOf: fixtures.appendingPathComponent("enron/emails.csv"))
        let booksum = try Data(contentsOf: fixtures.appendingPathComponent("booksum/chapter_summaries.csv"))
        try fuzz("csv", seed: 0xC5F) { random, folder in
            let isEnron = random.below(2) == 0
            let mutated = random.below(3) == 0 ? mutateLines(isEnron ? enron : booksum, &random) : mutateBytes(isEnron ? enron : booksum, &random)
            try mutated.write(to: folder.appendingPathComponent("input.csv"))
            // Sometimes an existing dataset sits at --out: it must survive.
            if random.below(3) == 0 {
                let out = folder.appendingPathComponent("out")
                try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
                try Data(Self.manifestSeed.utf8).write(to: out.appendingPathComponent("manifest.json"))
                try Data(Self.recordsSeed.utf8).write(to: out.appendingPathComponent("records.jsonl"))
            }
            return isEnron
                ? ["data", "import", "enron", "--csv", "input.csv", "--out", "out"]
                : ["data", "import", "booksum", "input.csv", "--out", "out"]
        }
    }

    @Test("privacy command-line numbers (userdp privacy epsilon)")
    func privacyNumbers() throws {
        let values = ["0", "-1", "1", "10000000", "10000001", "1000000000000000", "4611686018427387904", "9223372036854775807", "-9223372036854775808", "1e18", "nan", "inf", "1e-300", "0.5", "2", "x"]
        // `--name=value`, so that negative values reach validation instead of reading as options.
        try fuzz("privacy", seed: 0x9121, usageErrorsAllowed: true, caseTimeout: Self.privacyCaseTimeout) { random, _ in
            var options = [("q", "0.01"), ("sigma", "1"), ("steps", "100"), ("delta", "1e-5")]
            for _ in 0..<(1 + random.below(2)) {
                options[random.below(options.count)].1 = values[random.below(values.count)]
            }
            if random.below(3) == 0 { options.append(("group-size", ["0", "2", "1000", "1001", "1000000", "-5"][random.below(6)])) }
            if random.below(4) == 0 { options.append(("accountant", ["pld", "rdp", "group-lemma", "zzz"][random.below(4)])) }
            return ["privacy", "epsilon"] + options.map { "--\($0.0)=\($0.1)" }
        }
    }

    // MARK: The loop

    /// Runs `casesPerCategory` cases of one category, each in a fresh folder prepared by `prepare`
    /// (which returns the arguments), and records every unclean outcome. With
    /// `usageErrorsAllowed` (fuzzed flags rather than files), ArgumentParser's usage errors
    /// also count as clean: exit 64, "Error: ..." first, then the usage lines.
    func fuzz(
        _ category: String, seed: UInt64, usageErrorsAllowed: Bool = false, caseTimeout: Double = Self.caseTimeout,
        prepare: (inout Philox, URL) throws -> [String]
    ) throws {
        let root = try temporaryFolder("fuzz-\(category)")
        defer { try? FileManager.default.removeItem(at: root) }
        let start = Date()
        let budget = Self.totalBudget / Self.categories
        var ran = 0, succeeded = 0
        for index in 0..<Self.casesPerCategory {
            // At least four cases whatever the machine's load; the budget bounds only the rest,
            // so a loaded machine runs fewer cases but never fails for being slow.
            if index >= 4, Date().timeIntervalSince(start) > budget { break }
            // One Philox substream per case: a case is reproduced from the seed and its index.
            var random = Philox(seed: seed, stream: "fuzz-\(category)").substream(UInt64(index))
            let folder = root.appendingPathComponent("case-\(index)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let arguments = try prepare(&random, folder)
            let before = snapshot(folder)
            let outcome = try runUserdp(arguments, in: folder, timeout: caseTimeout)
            let changed = changedFiles(before, snapshot(folder))
            ran += 1
            if outcome.status == 0 { succeeded += 1 }
            if ProcessInfo.processInfo.environment["USERDP_FUZZ_VERBOSE"] != nil {
                print("fuzz \(category) \(index): exit \(outcome.status): \(outcome.errorLines.first ?? "")")
            }
            let usageError = usageErrorsAllowed && outcome.status == 64 && !outcome.signalled && !outcome.timedOut
                && outcome.errorLines.first?.hasPrefix("Error: ") == true
            if !(outcome.isCleanOutcome || usageError) || !changed.isEmpty {
                let kept = FileManager.default.temporaryDirectory.appendingPathComponent("userdp-fuzz-failures/\(category)-\(index)")
                try? FileManager.default.removeItem(at: kept)
                try? FileManager.default.createDirectory(at: kept.deletingLastPathComponent(), withIntermediateDirectories: true)
                try? FileManager.default.copyItem(at: folder, to: kept)
                Issue.record("\(category) case \(index) (seed \(seed)): \(outcome); changed files: \(changed); input kept in \(kept.path)")
            }
            try? FileManager.default.removeItem(at: folder)
        }
        print("fuzz \(category): \(ran) cases (\(succeeded) exit 0, \(ran - succeeded) clean errors) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }

    /// A model directory with the shipped tokenizer and a tiny network (vocab_size equal to the
    /// tokenizer's, context 8, width 8, one layer), so loading and evaluating take milliseconds.
    static func tinyModel() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("userdp-fuzz-model-\(ProcessInfo.processInfo.processIdentifier)")
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent(Checkpoint.weightsFileName).path) { return directory }
        let tokenizer = try BPETokenizer.load(directory: packageRoot.appendingPathComponent("models/base"))
        let model = GPTModel(config: GPTConfig(vocabularySize: tokenizer.vocabularySize, contextLength: 8, width: 8, layerCount: 1, headCount: 2), seed: 1)
        try Checkpoint.save(model, tokenizer: tokenizer, to: directory)
        return directory
    }
}

// MARK: - Mutations

func littleEndian(_ value: UInt64) -> Data {
    Data((0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) })
}

/// Values that have broken parsers and validators before: limits ± 1, huge and tiny numbers,
/// paths that leave a folder, control characters, long strings, wrong types.
let interestingValues: [JSONValue] = [
    .integer(0), .integer(-1), .integer(1), .integer(2), .integer(10_000_000), .integer(10_000_001), .integer(1 << 31),
    .integer(1_000_000_000_000_000), .integer(.max), .integer(.min), .number(1e-300), .number(0.5), .number(-0.5),
    .number(1e300), .string(""), .string("../../../../etc/passwd"), .string("/etc/passwd"), .string("\u{0}\u{1}\u{7f}"),
    .string(String(repeating: "é", count: 5000)), .string("<|endoftext|>"), .string("user"), .null, .bool(true), .array([]),
    .object([:]), .array([.integer(1), .string("x")]), .object(["k": .integer(1)]),
]

/// Raw JSON texts that no `JSONValue` can hold: out-of-range and non-standard numbers, deep nesting.
let interestingTexts: [String] = [
    "1e999", "-1e999", "NaN", "Infinity", "1e-999", "01", "9223372036854775808", "-0",
    String(repeating: "[", count: 600) + String(repeating: "]", count: 600), String(repeating: "[", count: 100_000), "\"\\ud800\"",
]

/// Every key path of `value` (objects' keys and arrays' indices).
func keyPaths(_ value: JSONValue, prefix: [JSONPathStep] = []) -> [[JSONPathStep]] {
    var paths: [[JSONPathStep]] = [prefix]
    switch value {
    case .object(let entries):
        for key in entries.keys.sorted() { paths += keyPaths(entries[key]!, prefix: prefix + [.key(key)]) }
    case .array(let elements):
        for (index, element) in elements.enumerated() { paths += keyPaths(element, prefix: prefix + [.index(index)]) }
    default: break
    }
    return paths
}

enum JSONPathStep { case key(String), index(Int) }

/// `value` with the value at `path` replaced by `transform` (nil removes it from its object or array).
func updating(_ value: JSONValue, at path: ArraySlice<JSONPathStep>, _ transform: (JSONValue) -> JSONValue?) -> JSONValue? {
    guard let step = path.first else { return transform(value) }
    switch (value, step) {
    case (.object(var entries), .key(let key)):
        entries[key] = entries[key].flatMap { updating($0, at: path.dropFirst(), transform) }
        return .object(entries)
    case (.array(var elements), .index(let index)):
        if let updated = updating(elements[index], at: path.dropFirst(), transform) {
            elements[index] = updated
        } else {
            elements.remove(at: index)
        }
        return .array(elements)
    default:
        return value
    }
}

/// A structural mutation of JSON text (falls back to byte mutations when it does not parse).
func mutateJSON(_ data: Data, _ random: inout Philox) -> Data {
    guard let value = try? JSONValue(parsing: data), random.below(6) != 0 else { return mutateBytes(data, &random) }
    let paths = keyPaths(value)
    let path = paths[random.below(paths.count)]
    let placeholder = "__fuzz_raw_\(random.next())__"
    switch random.below(6) {
    case 0, 1:
        let replacement = interestingValues[random.below(interestingValues.count)]
        return Data((updating(value, at: path[...]) { _ in replacement } ?? value).canonicalText().utf8)
    case 2:
        // A raw text no JSONValue can hold.
        let text = interestingTexts[random.below(interestingTexts.count)]
        let canonical = (updating(value, at: path[...]) { _ in .string(placeholder) } ?? value).canonicalText()
        return Data(canonical.replacingOccurrences(of: JSONValue.quoted(placeholder), with: text).utf8)
    case 3:
        // Remove the value (a missing key or a shorter list).
        guard !path.isEmpty else { return Data() }
        return Data((updating(value, at: path[...]) { _ in nil } ?? value).canonicalText().utf8)
    case 4:
        // Duplicate a key of some object: `{"k": v, ...}` → `{"k": v, "k": v, ...}`.
        let text = value.canonicalText()
        guard let match = text.range(of: #""[a-z_]+":"#, options: .regularExpression) else { return Data(text.utf8) }
        var end = match.upperBound
        var depth = 0
        scan: while end < text.endIndex {
            switch text[end] {
            case "{", "[": depth += 1
            case "}", "]": if depth == 0 { break scan }; depth -= 1
            case "," where depth == 0: break scan
            default: break
            }
            end = text.index(after: end)
        }
        let entry = String(text[match.lowerBound..<end])
        var duplicated = text
        duplicated.insert(contentsOf: entry + ",", at: match.lowerBound)
        return Data(duplicated.utf8)
    default:
        // An unknown key in some object.
        let updated = updating(value, at: path[...]) { inner in
            guard case .object(var entries) = inner else { return inner }
            entries["fuzz_unknown_\(random.below(100))"] = .integer(1)
            return .object(entries)
        }
        return Data((updated ?? value).canonicalText().utf8)
    }
}

/// A byte-level mutation: flips, cuts, random bytes, repeats, NULs, CR/LF and quotes.
func mutateBytes(_ data: Data, _ random: inout Philox) -> Data {
    var bytes = [UInt8](data)
    switch random.below(7) {
    case 0:
        for _ in 0..<(1 + random.below(8)) where !bytes.isEmpty { bytes[random.below(bytes.count)] ^= UInt8(1 << random.below(8)) }
    case 1:
        bytes = Array(bytes.prefix(random.below(bytes.count + 1)))
    case 2:
        let insert = (0..<(1 + random.below(64))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        bytes.insert(contentsOf: insert, at: random.below(bytes.count + 1))
    case 3:
        bytes = (0..<(1 + random.below(4096))).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    case 4:
        guard !bytes.isEmpty else { break }
        let start = random.below(bytes.count)
        let piece = bytes[start..<min(bytes.count, start + 1 + random.below(200))]
        bytes.insert(contentsOf: Array(repeating: Array(piece), count: 1 + random.below(20)).joined(), at: start)
    case 5:
        let specials: [[UInt8]] = [[0], [0x22], [0x22, 0x22], [0x0D], [0x0A], [0x2C], [0xFF, 0xFE], [0xEF, 0xBB, 0xBF], [0x5C]]
        for _ in 0..<(1 + random.below(6)) {
            bytes.insert(contentsOf: specials[random.below(specials.count)], at: random.below(bytes.count + 1))
        }
    default:
        bytes = []
    }
    return Data(bytes)
}

/// A line-level mutation: drop, repeat, swap, cut or garble lines.
func mutateLines(_ data: Data, _ random: inout Philox) -> Data {
    var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Data($0) }
    guard !lines.isEmpty else { return mutateBytes(data, &random) }
    switch random.below(5) {
    case 0: lines = Array(lines.prefix(random.below(lines.count + 1)))
    case 1: lines.remove(at: random.below(lines.count))
    case 2: lines.swapAt(random.below(lines.count), random.below(lines.count))
    case 3:
        let index = random.below(lines.count)
        lines.insert(lines[index], at: index)
    default:
        let index = random.below(lines.count)
        lines[index] = mutateBytes(lines[index], &random)
    }
    return Data(lines.joined(separator: [0x0A]))
}
