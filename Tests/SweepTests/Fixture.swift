import Foundation
import Training

@testable import Sweep

/// A temporary folder with a fake `userdp` (a shell script standing in for `userdp train`),
/// a ledger file where every child start appends "RUN_ID PID", and a gate.
///
/// The fake child reads its behaviour from the config's `dataset`:
/// - `ok`: writes log, then result.json (atomically) after `FAKE_SLEEP` seconds; its test
///   perplexity is 10 + seed + k;
/// - `fail`: prints "error: dataset is broken" and exits with status 3;
/// - `coded-fail`: writes `trainer-failure.json` (as `userdp train` does) naming its run folder,
///   prints a line that differs per process and exits with status 1;
/// - `crash-once`: the first attempt kills itself with SIGKILL, later attempts succeed;
/// - `bad-result`: writes a result.json that does not follow the RunResult schema;
/// - `slow`: sleeps `FAKE_SLOW` seconds (default 600) first, to be interrupted by the test.
///
/// With `FAKE_GATE` set to `gate.path`, every child waits after its log line until the test
/// calls `openGate()`: tests decide when runs may finish instead of guessing how long things
/// take on a loaded machine. A waiting child gives up when the fixture folder is removed.
final class Fixture {
    let directory: URL
    let trainer: URL
    let ledger: URL
    let results: URL
    let gate: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sweep-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        trainer = directory.appendingPathComponent("fake-userdp")
        ledger = directory.appendingPathComponent("ledger")
        results = directory.appendingPathComponent("results")
        gate = directory.appendingPathComponent("gate")
        try Fixture.script.write(to: trainer, atomically: true, encoding: .utf8)
        chmod(trainer.path, 0o755)
        _ = FileManager.default.createFile(atPath: ledger.path, contents: nil)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    static let script = #"""
        #!/bin/sh
        [ "$1" = train ] && [ "$2" = --config ] && [ "$4" = --out ] || { echo "unexpected arguments: $*" >&2; exit 64; }
        config=$3; out=$5; id=$(basename "$out")
        echo "$id $$" >> "$FAKE_LEDGER"
        dataset=$(sed -n 's/.*"dataset": "\([^"]*\)".*/\1/p' "$config")
        seed=$(sed -n 's/.*"seed": \([0-9]*\).*/\1/p' "$config")
        k=$(sed -n 's/.*"k": \([0-9]*\).*/\1/p' "$config")
        echo "training $id dataset=$dataset threads=$OPENBLAS_NUM_THREADS cache=$USERDP_CALIBRATION_CACHE run=$USERDP_RUN_ID dispatcher=$USERDP_DISPATCHER_PID"
        echo "log of $id" > "$out/log"
        if [ -n "$FAKE_GATE" ]; then
          while [ ! -e "$FAKE_GATE" ]; do [ -d "${FAKE_GATE%/*}" ] || exit 75; sleep 0.05; done
        fi
        case "$dataset" in
          fail) echo "error: dataset is broken"; exit 3 ;;
          coded-fail) printf '{"version": 1, "code": "UserDataError.datasetNotFound", "message": "dataset %s/data not found"}' "$out" > "$out/trainer-failure.json"
            echo "a last line that differs: $$"; exit 1 ;;
          crash-once) if [ ! -e "$out/crashed-once" ]; then touch "$out/crashed-once"; kill -9 $$; fi ;;
          slow) sleep "${FAKE_SLOW:-600}" ;;
          bad-result) echo '{"test_perplexity": 1}' > "$out/result.json"; exit 0 ;;
        esac
        sleep "${FAKE_SLEEP:-0}"
        cat > "$out/.result.tmp" <<EOF
        {"config": $(cat "$config"), "test_perplexity": $((10 + seed + k)), "validation_perplexity": $((20 + seed)),
         "epsilon": 1, "delta": 1e-5, "noise_multiplier": 1.5, "sampling_rate": 0.125, "steps": 1, "dp_event": null,
         "units_per_step_mean": 3, "wall_seconds": 0.25, "tokens_per_second": 100, "extra": {"halted": 0},
         "provenance": {"git_commit": "abc", "git_dirty": false, "git_diff_hash": null, "toolchain": "sh",
                        "openblas_core": "none", "blas_threads": $OPENBLAS_NUM_THREADS, "host": "test"}}
        EOF
        mv "$out/.result.tmp" "$out/result.json"
        """#

    /// Lets every waiting child (and every later one) go on.
    func openGate() {
        _ = FileManager.default.createFile(atPath: gate.path, contents: nil)
    }

    /// A sweep definition from JSON text.
    func definition(_ text: String, name: String = "t") throws -> SweepDefinition {
        try SweepDefinition(data: Data(text.utf8), file: "\(name).json", defaultName: name)
    }

    func store(_ plan: SweepPlan, label: String = "L") -> ResultStore {
        ResultStore(results: results, sweep: plan.name, label: label)
    }

    /// Options for fast tests: short polls, the fake trainer, FAKE_* variables.
    func options(jobs: Int = 2, sleep: Double = 0, environment: [String: String] = [:]) -> DispatchOptions {
        var options = DispatchOptions(jobs: jobs, trainer: trainer)
        options.pollInterval = 0.02
        options.heartbeatInterval = 0.2
        options.cores = 4
        options.environment = ["PATH": "/usr/bin:/bin", "FAKE_LEDGER": ledger.path, "FAKE_SLEEP": String(sleep)].merging(environment) { $1 }
        return options
    }

    /// Run ids in the ledger, in start order.
    func ledgerIDs() -> [String] {
        ((try? String(contentsOf: ledger, encoding: .utf8)) ?? "").split(separator: "\n").map { String($0.split(separator: " ")[0]) }
    }

    /// Process ids in the ledger, in start order.
    func ledgerPIDs() -> [Int32] {
        ((try? String(contentsOf: ledger, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Int32($0.split(separator: " ")[1]) }
    }
}

/// Collects dispatch events (the dispatcher calls back on its own thread only).
final class EventLog {
    var events: [DispatchEvent] = []
    func record(_ event: DispatchEvent) { events.append(event) }

    var notes: [String] {
        events.compactMap { if case .note(let text) = $0 { text } else { nil } }
    }
    var failures: [(String, Int, String, Bool)] {
        events.compactMap { if case .failed(let id, _, let attempt, let reason, let retry) = $0 { (id, attempt, reason, retry) } else { nil } }
    }
    var reclaimed: [String] {
        events.compactMap { if case .reclaimed(let id, _) = $0 { id } else { nil } }
    }
}

/// Dispatchers on threads of their own, like several `sweep run` processes in one.
///
/// Not Swift tasks: a blocking dispatcher on the cooperative pool (as many threads as cores)
/// could wait behind other tests' blocking work, or starve it, on a loaded 2-core machine.
struct DispatcherThreads {
    private let results: AsyncStream<Result<DispatchSummary, SweepError>>
    private let sink: AsyncStream<Result<DispatchSummary, SweepError>>.Continuation
    private var started = 0

    init() {
        (results, sink) = AsyncStream.makeStream(of: Result<DispatchSummary, SweepError>.self)
    }

    /// Starts a dispatcher of `plan` into `store` on a new thread.
    mutating func start(_ plan: SweepPlan, _ store: ResultStore, _ options: DispatchOptions) {
        let sink = self.sink
        Thread {
            sink.yield(Result { () throws(SweepError) in try Dispatcher(plan: plan, definition: nil, store: store, options: options).run() })
        }.start()
        started += 1
    }

    /// Waits for every started dispatcher and returns their summaries (in the order they ended).
    func summaries() async throws -> [DispatchSummary] {
        var summaries: [DispatchSummary] = []
        for await result in results {
            summaries.append(try result.get())
            if summaries.count == started { break }
        }
        return summaries
    }
}

/// Waits until `condition` holds or `timeout` seconds pass; returns whether it held. Tests
/// wait on conditions, never on durations; timeouts are generous (minutes) because a loaded
/// 2-core CI machine can stall a process for many seconds.
func waitUntil(timeout: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return condition()
}
