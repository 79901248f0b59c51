import Foundation
import Persistence

/// Prints `value` as ``JSONOutput`` text (indented, sorted keys, non-finite numbers as "inf",
/// "-inf", "nan") and a line break: what every `--json` flag and import report prints. Output
/// types spell their keys in snake_case with explicit `CodingKeys`.
func printJSON<Value: Encodable>(_ value: Value) throws {
    print(try JSONOutput.text(value))
}

/// Writes one line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
