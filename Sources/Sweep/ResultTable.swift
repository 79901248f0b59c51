import Foundation

/// Output formats of tables and diffs.
public enum TableFormat: String, Sendable, CaseIterable {
    /// Comma-separated values, full precision; Markdown table; LaTeX booktabs tabular.
    case csv, markdown, latex
}

/// Which way a metric improves.
public enum MetricDirection {
    /// Perplexities, losses, ε, times and noise improve downwards; throughput and accuracy
    /// upwards; anything else is taken as lower-is-better.
    public static func lowerIsBetter(_ metric: String) -> Bool {
        let upward = ["tokens_per_second", "accuracy", "auc"]
        return !upward.contains { metric.contains($0) }
    }
}

/// What a table shows: axes on rows and columns, a metric in the cells.
public struct TableRequest: Sendable, Equatable {
    /// Axes whose values label the rows (outer first).
    public var rows: [String]
    /// Axes whose values label the columns.
    public var columns: [String]
    /// The metric in the cells.
    public var metric: String = "test_perplexity"
    /// Fixed axis values (axis → label); runs with other values are left out.
    public var filters: [String: String] = [:]
    /// With `over`: within each cell, keep the setting of the `over` axes with the best mean
    /// of this metric (normally a validation metric), and report `metric` for it.
    public var selectBy: String?
    /// Tuning axes for `selectBy`.
    public var over: [String] = []
    /// Override the direction of `metric` (and of `selectBy`): nil derives it from the name.
    public var lowerIsBetter: Bool?
    /// Digits after the decimal point in Markdown and LaTeX.
    public var digits: Int = 2
    /// Allow `selectBy` to be a test metric (`--force`): tuning on test data makes the test
    /// numbers optimistic, so it is refused otherwise.
    public var allowTestSelection: Bool = false

    /// A request with rows and columns; the rest default.
    public init(rows: [String], columns: [String]) {
        self.rows = rows
        self.columns = columns
    }
}

/// One cell: the metric over the seeds of one setting.
public struct CellSummary: Sendable, Equatable {
    /// Mean over seeds.
    public var mean: Double
    /// Sample standard deviation over seeds (nil for one seed).
    public var standardDeviation: Double?
    /// Number of seeds.
    public var count: Int
    /// With select-best: the chosen setting of the tuning axes (`axis=value`).
    public var selected: [String]
    /// With select-best: settings of the tuning axes with results in this cell, and settings
    /// expected (planned for the cell, or seen anywhere in the results without a plan). A
    /// cell is incomplete when fewer settings finished than expected or a setting has fewer
    /// seeds than the fullest one: its choice was made among fewer candidates.
    public var settingsFinished: Int = 0
    /// See `settingsFinished`.
    public var settingsExpected: Int = 0
    /// Whether some setting of the cell has fewer seeds than the fullest setting of the table.
    public var seedsMissing: Bool = false

    /// Whether a tuned cell chose among fewer candidates than planned.
    public var isIncomplete: Bool { settingsFinished < settingsExpected || seedsMissing }

    /// Summarises values (seeds) of one setting.
    public init(values: [Double], selected: [String] = []) {
        mean = Statistics.mean(values)
        standardDeviation = Statistics.standardDeviation(values)
        count = values.count
        self.selected = selected
    }
}

/// A pivot table of results: rows × columns of `CellSummary`, missing where no run finished.
public struct ResultTable: Sendable, Equatable {
    /// The request it answers.
    public var request: TableRequest
    /// Row keys (labels of the row axes), in stable order.
    public var rowKeys: [[String]]
    /// Column keys (labels of the column axes), in stable order.
    public var columnKeys: [[String]]
    /// cells[row][column].
    public var cells: [[CellSummary?]]
    /// The most seeds any cell has; cells with fewer show their n.
    public var fullCount: Int

