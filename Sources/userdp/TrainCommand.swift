import ArgumentParser

// Placeholder until the owning issue lands; replaced wholesale by that work.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "Run one configured experiment.")
    func run() throws { throw ValidationError("'train' is not built yet") }
}
