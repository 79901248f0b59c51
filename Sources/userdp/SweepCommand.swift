import ArgumentParser
import Foundation
import Sweep
import Training
import Persistence

/// `userdp sweep ...`: run, inspect, tabulate and diff grids of experiments (docs/SWEEPS.md).
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run, inspect, tabulate and diff grids of experiments.",
        discussion: "See docs/SWEEPS.md for the sweep file format and the results layout.",
        subcommands: [
            SweepRunCommand.self, SweepStatusCommand.self, SweepTableCommand.self, SweepDiffCommand.self, SweepLabelCommand.self,
            SweepMigrateCommand.self, SweepCancelCommand.self, SweepNamesCommand.self, SweepPinCommand.self,
        ]
    )
}

/// Where results live and which label; shared by the subcommands.
struct ResultsOptions: ParsableArguments {
    @Option(name: .long, help: "Results folder.")
    var results: String = "results"

    @Option(name: .long, help: "Result label (default: userdp's own version and commit, e.g. 0.2.0-abc1234, with -dirty when userdp's source tree is modified).")
    var label: String?

    /// The explicit label or userdp's own version label (never the caller's directory).
    func resolvedLabel() throws -> String {
        let label = label ?? UserDPVersion.label
        guard SweepDefinition.isValidName(label) else {
            throw ValidationError("--label \"\(label)\": use letters, digits, '.', '_' and '-'")
        }
        return label
    }

    func store(for plan: SweepPlan) throws -> ResultStore {
        ResultStore(results: URL(fileURLWithPath: results), sweep: plan.name, label: try resolvedLabel())
    }
}

// MARK: - label

/// `userdp sweep label`: the label results would go under, for scripts that run several
/// commands on one sweep (the tree may change between them, and with it the default label).
struct SweepLabelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Print the result label the other sweep commands would use here.",
        discussion: """
            userdp's version and the short commit of the source tree it was built from (with \
            -dirty when that tree has changes; VERSION-nogit outside git), or --label when given. Pin it for a sequence of commands, e.g. \
            label=$(userdp sweep label); userdp sweep run S --label $label; userdp sweep table S --label $label
            """)

    @OptionGroup var location: ResultsOptions

    func run() throws {
        print(try location.resolvedLabel())
    }
}

/// Loads and expands a sweep file with run ids over the content of its datasets and models,
/// printing expansion warnings and (unless the caller reports them itself, as the dry run's
/// pre-flight does) inputs that cannot be read.
func loadPlan(_ path: String, allowLargeGrid: Bool = false, warnUnresolved: Bool = true) throws -> (SweepDefinition, SweepPlan) {
    let definition = try SweepDefinition(contentsOf: URL(fileURLWithPath: path))
    let plan = try definition.plan(inputs: InputFingerprintResolver(), allowLargeGrid: allowLargeGrid)
    for warning in plan.warnings { printError("warning: \(path): \(warning)") }
    for input in plan.unresolvedInputs where warnUnresolved {
        printError("warning: \(path): cannot read \(input); its runs' ids leave out input hashes and the runs will fail")
    }
    return (definition, plan)
}

// MARK: - run

