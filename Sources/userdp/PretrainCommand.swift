import ArgumentParser

// Placeholder until the owning issue lands; replaced wholesale by that work.
struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pretrain", abstract: "Pretrain a base model on public text.")
    func run() throws { throw ValidationError("'pretrain' is not built yet") }
}
