import Foundation

/// Two result sets of the same sweep (for example two commits' labels) joined cell by cell,
/// with seeds paired: per cell mean A, mean B, Δ = B − A over the paired seeds, and a paired
/// t-test that says whether Δ is beyond seed noise.
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
        /// Whether p < alpha.
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

    /// Equal when every field is (the tuple of names is compared by its parts).
    public static func == (l: ResultDiff, r: ResultDiff) -> Bool {
        l.axes == r.axes && l.metric == r.metric && l.names == r.names && l.alpha == r.alpha && l.digits == r.digits
            && l.rows == r.rows && l.onlyInA == r.onlyInA && l.onlyInB == r.onlyInB
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
            return Row(cell: cell, a: summaryA, b: summaryB, pairs: paired.count, delta: delta, pValue: p, beyondNoise: (p ?? 1) < alpha)
        }
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

    /// The diff as Markdown or CSV (LaTeX renders as Markdown is not meaningful here).
    public func render(_ format: TableFormat) -> String {
        switch format {
        case .csv: return renderCSV()
        case .markdown, .latex: return renderMarkdown()
        }
    }

    private func renderMarkdown() -> String {
        let header = axes + ["pairs", "A: \(names.a)", "B: \(names.b)", "Δ (B − A)", "Δ %", "p", ""]
        var lines = ["| " + header.map(markdownEscape).joined(separator: " | ") + " |"]
        lines.append("|" + String(repeating: " --- |", count: axes.count) + String(repeating: " ---: |", count: 6) + " :-: |")
        func summary(_ s: CellSummary) -> String {
            fixed(s.mean) + (s.standardDeviation.map { " ± " + fixed($0) } ?? "") + " (n=\(s.count))"
        }
        for row in rows {
            let percent = row.a.mean != 0 && row.a.mean.isFinite ? String(format: "%+.1f%%", 100 * row.delta / row.a.mean) : "—"
            let deltaText = (row.delta > 0 ? "+" : "") + fixed(row.delta)
            let fields = [String(row.pairs), summary(row.a), summary(row.b), deltaText, percent, formatP(row.pValue), row.beyondNoise ? "*" : ""]
            lines.append("| " + (row.cell.map(markdownEscape) + fields).joined(separator: " | ") + " |")
        }
        var text = lines.joined(separator: "\n") + "\n\n"
        text += "\(metric): Δ = B − A averaged over seeds present on both sides; p: two-sided paired t-test over those seeds; "
        text += "* = p < \(CSV.number(alpha)) (Δ beyond seed noise); — = fewer than two pairs.\n"
        func list(_ cells: [[String]]) -> String {
            cells.map { "{" + zip(axes, $0).map { "\($0)=\($1)" }.joined(separator: ", ") + "}" }.joined(separator: ", ")
        }
        if !onlyInA.isEmpty { text += "\nOnly in A (\(names.a)): \(list(onlyInA))\n" }
        if !onlyInB.isEmpty { text += "\nOnly in B (\(names.b)): \(list(onlyInB))\n" }
        return text
    }

    private func renderCSV() -> String {
        let header = axes + ["side", "pairs", "mean_a", "std_a", "n_a", "mean_b", "std_b", "n_b", "delta", "p_value", "beyond_noise"]
        var lines = [CSV.line(header)]
        for row in rows {
            lines.append(
                CSV.line(
                    row.cell + [
                        "both", String(row.pairs), CSV.number(row.a.mean), row.a.standardDeviation.map(CSV.number) ?? "", String(row.a.count),
                        CSV.number(row.b.mean), row.b.standardDeviation.map(CSV.number) ?? "", String(row.b.count), CSV.number(row.delta),
                        row.pValue.map(CSV.number) ?? "", row.beyondNoise ? "true" : "false",
                    ]))
        }
        for cell in onlyInA { lines.append(CSV.line(cell + ["a_only"] + Array(repeating: "", count: 10))) }
        for cell in onlyInB { lines.append(CSV.line(cell + ["b_only"] + Array(repeating: "", count: 10))) }
        return lines.joined(separator: "\n") + "\n"
    }
}
