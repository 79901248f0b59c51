import Foundation

/// Every regular file below `folder` (relative path → contents), to check that a command
/// changed none of the files that existed before it ran.
func snapshot(_ folder: URL) -> [String: Data] {
    var files: [String: Data] = [:]
    guard let enumerator = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]) else { return files }
    let root = folder.resolvingSymlinksInPath().path
    for case let url as URL in enumerator {
        guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
        let path = url.resolvingSymlinksInPath().path
        let relative = path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
        files[relative] = try? Data(contentsOf: url)
    }
    return files
}

/// The files of `before` that are missing or different in `after`.
func changedFiles(_ before: [String: Data], _ after: [String: Data]) -> [String] {
    before.keys.sorted().filter { after[$0] != before[$0] }
}
