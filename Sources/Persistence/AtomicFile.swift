import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file writes that readers never see half done: the data goes to a temporary file in the
/// destination's folder, which is then renamed over the destination (rename is atomic within
/// one file system, also on NFS).
///
/// Contract:
/// - A failed write (a full disk, a missing permission, a failed rename) leaves the destination
///   as it was and removes its temporary file.
/// - Temporary files are named `.<name>.tmp-<pid>-<uuid>`. A process killed mid-write leaves
///   one behind; ``removeStaleTemporaries(in:)`` deletes those whose process is gone (never a
///   live writer's), and every write cleans up stale temporaries of its own destination.
public enum AtomicFile {
    /// Why a file could not be written.
    public struct WriteError: Error, Equatable, Sendable, LocalizedError {
        /// The destination.
        public var path: String
        /// What went wrong, in plain words ("no space left on device").
        public var reason: String

        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }

        public var errorDescription: String? { "cannot write \(path): \(reason)" }
    }

    /// Writes `data` to `url` atomically; with `createDirectories` the destination's folder is
    /// created first when missing.
    public static func write(_ data: Data, to url: URL, createDirectories: Bool = false) throws(WriteError) {
        let directory = url.deletingLastPathComponent()
        let temporary = directory.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        if createDirectories {
            do {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            } catch {
                throw WriteError(path: url.path, reason: FileProblem.describe(error))
            }
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw WriteError(path: url.path, reason: "is a folder, not a file")
        }
        do {
            try writeWhole(data, to: temporary.path)
        } catch {
            // A partial temporary file (ENOSPC, EFBIG, EIO) must not outlive the failed write.
            _ = unlink(temporary.path)
            throw WriteError(path: url.path, reason: error.reason)
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = FileProblem.describe(errno: errno)
            _ = unlink(temporary.path)
            throw WriteError(path: url.path, reason: "rename into place failed: \(reason)")
        }
        removeStaleTemporaries(in: directory, of: url.lastPathComponent)
    }

    /// Deletes the temporary files of atomic writes in `directory` whose writing process no
    /// longer exists (left by a process that was killed or lost power mid-write). With `name`,
    /// only those of that destination file. Never fails: a file that cannot be removed stays.
    /// - Returns: the names removed.
    @discardableResult
    public static func removeStaleTemporaries(in directory: URL, of name: String? = nil) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        var removed: [String] = []
        for candidate in names {
            guard let pid = writerProcess(ofTemporary: candidate, destination: name) else { continue }
            if pid == getpid() { continue }
            // kill(pid, 0) fails with ESRCH only when no such process exists.
            if kill(pid, 0) == 0 || errno != ESRCH { continue }
            if unlink(directory.appendingPathComponent(candidate).path) == 0 { removed.append(candidate) }
        }
        return removed
    }

    /// The pid in a temporary file name `.<destination>.tmp-<pid>-<uuid>`, or nil for other names.
    static func writerProcess(ofTemporary candidate: String, destination: String?) -> pid_t? {
        guard candidate.hasPrefix("."), let marker = candidate.range(of: ".tmp-", options: .backwards) else { return nil }
        if let destination, candidate[candidate.index(after: candidate.startIndex)..<marker.lowerBound] != destination {
            return nil
        }
        let rest = candidate[marker.upperBound...]
        guard let dash = rest.firstIndex(of: "-"), let pid = pid_t(rest[..<dash]), pid > 0,
            UUID(uuidString: String(rest[rest.index(after: dash)...])) != nil
        else { return nil }
        return pid
    }

    private struct SystemFailure: Error {
        var reason: String
    }

    /// Creates `path` exclusively and writes all of `data`, checking every write and the final
    /// close (where NFS reports a full disk).
    private static func writeWhole(_ data: Data, to path: String) throws(SystemFailure) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw SystemFailure(reason: FileProblem.describe(errno: errno)) }
        var failure: Int32 = 0
        data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += written
            }
        }
        if close(descriptor) != 0, failure == 0 { failure = errno }
        if failure != 0 { throw SystemFailure(reason: FileProblem.describe(errno: failure)) }
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif
