import ArgumentParser

// Placeholder until the owning issue lands; replaced wholesale by that work.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "data", abstract: "User-level datasets: build, import, statistics.")
    func run() throws { throw ValidationError("'data' is not built yet") }
}
