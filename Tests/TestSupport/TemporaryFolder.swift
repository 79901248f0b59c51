import Foundation

/// A fresh, empty folder under the system's temporary directory, named
/// `userdp-<label>-<UUID>` (the label reduced to letters, digits and `-`), so parallel tests
/// never share one. The caller removes it when done (or leaves it for the system).
public func temporaryFolder(_ label: String = #function) throws -> URL {
    let name = String(label.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || $0 == "-" }.prefix(60))
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("userdp-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A temporary folder removed when the value is released.
public final class TemporaryDirectory {
    /// The folder.
    public let url: URL

    /// A fresh folder (see ``temporaryFolder(_:)``).
    public init(_ label: String = "tests") throws {
        url = try temporaryFolder(label)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// A file in the folder.
    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    /// Writes `text` as UTF-8 to the file `name`.
    public func write(_ text: String, to name: String) throws {
        try Data(text.utf8).write(to: file(name))
    }
}
