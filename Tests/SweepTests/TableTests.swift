import Foundation
import Testing

@testable import Sweep

/// Compares `text` with `Snapshots/NAME`. With UPDATE_SNAPSHOTS=1 in the environment (or
/// when the file does not exist yet) it writes the file instead, and a missing file fails.
func expectSnapshot(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation, filePath: String = #filePath) {
    let url = URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent("Snapshots").appendingPathComponent(name)
    let stored = try? String(contentsOf: url, encoding: .utf8)
    if ProcessInfo.processInfo.environment["UPDATE_SNAPSHOTS"] == "1" || stored == nil {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? text.write(to: url, atomically: true, encoding: .utf8)
        #expect(stored != nil, "recorded new snapshot \(name); check it and rerun", sourceLocation: sourceLocation)
        return
    }
    #expect(text == stored, "snapshot \(name) differs (UPDATE_SNAPSHOTS=1 rewrites it)", sourceLocation: sourceLocation)
}

/// A result set with mechanism × epsilon × selection × lr cells and seeds 0-2, with gaps:
/// (user, 8, random-chunk) has two seeds; (group, 1, random-chunk) has none.
func sampleResults() -> ResultSet {
    var rows: [ResultRow] = []
    let base: [String: Double] = ["group": 40, "user": 30]
    for mechanism in ["group", "user"] {
        for epsilon in ["1", "8"] {
            for selection in ["random", "random-chunk"] {
                for lr in ["0.001", "0.01"] {
                    if mechanism == "group", epsilon == "1", selection == "random-chunk" { continue }
                    for seed in 0..<3 {
                        if mechanism == "user", epsilon == "8", selection == "random-chunk", seed == 2 { continue }
                        // Lower for larger ε and for lr 0.01 on validation, but lr 0.001 on test.
                        let value = base[mechanism]! - (epsilon == "8" ? 5 : 0) - (selection == "random" ? 0 : 1) + Double(seed)
                        let validation = value + (lr == "0.01" ? -0.5 : 0)
                        let test = value + (lr == "0.01" ? 0.25 : 0)
                        rows.append(
                            ResultRow(
                                runID: "\(mechanism)-\(epsilon)-\(selection)-\(lr)-\(seed)", cell: [epsilon, "0.001" == lr ? lr : lr, mechanism, selection],
                                seed: seed, metrics: ["test_perplexity": test, "validation_perplexity": validation], text: ["host": "h"]))
                    }
                }
            }
        }
    }
    return ResultSet(axes: ["epsilon", "learning_rate", "mechanism", "selection"], metrics: ["test_perplexity", "validation_perplexity"], textColumns: ["host"], rows: rows)
}

@Suite("Tables")
struct TableTests {
    func table(_ request: TableRequest, _ results: ResultSet = sampleResults()) throws -> ResultTable {
        try ResultTable(results: results, request: request)
    }

    var pivot: TableRequest {
        var request = TableRequest(rows: ["mechanism", "selection"], columns: ["epsilon"])
        request.filters = ["learning_rate": "0.001"]
        return request
    }

    @Test("cells are mean ± sample std over seeds, missing cells are nil")
    func cells() throws {
        let t = try table(pivot)
        #expect(t.rowKeys == [["group", "random"], ["group", "random-chunk"], ["user", "random"], ["user", "random-chunk"]])
        #expect(t.columnKeys == [["1"], ["8"]])
        // group, random, ε = 1: values 40, 41, 42 → mean 41, std 1.
        #expect(t.cells[0][0] == CellSummary(values: [40, 41, 42]))
        #expect(t.cells[0][0]?.mean == 41 && t.cells[0][0]?.standardDeviation == 1)
        #expect(t.cells[1][0] == nil)
        #expect(t.cells[3][1]?.count == 2)
        #expect(t.fullCount == 3)
        #expect(t.bestInColumn() == [[3, 0], [3, 1]])
    }

    @Test("Markdown, CSV and LaTeX snapshots")
    func snapshots() throws {
        let t = try table(pivot)
        expectSnapshot(t.render(.markdown), "table.md")
        expectSnapshot(t.render(.csv), "table.csv")
        expectSnapshot(t.render(.latex), "table.tex")
        // Byte-stable: the same results in another row order render identically.
        var shuffled = sampleResults()
        shuffled.rows.reverse()
        #expect(try table(pivot, shuffled).render(.latex) == t.render(.latex))
    }

