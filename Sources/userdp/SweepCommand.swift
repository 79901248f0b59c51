import ArgumentParser

// Placeholder until the owning issue lands; replaced wholesale by that work.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sweep", abstract: "Run, inspect, tabulate and diff grids of experiments.")
    func run() throws { throw ValidationError("'sweep' is not built yet") }
}