struct SweepRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run every missing run of a sweep as child `userdp train` processes.",
        discussion: """
            Results go to RESULTS/NAME/LABEL/runs/<id>/ and RESULTS/NAME/LABEL/results.csv. Re-running \
            the same command resumes: finished runs are skipped, unfinished ones redone. Several \
            `sweep run` processes (on one machine or several sharing the folder) split the work. \
            Ctrl-C stops dispatching and terminates the children (twice: kills them); after kill -9 \
            of the dispatcher its children stop by themselves within a second. Children get \
            OPENBLAS_NUM_THREADS = cores / jobs (unless set), USERDP_CALIBRATION_CACHE, USERDP_RUN_ID \
            and USERDP_DISPATCHER_PID/_START; USERDP_TRAIN_EXECUTABLE overrides the executable they run.
            """
    )

    @Argument(help: "The sweep file (sweeps/NAME.json).")
    var sweep: String

    @Option(name: .shortAndLong, help: "Child processes at once (default: the number of cores).")
    var jobs: Int?

    @OptionGroup var location: ResultsOptions

    @Option(help: "Extra attempts for runs killed by a signal or out of memory.")
    var retries: Int = 1

    @Flag(help: "Dispatch runs in random order (spreads several dispatchers over the grid).")
    var shuffle = false

    @Option(help: "Seconds after which a claim from another host without heartbeat is taken over.")
    var staleAfter: Double = 120

    @Option(help: "Stop dispatching when the same error ended this many runs.")
    var failFastAfter: Int = 3

    @Flag(help: "Print the planned runs and exit.")
    var dryRun = false

    @Flag(help: "Replace the label's stored sweep.json when the sweep file changed since it was run there; plan grids above 100,000 points; run despite pre-flight problems.")
    var force = false

    @Option(help: "Where runs train: local (child processes here) or slurm (submit a job array; docs/CLUSTER.md).")
    var launcher: LauncherKind = .local

    @Option(help: ArgumentHelp("Dispatch only this run id (repeatable); results.csv still covers the whole sweep. Slurm array tasks use it.", visibility: .hidden))
    var only: [String] = []

    @OptionGroup(title: "Slurm (with --launcher slurm)") var slurm: SlurmFlags

    func validate() throws {
        if launcher != .slurm, let flag = slurm.givenFlag { throw ValidationError("\(flag) needs --launcher slurm") }
        if launcher == .slurm, !only.isEmpty { throw ValidationError("--only is for local dispatch (Slurm array tasks)") }
        if launcher == .slurm, jobs != nil { throw ValidationError("--jobs is for local dispatch; with --launcher slurm each array task runs one run (--array-limit caps tasks at once)") }
        if launcher == .slurm, shuffle { throw ValidationError("--shuffle is for local dispatch; array tasks take the runs in manifest order") }
        try slurm.validate()
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if retries < 0 { throw ValidationError("--retries must be at least 0") }
        if failFastAfter < 1 { throw ValidationError("--fail-fast-after must be at least 1") }
        if staleAfter <= 0 { throw ValidationError("--stale-after must be positive") }
    }

    func run() throws {
        let (definition, plan) = try loadPlan(sweep, allowLargeGrid: force, warnUnresolved: !dryRun)
        let store = try location.store(for: plan)
        let facts = InputFactsMemo()
        let problems = SweepPreflight.check(plan: plan, reportUnreadable: dryRun, facts: facts.callAsFunction)
        let jobCount = jobs ?? ProcessInfo.processInfo.activeProcessorCount
        if let pin = try store.pin(), !pin.acceptsThisBuild() {
            let error = SweepError.labelPinned(path: store.root.appendingPathComponent(LabelPin.fileName).path, pinned: pin.shortList, this: LabelPin.thisBuild)
            guard dryRun else { throw error }
            printError("warning: \(error.localizedDescription)")
        }
        if launcher == .slurm {
            try submitToSlurm(definition: definition, plan: plan, store: store, problems: problems.map(\.description))
            return
        }
        if dryRun {
            try printDryRun(definition: definition, plan: plan, store: store, problems: problems.map(\.description), jobs: jobCount, facts: facts)
            return
        }
        if !problems.isEmpty {
            let error = SweepError.preflightFailed(file: sweep, problems: problems.map(\.description))
            guard force else { throw error }
            printError("warning: \(error.localizedDescription)")
        }

        var options = DispatchOptions(jobs: jobCount, trainer: DispatchOptions.defaultTrainer())
        options.retries = retries
        options.shuffle = shuffle
        options.staleAfter = staleAfter
        options.failFastAfter = failFastAfter
        options.handleSignals = true
        options.replaceDefinition = force
        if !only.isEmpty {
            let planned = Set(plan.runs.map(\.id))
            if let unknown = only.first(where: { !planned.contains($0) }) {
                throw ValidationError("--only \(unknown): not a run of \(sweep) (see `userdp sweep run \(sweep) --dry-run` for its run ids)")
            }
            options.only = Set(only)
        }
        printError("sweep \(plan.name): \(plan.runs.count) runs, \(options.jobs) at once → \(store.root.path)")

        let progress = ProgressPrinter(live: isatty(STDERR_FILENO) == 1)
        let summary = try Dispatcher(plan: plan, definition: definition, store: store, options: options, report: progress.handle).run()
        progress.finish()

        let total = "\(summary.finished.count) finished now, \(summary.alreadyDone) earlier, \(summary.failed.count) failed, \(summary.unfinished.count) without result, \(formatDuration(summary.seconds))"
        printError("sweep \(plan.name): \(total)")
        print(store.resultsCSV.path)
        switch summary.stop {
        case .interrupted:
            let considered = options.only?.count ?? plan.runs.count
            printError(SweepError.interrupted(finished: considered - summary.unfinished.count, remaining: summary.unfinished.count).errorDescription!)
            throw ExitCode(130)
        case .failFast(let error, let runs):
            throw SweepError.failFast(error: error, runs: runs)
        case .completed:
            if !summary.failed.isEmpty { throw SweepError.runsFailed(ids: summary.failed) }
        }
    }

    /// `--launcher slurm`: writes the job array script for the runs still to do and submits it
    /// (with --dry-run: prints it and submits nothing).
    /// `--dry-run`: the planned runs (marked done where a usable result exists), the wall-time
    /// estimate, σ per distinct privacy setting (calibrated into the sweep's shared cache, so the
    /// runs reuse it) and the pre-flight problems, a target no σ meets among them; throws when
    /// there is any problem.
    private func printDryRun(
        definition: SweepDefinition, plan: SweepPlan, store: ResultStore, problems: [String], jobs jobCount: Int,
        facts: InputFactsMemo
    ) throws {
        print("\(plan.runs.count) runs → \(store.root.path)")
        print("runs per mechanism: " + plan.runsPerMechanism.map { "\($0.mechanism.rawValue) \($0.runs)" }.joined(separator: ", "))
        for note in plan.notes { print("note: \(note)") }
        do { try store.checkDefinitionUnchanged(definition) } catch {
            print("warning: \(error.localizedDescription)")
        }
        for run in plan.runs {
            let done = store.hasResult(run.id) && store.unusableReason(run) == nil
            print("\(run.id) \(run.describe(axes: plan.axes))\(done ? " (done)" : "")")
        }
        let elsewhere = SweepPreflight.finishedWallSeconds(under: store.sweepDirectory.deletingLastPathComponent())
        let estimate = SweepPreflight.estimate(plan: plan, store: store, jobs: jobCount, elsewhere: elsewhere)
        if let seconds = estimate.seconds {
            let basis = estimate.fromElsewhere > 0 ? " (\(estimate.fromElsewhere) of them timed by finished runs of their shape in other sweeps or labels)" : ""
            print("estimated wall time of the unfinished runs at \(jobCount) at once: \(formatDuration(seconds))\(basis)"
                + (estimate.withoutBasis > 0 ? " plus \(estimate.withoutBasis) run(s) of shapes not run yet" : ""))
        } else if estimate.withoutBasis > 0 {
            print("no estimate of wall time: no finished run has the shape of the \(estimate.withoutBasis) unfinished run(s)")
        }
        // σ per distinct privacy setting, calibrated into the sweep's shared cache, so the
        // runs reuse it; a target no σ meets is a problem like the others.
        var allProblems = problems
        let settings = SweepPreflight.privacySettings(plan: plan, facts: facts.callAsFunction, calibrate: { config, population in
            try NoisePreview.sigma(config: config, population: population, calibrationDirectory: store.calibrationDirectory)
        })
        for setting in settings {
            switch setting.sigma {
            case .success(let sigma):
                print("σ = \(String(format: "%.4f", sigma)) for \(setting.description) (\(setting.runs.count) run\(setting.runs.count == 1 ? "" : "s"))")
            case .failure(let failure):
                allProblems.append("\(setting.description): calibration fails: \(failure.message) (\(setting.runs.count) runs)")
            }
        }
        if !allProblems.isEmpty {
            throw SweepError.preflightFailed(file: sweep, problems: allProblems)
        }
        print("pre-flight: no problems found")
    }

    func submitToSlurm(definition: SweepDefinition, plan: SweepPlan, store: ResultStore, problems: [String]) throws {
        if !problems.isEmpty {
            let error = SweepError.preflightFailed(file: sweep, problems: problems)
            guard force || dryRun else { throw error }
            printError("warning: \(error.localizedDescription)")
        }
        if !force {
            do { try store.checkDefinitionUnchanged(definition) } catch {
                guard dryRun else { throw error }
                printError("warning: \(error.localizedDescription)")
            }
        }
        let client = SlurmClient()
        let book = SlurmJobBook(store: store)
        let queued = try book.queuedRuns(client: client)
        let runs = SlurmSubmission.runsToSubmit(plan: plan, store: store, staleAfter: staleAfter, queued: queued)
        guard !runs.isEmpty else {
            printError("sweep \(plan.name): nothing to submit: every run has a result, a live claim or a queued Slurm task")
            return
        }
        var dispatch = ["--retries", String(retries), "--stale-after", formatNumber(staleAfter), "--fail-fast-after", String(failFastAfter)]
        if force { dispatch.append("--force") }
        let submission = SlurmSubmission(
            runs: runs, store: store, sweepFile: sweep, userdp: DispatchOptions.defaultTrainer(environment: [:]),
            directory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath), options: slurm.options, dispatch: dispatch,
            number: try book.nextSubmission())
        if dryRun {
            print(submission.script, terminator: "")
            if let tableScript = submission.tableScript { print("\n# then, after the array (--dependency=afterany):\n" + tableScript, terminator: "") }
            printError("sweep \(plan.name): \(runs.count) of \(plan.runs.count) runs would be submitted as \(submission.scriptURL.path); nothing submitted (--dry-run)")
            return
        }
        try store.prepare(definition: definition, replacing: force)
        try submission.write()
        let id = try submission.submit(client: client)
        try book.record(SlurmJobBook.Job(id: id, submission: submission.number, runs: runs, submittedAt: Date().timeIntervalSince1970.rounded()))
        printError("sweep \(plan.name): submitted Slurm job \(id): \(runs.count) of \(plan.runs.count) runs, script \(submission.scriptURL.path)")
        if let tableJob = try submission.submitTable(client: client, after: id) {
            printError("sweep \(plan.name): submitted Slurm job \(tableJob): the table and status into \(store.root.path) when job \(id) ends")
        }
        print(id)
    }
}