    @Test("select-best-by picks the setting with the best mean validation metric and reports its test metric")
    func selectBest() throws {
        var request = TableRequest(rows: ["mechanism"], columns: ["epsilon"])
        request.filters = ["selection": "random"]
        request.selectBy = "validation_perplexity"
        request.over = ["learning_rate"]
        let t = try table(request)
        // lr 0.01 has the lower validation perplexity everywhere; its test values are +0.25.
        var expected = CellSummary(values: [40.25, 41.25, 42.25], selected: ["learning_rate=0.01"])
        (expected.settingsFinished, expected.settingsExpected) = (2, 2)
        #expect(t.cells[0][0] == expected && !expected.isIncomplete)
        expectSnapshot(t.render(.markdown), "select-best.md")
        expectSnapshot(t.render(.latex), "select-best.tex")
        expectSnapshot(t.render(.csv), "select-best.csv")
    }

    @Test("no column axes gives one metric column")
    func noColumns() throws {
        var request = TableRequest(rows: ["mechanism", "selection", "epsilon"], columns: [])
        request.filters = ["learning_rate": "0.01"]
        request.digits = 1
        expectSnapshot(try table(request).render(.markdown), "rows-only.md")
    }

    @Test("with one seed the note says so instead of promising counts below one")
    func oneSeedNote() throws {
        let oneSeed = sampleResults()
        let rows = oneSeed.rows.filter { $0.seed == 0 }
        let set = ResultSet(axes: oneSeed.axes, metrics: oneSeed.metrics, textColumns: oneSeed.textColumns, rows: rows)
        let markdown = try table(pivot, set).render(.markdown)
        #expect(markdown.contains("test_perplexity: one seed per cell;"), "\(markdown)")
        #expect(!markdown.contains("fewer than"))
        #expect(try table(pivot).render(.markdown).contains("n shown when a cell has fewer than 3"))
    }

    @Test("requests that cannot be answered")
    func errors() {
        #expect(throws: SweepError.unplacedAxes(["learning_rate"])) { try table(TableRequest(rows: ["mechanism", "selection"], columns: ["epsilon"])) }
        #expect(throws: SweepError.unknownAxis(name: "eps", known: ["epsilon", "learning_rate", "mechanism", "selection"])) {
            try table(TableRequest(rows: ["eps"], columns: []))
        }
        #expect(throws: SweepError.axisPlacedTwice("epsilon")) { try table(TableRequest(rows: ["epsilon"], columns: ["epsilon"])) }
        var request = pivot
        request.metric = "accuracy"
        #expect(throws: SweepError.unknownMetric(name: "accuracy", known: ["test_perplexity", "validation_perplexity"])) { try table(request) }
        request = pivot
        request.over = ["learning_rate"]
        request.filters = [:]
        #expect(throws: SweepError.selectionIncomplete) { try table(request) }
    }

    @Test("planned cells without results appear as missing rows")
    func plannedCells() throws {
        var request = TableRequest(rows: ["mechanism"], columns: ["epsilon"])
        request.filters = ["learning_rate": "0.001", "selection": "random"]
        let t = try ResultTable(results: sampleResults(), request: request, planned: [["1", "0.001", "record", "random"]])
        #expect(t.rowKeys == [["group"], ["record"], ["user"]])
        #expect(t.cells[1] == [nil, nil])
    }

    @Test("results.csv round-trips byte for byte")
    func csvRoundTrip() throws {
        let set = sampleResults()
        let text = set.csvText
        let read = try ResultSet(csv: text, path: "r.csv")
        #expect(read.axes == set.axes && read.metrics == set.metrics && read.rows == set.rows)
        #expect(read.csvText == text)
        #expect(throws: SweepError.malformedResults(path: "r.csv", line: 2, reason: "2 fields, the header has 3")) {
            try ResultSet(csv: "run_id,seed,m\na,1\n", path: "r.csv")
        }
    }

    @Test("CSV quoting and parsing")
    func csv() throws {
        let line = CSV.line(["a", "b,c", "say \"hi\"", "x\ny"])
        #expect(line == "a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\"")
        #expect(try CSV.parse(line + "\n1,2,3,4") == [["a", "b,c", "say \"hi\"", "x\ny"], ["1", "2", "3", "4"]])
        #expect(throws: CSV.ParseError(line: 1, reason: "an unterminated quoted field")) { try CSV.parse("\"abc") }
        #expect(CSV.number(.infinity) == "inf" && CSV.number(0.1 + 0.2) == "0.30000000000000004" && CSV.number(3) == "3")
    }

    @Test("LaTeX escaping")
    func latex() {
        #expect(latexEscape("clip_norm & 50% {x} ~^\\") == "clip\\_norm \\& 50\\% \\{x\\} \\textasciitilde{}\\textasciicircum{}\\textbackslash{}")
    }
}

