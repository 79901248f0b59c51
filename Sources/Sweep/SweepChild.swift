import Foundation

/// The child's side of dispatch: what `userdp train` does first when a sweep dispatcher started
/// it, so that a child never outlives its dispatcher and two trainers never share a run folder.
///
/// The dispatcher sets `USERDP_DISPATCHER_PID` (its pid) and, where /proc tells it,
/// `USERDP_DISPATCHER_START` (its start time, so a recycled pid does not count) in every
/// child's environment. `attach` then, before the run reads or writes anything:
/// 1. restores the default action of SIGTERM and SIGINT and unblocks them (a dispatcher may have
///    been started with them ignored or blocked, and exec passes both on), so the dispatcher's
///    SIGTERM ends the child at once; a run killed this way leaves no `result.json`, because
///    the trainer writes it last, by rename;
/// 2. takes an exclusive `flock` on `runs/ID/.train.lock`, waiting while an earlier trainer of
///    the same run still holds it (the kernel releases it when that process dies);
/// 3. checks that the dispatcher is still alive, else stops: it died before the child got
///    this far, and the next `sweep run` redoes the run;
/// 4. starts a watchdog thread that ends the process (exit status 143, as for SIGTERM) within
///    `watchdogInterval` of the dispatcher's death, for example after `kill -9` of the
///    dispatcher, so an orphan never keeps training beside the resumed sweep.
///
/// The dispatcher is watched by pid and start time rather than as this process's parent, so
/// a trainer wrapper that forks (`USERDP_TRAIN_EXECUTABLE=wrapper.sh`) keeps working. Linux's
/// `prctl(PR_SET_PDEATHSIG)` would deliver the parent's death as a signal, but `prctl` is a C
/// variadic function, which Swift does not import; polling needs no C shim and costs one read
/// of /proc per interval.
///
/// Together with the claim (which stays live while a recorded child is alive) this closes the
/// window between starting a child and recording its pid: a child whose dispatcher died in
/// that window either stops at step 3 or holds the lock, so a retry of the run waits for it.
public enum SweepChild {
    /// How often the watchdog checks that the dispatcher is alive (seconds).
    public static let watchdogInterval: Double = 0.2

    /// Exit status of a child that stops because its dispatcher died (128 + SIGTERM).
    public static let orphanExitStatus: Int32 = 143

    /// Prepares this process as a dispatched child writing into `outDirectory`, when
    /// `environment` names a dispatcher (`USERDP_DISPATCHER_PID`); returns the dispatcher's
    /// contract, nil when no dispatcher started this process.
    ///
    /// Returns only once this process holds the run folder's lock. Throws
    /// `SweepError.orphaned` when the dispatcher has already died, and `SweepError.storage`
    /// when the folder or its lock cannot be created.
    @discardableResult
    public static func attach(
        outDirectory: URL, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(SweepError) -> DispatchEnvironment? {
        guard let contract = DispatchEnvironment(environment: environment) else { return nil }
        let (dispatcher, start) = (contract.dispatcherPID, contract.dispatcherStart)
        restoreTerminationSignals()
        try lockRunFolder(outDirectory)
        guard ProcessProbe.isAlive(dispatcher, start: start) else { throw .orphaned(dispatcherPID: dispatcher) }
        let watchdog = Thread {
            while ProcessProbe.isAlive(dispatcher, start: start) {
                usleep(useconds_t(watchdogInterval * 1_000_000))
            }
            let message = "userdp train: the sweep dispatcher (pid \(dispatcher)) has exited; stopping this run (the next `sweep run` redoes it)\n"
            _ = message.withCString { write(STDERR_FILENO, $0, strlen($0)) }
            // No cleanup on purpose: result.json appears only by rename at the very end, so
            // stopping here is as safe as being killed.
            _exit(orphanExitStatus)
        }
        watchdog.name = "userdp dispatcher watchdog"
        watchdog.start()
        return contract
    }

    /// Default actions for SIGTERM and SIGINT, unblocked on this thread (threads started
    /// later inherit the mask).
    static func restoreTerminationSignals() {
        signal(SIGTERM, SIG_DFL)
        signal(SIGINT, SIG_DFL)
        InterruptSignal.unblockTerminationSignals()
    }

    /// Takes the run folder's lock for the rest of the process's life (the descriptor is never
    /// closed; exit or death releases it).
    static func lockRunFolder(_ directory: URL) throws(SweepError) {
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw .storage(path: directory.path, reason: "cannot create the run folder: \(error.localizedDescription)")
        }
        let url = directory.appendingPathComponent(ResultStore.RunFile.trainLock)
        let fd = open(url.path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .storage(path: url.path, reason: "cannot open the run lock: \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw .storage(path: url.path, reason: "cannot lock the run folder: \(String(cString: strerror(errno)))")
            }
        }
    }
}
