import Foundation
import Persistence

/// Resources and accounting of a Slurm submission (`sweep run --launcher slurm`): each becomes
/// an `#SBATCH` line of the script.
public struct SlurmOptions: Sendable, Equatable {
    /// `--partition`.
    public var partition: String?
    /// `--time` (Slurm's format: `MM`, `HH:MM:SS`, `D-HH`...), per array task.
    public var time: String?
    /// `--mem` (`8G`), per array task.
    public var memory: String?
    /// `--cpus-per-task`; the trainer's BLAS threads follow it (`SLURM_CPUS_PER_TASK`).
    public var cpusPerTask: Int = 1
    /// Array tasks running at once (the `%N` of `--array`); nil: as many as Slurm allows.
    public var arrayLimit: Int?
    /// `--account`.
    public var account: String?
    /// `--qos`.
    public var qos: String?
    /// Further sbatch options, each written as one `#SBATCH` line as given (`--gres=gpu:1`).
    public var extraArguments: [String] = []
    /// Also submit a job that depends on the array (`afterany`) and renders the label's table
    /// and status into the label folder when the array has ended.
    public var thenTable = false

    /// Defaults: one CPU per task, no other requests.
    public init() {}
}

/// A job array that runs the missing runs of a sweep label on Slurm, one run per array task.
///
/// Not a second dispatcher: array task i reads line i+1 of the submission's manifest (a run id)
/// and runs `userdp sweep run SWEEP --label L --launcher local --jobs 1 --only ID`, a local
/// dispatcher restricted to that run, so claims, retries, the no-orphan protocol, resume and the
/// results layout are those of local dispatch. A task cancelled by `scancel`, its time limit or
/// preemption gets SIGTERM (the dispatcher stops its trainer and releases the claim) and later
/// SIGKILL (the claim goes stale with the processes); either way only that run is lost, and a
/// resubmission, which submits the runs without result that no queued task or live claim
/// covers, redoes it.
///
/// Files, under `LABEL/slurm/`: `submit-N.sbatch` (the script), `submit-N.runs` (its
/// manifest), `submit-N-JOB_TASK.out` (each task's output), `jobs.json` (`SlurmJobBook`).
public struct SlurmSubmission: Sendable, Equatable {
    /// The run ids, in array-task order.
    public var runs: [String]
    /// The submission's number in this label (1, 2, ...).
    public var number: Int
    /// The script text.
    public var script: String
    /// Where the script goes.
    public var scriptURL: URL
    /// Where the manifest goes.
    public var manifestURL: URL
    /// The dependent job's script (`SlurmOptions.thenTable`), or nil: after the array ends,
    /// however its tasks ended, it renders the label's table into `LABEL/table.md` and its status
    /// into `LABEL/status.txt`.
    public var tableScript: String?
    /// Where the dependent job's script goes.
    public var tableScriptURL: URL

    /// Plans a submission of `runs` (normally `SlurmSubmission.runsToSubmit`).
    ///
    /// - Parameters:
    ///   - sweepFile: the sweep file the tasks load (made absolute here).
    ///   - userdp: the `userdp` executable the tasks run (on the shared filesystem).
    ///   - directory: the tasks' working directory (relative dataset and model paths resolve
    ///     from it, as they did here).
    ///   - dispatch: further `sweep run` options for the tasks (`--retries 1`, ...).
    public init(
        runs: [String], store: ResultStore, sweepFile: String, userdp: URL, directory: URL, options: SlurmOptions,
        dispatch: [String] = [], number: Int
    ) {
        self.runs = runs
        self.number = number
        let folder = SlurmJobBook(store: store).directory
        scriptURL = folder.appendingPathComponent("submit-\(number).sbatch")
        manifestURL = folder.appendingPathComponent("submit-\(number).runs")
        let sweepPath = (sweepFile.hasPrefix("/") ? URL(fileURLWithPath: sweepFile) : directory.appendingPathComponent(sweepFile))
            .standardizedFileURL.path
        var lines = [
            "#!/bin/bash",
            "# userdp sweep \(store.sweepDirectory.lastPathComponent), label \(store.root.lastPathComponent): "
                + "submission \(number), \(runs.count) run(s) as a Slurm job array.",
            "# Array task i runs the run id on line i+1 of \(manifestURL.lastPathComponent) through a local",
            "# dispatcher (same claims, retries, resume and results layout as `userdp sweep run`).",
            "#SBATCH --job-name=userdp-\(store.sweepDirectory.lastPathComponent)",
            "#SBATCH --array=0-\(max(0, runs.count - 1))" + (options.arrayLimit.map { "%\($0)" } ?? ""),
            "#SBATCH --cpus-per-task=\(options.cpusPerTask)",
        ]
        let requests: [(String, String?)] = [
            ("partition", options.partition), ("time", options.time), ("mem", options.memory), ("account", options.account),
            ("qos", options.qos),
        ]
        for case let (name, value?) in requests { lines.append("#SBATCH --\(name)=\(value)") }
        lines.append("#SBATCH --chdir=\(directory.standardizedFileURL.path)")
        lines.append("#SBATCH --output=\(folder.path)/submit-\(number)-%A_%a.out")
        for argument in options.extraArguments { lines.append("#SBATCH \(argument)") }
        let command = [
            userdp.path, "sweep", "run", sweepPath, "--results", store.sweepDirectory.deletingLastPathComponent().path, "--label", store.root.lastPathComponent,
            "--launcher", "local", "--jobs", "1",
        ].map(shellQuoted).joined(separator: " ")
        lines += [
            "set -eu",
            "run_id=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" \(shellQuoted(manifestURL.path)))",
            "[ -n \"$run_id\" ] || { echo \"no run for array task $SLURM_ARRAY_TASK_ID\" >&2; exit 1; }",
            "# The trainer's BLAS threads follow the CPUs Slurm gave this task.",
            "export USERDP_BLAS_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\" OPENBLAS_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"",
            "# exec: scancel's and the time limit's SIGTERM reach the dispatcher itself.",
            "exec \(command) --only \"$run_id\"" + dispatch.map { " " + shellQuoted($0) }.joined(),
        ]
        script = lines.joined(separator: "\n") + "\n"