@Suite("Diff and statistics")
struct DiffTests {
    @Test("Student t p-values match closed forms (ν = 1, 2) and published critical values")
    func studentT() {
        var maxError = 0.0
        for t in [0.1, 0.5, 1, 2, 5, 20] {
            let p1 = Statistics.studentTTwoSidedPValue(t: t, degreesOfFreedom: 1)
            let p2 = Statistics.studentTTwoSidedPValue(t: t, degreesOfFreedom: 2)
            maxError = max(maxError, abs(p1 - (1 - 2 / Double.pi * atan(t))), abs(p2 - (1 - t / (2 + t * t).squareRoot())))
        }
        // Two-sided 5% critical values of Student's t (standard tables, 9 digits).
        for (nu, critical) in [(4.0, 2.776445105), (10, 2.228138852), (30, 2.042272456)] {
            maxError = max(maxError, abs(Statistics.studentTTwoSidedPValue(t: critical, degreesOfFreedom: nu) - 0.05))
        }
        #expect(maxError < 1e-8, "max error \(maxError)")
        #expect(Statistics.studentTTwoSidedPValue(t: 0, degreesOfFreedom: 5) == 1)
    }

    @Test("paired t-test on known data")
    func pairedTest() throws {
        // d = B − A = (−1, −0.5, −1): mean −5/6, s = √(1/12), t = −5, ν = 2 → p = 1 − 5/√27.
        let p = try #require(Statistics.pairedTTestPValue([-1, -0.5, -1]))
        #expect(abs(p - (1 - 5 / 27.0.squareRoot())) < 1e-12, "p = \(p)")
        #expect(Statistics.pairedTTestPValue([0.5]) == nil)
        #expect(Statistics.pairedTTestPValue([0, 0, 0]) == 1)
        #expect(Statistics.pairedTTestPValue([2, 2]) == 0)
    }

    func set(_ values: [([String], Int, Double)]) -> ResultSet {
        ResultSet(
            axes: ["epsilon", "mechanism"], metrics: ["test_perplexity"], textColumns: [],
            rows: values.map { ResultRow(runID: "\($0.0)\($0.1)", cell: $0.0, seed: $0.1, metrics: ["test_perplexity": $0.2]) })
    }

    @Test("diff pairs seeds, flags Δ beyond seed noise, lists one-sided cells")
    func diff() throws {
        let a = set([
            (["1", "group"], 0, 10), (["1", "group"], 1, 11), (["1", "group"], 2, 12),
            (["1", "user"], 0, 20), (["1", "user"], 1, 21), (["1", "user"], 2, 19),
            (["8", "group"], 0, 5),
        ])
        let b = set([
            (["1", "group"], 0, 9), (["1", "group"], 1, 10.5), (["1", "group"], 2, 11),
            (["1", "user"], 0, 20.5), (["1", "user"], 1, 20), (["1", "user"], 2, 19.5), (["1", "user"], 3, 30),
            (["8", "user"], 0, 4),
        ])
        let diff = try ResultDiff(a: a, b: b, names: ("abc1234", "def5678"))
        #expect(diff.rows.map(\.cell) == [["1", "group"], ["1", "user"]])
        let group = diff.rows[0]
        // p = 0.038 alone, but two cells are tested: Holm doubles the smallest p to 0.075, so the
        // cell is no longer flagged at α = 0.05 (docs/SWEEPS.md, diffs).
        #expect(group.pairs == 3 && abs(group.delta + 5.0 / 6) < 1e-12 && !group.beyondNoise)
        #expect(abs(group.pValue! - 0.0377495513506237) < 1e-12 && abs(group.adjustedPValue! - 2 * group.pValue!) < 1e-12)
        let user = diff.rows[1]
        // Seed 3 exists only in B: it counts in B's mean but not in Δ. Differences (0.5, −1, 0.5).
        #expect(user.pairs == 3 && user.b.count == 4 && abs(user.delta - 0) < 1e-12 && !user.beyondNoise)
        #expect(diff.onlyInA == [["8", "group"]] && diff.onlyInB == [["8", "user"]])
        expectSnapshot(diff.render(.markdown), "diff.md")
        expectSnapshot(diff.render(.csv), "diff.csv")
        #expect(throws: SweepError.axesDiffer(a: ["epsilon", "mechanism"], b: ["k"])) {
            try ResultDiff(a: a, b: ResultSet(axes: ["k"], metrics: ["test_perplexity"], textColumns: [], rows: []), names: ("a", "b"))
        }
    }
}
