import Foundation

/// How an axis, a value or a metric is written for a reader: plain Unicode text (figure legends,
/// prose) and LaTeX source (paper tables).
public struct DisplayName: Sendable, Equatable {
    /// Unicode text, e.g. `ε`, `Asi & Liu`.
    public var text: String
    /// LaTeX source, e.g. `$\varepsilon$`, `Asi \& Liu`: either escaped text or math.
    public var latex: String

    /// A name whose LaTeX is `text` escaped (`&`, `_`, `%`, ... made literal).
    public init(_ text: String) {
        self.text = text
        latex = latexEscape(text)
    }

    /// A name with its own LaTeX (math, symbols).
    public init(_ text: String, latex: String) {
        self.text = text
        self.latex = latex
    }
}

/// The one table from the sweep files' vocabulary to the words a paper uses (Chua et al. 2024
/// for mechanism and selection names). Markdown and CSV tables keep the sweep files' spellings,
/// so a cell can be found again with `--where`; LaTeX tables and the analysis figures' legends
/// (`userdp sweep names`) read this table. docs/SWEEPS.md ("Paper tables") lists the conventions.
///
/// An axis or value not listed keeps a fallback: an axis key its last dotted component with
/// underscores as spaces (`mechanism_options.asi_liu.threshold` → `threshold`), a value itself.
public enum DisplayNames {
    /// Axis keys (and metrics, which head a table without column axes).
    public static let axes: [String: DisplayName] = [
        "accountant": DisplayName("accountant"),
        "batch_size": DisplayName("batch size"),
        "clip_norm": DisplayName("clip norm"),
        "context_length": DisplayName("context length"),
        "dataset": DisplayName("dataset"),
        "delta": DisplayName("δ", latex: "$\\delta$"),
        "epsilon": DisplayName("ε", latex: "$\\varepsilon$"),
        "epsilon_spent": DisplayName("ε spent", latex: "$\\varepsilon$ spent"),
        "k": DisplayName("k", latex: "$k$"),
        "learning_rate": DisplayName("learning rate"),
        "lora.rank": DisplayName("LoRA rank"),
        "mechanism": DisplayName("mechanism"),
        "mechanism_options.asi_liu.tau": DisplayName("τ", latex: "$\\tau$"),
        "mechanism_options.group.accounting": DisplayName("group accounting"),
        "model": DisplayName("model"),
        "noise_multiplier": DisplayName("σ", latex: "$\\sigma$"),
        "optimizer": DisplayName("optimizer"),
        "seed": DisplayName("seed"),
        "selection": DisplayName("selection"),
        "steps": DisplayName("steps"),
        "test_perplexity": DisplayName("test perplexity"),
        "validation_perplexity": DisplayName("validation perplexity"),
    ]

    /// Values by axis key.
    public static let values: [String: [String: DisplayName]] = [
        "mechanism": [
            "asi-liu": DisplayName("Asi & Liu"),
            "group": DisplayName("Group Privacy"),
            "nonprivate": DisplayName("Non-private"),
            "record": DisplayName("record-level DP-SGD"),
            "user": DisplayName("User-wise DP-SGD"),
        ],
        "mechanism_options.group.accounting": [
            "lemma": DisplayName("group lemma"),
            "mixture": DisplayName("tight (ours)"),
        ],
        "selection": [
            "longest": DisplayName("longest"),
            "perplexity(order=highest)": DisplayName("highest perplexity"),
            "perplexity(order=lowest)": DisplayName("lowest perplexity"),
            "random": DisplayName("random"),
            "random-chunk": DisplayName("random chunk"),
            "shortest": DisplayName("shortest"),
        ],
        // Only the non-private mechanism ignores ε (RunConfig's ignored keys), and the study
        // writes its budget as ∞.
        "epsilon": ["n/a": DisplayName("∞", latex: "$\\infty$")],
        "accountant": ["pld": DisplayName("PLD"), "rdp": DisplayName("RDP")],
        "optimizer": ["adam": DisplayName("Adam"), "sgd": DisplayName("SGD")],
    ]

    /// Values that read the same on every axis: `n/a` (the key does not apply to the run's
    /// mechanism) as a dash.
    public static let anyAxis: [String: DisplayName] = ["n/a": DisplayName("–", latex: "--")]

    /// How an axis key (or metric) is written.
    public static func axis(_ key: String) -> DisplayName {
        if let name = axes[key] { return name }
        let last = key.split(separator: ".").last.map(String.init) ?? key
        return DisplayName(last.replacingOccurrences(of: "_", with: " "))
    }

    /// How a value of an axis is written.
    public static func value(_ value: String, axis: String) -> DisplayName {
        values[axis]?[value] ?? anyAxis[value] ?? DisplayName(value)
    }

    /// Whether an axis's values name themselves (every value listed: `Group Privacy`), so a
    /// header can show the value without the axis (numbers need it: `ε = 1`).
    public static func valuesNameThemselves(axis: String) -> Bool {
        values[axis] != nil && axis != "epsilon"
    }

    /// The whole table as CSV (`kind,key,value,text,latex`; kind `axis` or `value`, value `*`
    /// for the values of `anyAxis`), sorted, for scripts (`userdp sweep names`).
    public static var csv: String {
        var lines = [CSV.line(["kind", "key", "value", "text", "latex"])]
        for key in axes.keys.sorted() { lines.append(CSV.line(["axis", key, "", axes[key]!.text, axes[key]!.latex])) }
        for key in values.keys.sorted() {
            for value in values[key]!.keys.sorted() {
                lines.append(CSV.line(["value", key, value, values[key]![value]!.text, values[key]![value]!.latex]))
            }
        }
        for value in anyAxis.keys.sorted() { lines.append(CSV.line(["value", "*", value, anyAxis[value]!.text, anyAxis[value]!.latex])) }
        return lines.joined(separator: "\n") + "\n"
    }
}
