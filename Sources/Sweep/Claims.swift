import Foundation
import Training

/// Who is running a run: written to `runs/ID/claim` by the dispatcher that claimed it.
///
/// A claim is live while its owner can still finish the run:
/// - on the claim's own host: while the dispatcher process or the child it started is alive
///   (pid plus the process start time from /proc, so a recycled pid does not count);
/// - from another host: while the file's modification time (the heartbeat, touched by the
///   owner every few seconds) is younger than the stale timeout.
/// Otherwise it is stale and any dispatcher may take the run over.
public struct Claim: Codable, Sendable, Equatable {
    /// Random token of the owning dispatcher (one per `sweep run` invocation).
    public var token: String
    /// Host name of the owner.
    public var host: String
    /// Dispatcher process id.
    public var pid: Int32
    /// Dispatcher process start time (clock ticks since boot), when known.
    public var pidStart: UInt64?
    /// Child (`userdp train`) process id once started.
    public var childPID: Int32?
    /// Child process start time, when known.
    public var childStart: UInt64?
    /// Attempt number of the run under this claim (1-based, counting earlier invocations).
    public var attempt: Int
    /// When the claim was made (seconds since 1970).
    public var claimedAt: Double

    enum CodingKeys: String, CodingKey {
        case token, host, pid, attempt
        case pidStart = "pid_start"
        case childPID = "child_pid"
        case childStart = "child_start"
        case claimedAt = "claimed_at"
    }
}

/// The state of a run's claim file.
enum ClaimState: Equatable {
    /// No claim file.
    case free
    /// A claim whose owner is alive (or whose heartbeat is fresh).
    case live(Claim)
    /// A claim whose owner is gone; `age` is seconds since its last heartbeat.
    case stale(Claim?, age: Double)
}

/// Facts about processes on this host.
enum ProcessProbe {
    /// The start time of a process (field 22 of /proc/PID/stat, clock ticks since boot), or
    /// nil where /proc is not available.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let fields = statFields(of: pid), fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// /proc/PID/stat fields after the command name (the first is the state letter).
    static func statFields(of pid: Int32) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// Whether `pid` names a running process (not a zombie) that started at `start` (when
    /// given and knowable).
    static func isAlive(_ pid: Int32, start: UInt64?) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0, errno == ESRCH { return false }
        guard let fields = statFields(of: pid) else { return true }  // no /proc: trust kill(2)
        if let state = fields.first, state == "Z" || state == "X" { return false }
        if let start, fields.count > 19, let actual = UInt64(fields[19]), actual != start { return false }
        return true
    }

    /// This host's name.
    static let hostName = ProcessInfo.processInfo.hostName
}

/// Claim operations of one dispatcher on one result store. Every decision happens under the
/// store's lock, and claim files are created with link(2), which fails if the name exists,
/// so two dispatchers (on one machine or several sharing the folder) never both own a run.
struct ClaimBook {
    let store: ResultStore
    let token: String
    let staleAfter: TimeInterval
    let pid = ProcessInfo.processInfo.processIdentifier
    let pidStart = ProcessProbe.startTime(of: ProcessInfo.processInfo.processIdentifier)

    /// The outcome of trying to claim a run.
    enum Outcome: Equatable {
        /// We own it now (after replacing a stale claim, if `reclaimed`).
        case claimed(attempt: Int, reclaimed: Claim?)
        /// Someone else owns it.
        case held(Claim)
        /// It already has a result.
        case finished
    }

    func claimURL(_ id: String) -> URL { store.file(ResultStore.RunFile.claim, of: id) }