    /// Pivots a result set. `planned` (cells of the sweep's plan, aligned with the result
    /// axes) adds rows and columns that have no results yet, shown as missing.
    public init(results: ResultSet, request: TableRequest, planned: [[String]] = []) throws(SweepError) {
        self.request = request
        let placed = try Self.checkRequest(request, against: results)
        let index = Dictionary(uniqueKeysWithValues: results.axes.enumerated().map { ($1, $0) })
        func labels(_ cell: [String], _ axes: [String]) -> [String] { axes.map { cell[index[$0]!] } }
        let keep: ([String]) -> Bool = { cell in request.filters.allSatisfy { AxisValue.matches(filter: $1, label: cell[index[$0]!], axis: $0) } }
        // A filter that matches nothing gives an empty table that looks like an answer.
        for axis in request.filters.keys.sorted() {
            let value = request.filters[axis]!
            let known = Set(results.rows.map { $0.cell[index[axis]!] } + planned.map { $0[index[axis]!] })
            guard known.contains(where: { AxisValue.matches(filter: value, label: $0, axis: axis) }) else {
                throw .filterMatchesNothing(axis: axis, value: value, known: known.sorted(by: AxisValue.precedes))
            }
        }
        let rows = results.rows.filter { keep($0.cell) }

        // Every axis that varies must be placed, or cells would average different settings.
        let unplaced = results.axes.filter { axis in
            !placed.contains(axis) && Set(rows.map { $0.cell[index[axis]!] }).count > 1
        }
        guard unplaced.isEmpty else { throw .unplacedAxes(unplaced) }

        let cells = rows.map(\.cell) + planned.filter(keep)
        let rowKeys = Array(Set(cells.map { labels($0, request.rows) })).sorted(by: AxisValue.precedes)
        let columnKeys = Array(Set(cells.map { labels($0, request.columns) })).sorted(by: AxisValue.precedes)
        self.rowKeys = rowKeys
        self.columnKeys = columnKeys

        var groups: [[String]: [ResultRow]] = [:]
        for row in rows { groups[labels(row.cell, request.rows) + ["\u{0}"] + labels(row.cell, request.columns), default: []].append(row) }
        let lowerIsBetter = request.lowerIsBetter ?? MetricDirection.lowerIsBetter(request.selectBy ?? request.metric)

        // Expected tuning settings per (row, column): planned ones, else every setting seen.
        var expectedSettings: [[String]: Set<[String]>] = [:]
        let allSeen = Set(rows.map { labels($0.cell, request.over) })
        for cell in planned.filter(keep) {
            expectedSettings[labels(cell, request.rows) + ["\u{0}"] + labels(cell, request.columns), default: []].insert(labels(cell, request.over))
        }
        let seedsPerSetting = Dictionary(grouping: rows) { labels($0.cell, request.rows + request.columns + request.over) }.mapValues(\.count)
        let fullSeeds = seedsPerSetting.values.max() ?? 0

        let summaries = rowKeys.map { rowKey in
            columnKeys.map { columnKey -> CellSummary? in
                guard let members = groups[rowKey + ["\u{0}"] + columnKey] else { return nil }
                guard let selectBy = request.selectBy else {
                    let values = members.compactMap { $0.metrics[request.metric] }
                    return values.isEmpty ? nil : CellSummary(values: values)
                }
                return Self.tunedSummary(
                    settings: Dictionary(grouping: members) { labels($0.cell, request.over) }, request: request, selectBy: selectBy,
                    lowerIsBetter: lowerIsBetter, expected: expectedSettings[rowKey + ["\u{0}"] + columnKey] ?? allSeen, fullSeeds: fullSeeds)
            }
        }
        self.cells = summaries
        fullCount = summaries.flatMap { $0.compactMap { $0?.count } }.max() ?? 0
    }

    /// Checks that the request names the result set's axes and metrics, places each axis at
    /// most once, and tunes completely (`over` with `selectBy`) and not on a test metric unless
    /// allowed. Returns the placed axes.
    private static func checkRequest(_ request: TableRequest, against results: ResultSet) throws(SweepError) -> Set<String> {
        var placed: Set<String> = []
        for axis in request.rows + request.columns + request.over + request.filters.keys.sorted() {
            guard results.axes.contains(axis) else { throw .unknownAxis(name: axis, known: results.axes) }
            guard placed.insert(axis).inserted else { throw .axisPlacedTwice(axis) }
        }
        for metric in [request.metric] + (request.selectBy.map { [$0] } ?? []) where !results.metrics.contains(metric) {
            throw .unknownMetric(name: metric, known: results.metrics)
        }
        if (request.selectBy == nil) != request.over.isEmpty { throw .selectionIncomplete }
        if let selectBy = request.selectBy, selectBy.contains("test"), !request.allowTestSelection {
            throw .tuningOnTestMetric(selectBy)
        }
        return placed
    }

