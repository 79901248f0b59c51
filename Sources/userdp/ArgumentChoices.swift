import ArgumentParser
import Privacy
import Sweep
import UserData

// Options with a fixed set of values parse into the domain types themselves. Each lists every
// spelling it accepts (the canonical names and the aliases people type) as `allValueStrings`,
// which ArgumentParser shows in `--help` and in the error for any other value:
// "The value 'x' is invalid for '--format <format>'. Please provide one of 'markdown', 'md', ...".

/// `--format` of `sweep table` and `sweep diff`.
extension TableFormat: ExpressibleByArgument {
    /// Every spelling, each canonical name followed by its aliases.
    static let spellings: [(String, TableFormat)] = [
        ("markdown", .markdown), ("md", .markdown), ("csv", .csv), ("latex", .latex), ("tex", .latex),
    ]

    public init?(argument: String) {
        guard let format = TableFormat.spellings.first(where: { $0.0 == argument.lowercased() })?.1 else { return nil }
        self = format
    }

    public static var allValueStrings: [String] { spellings.map(\.0) }
    public var defaultValueDescription: String { rawValue }
}

/// `--accountant` of `privacy epsilon` and `privacy calibrate`: the accountant's kind, whose
/// parameters (the PLD discretisation) come from other flags.
enum AccountantChoice: String, CaseIterable, ExpressibleByArgument {
    case pld, rdp
    /// The group-privacy lemma over PLD.
    case groupLemma = "group-lemma"

    /// Every spelling: the names, and `lemma` for `group-lemma`.
    static let spellings: [(String, AccountantChoice)] = [("pld", .pld), ("rdp", .rdp), ("group-lemma", .groupLemma), ("lemma", .groupLemma)]

    init?(argument: String) {
        guard let choice = AccountantChoice.spellings.first(where: { $0.0 == argument.lowercased() })?.1 else { return nil }
        self = choice
    }

    static var allValueStrings: [String] { spellings.map(\.0) }

    /// The accountant, with PLD's value-discretisation interval `discretization`. The raw
    /// values are the Privacy module's own command-line names (`AccountantKind(cliName:)`).
    func kind(discretization: Double) -> AccountantKind {
        guard let kind = AccountantKind(cliName: rawValue, valueDiscretization: discretization) else {
            preconditionFailure("AccountantKind has no command-line name '\(rawValue)'")
        }
        return kind
    }
}

/// `--by` of `data split`.
extension SplitUnit: ExpressibleByArgument {}

/// `--records` of `data build-shakespeare`.
extension ShakespeareRecordUnit: ExpressibleByArgument {}
