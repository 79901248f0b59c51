import ArgumentParser

// Placeholder until the owning issue lands; replaced wholesale by that work.
struct BenchPrivacyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "privacy", abstract: "PLD epsilon and calibration timings.")
    func run() throws { throw ValidationError("'privacy' is not built yet") }
}
