/// Every key of the decoded JSON `json` (recursively, through arrays and objects) that is not
/// snake_case (lowercase ASCII letters, digits and `_`), each with its path (`a.b[2].c`), in
/// sorted key order. For the tests that hold userdp's JSON to one spelling.
public func nonSnakeKeys(_ json: Any, path: String = "") -> [String] {
    if let array = json as? [Any] { return array.enumerated().flatMap { nonSnakeKeys($1, path: "\(path)[\($0)]") } }
    guard let object = json as? [String: Any] else { return [] }
    return object.keys.sorted().flatMap { key -> [String] in
        let here = path.isEmpty ? key : "\(path).\(key)"
        let snake = key.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
        return (snake ? [] : [here]) + nonSnakeKeys(object[key]!, path: here)
    }
}