    /// A tuned cell: the best setting of the tuning axes (`settings`, rows by setting) by mean
    /// of `selectBy`, ties to the first setting in the stable order, summarised by the
    /// request's metric, with how many of the `expected` settings finished and whether a
    /// setting has fewer than `fullSeeds` seeds. Nil when no setting has a score or values.
    private static func tunedSummary(
        settings: [[String]: [ResultRow]], request: TableRequest, selectBy: String, lowerIsBetter: Bool,
        expected: Set<[String]>, fullSeeds: Int
    ) -> CellSummary? {
        var best: (setting: [String], score: Double)?
        for setting in settings.keys.sorted(by: AxisValue.precedes) {
            let score = Statistics.mean(settings[setting]!.compactMap { $0.metrics[selectBy] })
            guard !score.isNaN else { continue }
            if best == nil || (lowerIsBetter ? score < best!.score : score > best!.score) { best = (setting, score) }
        }
        guard let best else { return nil }
        let values = settings[best.setting]!.compactMap { $0.metrics[request.metric] }
        let selected = zip(request.over, best.setting).map { "\($0)=\($1)" }
        guard !values.isEmpty else { return nil }
        var summary = CellSummary(values: values, selected: selected)
        summary.settingsFinished = settings.count
        summary.settingsExpected = expected.union(settings.keys).count
        summary.seedsMissing = settings.values.contains { $0.count < fullSeeds }
        return summary
    }

    /// Whether the metric improves downwards for this table.
    var lowerIsBetter: Bool { request.lowerIsBetter ?? MetricDirection.lowerIsBetter(request.metric) }

    /// Cells that hold the best mean of their column, judged on the printed (rounded) value,
    /// so every tie is marked.
    func bestInColumn() -> Set<[Int]> {
        var best: Set<[Int]> = []
        for column in columnKeys.indices {
            let means = rowKeys.indices.compactMap { row in cells[row][column].map { (row, rounded($0.mean)) } }.filter { $0.1.isFinite }
            guard let target = (lowerIsBetter ? means.map(\.1).min() : means.map(\.1).max()) else { continue }
            for (row, value) in means where value == target { best.insert([row, column]) }
        }
        return best
    }

    func rounded(_ value: Double) -> Double {
        Double(fixed(value)) ?? value
    }

    /// A number with `digits` decimals ("inf", "nan" for non-finite).
    func fixed(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        return String(format: "%.\(request.digits)f", value)
    }

    func columnTitle(_ key: [String]) -> String {
        request.columns.isEmpty ? request.metric : zip(request.columns, key).map { "\($0)=\($1)" }.joined(separator: ", ")
    }

    /// The table in a format; byte-stable for equal inputs.
    public func render(_ format: TableFormat) -> String {
        switch format {
        case .csv: return renderCSV()
        case .markdown: return renderMarkdown()
        case .latex: return renderLaTeX()
        }
    }

    /// The notes printed under Markdown tables (and as comments under LaTeX ones).
    var notes: [String] {
        let spread = fullCount > 1 ? "mean ± std over seeds (n shown when a cell has fewer than \(fullCount))" : "one seed per cell"
        var notes = [
            "\(request.metric): \(spread); best per column in bold (\(lowerIsBetter ? "lowest" : "highest")); — = no finished run."
        ]
        if !request.filters.isEmpty {
            notes.append("Only runs with " + request.filters.keys.sorted().map { "\($0)=\(request.filters[$0]!)" }.joined(separator: ", ") + ".")
        }
        if request.selectBy != nil, cells.contains(where: { $0.contains { $0?.isIncomplete == true } }) {
            notes.append(
                "† incomplete: the cell chose among fewer tuning settings (or seeds) than planned; its choice may change when the sweep finishes.")
        }
        if let selectBy = request.selectBy {
            notes.append(
                "Each cell reports the setting of \(request.over.joined(separator: ", ")) with the best mean \(selectBy). "
                    + "Choosing hyperparameters on private data has a privacy cost that the ε shown does not include "
                    + "(Papernot & Steinke 2022, arXiv 2110.03620).")
        }
        return notes
    }

