import ArgumentParser

// Placeholder until the owning issue lands; replaced wholesale by that work.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Perplexity of a model on a text file.")
    func run() throws { throw ValidationError("'eval' is not built yet") }
}
