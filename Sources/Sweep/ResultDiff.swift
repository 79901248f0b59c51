import Foundation
import Persistence

/// Two result sets of the same sweep (for example two commits' labels) joined cell by cell,
/// with seeds paired: per cell mean A, mean B, Δ = B − A over the paired seeds, and a paired
/// t-test; cells are flagged when the Holm-adjusted p-value (over all tested cells) is below
/// alpha. Across cells a sign test says whether the cells moved one way more often than chance.
/// `differences` lists what differs between the sides besides the results (definition,
/// userdp version, input hashes), and `warnings` when the test cannot detect anything.
public struct ResultDiff: Sendable, Equatable {
    /// One cell present on both sides.
    public struct Row: Sendable, Equatable {
        /// Axis labels of the cell.
        public var cell: [String]
        /// The metric over all of A's seeds.
        public var a: CellSummary
        /// The metric over all of B's seeds.
        public var b: CellSummary
        /// Seeds present on both sides.
        public var pairs: Int
        /// Mean of B − A over paired seeds (difference of means when no seed pairs).
        public var delta: Double
        /// Two-sided p-value of the paired t-test (nil for fewer than two pairs).
        public var pValue: Double?
        /// Holm-adjusted p-value over every tested cell of the diff (nil without a test).
        public var adjustedPValue: Double? = nil
        /// Whether the adjusted p < alpha.
        public var beyondNoise: Bool
    }

    /// Axis names.
    public var axes: [String]
    /// The metric compared.
    public var metric: String
    /// Names of the two sides (labels or paths).
    public var names: (a: String, b: String)
    /// Significance level of the flag.
    public var alpha: Double
    /// Digits in Markdown.
    public var digits: Int
    /// Cells on both sides, in stable order.
    public var rows: [Row]
    /// Cells only in A.
    public var onlyInA: [[String]]
    /// Cells only in B.
    public var onlyInB: [[String]]
    /// Cells whose Δ is positive and negative (zero and non-finite Δ not counted).
    public var cellsUp = 0, cellsDown = 0
    /// Two-sided sign-test p-value over the cells (nil when no cell moved).
    public var signTestPValue: Double?
    /// What differs between the sides besides the metric (see `describeDifferences`).
    public var differences: [String] = []
    /// Statistical warnings (too few seeds for the paired test to flag anything).
    public var warnings: [String] = []

    /// Equal when every field is (the tuple of names is compared by its parts).
    public static func == (l: ResultDiff, r: ResultDiff) -> Bool {
        l.axes == r.axes && l.metric == r.metric && l.names == r.names && l.alpha == r.alpha && l.digits == r.digits
            && l.rows == r.rows && l.onlyInA == r.onlyInA && l.onlyInB == r.onlyInB && l.differences == r.differences
            && l.warnings == r.warnings && l.signTestPValue == r.signTestPValue
    }

    /// Joins `a` and `b` on the cell key and pairs their seeds.
    public init(
        a: ResultSet, b: ResultSet, names: (a: String, b: String), metric: String = "test_perplexity", alpha: Double = 0.05,
        digits: Int = 2
    ) throws(SweepError) {
        guard a.axes == b.axes else { throw .axesDiffer(a: a.axes, b: b.axes) }
        for side in [a, b] where !side.metrics.contains(metric) { throw .unknownMetric(name: metric, known: side.metrics) }
        axes = a.axes
        self.metric = metric
        self.names = names
        self.alpha = alpha
        self.digits = digits

        func bySeed(_ set: ResultSet) -> [[String]: [Int: Double]] {
            var cells: [[String]: [Int: Double]] = [:]
            for row in set.rows {
                cells[row.cell, default: [:]][row.seed] = row.metrics[metric]
            }
            return cells.filter { !$0.value.isEmpty }
        }
        let left = bySeed(a)
        let right = bySeed(b)
        onlyInA = left.keys.filter { right[$0] == nil }.sorted(by: AxisValue.precedes)
        onlyInB = right.keys.filter { left[$0] == nil }.sorted(by: AxisValue.precedes)
        rows = left.keys.filter { right[$0] != nil }.sorted(by: AxisValue.precedes).map { cell in
            let seedsA = left[cell]!
            let seedsB = right[cell]!
            let paired = seedsA.keys.filter { seedsB[$0] != nil }.sorted()
            let differences = paired.map { seedsB[$0]! - seedsA[$0]! }
            let summaryA = CellSummary(values: seedsA.keys.sorted().map { seedsA[$0]! })
            let summaryB = CellSummary(values: seedsB.keys.sorted().map { seedsB[$0]! })
            let delta = differences.isEmpty ? summaryB.mean - summaryA.mean : Statistics.mean(differences)
            let p = Statistics.pairedTTestPValue(differences)
            return Row(cell: cell, a: summaryA, b: summaryB, pairs: paired.count, delta: delta, pValue: p, beyondNoise: false)
        }
        // Many cells, many tests: flag on Holm-adjusted p-values so that the chance of any
        // false flag stays at alpha.
        let adjusted = Statistics.holmAdjusted(rows.map(\.pValue))
        for index in rows.indices {
            rows[index].adjustedPValue = adjusted[index]
            rows[index].beyondNoise = (adjusted[index] ?? 1) < alpha
        }
        cellsUp = rows.filter { $0.delta > 0 && $0.delta.isFinite }.count
        cellsDown = rows.filter { $0.delta < 0 && $0.delta.isFinite }.count
        signTestPValue = Statistics.signTestPValue(positive: cellsUp, negative: cellsDown)
        let fewest = rows.map(\.pairs).min() ?? 0
        if !rows.isEmpty, fewest < ResultDiff.adequatePairs {
            let critical = Statistics.criticalT(pairs: max(fewest, 2), alpha: alpha).map { String(format: "%.2f", $0) } ?? "?"
            warnings.append(
                fewest < 2
                    ? "some cells have fewer than 2 seed pairs: no per-cell test; run both sides with the same seeds (at least \(ResultDiff.adequatePairs))"
                    : "only \(fewest) seed pair\(fewest == 1 ? "" : "s") in some cells: the paired t-test has \(fewest - 1) degree\(fewest == 2 ? "" : "s") of freedom and needs |t| ≥ \(critical) for p < \(CSV.number(alpha)) (before the Holm correction), so only very consistent differences can be flagged; use at least \(ResultDiff.adequatePairs) seeds, and read the sign test across cells")
        }
    }

