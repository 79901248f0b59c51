import Foundation
import Training
import Persistence

/// The on-disk layout of one sweep's results under one label (docs/SWEEPS.md):
///
/// ```
/// RESULTS/NAME/.calibration/            shared calibration cache (USERDP_CALIBRATION_CACHE)
/// RESULTS/NAME/LABEL/sweep.json         the sweep definition that was run (canonical form)
/// RESULTS/NAME/LABEL/results.csv        one row per finished run, rewritten atomically
/// RESULTS/NAME/LABEL/.lock              serialises claims and results.csv rewrites
/// RESULTS/NAME/LABEL/runs/ID/config.json   the resolved run config
///                           result.json    written by the trainer on success only
///                           curve.csv, log written by the trainer
///                           output         the child's stdout and stderr
///                           claim          who runs it now (pid, host, heartbeat mtime)
///                           .train.lock    held by the running trainer (flock)
///                           failure.json   why the last attempt failed
///                           attempts/N/    files of earlier attempts (output, log, ...)
/// ```
public struct ResultStore: Sendable {
    /// `RESULTS/NAME`.
    public let sweepDirectory: URL
    /// `RESULTS/NAME/LABEL`.
    public let root: URL

    /// File names inside a run directory.
    public enum RunFile {
        /// The resolved run config the child reads.
        public static let config = "config.json"
        /// The trainer's result, present only after success.
        public static let result = RunResult.fileName
        /// The trainer's learning curve.
        public static let curve = "curve.csv"
        /// The trainer's log.
        public static let log = "log"
        /// The child's standard output and error.
        public static let output = "output"
        /// The claim of the dispatcher running the run.
        public static let claim = "claim"
        /// Why the last attempt failed.
        public static let failure = "failure.json"
        /// Lock a dispatched trainer holds while it runs (`SweepChild`), so a retry waits for
        /// an earlier trainer of the same run that is still alive.
        public static let trainLock = ".train.lock"
        /// Why the trainer says it failed (`TrainerFailure`).
        public static let trainerFailure = TrainerFailure.fileName
        /// Folder of earlier attempts' files.
        public static let attempts = "attempts"
        /// Files that belong to one attempt and move to `attempts/N/` before the next.
        public static let perAttempt = [output, log, curve, failure, trainerFailure]
    }

    /// The store for `results/sweep/label`; a relative `results` is taken relative to the
    /// current directory (children get absolute paths).
    public init(results: URL, sweep: String, label: String) {
        let base = results.path.hasPrefix("/")
            ? results : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(results.path)
        sweepDirectory = base.standardizedFileURL.appendingPathComponent(sweep)
        root = sweepDirectory.appendingPathComponent(label)
    }