    private func renderMarkdown() -> String {
        let best = bestInColumn()
        var lines: [String] = []
        lines.append("| " + (request.rows + columnKeys.map(columnTitle)).map(markdownEscape).joined(separator: " | ") + " |")
        lines.append("|" + String(repeating: " --- |", count: request.rows.count) + String(repeating: " ---: |", count: columnKeys.count))
        for (r, rowKey) in rowKeys.enumerated() {
            let values = columnKeys.indices.map { c -> String in
                guard let cell = cells[r][c] else { return "—" }
                var text = fixed(cell.mean)
                if let std = cell.standardDeviation { text += " ± " + fixed(std) }
                if best.contains([r, c]) { text = "**\(text)**" }
                if cell.count < fullCount { text += " (n=\(cell.count))" }
                if !cell.selected.isEmpty { text += " [" + cell.selected.joined(separator: ", ") + "]" }
                if cell.isIncomplete {
                    text += cell.settingsFinished < cell.settingsExpected ? " † (\(cell.settingsFinished)/\(cell.settingsExpected) settings)" : " † (seeds missing)"
                }
                return text
            }
            lines.append("| " + (rowKey.map(markdownEscape) + values).joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n\n" + notes.joined(separator: "\n") + "\n"
    }

    private func renderCSV() -> String {
        var header = request.rows
        for key in columnKeys {
            let title = columnTitle(key)
            header += ["\(title) mean", "\(title) std", "\(title) n"]
            if request.selectBy != nil { header += ["\(title) selected", "\(title) complete"] }
        }
        var lines = [CSV.line(header)]
        for (r, rowKey) in rowKeys.enumerated() {
            var fields = rowKey
            for c in columnKeys.indices {
                let cell = cells[r][c]
                fields += [
                    cell.map { CSV.number($0.mean) } ?? "", cell?.standardDeviation.map(CSV.number) ?? "", cell.map { String($0.count) } ?? "",
                ]
                if request.selectBy != nil {
                    fields.append(cell?.selected.joined(separator: " ") ?? "")
                    fields.append(cell.map { $0.isIncomplete ? "false" : "true" } ?? "")
                }
            }
            lines.append(CSV.line(fields))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// LaTeX (booktabs): axes and values by `DisplayNames`; a row label equal to the one above
    /// (with all labels to its left) left blank, and space between the groups of the outer row
    /// axis; two or more column axes as nested headers, each level's groups underlined by
    /// `\cmidrule`. Notes and the tuned settings (raw spellings) follow as `%` comments.
    private func renderLaTeX() -> String {
        let best = bestInColumn()
        var lines = ["\\begin{tabular}{" + String(repeating: "l", count: request.rows.count) + String(repeating: "r", count: columnKeys.count) + "}", "\\toprule"]
        lines += latexHeader()
        lines.append("\\midrule")
        var previous: [String]?
        for (r, rowKey) in rowKeys.enumerated() {
            if request.rows.count > 1, let previous, previous[0] != rowKey[0] { lines.append("\\addlinespace") }
            let labels = rowKey.indices.map { i -> String in
                if let previous, Array(previous[...i]) == Array(rowKey[...i]) { return "" }
                return DisplayNames.value(rowKey[i], axis: request.rows[i]).latex
            }
            previous = rowKey
            let values = columnKeys.indices.map { c -> String in
                guard let cell = cells[r][c] else { return "---" }
                var math = fixed(cell.mean)
                if let std = cell.standardDeviation { math += " \\pm " + fixed(std) }
                if best.contains([r, c]) { math = "\\mathbf{\(math)}" }
                var text = "$\(math)$"
                if cell.count < fullCount { text += "\\,{\\scriptsize (n=\(cell.count))}" }
                if cell.isIncomplete { text += "$^\\dagger$" }
                return text
            }
            lines.append((labels + values).joined(separator: " & ") + " \\\\")
        }
        lines += ["\\bottomrule", "\\end{tabular}"]
        lines.append("% Needs \\usepackage{booktabs}. A row label equal to the one above it is left blank.")
        lines += notes.map { "% " + $0 }
        if request.selectBy != nil {
            for (r, rowKey) in rowKeys.enumerated() {
                for (c, columnKey) in columnKeys.enumerated() {
                    guard let cell = cells[r][c] else { continue }
                    lines.append("% selected for \((rowKey + columnKey).joined(separator: " / ")): \(cell.selected.joined(separator: ", "))")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The header lines between `\toprule` and `\midrule`. No column axis: the row axes and the
    /// metric. One: the axis as a spanner over its values. Several: one line per axis, outer
    /// first, each value spanning the columns it groups, the row axes' names on the last line;
    /// a value that does not name itself carries its axis (`$\varepsilon = 1$`).
    private func latexHeader() -> [String] {
        let rowNames = request.rows.map { DisplayNames.axis($0).latex }
        let blank = Array(repeating: "", count: request.rows.count)
        func line(_ fields: [String]) -> String { fields.joined(separator: " & ") + " \\\\" }
        switch request.columns.count {
        case 0:
            return [line(rowNames + [DisplayNames.axis(request.metric).latex])]
        case 1:
            let axis = request.columns[0]
            let first = request.rows.count + 1
            return [
                line(blank + ["\\multicolumn{\(columnKeys.count)}{c}{\(DisplayNames.axis(axis).latex)}"]),
                "\\cmidrule(lr){\(first)-\(first + columnKeys.count - 1)}",
                line(rowNames + columnKeys.map { DisplayNames.value($0[0], axis: axis).latex }),
            ]
        default:
            var lines: [String] = []
            for (level, axis) in request.columns.enumerated() {
                // Consecutive columns that agree on this axis and every outer one.
                var groups: [(start: Int, count: Int)] = []
                for c in columnKeys.indices {
                    if let last = groups.last, columnKeys[last.start][...level] == columnKeys[c][...level] {
                        groups[groups.count - 1].count += 1
                    } else {
                        groups.append((c, 1))
                    }
                }
                let titles = groups.map { group -> String in
                    let value = columnKeys[group.start][level]
                    let title = DisplayNames.valuesNameThemselves(axis: axis) ? DisplayNames.value(value, axis: axis).latex : latexEquation(axis: axis, value: value)
                    return group.count > 1 ? "\\multicolumn{\(group.count)}{c}{\(title)}" : title
                }
                let isLast = level == request.columns.count - 1
                lines.append(line((isLast ? rowNames : blank) + titles))
                if !isLast {
                    let first = request.rows.count + 1
                    lines.append(groups.map { "\\cmidrule(lr){\(first + $0.start)-\(first + $0.start + $0.count - 1)}" }.joined())
                }
            }
            return lines
        }
    }
}

/// `axis = value` in LaTeX: one formula when both sides are math or a plain decimal
/// (`$\varepsilon = 1$`, `$\varepsilon = \infty$`), else text (`batch size = 64`).
func latexEquation(axis: String, value: String) -> String {
    let axisName = DisplayNames.axis(axis).latex, valueName = DisplayNames.value(value, axis: axis).latex
    func formula(_ latex: String) -> String? {
        guard latex.count > 2, latex.first == "$", latex.last == "$" else { return nil }
        let inner = latex.dropFirst().dropLast()
        return inner.contains("$") ? nil : String(inner)
    }
    let isDecimal = !value.isEmpty && value.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }
    if let left = formula(axisName), let right = formula(valueName) ?? (isDecimal ? value : nil) { return "$\(left) = \(right)$" }
    return axisName + " = " + valueName
}

/// Escapes `|` for Markdown table cells.
func markdownEscape(_ text: String) -> String {
    text.replacingOccurrences(of: "|", with: "\\|")
}

/// Escapes LaTeX special characters in text.
func latexEscape(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "\\": out += "\\textbackslash{}"
        case "&", "%", "$", "#", "_", "{", "}": out += "\\\(character)"
        case "~": out += "\\textasciitilde{}"
        case "^": out += "\\textasciicircum{}"
        default: out.append(character)
        }
    }
    return out
}