    /// Seed pairs below which the diff warns that the per-cell test has little power.
    public static let adequatePairs = 5

    /// What differs between two sides besides their results: the stored sweep definitions
    /// (as flattened key paths, e.g. `base.clip_norm: 1 → 0.5`), and the values of the
    /// `userdp_version`, `git_commit`, `extra.dataset_hash` and `extra.model_hash` columns.
    /// Sides without a definition or column say so instead. Empty when nothing differs.
    public static func describeDifferences(a: ResultSet, b: ResultSet, definitionA: JSONValue?, definitionB: JSONValue?) -> [String] {
        var lines: [String] = []
        switch (definitionA, definitionB) {
        case (let x?, let y?):
            let left = flatten(x), right = flatten(y)
            let keys = Set(left.keys).union(right.keys).filter { left[$0] != right[$0] }.sorted()
            if !keys.isEmpty {
                lines.append("sweep definition differs: " + keys.map { "\($0): \(left[$0] ?? "absent") → \(right[$0] ?? "absent")" }.joined(separator: "; "))
            }
        case (nil, nil):
            break
        default:
            lines.append("sweep definition: only \(definitionA == nil ? "B" : "A") has a stored sweep.json")
        }
        for (column, title) in [("userdp_version", "userdp version"), ("git_commit", "userdp commit"), ("extra.dataset_hash", "dataset hash"), ("extra.model_hash", "model hash")] {
            // Hashes are shown by their first 12 hex digits, versions whole.
            let width = column == "userdp_version" ? Int.max : 12
            func values(_ set: ResultSet) -> [String] {
                Array(Set(set.rows.compactMap { $0.text[column].map { String($0.prefix(width)) } })).sorted()
            }
            let left = values(a), right = values(b)
            guard left != right else { continue }
            func text(_ v: [String]) -> String { v.isEmpty ? "not recorded" : v.joined(separator: ", ") }
            lines.append("\(title) differs: \(text(left)) → \(text(right))")
        }
        return lines
    }

    /// A JSON value as key path → canonical text of its leaves (objects descend; arrays are
    /// leaves).
    static func flatten(_ value: JSONValue, prefix: String = "") -> [String: String] {
        guard case .object(let entries) = value else { return [prefix: value.canonicalText()] }
        var result: [String: String] = [:]
        for (key, child) in entries {
            result.merge(flatten(child, prefix: prefix.isEmpty ? key : "\(prefix).\(key)")) { $1 }
        }
        return result
    }

    func fixed(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        return String(format: "%.\(digits)f", value)
    }

    /// p-values: three significant decimals, "<0.001" below.
    func formatP(_ p: Double?) -> String {
        guard let p else { return "—" }
        return p < 0.001 ? "<0.001" : String(format: "%.3f", p)
    }

    /// The diff as Markdown, CSV or LaTeX (booktabs; notes as `%` comments).
    public func render(_ format: TableFormat) -> String {
        switch format {
        case .csv: return renderCSV()
        case .markdown: return renderMarkdown()
        case .latex: return renderLaTeX()
        }
    }

    /// The lines above the table: what differs between the sides, and warnings.
    var headerLines: [String] {
        (differences.isEmpty ? ["A (\(names.a)) and B (\(names.b)): same sweep definition, userdp version and input hashes as far as recorded."] : differences.map { "Differs: \($0)" })
            + warnings.map { "Warning: \($0)" }
    }

