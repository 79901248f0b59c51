import ArgumentParser

// Placeholder until the owning issue lands; replaced wholesale by that work.
struct PrivacyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "privacy", abstract: "Privacy accounting: epsilon for a run, noise calibration.")
    func run() throws { throw ValidationError("'privacy' is not built yet") }
}
