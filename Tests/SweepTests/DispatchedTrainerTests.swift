import Foundation
import Testing
import TestSupport
import Training

@testable import Sweep

/// The trainer's side of dispatch (`SweepChild`), with the real `userdp train` on a tiny world
/// and the test (or a shell) standing in for the dispatcher.
@Suite("userdp train started by a dispatcher", .serialized, .enabled(if: userdpExecutable != nil, "the userdp executable is not built beside the tests"))
struct DispatchedTrainerTests {
    /// A fixture with a tiny world and a config file for it.
    func prepare(_ config: (TinyWorld) -> RunConfig) throws -> (Fixture, URL, URL) {
        let fixture = try Fixture()
        let world = try TinyWorld(in: fixture.directory)
        let configURL = fixture.directory.appendingPathComponent("config.json")
        try config(world).prettyText.write(to: configURL, atomically: true, encoding: .utf8)
        return (fixture, configURL, fixture.directory.appendingPathComponent("run"))
    }

    /// How the dispatcher named in a trainer's environment can be gone.
    enum GoneDispatcher: String, CaseIterable, Sendable {
        /// A pid no process has (pids stay below 2^22 on Linux).
        case nobodysPID
        /// A live pid (the test's) with another start time: the dispatcher's pid was recycled.
        case recycledPID

        var environment: [String: String] {
            switch self {
            case .nobodysPID:
                [DispatchEnvironment.dispatcherPIDVariable: String(Int32.max)]
            case .recycledPID:
                [
                    DispatchEnvironment.dispatcherPIDVariable: String(getpid()),
                    DispatchEnvironment.dispatcherStartVariable: String((ProcessProbe.startTime(of: getpid()) ?? 0) + 1),
                ]
            }
        }
    }

    @Test("a trainer whose dispatcher is already gone stops before reading or writing anything", arguments: GoneDispatcher.allCases)
    func dispatcherAlreadyGone(_ gone: GoneDispatcher) throws {
        let (fixture, config, out) = try prepare { $0.config(mechanism: .nonprivate) }
        let environment = realTrainerEnvironment().merging(gone.environment) { $1 }
        let pid = Int32(gone.environment[DispatchEnvironment.dispatcherPIDVariable]!)!
        let train = try launchUserdp(["train", "--config", config.path, "--out", out.path], environment: environment, in: fixture.directory)
        #expect(finish(train, timeout: 300))
        #expect(train.process.terminationStatus != 0)
        #expect(train.text.contains(SweepError.orphaned(dispatcherPID: pid).errorDescription!), "\(train.text)")
        for name in ["config.json", "log", "curve.csv", "result.json"] {
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name) was written")
        }
    }

    @Test("a dispatched trainer that fails writes its error's code and message to trainer-failure.json")
    func failureCode() throws {
        let (fixture, config, out) = try prepare { world in
            var config = world.config(mechanism: .nonprivate)
            config.dataset = world.dataset.path + "-missing"
            return config
        }
        let environment = realTrainerEnvironment().merging([DispatchEnvironment.dispatcherPIDVariable: String(getpid())]) { $1 }
        let train = try launchUserdp(["train", "--config", config.path, "--out", out.path], environment: environment, in: fixture.directory)
        #expect(finish(train, timeout: 300))
        #expect(train.process.terminationStatus != 0)
        let failure = try #require(TrainerFailure.read(from: out), "\(train.text)")
        #expect(failure.code == "UserDataError.datasetNotFound")
        #expect(train.text.contains(failure.message), "\(train.text)")
    }

    @Test("a trainer started through a forking wrapper runs while its dispatcher lives, and stops by itself when it is killed with SIGKILL")
    func dispatcherKilled() throws {
        // A million steps would take many minutes: the trainer can only end early by stopping.
        let (fixture, config, out) = try prepare { $0.config(mechanism: .nonprivate, steps: 1_000_000) }
        let userdp = try #require(userdpExecutable)
        let pidFile = fixture.directory.appendingPathComponent("trainer.pid")
        // A shell stands in for the dispatcher: it names itself in the environment and starts
        // the trainer through a wrapper shell that forks it and exits, so the trainer's parent
        // is not the dispatcher. (No shell here waits for the trainer: a shell started from the
        // test runner may inherit SIGCHLD blocked, and its `wait` would never return.)
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: "/bin/sh")
        parent.arguments = [
            "-c",
            #"USERDP_DISPATCHER_PID=$$ PID_FILE="$3" /bin/sh -c '"$@" & echo $! > "$PID_FILE"' wrapper "$0" train --config "$1" --out "$2" > "$2.output" 2>&1; exec sleep 3600"#,
            userdp.path, config.path, out.path, pidFile.path,
        ]
        parent.environment = realTrainerEnvironment()
        parent.standardInput = FileHandle.nullDevice
        try parent.run()
        let log = out.appendingPathComponent("log")
        let trainerPID = { Int32(((try? String(contentsOf: pidFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) }
        let training = waitUntil(timeout: 600) {
            !parent.isRunning || (trainerPID() != nil && ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("step 1/"))
        }
        let trainer = trainerPID()
        kill(parent.processIdentifier, SIGKILL)
        let output = { (try? String(contentsOf: URL(fileURLWithPath: out.path + ".output"), encoding: .utf8)) ?? "" }
        let stopped = trainer.map { trainer in waitUntil(timeout: 120) { !ProcessProbe.isAlive(trainer, start: nil) } } ?? false
        if !stopped, let trainer { kill(trainer, SIGKILL) }
        // Only now: Foundation may see the shell's end only once everything holding its
        // descriptors, the trainer included, has exited.
        parent.waitUntilExit()
        try #require(training && trainer != nil, "the trainer never reached step 1: \(output())")
        #expect(stopped, "the orphaned trainer kept training")
        #expect(output().contains("has exited"), "\(output())")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
    }

    @Test("a trainer waits while an earlier trainer of the same run folder holds its lock, then runs")
    func waitsForEarlierTrainer() throws {
        let (fixture, config, out) = try prepare { $0.config(mechanism: .nonprivate) }
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        // The test holds the lock, as an earlier trainer of the run would.
        let lockPath = out.appendingPathComponent(ResultStore.RunFile.trainLock).path
        let lock = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        try #require(lock >= 0 && flock(lock, LOCK_EX) == 0)
        var environment = realTrainerEnvironment()
        environment[DispatchEnvironment.dispatcherPIDVariable] = String(getpid())
        let train = try launchUserdp(["train", "--config", config.path, "--out", out.path], environment: environment, in: fixture.directory)
        // Wait until the trainer has opened the lock (it is then in flock or past it).
        let pid = train.process.processIdentifier
        let atLock = waitUntil(timeout: 300) {
            let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            return !train.process.isRunning
                || descriptors.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == lockPath }
        }
        #expect(atLock && train.process.isRunning, "\(train.text)")
        Thread.sleep(forTimeInterval: 0.5)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("log").path), "the trainer started beside the lock holder")
        close(lock)
        #expect(finish(train, timeout: 300))
        #expect(train.process.terminationStatus == 0, "\(train.text)")
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("result.json").path))
    }
}
