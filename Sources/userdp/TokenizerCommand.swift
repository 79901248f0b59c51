import ArgumentParser

// Placeholder until the owning issue lands; replaced wholesale by that work.
struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenizer", abstract: "Train or inspect a byte-level BPE tokenizer.")
    func run() throws { throw ValidationError("'tokenizer' is not built yet") }
}