    /// The labels of this store's sweep that hold a results.csv, sorted (this store's own
    /// label included if it has one). For messages when the expected label has no results:
    /// the default label follows the git state, which may change between two commands.
    public func labelsWithResults() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: sweepDirectory.path)) ?? []
        return names.filter { name in
            FileManager.default.fileExists(atPath: sweepDirectory.appendingPathComponent(name).appendingPathComponent("results.csv").path)
        }.sorted()
    }

    /// This label's results.csv. When the label has none but other labels of the sweep do,
    /// the error names them (`SweepError.storage`), since the default label follows the git
    /// state and may change between two commands; otherwise `SweepError.noResults`.
    public func results() throws(SweepError) -> ResultSet {
        do {
            return try ResultSet(contentsOf: resultsCSV)
        } catch .noResults {
            let labels = labelsWithResults()
            guard !labels.isEmpty else { throw .noResults(path: resultsCSV.path) }
            throw .storage(
                path: resultsCSV.path,
                reason: "no results under label '\(root.lastPathComponent)'; results exist under "
                    + labels.map { "'\($0)'" }.joined(separator: ", ") + " (pass --label LABEL)")
        } catch {
            throw error
        }
    }

    /// The calibration cache shared by every label of the sweep.
    public var calibrationDirectory: URL { sweepDirectory.appendingPathComponent(".calibration") }
    /// The aggregated results file.
    public var resultsCSV: URL { root.appendingPathComponent("results.csv") }
    /// The copy of the sweep definition.
    public var definitionFile: URL { root.appendingPathComponent("sweep.json") }
    /// The lock file.
    var lockFile: URL { root.appendingPathComponent(".lock") }
    /// `runs/`.
    public var runsDirectory: URL { root.appendingPathComponent("runs") }

    /// `runs/ID/`.
    public func runDirectory(_ id: String) -> URL { runsDirectory.appendingPathComponent(id) }
    /// A file of a run.
    public func file(_ name: String, of id: String) -> URL { runDirectory(id).appendingPathComponent(name) }
    /// Whether the run has a `result.json` file (cheap: no parsing). A file that does not
    /// decode is not a result: see `hasValidResult` and `quarantineResult`.
    public func hasResult(_ id: String) -> Bool {
        FileManager.default.fileExists(atPath: file(RunFile.result, of: id).path)
    }

    /// Whether the run has a `result.json` that decodes as a `RunResult` (truncated, empty,
    /// `{}` or random bytes do not count): what `sweep status` and `sweep table` count as done.
    public func hasValidResult(_ id: String) -> Bool {
        if case .success? = readResult(id) { return true }
        return false
    }

    /// Creates the folders and writes `sweep.json`. A label holds the results of one sweep
    /// definition: when `sweep.json` exists and differs from `definition` (an edited sweep
    /// rerun under the same label), this throws `SweepError.definitionChanged` unless
    /// `replacing` is set (`sweep run --force`), so old and new runs never mix silently.
    public func prepare(definition: SweepDefinition?, replacing: Bool = false) throws(SweepError) {
        if let definition, !replacing { try checkDefinitionUnchanged(definition) }
        for directory in [runsDirectory, calibrationDirectory] {
            do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
                throw .storage(path: directory.path, reason: "cannot create the folder: \(error.localizedDescription)")
            }
        }
        if let definition {
            try write(Data((definition.json.canonicalText(pretty: true) + "\n").utf8), to: definitionFile)
        }
    }

    /// Throws `SweepError.definitionChanged` when the label's stored `sweep.json` differs from
    /// `definition` (compared in canonical form, so reformatting the file does not count).
    public func checkDefinitionUnchanged(_ definition: SweepDefinition) throws(SweepError) {
        guard let data = try? Data(contentsOf: definitionFile) else { return }
        let stored = (try? JSONValue(parsing: data))?.canonicalText()
        let current = definition.json.canonicalText()
        guard stored != current else { return }
        var keys: [String] = []
        if case .object(let old)? = try? JSONValue(parsing: data), case .object(let new) = definition.json {
            keys = Set(old.keys).union(new.keys).filter { old[$0]?.canonicalText() != new[$0]?.canonicalText() }.sorted()
        }
        throw .definitionChanged(path: definitionFile.path, keys: keys)
    }

    /// Why the run's stored result cannot stand for `run`, or nil when it can (or there is
    /// none): it does not decode, or it records a dataset or model hash other than the planned
    /// run's inputs (the data changed while the run was running, or a result was copied in).
    /// A result without a recorded hash is not checked on that input. Under a pinned label
    /// (`LabelPin`), a result from code the pin does not accept cannot stand either.
    public func unusableReason(_ run: PlannedRun) -> String? { unusable(run)?.reason }

    /// `unusableReason` with the suffix `quarantineResult` gives the file it moves aside:
    /// `corrupt` for a result that does not decode or records other inputs, `unpinned` for
    /// one from code the label's pin does not accept.
    public func unusable(_ run: PlannedRun) -> (reason: String, kind: String)? {
        switch readResult(run.id) {
        case nil: return nil
        case .failure(let error)?: return ("result.json is unreadable (\(ResultStore.shortReason(error)))", "corrupt")
        case .success(let result)?:
            switch Result(catching: { () throws(SweepError) in try pin() }) {
            case .failure(let error): return ("the label's pin cannot be read (\(error.localizedDescription))", "unpinned")
            case .success(let pin?): if let rejection = pin.rejection(of: result.provenance) { return (rejection, "unpinned") }
            case .success(nil): break
            }
            guard let inputs = run.inputs else { return nil }
            if case .string(let hash)? = result.extra["dataset_hash"], hash != inputs.datasetHash {
                return ("result.json was computed on another dataset (dataset_hash \(hash.prefix(12)), the plan's \(inputs.datasetHash.prefix(12)))", "corrupt")
            }
            if case .string(let hash)? = result.extra["model_hash"], hash != inputs.modelHash {
                return ("result.json was computed with another model (model_hash \(hash.prefix(12)), the plan's \(inputs.modelHash.prefix(12)))", "corrupt")
            }
            return nil
        }
    }

    /// `set` without rows whose run's `result.json` is missing or unusable now (corrupted or
    /// removed after results.csv was written; with `plan`, also recorded on other inputs), and
    /// the ids left out. When the label has no `runs/` folder (a results.csv copied elsewhere)
    /// nothing can be checked and `set` is returned whole.
    public func usableRows(of set: ResultSet, plan: SweepPlan? = nil) -> (ResultSet, dropped: [String]) {
        guard FileManager.default.fileExists(atPath: runsDirectory.path) else { return (set, []) }
        var kept = set
        var dropped: [String] = []
        kept.rows = set.rows.filter { row in
            let usable: Bool
            if let run = plan?.run(id: row.runID) {
                usable = hasResult(row.runID) && unusableReason(run) == nil
            } else {
                usable = hasValidResult(row.runID)
            }
            if !usable { dropped.append(row.runID) }
            return usable
        }
        return (kept, dropped)
    }

    /// Moves a `result.json` that cannot stand aside to `result.json.corrupt-<unix time>`
    /// (`kind` replaces `corrupt`, e.g. `unpinned`), so the run counts as not done and is
    /// redone. Returns the new name.
    @discardableResult
    public func quarantineResult(_ id: String, kind: String = "corrupt", now: Date = Date()) throws(SweepError) -> URL {
        let source = file(RunFile.result, of: id)
        var target = file("\(RunFile.result).\(kind)-\(Int(now.timeIntervalSince1970))", of: id)
        var suffix = 1
        while FileManager.default.fileExists(atPath: target.path) {
            target = file("\(RunFile.result).\(kind)-\(Int(now.timeIntervalSince1970))-\(suffix)", of: id)
            suffix += 1
        }
        do { try FileManager.default.moveItem(at: source, to: target) } catch {
            throw .storage(path: source.path, reason: "cannot move the unreadable result aside: \(error.localizedDescription)")
        }
        return target
    }

    /// Writes `failure.json` for the run's current attempt.
    public func recordFailure(_ failure: RunFailure, of id: String) throws(SweepError) {
        let url = file(RunFile.failure, of: id)
        let data: Data
        do { data = try JSONOutput.data(failure) } catch {
            throw .storage(path: url.path, reason: "cannot encode the failure: \(error.localizedDescription)")
        }
        try write(data + Data("\n".utf8), to: url)
    }

    /// The run's current `failure.json` (`RunFailure`, files of earlier versions included);
    /// nil when absent or not a JSON object of that shape.
    public func failure(of id: String) -> RunFailure? {
        guard let data = FileManager.default.contents(atPath: file(RunFile.failure, of: id).path) else { return nil }
        return try? JSONDecoder().decode(RunFailure.self, from: data)
    }

    /// Moves the files of the run's last attempt (`RunFile.perAttempt`) into `attempts/N/`,
    /// N one past the highest there, so every attempt keeps its output, log and failure.
    /// Does nothing when no such file is present.
    public func archiveAttempt(_ id: String) throws(SweepError) {
        let present = RunFile.perAttempt.filter { FileManager.default.fileExists(atPath: file($0, of: id).path) }
        guard !present.isEmpty else { return }
        let attempts = file(RunFile.attempts, of: id)
        let number = ((try? FileManager.default.contentsOfDirectory(atPath: attempts.path))?.compactMap(Int.init).max() ?? 0) + 1
        let destination = attempts.appendingPathComponent(String(number))
        do {
            try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: true)
            for name in present {
                try FileManager.default.moveItem(at: file(name, of: id), to: destination.appendingPathComponent(name))
            }
        } catch {
            throw .storage(path: destination.path, reason: "cannot archive the previous attempt: \(error.localizedDescription)")
        }
    }

    /// Writes a file atomically, mapping errors to `SweepError.storage`.
    func write(_ data: Data, to url: URL) throws(SweepError) {
        do { try AtomicFile.write(data, to: url) } catch {
            throw .storage(path: url.path, reason: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Runs `body` holding the label's lock (an exclusive `flock` on `.lock`, released when
    /// the process dies, so a killed dispatcher never leaves it held). Every claim decision and
    /// every results.csv rewrite happens under it.
    func withLock<T>(_ body: () throws(SweepError) -> T) throws(SweepError) -> T {
        let fd = open(lockFile.path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .storage(path: lockFile.path, reason: "cannot open the lock file: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw .storage(path: lockFile.path, reason: "cannot lock: \(String(cString: strerror(errno)))") }
        }
        return try body()
    }

    /// Reads the result of a run, nil when absent or unreadable.
    public func result(_ id: String) -> RunResult? {
        try? readResult(id)?.get()
    }

    /// Reads the result of a run: nil when absent, a failure when `result.json` exists but
    /// does not decode (a trainer writing another schema).
    public func readResult(_ id: String) -> Result<RunResult, any Error>? {
        guard hasResult(id) else { return nil }
        return Result { try RunResult(contentsOf: file(RunFile.result, of: id)) }
    }

    /// A one-line reason for a decoding error (the decoder's debug description, or the
    /// error's own description).
    public static func shortReason(_ error: any Error) -> String {
        let text: String
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.keyNotFound(_, let context),
            DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            text = (path.isEmpty ? "" : "\(path): ") + context.debugDescription
        default:
            text = error.localizedDescription
        }
        return text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
    }

    /// The last `count` non-empty lines of the run's `output` and `log` (whichever exist).
    public func lastLines(of id: String, count: Int) -> [String] {
        var lines: [String] = []
        for name in [RunFile.output, RunFile.log] {
            guard let text = try? String(contentsOf: file(name, of: id), encoding: .utf8) else { continue }
            let tail = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.suffix(count)
            if !tail.isEmpty { lines += ["[\(name)]"] + tail }
        }
        return lines
    }
}
