import Foundation
import Persistence
import Training

// results.csv: the rows of a label's finished runs, written after every finished run and read
// back for tables and diffs (the file's format: docs/SWEEPS.md).

/// Loaded results: one row per finished run, axes first. Built from `result.json` files when
/// dispatching, read back from `results.csv` for tables and diffs.
public struct ResultSet: Sendable, Equatable {
    /// Axis names (column order of results.csv).
    public var axes: [String]
    /// Numeric columns (metrics), in column order.
    public var metrics: [String]
    /// Other columns (provenance, non-numeric extras), in column order.
    public var textColumns: [String]
    /// Rows in the stable order (cell, then seed).
    public var rows: [ResultRow]

    /// Metric columns every run has, before `extra.*` columns.
    public static let standardMetrics = [
        "test_perplexity", "validation_perplexity", "epsilon_spent", "noise_multiplier", "sampling_rate",
        "units_per_step_mean", "wall_seconds", "tokens_per_second",
    ]
    /// Provenance columns, after the metrics.
    public static let provenanceColumns = ["userdp_version", "git_commit", "git_dirty", "git_diff_hash", "toolchain", "openblas_core", "blas_threads", "host"]

    /// A result set with every part given; rows are put into the stable order.
    public init(axes: [String], metrics: [String], textColumns: [String], rows: [ResultRow]) {
        self.axes = axes
        self.metrics = metrics
        self.textColumns = textColumns
        self.rows = rows.sorted { AxisValue.precedes($0.cell, $1.cell) || ($0.cell == $1.cell && $0.seed < $1.seed) }
    }

    /// The rows for the plan's finished runs.
    public init(plan: SweepPlan, results: [String: RunResult]) {
        var extras: [String: Bool] = [:]  // name → numeric in every run
        for result in results.values {
            for (key, value) in result.extra {
                let numeric: Bool
                switch value.normalized {
                case .integer, .number: numeric = true
                default: numeric = false
                }
                extras["extra.\(key)"] = (extras["extra.\(key)"] ?? true) && numeric
            }
        }
        let numericExtras = extras.keys.filter { extras[$0]! }.sorted()
        let textExtras = extras.keys.filter { !extras[$0]! }.sorted()
        var rows: [ResultRow] = []
        for run in plan.runs {
            guard let result = results[run.id] else { continue }
            var metrics: [String: Double] = [
                "test_perplexity": result.testPerplexity, "validation_perplexity": result.validationPerplexity,
                "epsilon_spent": result.epsilon, "noise_multiplier": result.noiseMultiplier, "sampling_rate": result.samplingRate,
                "units_per_step_mean": result.unitsPerStepMean, "wall_seconds": result.wallSeconds,
                "tokens_per_second": result.tokensPerSecond,
            ]
            var text: [String: String] = [
                "userdp_version": result.provenance.userdpVersion ?? "", "git_commit": result.provenance.gitCommit, "git_dirty": result.provenance.gitDirty ? "true" : "false",
                "git_diff_hash": result.provenance.gitDiffHash ?? "", "toolchain": result.provenance.toolchain,
                "openblas_core": result.provenance.openblasCore, "blas_threads": String(result.provenance.blasThreads),
                "host": result.provenance.host,
            ]
            for (key, value) in result.extra {
                switch value.normalized {
                case .integer(let i) where extras["extra.\(key)"]!: metrics["extra.\(key)"] = Double(i)
                case .number(let d) where extras["extra.\(key)"]!: metrics["extra.\(key)"] = d
                case .string(let s): text["extra.\(key)"] = s
                default: text["extra.\(key)"] = value.canonicalText()
                }
            }
            rows.append(ResultRow(runID: run.id, cell: run.cell, seed: run.seed, metrics: metrics, text: text))
        }
        self.init(
            axes: plan.axes, metrics: ResultSet.standardMetrics + numericExtras,
            textColumns: textExtras + ResultSet.provenanceColumns, rows: rows)
    }

    /// results.csv: header `run_id, <axes>, seed, <metrics>, <text columns>`; numbers in
    /// canonical shortest round-trip form (`inf`, `nan` for non-finite), missing values empty,
    /// `\n` line ends. Equal results give equal bytes.
    public var csvText: String {
        var lines = [CSV.line(["run_id"] + axes + ["seed"] + metrics + textColumns)]
        for row in rows {
            let metricFields = metrics.map { row.metrics[$0].map(CSV.number) ?? "" }
            let textFields = textColumns.map { row.text[$0] ?? "" }
            lines.append(CSV.line([row.runID] + row.cell + [String(row.seed)] + metricFields + textFields))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads results.csv (as written by `csvText`). Columns between `run_id` and `seed` are
    /// axes; later columns whose every value is empty or a number are metrics.
    public init(csv text: String, path: String) throws(SweepError) {
        let records: [[String]]
        do throws(CSV.ParseError) { records = try CSV.parse(text) } catch {
            throw .malformedResults(path: path, line: error.line, reason: error.reason)
        }
        guard let header = records.first, header.first == "run_id", let seedColumn = header.firstIndex(of: "seed") else {
            throw .malformedResults(path: path, line: 1, reason: "expected a header starting with run_id and containing seed")
        }
        let axes = Array(header[1..<seedColumn])
        let rest = Array(header[(seedColumn + 1)...])
        let body = records.dropFirst()
        for (offset, record) in body.enumerated() where record.count != header.count {
            throw .malformedResults(path: path, line: offset + 2, reason: "\(record.count) fields, the header has \(header.count)")
        }
        var metrics: [String] = []
        var textColumns: [String] = []
        for (index, name) in rest.enumerated() {
            let column = seedColumn + 1 + index
            let numeric = !ResultSet.provenanceColumns.contains(name) && body.allSatisfy { $0[column].isEmpty || Double($0[column]) != nil }
            if numeric { metrics.append(name) } else { textColumns.append(name) }
        }
        var rows: [ResultRow] = []
        for (offset, record) in body.enumerated() {
            guard let seed = Int(record[seedColumn]) else {
                throw .malformedResults(path: path, line: offset + 2, reason: "seed \"\(record[seedColumn])\" is not an integer")
            }
            var row = ResultRow(runID: record[0], cell: Array(record[1..<seedColumn]), seed: seed, metrics: [:], text: [:])
            for (index, name) in rest.enumerated() {
                let field = record[seedColumn + 1 + index]
                if metrics.contains(name) {
                    if let value = Double(field) { row.metrics[name] = value }
                } else if !field.isEmpty {
                    row.text[name] = field
                }
            }
            rows.append(row)
        }
        self.init(axes: axes, metrics: metrics, textColumns: textColumns, rows: rows)
    }

    /// Reads a results.csv file.
    public init(contentsOf url: URL) throws(SweepError) {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw .noResults(path: url.path) }
        try self.init(csv: text, path: url.path)
    }
}

/// One finished run in a result set.
public struct ResultRow: Sendable, Equatable {
    /// Run id.
    public var runID: String
    /// Axis value labels, aligned with `ResultSet.axes`.
    public var cell: [String]
    /// Seed.
    public var seed: Int
    /// Metric values by column name.
    public var metrics: [String: Double]
    /// Text values by column name.
    public var text: [String: String]

    /// A row with every part given.
    public init(runID: String, cell: [String], seed: Int, metrics: [String: Double], text: [String: String] = [:]) {
        self.runID = runID
        self.cell = cell
        self.seed = seed
        self.metrics = metrics
        self.text = text
    }
}