/// A number without a trailing `.0` when integral (`120`, `0.5`).
func formatNumber(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}

/// Where `sweep run` trains.
enum LauncherKind: String, ExpressibleByArgument, CaseIterable {
    case local, slurm
}

/// `sweep run --launcher slurm` resources (docs/CLUSTER.md).
struct SlurmFlags: ParsableArguments {
    @Option(help: "Slurm partition.") var partition: String?
    @Option(help: "Time limit per array task (Slurm format, e.g. 2:00:00).") var time: String?
    @Option(help: "Memory per array task (e.g. 8G).") var mem: String?
    @Option(help: "CPUs per array task; the trainer uses as many BLAS threads.") var cpusPerTask: Int?
    @Option(help: "Array tasks running at once (the %N of --array).") var arrayLimit: Int?
    @Option(help: "Slurm account.") var account: String?
    @Option(help: "Slurm QOS.") var qos: String?
    @Option(help: "A further sbatch option, written as an #SBATCH line (repeatable), e.g. --sbatch-arg=--gres=gpu:1.") var sbatchArg: [String] = []
    @Flag(help: "Also submit a job that runs when the array has ended and writes the label's table.md and status.txt.") var thenTable = false

    func validate() throws {
        if let cpusPerTask, cpusPerTask < 1 { throw ValidationError("--cpus-per-task must be at least 1") }
        if let arrayLimit, arrayLimit < 1 { throw ValidationError("--array-limit must be at least 1") }
    }

