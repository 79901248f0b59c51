import Foundation

// Signals: delivering SIGINT/SIGTERM to the dispatcher loop, and signalling children.

/// Signals a child and everything it started: Foundation starts each child in a process
/// group of its own, so the group gets the signal (a shell script's own children too); where
/// the child leads no group, the child alone.
func signalChild(_ process: Process, _ signal: Int32) {
    let pid = process.processIdentifier
    guard pid > 0 else { return }
    if getpgid(pid) == pid {
        kill(-pid, signal)
    } else {
        kill(pid, signal)
    }
}

/// The name of a signal number.
func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGKILL: return "SIGKILL"
    case SIGTERM: return "SIGTERM"
    case SIGINT: return "SIGINT"
    case SIGSEGV: return "SIGSEGV"
    case SIGABRT: return "SIGABRT"
    case SIGBUS: return "SIGBUS"
    case SIGILL: return "SIGILL"
    case SIGTRAP: return "SIGTRAP"
    case SIGHUP: return "SIGHUP"
    default: return "signal \(signal)"
    }
}

// MARK: - Signals

/// SIGINT/SIGTERM delivery through a self-pipe: the handler only writes a byte (async-signal
/// safe); the dispatcher loop waits on the pipe and counts the bytes.
enum InterruptSignal {
    /// The pipe's read and write ends (non-blocking, close-on-exec).
    static let pipeEnds: (read: Int32, write: Int32) = {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return (-1, -1) }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        return (fds[0], fds[1])
    }()

    static func install() {
        _ = pipeEnds
        let handler: @convention(c) (Int32) -> Void = { _ in
            var byte: UInt8 = 1
            _ = write(InterruptSignal.pipeEnds.write, &byte, 1)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        // A parent may have started us with these signals blocked (test runners do); unblock
        // them on this thread, which also hands the unblocked mask to the children it starts.
        unblockTerminationSignals()
    }

    /// Unblocks SIGINT and SIGTERM on the calling thread (threads it starts inherit the mask).
    static func unblockTerminationSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    /// Signals received since the last call.
    static func take() -> Int {
        var buffer = [UInt8](repeating: 0, count: 64)
        var count = 0
        while true {
            let n = read(pipeEnds.read, &buffer, buffer.count)
            guard n > 0 else { return count }
            count += n
        }
    }

    /// Sleeps up to `seconds`, waking early when a signal arrives.
    static func wait(seconds: Double) {
        var descriptor = pollfd(fd: pipeEnds.read, events: Int16(POLLIN), revents: 0)
        _ = poll(&descriptor, 1, Int32(seconds * 1000))
    }
}
