import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain-words reasons for file-system failures, for error messages that name the file
/// themselves ("cannot read X: is a folder, not a file").
///
/// Foundation's errors (`NSCocoaErrorDomain` codes, their `NSUnderlyingError` POSIX codes) and
/// raw `errno` values map to the same short phrases; unknown errors fall back to the system's
/// `strerror` text, never to an `NSError` dump.
public enum FileProblem {
    /// A short reason for `error` (a Foundation or POSIX error), without the path.
    public static func describe(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return describe(errno: Int32(underlying.code))
        }
        if nsError.domain == NSPOSIXErrorDomain { return describe(errno: Int32(nsError.code)) }
        if nsError.domain == NSCocoaErrorDomain {
            switch CocoaError.Code(rawValue: nsError.code) {
            case .fileReadNoSuchFile, .fileNoSuchFile: return "not found"
            case .fileReadNoPermission, .fileWriteNoPermission: return "permission denied"
            case .fileWriteOutOfSpace: return "no space left on device"
            case .fileWriteVolumeReadOnly: return "the file system is read-only"
            case .fileReadInvalidFileName, .fileWriteInvalidFileName: return "not a valid file name"
            case .fileReadTooLarge: return "too large to read"
            case .fileReadCorruptFile, .fileReadUnknownStringEncoding, .fileReadInapplicableStringEncoding:
                return "not readable as text"
            case .fileWriteFileExists: return "already exists"
            default: break
            }
        }
        if let posix = error as? POSIXError { return describe(errno: posix.code.rawValue) }
        // Foundation's generic codes (256: "could not be completed") carry no reason on Linux;
        // look at the path itself.
        let path = (nsError.userInfo[NSFilePathErrorKey] as? String) ?? (nsError.userInfo[NSURLErrorKey] as? URL)?.path
        if let path, let found = diagnose(path) { return found }
        if nsError.domain == NSCocoaErrorDomain { return "the operation failed (Foundation error \(nsError.code))" }
        return InputExcerpt.escaped(nsError.localizedDescription, limit: 120)
    }

    /// What is wrong with `path` as a file to read, judged from the file system: "not found",
    /// "a part of the path is not a folder", "is a folder, not a file", "permission denied";
    /// nil when nothing visible is wrong.
    public static func diagnose(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if isDirectory.boolValue { return "is a folder, not a file" }
            return FileManager.default.isReadableFile(atPath: path) ? nil : "permission denied"
        }
        var ancestor = URL(fileURLWithPath: path).deletingLastPathComponent()
        while ancestor.path != "/" {
            if FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory) {
                return isDirectory.boolValue ? "not found" : "a part of the path (\(ancestor.path)) is a file, not a folder"
            }
            ancestor = ancestor.deletingLastPathComponent()
        }
        return "not found"
    }

    /// A short reason for the POSIX error number `code`.
    public static func describe(errno code: Int32) -> String {
        switch code {
        case ENOENT: return "not found"
        case EISDIR: return "is a folder, not a file"
        case ENOTDIR: return "a part of the path is not a folder"
        case EACCES, EPERM: return "permission denied"
        case ENOSPC: return "no space left on device"
        case EDQUOT: return "disk quota exceeded"
        case EFBIG: return "file too large (a file-size limit was reached)"
        case EROFS: return "the file system is read-only"
        case EEXIST: return "already exists"
        case ENAMETOOLONG: return "the name is too long"
        default: return String(cString: strerror(code))
        }
    }

    /// Why `url` cannot be read as a file, or nil when it is a readable regular file:
    /// "not found", "is a folder, not a file", "permission denied".
    public static func unreadableFile(_ url: URL) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return "not found" }
        if isDirectory.boolValue { return "is a folder, not a file" }
        if !FileManager.default.isReadableFile(atPath: url.path) { return "permission denied" }
        return nil
    }
}