    /// The first Slurm flag given, for the message when --launcher slurm is missing.
    var givenFlag: String? {
        let given: [(String, Bool)] = [
            ("--partition", partition != nil), ("--time", time != nil), ("--mem", mem != nil), ("--cpus-per-task", cpusPerTask != nil),
            ("--array-limit", arrayLimit != nil), ("--account", account != nil), ("--qos", qos != nil), ("--sbatch-arg", !sbatchArg.isEmpty),
            ("--then-table", thenTable),
        ]
        return given.first { $0.1 }?.0
    }

    var options: SlurmOptions {
        var options = SlurmOptions()
        options.partition = partition
        options.time = time
        options.memory = mem
        options.cpusPerTask = cpusPerTask ?? 1
        options.arrayLimit = arrayLimit
        options.account = account
        options.qos = qos
        options.extraArguments = sbatchArg
        options.thenTable = thenTable
        return options
    }
}

/// Prints dispatch events: on a terminal one carriage-return progress line with event lines
/// above it; otherwise plain lines.
final class ProgressPrinter {
    let live: Bool
    var lastLine = ""
    var lastCounts = (-1, -1)

    init(live: Bool) { self.live = live }

    func handle(_ event: DispatchEvent) {
        switch event {
        case .started(let id, let point, let attempt):
            line("start  \(id) \(point)" + (attempt > 1 ? " (attempt \(attempt))" : ""))
        case .finished(let id, let point, let seconds):
            line("done   \(id) \(point) in \(formatDuration(seconds))")
        case .failed(let id, let point, let attempt, let reason, let willRetry):
            line("FAILED \(id) \(point) attempt \(attempt): \(reason)" + (willRetry ? "; retrying" : ""))
        case .reclaimed(let id, let from):
            line("reclaim \(id) from \(from) (stale claim)")
        case .note(let text):
            line(text)
        case .progress(let progress):
            let text = progressText(progress)
            if live {
                lastLine = text
                FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
            } else if (progress.done, progress.failed) != lastCounts {
                // Plain output: a progress line only when a run finished or failed.
                lastCounts = (progress.done, progress.failed)
                printError(text)
            }
        }
    }

