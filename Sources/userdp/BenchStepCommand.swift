import ArgumentParser

// Placeholder until the owning issue lands; replaced wholesale by that work.
struct BenchStepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "step", abstract: "Forward+backward throughput of a model configuration.")
    func run() throws { throw ValidationError("'step' is not built yet") }
}
