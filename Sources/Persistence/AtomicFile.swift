import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file writes that readers never see half done: the data goes to a temporary file in the
/// destination's folder, which is then renamed over the destination (rename is atomic within
/// one file system, also on NFS). A failed write leaves the destination as it was and removes
/// the temporary file.
public enum AtomicFile {
    /// Why a file could not be written.
    public struct WriteError: Error, Equatable, Sendable, LocalizedError {
        /// The destination.
        public var path: String
        /// What went wrong (the system's message).
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
        do {
            if createDirectories {
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            try data.write(to: temporary)
        } catch {
            throw WriteError(path: url.path, reason: error.localizedDescription)
        }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw WriteError(path: url.path, reason: "rename into place failed: \(reason)")
        }
    }
}
