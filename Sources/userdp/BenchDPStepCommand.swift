import ArgumentParser

// Placeholder until the owning issue lands; replaced wholesale by that work.
struct BenchDPStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dp-step", abstract: "One training step of each mechanism against the non-private step.")
    func run() throws { throw ValidationError("'dp-step' is not built yet") }
}
