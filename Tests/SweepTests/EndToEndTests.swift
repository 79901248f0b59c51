import Foundation
import Testing
import Training

@testable import Sweep

/// Why the end-to-end test cannot run, or nil when it can: it needs the real `userdp train`
/// (issue 5), detected by the placeholder's "is not built yet" error, and the base model.
let endToEndBlocker: String? = {
    guard let executable = userdpExecutable else { return "the userdp executable is not built beside the tests" }
    let process = Process()
    process.executableURL = executable
    process.arguments = ["train"]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return "cannot start \(executable.path)" }
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    if output.contains("is not built yet") {
        return "skipped: `userdp train` is not built yet (issue 5); this test runs once it lands"
    }
    let model = endToEndModel
    guard FileManager.default.fileExists(atPath: model.path) else {
        return "skipped: no model at \(model.path) (set USERDP_E2E_MODEL to a small model folder)"
    }
    return nil
}()

/// The model the end-to-end grid trains: USERDP_E2E_MODEL, else the package's models/base.
let endToEndModel: URL = {
    if let path = ProcessInfo.processInfo.environment["USERDP_E2E_MODEL"], !path.isEmpty {
        return URL(fileURLWithPath: path, relativeTo: packageRoot).standardizedFileURL
    }
    return packageRoot.appendingPathComponent("models/base")
}()

@Suite("End to end with the real userdp train", .serialized)
struct EndToEndTests {
    @Test(
        "tiny grid: kill -9 the dispatcher and a child midway, resume, every cell once, results match the contract, tables render",
        .disabled(
            if: endToEndBlocker != nil,
            "skipped until `userdp train` exists (the placeholder answers 'is not built yet') and a model is found (models/base or USERDP_E2E_MODEL)"
        ))
    func killResumeTabulate() throws {
        let fixture = try Fixture()
        // sweeps/tiny.json with the model path made absolute (the grid runs from a temp dir).
        let tiny = try Data(contentsOf: packageRoot.appendingPathComponent("sweeps/tiny.json"))
        guard case .object(var sweepJSON) = try JSONValue(parsing: tiny), case .object(var base)? = sweepJSON["base"] else {
            Issue.record("sweeps/tiny.json is not an object with a base")
            return
        }
        base["model"] = .string(endToEndModel.path)
        sweepJSON["base"] = .object(base)
        let sweepFile = fixture.directory.appendingPathComponent("tiny.json")
        try JSONValue.object(sweepJSON).canonicalText(pretty: true).write(to: sweepFile, atomically: true, encoding: .utf8)
        let plan = try SweepDefinition(contentsOf: sweepFile).plan()
        let store = ResultStore(results: fixture.results, sweep: plan.name, label: "e2e")
        let arguments = ["sweep", "run", sweepFile.path, "--results", fixture.results.path, "--label", "e2e", "--jobs", "2"]
        let environment = ProcessInfo.processInfo.environment.filter { $0.key != DispatchOptions.trainerVariable }

        // Kill the dispatcher (and one child, as on a crash) once the first run has finished.
        let first = try launchUserdp(arguments, environment: environment, in: packageRoot, outputDirectory: fixture.directory)
        let someDone = waitUntil(timeout: 600) { plan.runs.contains { store.hasResult($0.id) } || !first.process.isRunning }
        #expect(someDone, "no run finished within 10 minutes: \(first.text)")
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        if let child = claimsWithChildren(store).first?.childPID { signalChild(pid: child, SIGKILL) }
        #expect(plan.runs.contains { !store.hasResult($0.id) }, "the grid finished before the kill; make tiny.json longer")

        let second = try launchUserdp(arguments, environment: environment, in: packageRoot, outputDirectory: fixture.directory)
        #expect(waitUntil(timeout: 1200) { !second.process.isRunning }, "resume did not finish: \(second.text)")
        second.process.waitUntilExit()
        #expect(second.process.terminationStatus == 0, "\(second.text)")

        // results.csv has every cell once, in plan order; each result.json honours the contract.
        let results = try ResultSet(contentsOf: store.resultsCSV)
        #expect(results.rows.map(\.runID) == plan.runs.map(\.id))
        for run in plan.runs {
            let result = try RunResult(contentsOf: store.file(RunResult.fileName, of: run.id))
            #expect(result.config == run.config, "run \(run.id) echoes another config")
            #expect(result.epsilon <= run.config.epsilon * (1 + 1e-9), "run \(run.id) spent ε \(result.epsilon) > target")
            #expect(result.testPerplexity.isFinite && result.testPerplexity > 1)
        }
        let status = SweepStatus(plan: plan, store: store)
        #expect(status.done.count == plan.runs.count)

        for format in TableFormat.allCases {
            let table = try launchUserdp(
                ["sweep", "table", sweepFile.path, "--results", fixture.results.path, "--label", "e2e", "--rows", "mechanism", "--cols", "epsilon", "--format", format.rawValue],
                environment: environment, in: packageRoot, outputDirectory: fixture.directory)
            table.process.waitUntilExit()
            #expect(table.process.terminationStatus == 0, "\(table.text)")
            #expect(table.text.contains("group") && table.text.contains("user"), "\(table.text)")
        }
    }
}