    /// An event line, above the live progress line.
    func line(_ text: String) {
        if live {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(text)\n\(lastLine)".utf8))
        } else {
            printError(text)
        }
    }

    func finish() {
        if live { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

// MARK: - status

struct SweepStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Counts of done, running, failed and missing runs; failed runs with their last log lines."
    )

    @Argument(help: "The sweep file.")
    var sweep: String

    @OptionGroup var location: ResultsOptions

    @Option(help: "Log lines shown per failed run.")
    var lines: Int = 5

    @Option(help: "Seconds after which a claim from another host without heartbeat counts as stale.")
    var staleAfter: Double = 120

    func run() throws {
        let (_, plan) = try loadPlan(sweep)
        let store = try location.store(for: plan)
        print("sweep \(plan.name) at \(store.root.path)")
        print(SweepStatus(plan: plan, store: store, staleAfter: staleAfter, lines: lines).render(), terminator: "")
        let book = SlurmJobBook(store: store)
        let jobs = try book.jobs()
        guard !jobs.isEmpty else { return }
        let client = SlurmClient()
        print("slurm jobs: " + jobs.map { "\($0.id) (\($0.runs.count) runs)" }.joined(separator: ", "))
        guard client.answers("squeue", ["-h", "-o", "%i", "-u", "nobody"]) else {
            print("  squeue does not answer here; job states unknown")
            return
        }
        let states = book.taskStates(jobs, client: client)
        if states.isEmpty { print("  no task in the queue (sacct, where accounting is on, keeps ended ones)") }
        for task in states {
            print("  \(task.task) \(task.state)" + (task.runID.map { " run \($0)" } ?? ""))
        }
    }
}

// MARK: - cancel

struct SweepCancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "scancel the Slurm jobs submitted for a sweep label (sweep run --launcher slurm).",
        discussion: "Each running task stops its run (it is redone by the next submission); finished runs keep their results."
    )

    @Argument(help: "The sweep file.")
    var sweep: String

    @OptionGroup var location: ResultsOptions

    func run() throws {
        let (_, plan) = try loadPlan(sweep)
        let store = try location.store(for: plan)
        let ids = try SlurmJobBook(store: store).cancelAll(client: SlurmClient())
        if ids.isEmpty {
            printError("sweep \(plan.name): no Slurm jobs recorded in \(SlurmJobBook(store: store).url.path)")
        } else {
            printError("sweep \(plan.name): scancel " + ids.joined(separator: " "))
        }
    }
}