    /// The notes under the table: how to read it, the sign test, one-sided cells.
    var noteLines: [String] {
        var notes = [
            "\(metric): Δ = B − A averaged over seeds present on both sides; p: two-sided paired t-test over those seeds; p_Holm: p adjusted for the \(rows.filter { $0.pValue != nil }.count) tested cells (Holm 1979); * = p_Holm < \(CSV.number(alpha)) (Δ beyond seed noise); — = fewer than two pairs."
        ]
        let sign = signTestPValue.map { formatP($0) } ?? "—"
        notes.append("Across cells: \(cellsUp) up, \(cellsDown) down; two-sided sign test p = \(sign).")
        func list(_ cells: [[String]]) -> String {
            cells.map { "{" + zip(axes, $0).map { "\($0)=\($1)" }.joined(separator: ", ") + "}" }.joined(separator: ", ")
        }
        if !onlyInA.isEmpty { notes.append("Only in A (\(names.a)): \(list(onlyInA))") }
        if !onlyInB.isEmpty { notes.append("Only in B (\(names.b)): \(list(onlyInB))") }
        return notes
    }

    private func renderLaTeX() -> String {
        var lines = ["\\begin{tabular}{" + String(repeating: "l", count: axes.count) + "rrrrrrrc}", "\\toprule"]
        let header = axes.map(latexEscape) + ["pairs", "A: " + latexEscape(names.a), "B: " + latexEscape(names.b), "$\\Delta$", "$\\Delta$ \\%", "$p$", "$p_\\mathrm{Holm}$", ""]
        lines.append(header.joined(separator: " & ") + " \\\\")
        lines.append("\\midrule")
        func summary(_ s: CellSummary) -> String {
            "$" + fixed(s.mean) + (s.standardDeviation.map { " \\pm " + fixed($0) } ?? "") + "$"
        }
        for row in rows {
            let percent = row.a.mean != 0 && row.a.mean.isFinite ? String(format: "%+.1f\\%%", 100 * row.delta / row.a.mean) : "---"
            let fields = [
                String(row.pairs), summary(row.a), summary(row.b), "$" + (row.delta > 0 ? "+" : "") + fixed(row.delta) + "$", percent,
                formatP(row.pValue).replacingOccurrences(of: "—", with: "---").replacingOccurrences(of: "<", with: "$<$"),
                formatP(row.adjustedPValue).replacingOccurrences(of: "—", with: "---").replacingOccurrences(of: "<", with: "$<$"),
                row.beyondNoise ? "$*$" : "",
            ]
            lines.append((row.cell.map(latexEscape) + fields).joined(separator: " & ") + " \\\\")
        }
        lines += ["\\bottomrule", "\\end{tabular}"]
        lines += (headerLines + noteLines).map { "% " + $0 }
        return lines.joined(separator: "\n") + "\n"
    }

    private func renderMarkdown() -> String {
        let header = axes + ["pairs", "A: \(names.a)", "B: \(names.b)", "Δ (B − A)", "Δ %", "p", "p_Holm", ""]
        var lines = headerLines + [""]
        lines.append("| " + header.map(markdownEscape).joined(separator: " | ") + " |")
        lines.append("|" + String(repeating: " --- |", count: axes.count) + String(repeating: " ---: |", count: 7) + " :-: |")
        func summary(_ s: CellSummary) -> String {
            fixed(s.mean) + (s.standardDeviation.map { " ± " + fixed($0) } ?? "") + " (n=\(s.count))"
        }
        for row in rows {
            let percent = row.a.mean != 0 && row.a.mean.isFinite ? String(format: "%+.1f%%", 100 * row.delta / row.a.mean) : "—"
            let deltaText = (row.delta > 0 ? "+" : "") + fixed(row.delta)
            let fields = [String(row.pairs), summary(row.a), summary(row.b), deltaText, percent, formatP(row.pValue), formatP(row.adjustedPValue), row.beyondNoise ? "*" : ""]
            lines.append("| " + (row.cell.map(markdownEscape) + fields).joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n\n" + noteLines.joined(separator: "\n\n") + "\n"
    }

    private func renderCSV() -> String {
        let header = axes + ["side", "pairs", "mean_a", "std_a", "n_a", "mean_b", "std_b", "n_b", "delta", "p_value", "p_holm", "beyond_noise"]
        var lines = [CSV.line(header)]
        for row in rows {
            lines.append(
                CSV.line(
                    row.cell + [
                        "both", String(row.pairs), CSV.number(row.a.mean), row.a.standardDeviation.map(CSV.number) ?? "", String(row.a.count),
                        CSV.number(row.b.mean), row.b.standardDeviation.map(CSV.number) ?? "", String(row.b.count), CSV.number(row.delta),
                        row.pValue.map(CSV.number) ?? "", row.adjustedPValue.map(CSV.number) ?? "", row.beyondNoise ? "true" : "false",
                    ]))
        }
        for cell in onlyInA { lines.append(CSV.line(cell + ["a_only"] + Array(repeating: "", count: 11))) }
        for cell in onlyInB { lines.append(CSV.line(cell + ["b_only"] + Array(repeating: "", count: 11))) }
        return lines.joined(separator: "\n") + "\n"
    }
}