    /// Reads the claim of a run and judges it.
    func state(of id: String) -> ClaimState {
        let url = claimURL(id)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path) else { return .free }
        let age = Date().timeIntervalSince((attributes[.modificationDate] as? Date) ?? .distantPast)
        guard let data = try? Data(contentsOf: url), let claim = try? JSONDecoder().decode(Claim.self, from: data) else {
            // Claims are renamed into place whole, so an unreadable one is foreign or damaged:
            // give it the heartbeat timeout before taking over.
            return age > staleAfter ? .stale(nil, age: age) : .live(Claim(token: "?", host: "?", pid: 0, attempt: 0, claimedAt: 0))
        }
        if claim.host == ProcessProbe.hostName {
            let owner = ProcessProbe.isAlive(claim.pid, start: claim.pidStart)
            let child = claim.childPID.map { ProcessProbe.isAlive($0, start: claim.childStart) } ?? false
            return owner || child ? .live(claim) : .stale(claim, age: age)
        }
        return age > staleAfter ? .stale(claim, age: age) : .live(claim)
    }

    /// Claims a run unless it is finished or live elsewhere; a stale claim is replaced.
    func claim(_ id: String) throws(SweepError) -> Outcome {
        try store.withLock { () throws(SweepError) -> Outcome in
            if store.hasResult(id) { return .finished }
            var reclaimed: Claim?
            switch state(of: id) {
            case .live(let claim):
                return .held(claim)
            case .stale(let claim, _):
                reclaimed = claim
                unlink(claimURL(id).path)
            case .free:
                break
            }
            let attempt = previousAttempts(id) + 1
            let claim = Claim(
                token: token, host: ProcessProbe.hostName, pid: pid, pidStart: pidStart, attempt: attempt,
                claimedAt: Date().timeIntervalSince1970)
            try create(claim, for: id)
            return .claimed(attempt: attempt, reclaimed: reclaimed)
        }
    }

    /// Attempts made so far by anyone: archived attempts plus an unarchived last one.
    func previousAttempts(_ id: String) -> Int {
        let archived = (try? FileManager.default.contentsOfDirectory(atPath: store.file(ResultStore.RunFile.attempts, of: id).path))?
            .compactMap(Int.init).max() ?? 0
        let lastUnarchived = ResultStore.RunFile.perAttempt.contains {
            FileManager.default.fileExists(atPath: store.file($0, of: id).path)
        }
        return archived + (lastUnarchived ? 1 : 0)
    }

    /// Writes the claim file exclusively: a temporary file linked to the claim name.
    private func create(_ claim: Claim, for id: String) throws(SweepError) {
        do { try FileManager.default.createDirectory(at: store.runDirectory(id), withIntermediateDirectories: true) } catch {
            throw .storage(path: store.runDirectory(id).path, reason: "cannot create the run folder: \(error.localizedDescription)")
        }
        let url = claimURL(id)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".claim.\(token).\(UInt32.random(in: 0...UInt32.max))")
        defer { unlink(temporary.path) }
        do { try JSONEncoder().encode(claim).write(to: temporary) } catch {
            throw .storage(path: temporary.path, reason: "cannot write a claim: \(error.localizedDescription)")
        }
        guard link(temporary.path, url.path) == 0 else {
            throw .storage(path: url.path, reason: "claim exists although the lock was held: \(String(cString: strerror(errno)))")
        }
    }

    /// Records the child process in our claim (so the claim stays live if we die but it runs
    /// on). Returns false when the claim is no longer ours.
    @discardableResult
    func recordChild(_ id: String, pid childPID: Int32) throws(SweepError) -> Bool {
        try store.withLock { () throws(SweepError) -> Bool in
            guard case .live(var claim) = state(of: id), claim.token == token else { return false }
            claim.childPID = childPID
            claim.childStart = ProcessProbe.startTime(of: childPID)
            do { try AtomicFile.write(try JSONEncoder().encode(claim), to: claimURL(id)) } catch {
                throw .storage(path: claimURL(id).path, reason: "cannot update the claim: \(error.localizedDescription)")
            }
            return true
        }
    }

    /// Touches our claims' modification times; returns the ids whose claim is no longer ours
    /// (taken over by a dispatcher that judged us stale).
    func heartbeat(_ ids: [String]) -> [String] {
        var lost: [String] = []
        for id in ids {
            let url = claimURL(id)
            guard let data = try? Data(contentsOf: url), let claim = try? JSONDecoder().decode(Claim.self, from: data),
                claim.token == token
            else {
                lost.append(id)
                continue
            }
            utimes(url.path, nil)
        }
        return lost
    }

    /// Removes our claim of a run (never someone else's).
    func release(_ id: String) {
        try? store.withLock { () throws(SweepError) in
            let url = claimURL(id)
            if let data = try? Data(contentsOf: url), let claim = try? JSONDecoder().decode(Claim.self, from: data), claim.token == token {
                unlink(url.path)
            }
        }
    }
}