// MARK: - table

struct SweepTableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "table",
        abstract: "Pivot results into a CSV, Markdown or LaTeX table (mean ± std over seeds).",
        discussion: """
            SOURCE is a sweep file (its results under --results/--label), a label folder, or a \
            results.csv. Every axis that varies must be placed in --rows or --cols, fixed with \
            --where, or tuned over with --select-best-by METRIC --over AXES.
            """
    )

    @Argument(help: "A sweep file, a label folder or a results.csv.")
    var source: String

    @OptionGroup var location: ResultsOptions

    @Option(help: "Comma-separated axes for the rows (default: all axes but the column axis).")
    var rows: String?

    @Option(help: "Comma-separated axes for the columns (default: epsilon if it is an axis, else the last axis).")
    var cols: String?

    @Option(help: "The metric in the cells.")
    var metric: String = "test_perplexity"

    @Option(name: .customLong("where"), help: "Keep only runs with AXIS=VALUE (repeatable).")
    var filters: [String] = []

    @Option(help: "Within each cell, keep the setting of the --over axes with the best mean of this metric.")
    var selectBestBy: String?

    @Option(help: "Comma-separated tuning axes for --select-best-by.")
    var over: String?

    @Option(help: "Output format: markdown (md), csv or latex (tex).")
    var format: TableFormat = .markdown

    @Option(help: "Digits after the decimal point, 0...12.")
    var digits: Int = 2

    @Flag(help: "Larger values of the metric are better (default: derived from its name).")
    var higherIsBetter = false

    @Option(help: "Write the table to this file (atomically) instead of standard output.")
    var output: String?

    @Flag(help: "Allow --select-best-by with a test metric (tuning on test data).")
    var force = false

    func run() throws {
        try validateDigits(digits)
        let (results, planned) = try loadResults(source, location: location)
        var request = TableRequest(rows: [], columns: [])
        request.columns = cols.map(splitAxes) ?? [results.axes.contains("epsilon") ? "epsilon" : results.axes.last].compactMap { $0 }
        request.rows = rows.map(splitAxes) ?? results.axes.filter { !request.columns.contains($0) && !(over.map(splitAxes) ?? []).contains($0) }
        request.metric = metric
        request.selectBy = selectBestBy
        request.over = over.map(splitAxes) ?? []
        request.digits = digits
        request.allowTestSelection = force
        if higherIsBetter { request.lowerIsBetter = false }
        for filter in filters {
            let parts = filter.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw SweepError.invalidFilter(filter) }
            request.filters[parts[0]] = parts[1]
        }
        if cols == nil, rows != nil { request.columns.removeAll { request.rows.contains($0) } }
        if rows == nil { request.rows.removeAll { request.filters.keys.contains($0) } }
        let table = try ResultTable(results: results, request: request, planned: planned)
        try emit(table.render(format), to: output)
    }
}

