import Foundation
import Testing
import Persistence

/// Strict JSON (duplicate keys, huge numbers, deep nesting, escaped excerpts) and atomic writes
/// that never leak temporary files.
@Suite("Bad input: JSON and atomic files")
struct PersistenceBadInputTests {
    func reason(_ text: String) -> String? {
        do {
            _ = try JSONValue(parsing: Data(text.utf8))
            return nil
        } catch {
            return error.reason
        }
    }

    @Test("duplicate keys are an error naming the key path, at any depth")
    func duplicateKeys() {
        #expect(reason(#"{"k": 2, "k": 3}"#) == #"duplicate key "k"; each key may appear once in an object (line 1, column 10)"#)
        #expect(reason("{\"grid\": {\"k\": [1],\n \"k\": [2]}}")?.hasPrefix(#"duplicate key "grid.k""#) == true)
        #expect(reason(#"{"a": [{"b": 1, "b": 1}]}"#)?.hasPrefix(#"duplicate key "a[0].b""#) == true)
        // Equal keys in different objects are fine.
        #expect(reason(#"{"a": {"k": 1}, "b": {"k": 1}}"#) == nil)
    }

    @Test("numbers beyond a double are an error, not infinity; integers keep their exact value")
    func hugeNumbers() throws {
        #expect(reason(#"{"epsilon": 1e999}"#)?.hasPrefix("number 1e999 is beyond the range of a double") == true)
        #expect(reason("-1e400")?.hasPrefix("number -1e400 is beyond") == true)
        #expect(try JSONValue(parsing: Data("9223372036854775807".utf8)) == .integer(.max))
        #expect(try JSONValue(parsing: Data("1e2".utf8)) == .integer(100))
        #expect(try JSONValue(parsing: Data("0.30000000000000004".utf8)) == .number(0.30000000000000004))
        #expect(try JSONValue(parsing: Data("1e-999".utf8)) == .integer(0))
    }

    @Test("deep nesting, binary bytes and trailing text give short one-line reasons")
    func malformed() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(reason(deep)?.hasPrefix("objects and arrays are nested deeper than 512 levels") == true)
        let binary = "{\"a\": \"\u{1}\u{7f}\"}"
        #expect(reason(binary)?.contains("raw control character") == true)
        #expect(reason("{} x")?.hasPrefix("unexpected 'x' after the JSON value") == true)
        #expect(reason("")?.hasPrefix("the input is empty") == true)
        var bytes = Data("{\"a\": \"".utf8)
        bytes.append(contentsOf: (0..<200).map { UInt8(128 + $0 % 100) })
        bytes.append(contentsOf: Array("\"}".utf8))
        do {
            _ = try JSONValue(parsing: bytes)
            Issue.record("invalid UTF-8 accepted")
        } catch {
            #expect(error.reason.hasPrefix("a string is not valid UTF-8"))
        }
        for text in ["{\"a\" 1}", "[1,]", "{,}", "tru", "\"\\x\"", "\"\\ud800\"", "01", "-", "1.", "1e", "\u{0}"] {
            let found = reason(text)
            #expect(found != nil, "accepted \(text.debugDescription)")
            #expect(found?.contains("\n") == false && found!.count < 200)
        }
    }

    @Test("an escaped excerpt is one printable line")
    func excerpts() {
        #expect(InputExcerpt.escaped("a\u{0}b\nc\u{fffd}é", limit: 60) == "a\\u{0}b\\u{a}c\\u{fffd}é")
        #expect(InputExcerpt.escaped(String(repeating: "x", count: 100), limit: 10) == "xxxxxxxxxx...")
        #expect(InputExcerpt.of([0xFF, 0x41, 0x0A]) == "\\u{fffd}A\\u{a}")
    }

    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("persistence-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("a temporary file left by a dead writer is removed by the next write; a live writer's is kept")
    func staleTemporaries() throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        // pid 4206649 = 2^22 + 12345 is above Linux's pid_max default (2^22), so no such process exists.
        let dead = ".out.json.tmp-4206649-\(UUID().uuidString)"
        let live = ".out.json.tmp-\(getppid())-\(UUID().uuidString)"
        let other = ".other.json.tmp-4206649-\(UUID().uuidString)"
        for name in [dead, live, other] {
            try Data("partial".utf8).write(to: directory.appendingPathComponent(name))
        }
        try AtomicFile.write(Data("x".utf8), to: directory.appendingPathComponent("out.json"))
        var names = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
        #expect(names == ["out.json", live, other])
        // Resume-time cleanup of a whole folder removes every dead writer's file.
        #expect(AtomicFile.removeStaleTemporaries(in: directory) == [other])
        names = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
        #expect(names == ["out.json", live])
    }

    @Test("writing over a folder fails in plain words and leaves nothing behind")
    func writeOverFolder() throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let target = directory.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: false)
        #expect(throws: AtomicFile.WriteError(path: target.path, reason: "is a folder, not a file")) {
            try AtomicFile.write(Data("x".utf8), to: target)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["taken"])
    }

    @Test("Foundation read errors become plain reasons, also Linux's generic code 256")
    func plainReasons() throws {
        let directory = try folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("file")
        try Data("x".utf8).write(to: file)
        func reason(_ url: URL) -> String {
            do {
                _ = try Data(contentsOf: url)
                return "read"
            } catch {
                return FileProblem.describe(error)
            }
        }
        #expect(reason(directory.appendingPathComponent("missing")) == "not found")
        #expect(reason(directory) == "is a folder, not a file")
        #expect(reason(file.appendingPathComponent("below")) == "a part of the path (\(file.path)) is a file, not a folder")
        #expect(FileProblem.describe(errno: ENOSPC) == "no space left on device")
    }
}
