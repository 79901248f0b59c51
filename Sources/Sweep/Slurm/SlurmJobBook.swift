import Foundation
import Persistence

/// The Slurm jobs submitted for a label: `LABEL/slurm/jobs.json`, with their states from
/// `squeue` (and `sacct` where accounting is on), and `scancel` on them.
public struct SlurmJobBook: Sendable {
    /// One submitted job array.
    public struct Job: Codable, Sendable, Equatable {
        /// Slurm's job id of the array.
        public var id: String
        /// The submission's number (its script is `submit-N.sbatch`).
        public var submission: Int
        /// The run ids, in array-task order (task i runs `runs[i]`).
        public var runs: [String]
        /// When it was submitted (seconds since 1970).
        public var submittedAt: Double

        /// A job with every part given.
        public init(id: String, submission: Int, runs: [String], submittedAt: Double) {
            self.id = id
            self.submission = submission
            self.runs = runs
            self.submittedAt = submittedAt
        }

        enum CodingKeys: String, CodingKey {
            case id, submission, runs
            case submittedAt = "submitted_at"
        }
    }

    /// The file's format: a version and the jobs, oldest first.
    struct File: Codable {
        var version: Int
        var jobs: [Job]
    }

    /// The highest `jobs.json` version this build reads.
    public static let version = 1

    /// The label's results.
    public let store: ResultStore

    /// The book of a label.
    public init(store: ResultStore) { self.store = store }

    /// `LABEL/slurm/`.
    public var directory: URL { store.root.appendingPathComponent("slurm") }
    /// `LABEL/slurm/jobs.json`.
    public var url: URL { directory.appendingPathComponent("jobs.json") }

    /// The recorded jobs, oldest first; none when the file does not exist.
    public func jobs() throws(SweepError) -> [Job] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw .slurmJobsUnreadable(path: url.path, reason: "\(error)")
        }
        guard file.version <= Self.version else {
            throw .slurmJobsUnreadable(path: url.path, reason: "version \(file.version) is newer than \(Self.version), the highest this userdp reads")
        }
        return file.jobs
    }

    /// The next submission number.
    public func nextSubmission() throws(SweepError) -> Int {
        (try jobs().map(\.submission).max() ?? 0) + 1
    }

    /// Appends a job, under the label's lock (concurrent submitters lose no entry).
    public func record(_ job: Job) throws(SweepError) {
        try store.withLock { () throws(SweepError) in
            let file = File(version: Self.version, jobs: try jobs() + [job])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            do {
                try AtomicFile.write(try encoder.encode(file) + Data("\n".utf8), to: url, createDirectories: true)
            } catch {
                throw .storage(path: url.path, reason: "cannot record the Slurm job: \(error)")
            }
        }
    }

    /// The state of one array task.
    public struct TaskState: Sendable, Equatable {
        /// `JOB_TASK`.
        public var task: String
        /// The run it runs, when known.
        public var runID: String?
        /// Slurm's state (`PENDING`, `RUNNING`, `COMPLETED`, `CANCELLED`, `TIMEOUT`...).
        public var state: String
    }

    /// The states of the recorded jobs' array tasks: queued tasks from `squeue`; ended ones from
    /// `sacct` when accounting answers. A job that neither knows is left out (it ended and
    /// Slurm forgot it), and so are tasks whose state is unknown.
    public func taskStates(_ jobs: [Job], client: SlurmClient) -> [TaskState] {
        guard !jobs.isEmpty else { return [] }
        let ids = jobs.map(\.id).joined(separator: ",")
        var states: [String: String] = [:]
        // sacct first, so squeue's current view wins for live tasks.
        let accounting = client.run("sacct", ["-n", "-P", "-X", "-j", ids, "-o", "JobID,State"])
        if accounting.status == 0 { parse(accounting.standardOutput, into: &states) }
        // squeue refuses a list with an id it no longer knows; ask per job.
        for job in jobs {
            let queue = client.run("squeue", ["-h", "-r", "-j", job.id, "-o", "%i|%T"])
            if queue.status == 0 { parse(queue.standardOutput, into: &states) }
        }
        let byJob = Dictionary(uniqueKeysWithValues: jobs.map { ($0.id, $0) })
        return states.keys.sorted { taskOrder($0) < taskOrder($1) }.map { task in
            let parts = task.split(separator: "_")
            var runID: String?
            if parts.count == 2, let job = byJob[String(parts[0])], let index = Int(parts[1]), job.runs.indices.contains(index) {
                runID = job.runs[index]
            }
            return TaskState(task: task, runID: runID, state: states[task]!)
        }
    }

    /// Runs of recorded jobs whose array task is still pending or running.
    public func queuedRuns(client: SlurmClient) throws(SweepError) -> Set<String> {
        let states = taskStates(try jobs(), client: client)
        return Set(states.filter { ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED"].contains($0.state) }
            .compactMap(\.runID))
    }

    /// `scancel` on every recorded job (a job that already ended is no error); returns the ids.
    public func cancelAll(client: SlurmClient) throws(SweepError) -> [String] {
        let ids = try jobs().map(\.id)
        guard !ids.isEmpty else { return [] }
        let output = client.run("scancel", ids)
        guard output.status == 0 else {
            throw .slurmCommandFailed(
                command: "scancel " + ids.joined(separator: " "), status: output.status,
                output: output.standardError.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return ids
    }

    /// Reads `TASK|STATE` lines; a pending array's compressed task range (`12_[0-3%2]`) is
    /// expanded with `-r` already, so only single tasks remain.
    private func parse(_ text: String, into states: inout [String: String]) {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false)
            guard fields.count >= 2, fields[0].contains("_"), !fields[0].contains("[") else { continue }
            // sacct states can carry a reason ("CANCELLED by 0").
            states[String(fields[0])] = String(fields[1].split(separator: " ").first ?? "")
        }
    }

    private func taskOrder(_ task: String) -> (Int, Int) {
        let parts = task.split(separator: "_")
        return (Int(parts.first ?? "") ?? 0, Int(parts.dropFirst().first ?? "") ?? 0)
    }
}