func splitAxes(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

/// Results from a sweep file (plus its planned cells), a label folder or a results.csv.
func loadResults(_ source: String, location: ResultsOptions) throws -> (ResultSet, [[String]]) {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) {
        let url = URL(fileURLWithPath: source)
        if isDirectory.boolValue || source.hasSuffix(".csv") {
            let folder = isDirectory.boolValue ? url : url.deletingLastPathComponent()
            let results = try ResultSet(contentsOf: isDirectory.boolValue ? url.appendingPathComponent("results.csv") : url)
            let store = ResultStore(results: folder.deletingLastPathComponent().deletingLastPathComponent(), sweep: folder.deletingLastPathComponent().lastPathComponent, label: folder.lastPathComponent)
            return (usable(results, store: store, plan: nil), storedPlannedCells(in: folder, axes: results.axes))
        }
    }
    let (_, plan) = try loadPlan(source)
    let store = try location.store(for: plan)
    return (usable(try store.results(), store: store, plan: plan), plan.runs.map(\.cell))
}

/// The rows whose result.json is still usable, warning about the others: a results.csv
/// written before a result was corrupted must not count it.
func usable(_ results: ResultSet, store: ResultStore, plan: SweepPlan?) -> ResultSet {
    let (kept, dropped) = store.usableRows(of: results, plan: plan)
    if !dropped.isEmpty {
        printError("warning: \(store.resultsCSV.path): left out \(dropped.count) run(s) whose result.json is missing or unusable now (\(dropped.joined(separator: ", "))); `sweep run` redoes them")
    }
    return kept
}

/// The planned cells of the definition stored beside a label's results (`sweep.json`), so a
/// table from a label folder shows unfinished cells and marks partially tuned ones; empty
/// when there is none or its axes differ from the results'. Cells do not depend on run ids,
/// so the inputs are not read.
func storedPlannedCells(in folder: URL, axes: [String]) -> [[String]] {
    let file = folder.appendingPathComponent("sweep.json")
    guard let data = try? Data(contentsOf: file), let definition = try? SweepDefinition(data: data, file: file.path),
        let plan = try? definition.plan(), plan.axes == axes
    else { return [] }
    return plan.runs.map(\.cell)
}

/// Prints text, or writes it atomically to a file.
func emit(_ text: String, to path: String?) throws {
    guard let path else {
        print(text, terminator: "")
        return
    }
    try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: path))
}

// MARK: - diff

