import Foundation

/// Finds a dataset by name or path.
///
/// A name such as `shakespeare` resolves to the folder `data/shakespeare` of the repository, so
/// `userdp data stats shakespeare` works from a fresh checkout wherever the binary lives.
public enum DatasetLocator {
    /// The environment variable that names a folder of datasets, searched before the repository.
    public static let environmentVariable = "USERDP_DATA"

    /// The dataset folder (holding `manifest.json`) or `.jsonl` file for `nameOrPath`.
    ///
    /// Tried in order:
    /// 1. `nameOrPath` itself, relative to `currentDirectory`, if it is a folder with a manifest
    ///    or a file;
    /// 2. `$USERDP_DATA/<name>`;
    /// 3. `<ancestor>/data/<name>` for `currentDirectory` and each of its ancestors;
    /// 4. the same for the folder of the executable (a binary in `.build/release` finds the
    ///    repository's `data/`).
    ///
    /// - Throws: ``UserDataError/datasetNotFound(name:searched:)`` listing every place tried.
    public static func locate(
        _ nameOrPath: String,
        currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
        environment: [String: String] = ProcessInfo.processInfo.environment,
        executable: URL? = Bundle.main.executableURL
    ) throws -> URL {
        var searched: [String] = []
        func usable(_ url: URL) -> Bool {
            searched.append(url.path)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return false }
            if !isDirectory.boolValue { return true }
            return FileManager.default.fileExists(atPath: url.appendingPathComponent(Dataset.manifestFileName).path)
        }
        let direct =
            nameOrPath.hasPrefix("/")
            ? URL(fileURLWithPath: nameOrPath) : currentDirectory.appendingPathComponent(nameOrPath)
        if usable(direct.standardizedFileURL) { return direct.standardizedFileURL }
        // A path with a separator names one place only; searching data folders for it would
        // surprise more than help.
        if !nameOrPath.contains("/") {
            if let root = environment[environmentVariable], !root.isEmpty {
                let candidate = URL(fileURLWithPath: root).appendingPathComponent(nameOrPath)
                if usable(candidate) { return candidate }
            }
            var starts = [currentDirectory.standardizedFileURL]
            if let executable { starts.append(executable.deletingLastPathComponent().standardizedFileURL) }
            for start in starts {
                var folder = start
                while true {
                    let candidate = folder.appendingPathComponent("data").appendingPathComponent(nameOrPath)
                    if usable(candidate) { return candidate }
                    let parent = folder.deletingLastPathComponent()
                    if parent.path == folder.path { break }
                    folder = parent
                }
            }
        }
        throw UserDataError.datasetNotFound(name: nameOrPath, searched: searched)
    }

    /// The repository root: the nearest ancestor of `start` holding both `Package.swift` and a
    /// `data` folder, or nil.
    public static func repositoryRoot(from start: URL) -> URL? {
        var folder = start.standardizedFileURL
        while true {
            let manager = FileManager.default
            if manager.fileExists(atPath: folder.appendingPathComponent("Package.swift").path)
                && manager.fileExists(atPath: folder.appendingPathComponent("data").path)
            {
                return folder
            }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path { return nil }
            folder = parent
        }
    }
}
