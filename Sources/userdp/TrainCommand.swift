import ArgumentParser
import Foundation
import LinearAlgebra
import Persistence
import Sweep
import Training

/// `userdp train --config FILE --out DIR`: one experiment; see `TrainingRun` for the files.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Run one configured experiment and write result.json, curve.csv and log.",
        discussion: """
            Keys, defaults and mechanisms: docs/CONFIG.md. A failed or killed run leaves no result.json. \
            Started by `userdp sweep run` (USERDP_DISPATCHER_PID set), it waits for any earlier trainer \
            of the same run folder to exit and stops within a fraction of a second when the \
            dispatcher dies (docs/SWEEPS.md).
            """)

    @Option(name: .long, help: "Run config JSON file.")
    var config: String

    @Option(name: .long, help: "Output directory (created if missing).")
    var out: String

    @Flag(name: .long, help: "Never draw the progress line, even on a terminal.")
    var quiet = false

    func run() throws {
        // Before anything is read or written: a child of a dispatcher that is already gone
        // must not train beside the resumed sweep.
        let environment = ProcessInfo.processInfo.environment
        let contract = try SweepChild.attach(outDirectory: URL(fileURLWithPath: out), environment: environment)
        do {
            // A dispatcher names its sweep's shared calibration cache (so may a person running
            // one trainer by hand).
            try train(calibrationDirectory: DispatchEnvironment.calibrationCache(in: environment))
        } catch {
            // The dispatcher reads why we failed from a file rather than from our last words.
            if contract != nil { try? TrainerFailure(error).write(to: URL(fileURLWithPath: out)) }
            throw error
        }
    }

    func train(calibrationDirectory: URL?) throws {
        let configURL = URL(fileURLWithPath: config)
        // Foundation's read errors are NSError dumps; say what is wrong with the path instead.
        if let problem = FileProblem.unreadableFile(configURL) { throw CommandFailure(message: "\(config): \(problem)") }
        let runConfig = try RunConfig(contentsOf: configURL)
        let terminal = !quiet && isatty(STDERR_FILENO) == 1
        let outcome = try TrainingRun.execute(
            config: runConfig, directory: URL(fileURLWithPath: out), workers: defaultWorkerCount,
            calibrationDirectory: calibrationDirectory,
            progress: terminal ? { line in FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8)) } : nil)
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        let r = outcome.result
        // Only the settings the mechanism reads (docs/CONFIG.md): nonprivate has no ε, record no k.
        let mechanism = r.config.mechanism
        var setting = [mechanism.rawValue]
        if mechanism.reads(keyPath: "epsilon") { setting.append(String(format: "ε=%g", r.config.epsilon)) }
        if mechanism.reads(keyPath: "k") { setting.append("k=\(r.config.k)") }
        if mechanism.reads(keyPath: "selection") { setting.append(r.config.selection.name) }
        print(String(
            format: "%@: test perplexity %.4f, validation %.4f, ε spent %.4f, σ %.4f, %.1f s",
            setting.joined(separator: " "), r.testPerplexity, r.validationPerplexity, r.epsilon, r.noiseMultiplier, r.wallSeconds))
    }
}
