import Foundation
import Persistence

/// `userdp train --config FILE --out DIR`: one experiment with its files (docs/SWEEPS.md).
///
/// Writes into `DIR`:
/// - `config.json`: the resolved config (every default filled in);
/// - `log`: every message and evaluation, appended as the run goes;
/// - `curve.csv`: `step,train_loss,units,validation_perplexity` (the last column only at
///   evaluation steps);
/// - `result.json`: last, atomically, and only when the run succeeded. A result.json left from
///   an earlier run in `DIR` is removed first, so a failed run never leaves one behind.
public enum TrainingRun {
    /// Runs the experiment of `config` into `directory` (caches as `Experiment` describes). `progress` receives a one-line status
    /// after each step (the CLI prints it on a terminal).
    public static func execute(
        config: RunConfig, directory: URL, workers: Int, cacheDirectory: URL? = nil, calibrationDirectory: URL? = nil,
        progress: ((String) -> Void)? = nil
    ) throws -> ExperimentOutcome {
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        // A run killed mid-write (or resumed after a full disk) leaves `.tmp-*` files behind.
        AtomicFile.removeStaleTemporaries(in: directory)
        let resultURL = directory.appendingPathComponent(RunResult.fileName)
        if fileManager.fileExists(atPath: resultURL.path) { try fileManager.removeItem(at: resultURL) }
        try AtomicFile.write(Data((config.prettyText + "\n").utf8), to: directory.appendingPathComponent("config.json"))
        let log = try RunLog(url: directory.appendingPathComponent("log"))
        log.write("userdp train: \(config.canonicalText)")

        do {
            let experiment = Experiment(config: config, workers: workers, cacheDirectory: cacheDirectory, calibrationDirectory: calibrationDirectory)
            let outcome = try experiment.run { event in
                switch event {
                case .message(let text):
                    log.write(text)
                case let .step(point, elapsed, total):
                    let line = progressLine(point, elapsed: elapsed, total: total)
                    if point.validationPerplexity != nil || point.step == 1 { log.write(line) }
                    progress?(line)
                }
            }
            try AtomicFile.write(Data(curveCSV(outcome.curve).utf8), to: directory.appendingPathComponent("curve.csv"))
            try outcome.result.write(toDirectory: directory)
            log.write(String(format: "done in %.1f s: test perplexity %.4f, ε %.4f", outcome.result.wallSeconds, outcome.result.testPerplexity, outcome.result.epsilon))
            return outcome
        } catch {
            log.write("failed: \(error.localizedDescription)")
            throw error
        }
    }

    /// `step 40/100  loss 3.2100  units 31  val ppl 25.10  1.20 s/step  ETA 1m12s`.
    static func progressLine(_ point: CurvePoint, elapsed: Double, total: Int) -> String {
        let perStep = elapsed / Double(point.step)
        let remaining = perStep * Double(total - point.step)
        var line = String(format: "step %d/%d  loss %.4f  units %d", point.step, total, point.trainLoss, point.units)
        if let ppl = point.validationPerplexity { line += String(format: "  val ppl %.3f", ppl) }
        line += String(format: "  %.2f s/step  ETA %@", perStep, formatDuration(remaining))
        return line
    }

    /// The learning curve as CSV, floats in shortest round-trip form.
    static func curveCSV(_ curve: [CurvePoint]) -> String {
        var text = "step,train_loss,units,validation_perplexity\n"
        for point in curve {
            text += "\(point.step),\(point.trainLoss),\(point.units),\(point.validationPerplexity.map { "\($0)" } ?? "")\n"
        }
        return text
    }
}

/// `1h02m`, `3m05s`, `12s`.
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
}

/// An append-only log file with a timestamp per line.
final class RunLog: Sendable {
    private let handle: FileHandle

    init(url: URL) throws {
        if !FileManager.default.fileExists(atPath: url.path) {
            FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        handle = try FileHandle(forWritingTo: url)
        handle.seekToEndOfFile()
    }

    func write(_ line: String) {
        let stamp = ISO8601DateFormatter().string(from: Date())
        handle.write(Data("\(stamp) \(line)\n".utf8))
    }

    deinit { try? handle.close() }
}