        tableScriptURL = folder.appendingPathComponent("submit-\(number)-table.sbatch")
        if options.thenTable {
            let results = store.sweepDirectory.deletingLastPathComponent().path
            let label = store.root.lastPathComponent
            let table = [userdp.path, "sweep", "table", sweepPath, "--results", results, "--label", label, "--output", store.root.appendingPathComponent("table.md").path]
            let status = [userdp.path, "sweep", "status", sweepPath, "--results", results, "--label", label]
            var tableLines = [
                "#!/bin/bash",
                "# userdp sweep \(store.sweepDirectory.lastPathComponent), label \(label): renders the table and the status once",
                "# job array \(number) has ended (submitted with --dependency=afterany:<array job>).",
                "#SBATCH --job-name=userdp-\(store.sweepDirectory.lastPathComponent)-table",
                "#SBATCH --cpus-per-task=1",
                "#SBATCH --chdir=\(directory.standardizedFileURL.path)",
                "#SBATCH --output=\(folder.path)/submit-\(number)-table-%j.out",
            ]
            for case let (name, value?) in [("partition", options.partition), ("account", options.account), ("qos", options.qos)] {
                tableLines.append("#SBATCH --\(name)=\(value)")
            }
            tableLines += [
                "set -u",
                table.map(shellQuoted).joined(separator: " "),
                status.map(shellQuoted).joined(separator: " ") + " > " + shellQuoted(store.root.appendingPathComponent("status.txt").path),
            ]
            tableScript = tableLines.joined(separator: "\n") + "\n"
        } else {
            tableScript = nil
        }
    }

    /// The runs a new submission should cover: every planned run without a usable result that
    /// neither a live claim nor a queued task of a recorded job (`queued`) covers.
    public static func runsToSubmit(plan: SweepPlan, store: ResultStore, staleAfter: TimeInterval, queued: Set<String>) -> [String] {
        let status = SweepStatus(plan: plan, store: store, staleAfter: staleAfter, lines: 0)
        let covered = Set(status.done).union(status.running.map(\.id)).union(queued)
        return plan.runs.map(\.id).filter { !covered.contains($0) }
    }

    /// Writes the script and the manifest.
    public func write() throws(SweepError) {
        do {
            try FileManager.default.createDirectory(at: scriptURL.deletingLastPathComponent(), withIntermediateDirectories: true)
            try AtomicFile.write(Data(runs.map { $0 + "\n" }.joined().utf8), to: manifestURL)
            try AtomicFile.write(Data(script.utf8), to: scriptURL)
            if let tableScript { try AtomicFile.write(Data(tableScript.utf8), to: tableScriptURL) }
        } catch {
            throw .storage(path: scriptURL.path, reason: "cannot write the Slurm script: \(error.localizedDescription)")
        }
    }

    /// Submits the written script with `sbatch --parsable` and returns the job id.
    public func submit(client: SlurmClient) throws(SweepError) -> String {
        try sbatch(client: client, [scriptURL.path])
    }

    /// Submits the dependent table job to start after array job `arrayJob` ends (`afterany`:
    /// also when tasks failed or were cancelled, so the table shows what finished). Returns its
    /// job id, or nil without a table script.
    public func submitTable(client: SlurmClient, after arrayJob: String) throws(SweepError) -> String? {
        guard tableScript != nil else { return nil }
        return try sbatch(client: client, ["--dependency=afterany:\(arrayJob)", tableScriptURL.path])
    }

    /// `sbatch --parsable ARGUMENTS`, returning the job id it prints ("JOBID" or "JOBID;CLUSTER").
    private func sbatch(client: SlurmClient, _ arguments: [String]) throws(SweepError) -> String {
        let output = client.run("sbatch", ["--parsable"] + arguments)
        let id = output.standardOutput.split(separator: "\n").last.map { String($0.split(separator: ";")[0]) } ?? ""
        guard output.status == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw .slurmCommandFailed(
                command: (["sbatch", "--parsable"] + arguments).joined(separator: " "), status: output.status,
                output: (output.standardError + output.standardOutput).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return id
    }
}

/// A word for a POSIX shell: as it is when it is plain, else in single quotes.
func shellQuoted(_ word: String) -> String {
    let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=,%+@".contains($0) }
    if plain && !word.isEmpty { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
