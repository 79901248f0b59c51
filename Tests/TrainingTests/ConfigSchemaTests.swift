import Foundation
import Persistence
import Testing
import UserData
@testable import Training

/// The schema table drives the config format: its key paths, the spellings it reads, and the key
/// table of docs/CONFIG.md.
@Suite("RunConfig schema")
struct ConfigSchemaTests {
    /// The key table of docs/CONFIG.md is the schema's, byte for byte.
    @Test("docs/CONFIG.md holds the schema's key table")
    func documentedTable() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/CONFIG.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        let begin = try #require(text.range(of: ConfigSchema.markdownBegin), "no begin marker in docs/CONFIG.md")
        let end = try #require(text.range(of: ConfigSchema.markdownEnd, range: begin.upperBound..<text.endIndex), "no end marker")
        let documented = String(text[begin.upperBound..<end.lowerBound]).trimmingCharacters(in: .newlines)
        let generated = RunConfig.schema.markdown.trimmingCharacters(in: .newlines)
        let differing = zip(documented.split(separator: "\n"), generated.split(separator: "\n")).first { $0 != $1 }
        #expect(
            documented == generated,
            "docs/CONFIG.md differs from RunConfig.schema (replace the table with `userdp config schema`); first differing line: \(String(describing: differing))")
    }

    /// The table of ignored keys in docs/CONFIG.md says what the mechanisms declare.
    @Test("docs/CONFIG.md lists the keys each mechanism ignores")
    func documentedIgnoredKeys() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/CONFIG.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        let header = try #require(text.range(of: "| mechanism | ignores |\n| --- | --- |\n"))
        let rows = text[header.upperBound...].split(separator: "\n").prefix { $0.hasPrefix("|") }
        var documented: [MechanismKind: Set<String>] = [:]
        for row in rows {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let names = { (cell: String) in Set(cell.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }) }
            for name in names(cells[0]) { documented[try #require(MechanismKind(rawValue: name))] = names(cells[1]) }
        }
        for mechanism in MechanismKind.allCases {
            #expect(documented[mechanism] == mechanism.ignoredKeys, "docs/CONFIG.md: \(mechanism) ignores \(mechanism.ignoredKeys.sorted())")
        }
    }

    /// The key paths sweeps may set are those of earlier versions: the table lost none.
    @Test("the known key paths are those of the format")
    func knownKeyPaths() {
        #expect(RunConfig.knownKeys == [
            "accountant", "batch_size", "clip_norm", "context_length", "dataset", "delta", "epsilon", "eval_every", "k",
            "learning_rate", "lora", "mechanism", "mechanism_options", "model", "optimizer", "seed", "selection", "split_seed",
            "steps", "version",
        ])
        #expect(Set(RunConfig.knownKeyPaths).subtracting(RunConfig.knownKeys) == [
            "lora.alpha", "lora.rank", "lora.targets", "mechanism_options.asi_liu", "mechanism_options.asi_liu.on_failure",
            "mechanism_options.asi_liu.tau", "mechanism_options.asi_liu.test_budget_fraction", "mechanism_options.asi_liu.threshold",
            "mechanism_options.group", "mechanism_options.group.accounting", "selection.order", "selection.strategy",
        ])
    }

    /// A selection has one spelling in results and tables; the spellings of earlier versions read
    /// as the same strategy and the canonical JSON is unchanged (run ids stay).
    @Test("selection spellings of earlier versions read as one strategy", arguments: [
        #""perplexity-highest""#, #""perplexity(highest)""#, #""perplexity(order=highest)""#,
        #"{"strategy": "perplexity", "order": "highest"}"#,
    ])
    func selectionAliases(_ selection: String) throws {
        let config = try RunConfig(data: Data(#"{"selection": \#(selection)}"#.utf8))
        #expect(config.selection == .perplexity(.highest))
        #expect(config.json.value(atKeyPath: "selection") == .object(["strategy": .string("perplexity"), "order": .string("highest")]))
        #expect(RunConfig.label(of: config.json.value(atKeyPath: "selection")!, at: "selection") == "perplexity(order=highest)")
    }

    /// Sweeps set values at key paths through the schema: a strategy name on the way stands for
    /// its object.
    @Test("assigning at a key path")
    func assigning() {
        let base: JSONValue = .object(["selection": .string("perplexity"), "k": .integer(2)])
        #expect(
            RunConfig.assigning(.string("highest"), at: "selection.order", in: base)
                == .object(["selection": .object(["strategy": .string("perplexity"), "order": .string("highest")]), "k": .integer(2)]))
        #expect(RunConfig.assigning(.integer(4), at: "lora.rank", in: .object(["lora": .null])) == .object(["lora": .object(["rank": .integer(4)])]))
        #expect(RunConfig.assigning(.integer(4), at: "k", in: base) == .object(["selection": .string("perplexity"), "k": .integer(4)]))
    }

    /// Which mechanisms read a key is derived from their declarations; the table says `.declaring`
    /// for exactly the keys some mechanism ignores.
    @Test("read-by comes from the mechanisms' declarations")
    func readers() {
        #expect(RunConfig.schema.readers(of: "clip_norm") == [.record, .group, .user])
        #expect(RunConfig.schema.readers(of: "selection.order") == [.group, .user, .asiLiu])
        #expect(RunConfig.schema.readers(of: "mechanism_options.group.accounting") == [.group])
        #expect(RunConfig.schema.readers(of: "lora.rank") == MechanismKind.allCases)
        for key in RunConfig.schema.children(of: "") where key.readers == .declaring {
            #expect(RunConfig.schema.readers(of: key.path) != MechanismKind.allCases, "every mechanism reads \(key.path): make it .every")
        }
    }
}
