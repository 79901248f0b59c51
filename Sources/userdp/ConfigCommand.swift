import ArgumentParser
import Training

/// `userdp config ...`: the run config format.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Describe the run config format (docs/CONFIG.md).",
        subcommands: [ConfigSchemaCommand.self]
    )
}

/// `userdp config schema`: the key table of docs/CONFIG.md, from the one schema table the parser
/// and the canonical form use (`RunConfig.schema`).
struct ConfigSchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print every config key path with its type, default, the mechanisms that read it and its meaning (Markdown).",
        discussion: """
            The table of docs/CONFIG.md between its BEGIN and END key table lines; a test fails \
            when the two differ.
            """
    )

    func run() throws {
        print(RunConfig.schema.markdown, terminator: "")
    }
}