struct SweepDiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two result sets cell by cell with paired seeds: mean A, mean B, Δ and a paired t-test.",
        discussion: """
            A and B are labels of the sweep given with --sweep (for example two commits), label \
            folders, or results.csv files.
            """
    )

    @Argument(help: "The baseline: a label (with --sweep), a label folder or a results.csv.")
    var a: String

    @Argument(help: "The comparison: a label (with --sweep), a label folder or a results.csv.")
    var b: String

    @Option(help: "The sweep file whose labels A and B name.")
    var sweep: String?

    @Option(help: "Results folder.")
    var results: String = "results"

    @Option(help: "The metric compared.")
    var metric: String = "test_perplexity"

    @Option(help: "Significance level for flagging Δ beyond seed noise.")
    var alpha: Double = 0.05

    @Option(help: "Output format: markdown (md), csv or latex (tex).")
    var format: TableFormat = .markdown

    @Option(help: "Digits after the decimal point, 0...12.")
    var digits: Int = 2

    @Option(help: "Write the diff to this file (atomically) instead of standard output.")
    var output: String?

    func run() throws {
        guard alpha > 0, alpha < 1 else { throw ValidationError("--alpha must be in (0, 1)") }
        try validateDigits(digits)
        let plan = try sweep.map { try loadPlan($0).1 }
        /// The side's results and its stored sweep definition (the label folder's sweep.json).
        func side(_ name: String) throws -> (ResultSet, JSONValue?) {
            func definition(in folder: URL) -> JSONValue? {
                (try? Data(contentsOf: folder.appendingPathComponent("sweep.json"))).flatMap { try? JSONValue(parsing: $0) }
            }
            if FileManager.default.fileExists(atPath: name) {
                var isDirectory: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: name, isDirectory: &isDirectory)
                let url = URL(fileURLWithPath: name)
                let folder = isDirectory.boolValue ? url : url.deletingLastPathComponent()
                let set = try ResultSet(contentsOf: isDirectory.boolValue ? url.appendingPathComponent("results.csv") : url)
                let store = ResultStore(
                    results: folder.deletingLastPathComponent().deletingLastPathComponent(), sweep: folder.deletingLastPathComponent().lastPathComponent,
                    label: folder.lastPathComponent)
                return (usable(set, store: store, plan: nil), definition(in: folder))
            }
            guard let plan else {
                throw ValidationError("\(name) is not a file or folder; to name a label, give the sweep with --sweep")
            }
            let store = ResultStore(results: URL(fileURLWithPath: results), sweep: plan.name, label: name)
            return (usable(try store.results(), store: store, plan: plan), definition(in: store.root))
        }
        let (setA, definitionA) = try side(a)
        let (setB, definitionB) = try side(b)
        var diff = try ResultDiff(a: setA, b: setB, names: (a, b), metric: metric, alpha: alpha, digits: digits)
        diff.differences = ResultDiff.describeDifferences(a: setA, b: setB, definitionA: definitionA, definitionB: definitionB)
        try emit(diff.render(format), to: output)
    }
}

// MARK: - migrate

/// `userdp sweep migrate SWEEP`: renames a label's finished runs to the current run ids.
struct SweepMigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Move a label's finished runs to the current run ids (config version 2) without rerunning them.",
        discussion: """
            Keeps a run when its result's config is a run of the sweep and the dataset and model \
            hashes it recorded match the current inputs; stale runs stay in place and are redone \
            by the next `sweep run`. Several old runs that are now one run (a nonprivate run per ε) \
            keep the first; the others move to LABEL/superseded/. See docs/SWEEPS.md.
            """)

    @Argument(help: "The sweep file.")
    var sweep: String

    @OptionGroup var location: ResultsOptions

    @Flag(help: "Print what would move and change nothing.")
    var dryRun = false

    func run() throws {
        let (definition, plan) = try loadPlan(sweep)
        let store = try location.store(for: plan)
        guard FileManager.default.fileExists(atPath: store.runsDirectory.path) else { throw SweepError.noResults(path: store.runsDirectory.path) }
        let report = try SweepMigration.migrate(plan: plan, store: store, apply: !dryRun)
        print((dryRun ? "dry run: " : "") + report.render(), terminator: "")
        // The label now holds this definition's runs: store it, so `sweep run` resumes here.
        if !dryRun {
            try store.prepare(definition: definition, replacing: true)
            print("\(store.definitionFile.path): the current sweep definition")
        }
    }
}

/// Throws unless `--digits` is in 0...12 (a negative count would reach the number formatter as
/// a malformed format string; more than 12 digits only shows float noise).
func validateDigits(_ digits: Int) throws {
    guard (0...12).contains(digits) else { throw ValidationError("--digits \(digits) is outside 0...12") }
}

/// The input facts of each (dataset, model, split seed) a sweep names, read once: the pre-flight
/// check and the dry run's σ preview ask for the same ones.
private final class InputFactsMemo {
    private var known: [String: Result<InputFacts, any Error>] = [:]

    func callAsFunction(_ config: RunConfig) -> Result<InputFacts, any Error> {
        let key = "\(config.dataset)\u{0}\(config.model)\u{0}\(config.splitSeed)"
        if let facts = known[key] { return facts }
        let facts = Result { try InputFacts.read(dataset: config.dataset, model: config.model, splitSeed: config.splitSeed) }
        known[key] = facts
        return facts
    }
}
