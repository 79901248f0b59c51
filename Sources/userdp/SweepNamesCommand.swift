import ArgumentParser
import Sweep

/// `userdp sweep names`: the display names of axes and values (`DisplayNames`), for scripts
/// that label figures the way the LaTeX tables do (analysis/make.py).
struct SweepNamesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "names",
        abstract: "Print how LaTeX tables and the analysis figures write axes and values (CSV: kind,key,value,text,latex).",
        discussion: """
            Markdown and CSV tables keep the sweep files' spellings; LaTeX tables write ε, k, \
            Group Privacy, User-wise DP-SGD, random chunk, ... from this one table (docs/SWEEPS.md). \
            An axis not listed is written as its last dotted component with spaces for \
            underscores; a value not listed as itself.
            """
    )

    func run() throws {
        print(DisplayNames.csv, terminator: "")
    }
}
