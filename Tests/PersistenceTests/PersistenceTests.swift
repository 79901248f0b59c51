import Foundation
import Testing
import Persistence

@Test func canonicalTextSortsKeysAndNormalisesNumbers() throws {
    let value = try JSONValue(parsing: Data(#"{"b": [1.0, 0.30000000000000004, 1e-5], "a": {"z": null, "y": true}, "c": "q\"\n"}"#.utf8))
    #expect(value.canonicalText() == #"{"a":{"y":true,"z":null},"b":[1,0.30000000000000004,1e-05],"c":"q\"\n"}"#)
    // Equal values have equal text whatever the key order or number spelling.
    let reordered = try JSONValue(parsing: Data(#"{"c": "q\"\n", "a": {"y": true, "z": null}, "b": [1, 0.30000000000000004, 0.00001]}"#.utf8))
    #expect(reordered == value && reordered.canonicalText() == value.canonicalText())
    #expect(JSONValue.number(.infinity).canonicalText() == #""inf""#)
}

@Test func parseErrorsCarryTheReason() {
    #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: Data("{\"a\": }".utf8)) }
}

@Test func quotedEscapesControlCharacters() {
    #expect(JSONValue.quoted("a\u{1}b\\\"é") == "\"a\\u0001b\\\\\\\"é\"")
}

@Test func atomicWriteReplacesWholeFilesAndFailsCleanly() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("persistence-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appendingPathComponent("nested/out.json")
    #expect(throws: AtomicFile.WriteError.self) { try AtomicFile.write(Data("x".utf8), to: file) }
    try AtomicFile.write(Data("first".utf8), to: file, createDirectories: true)
    try AtomicFile.write(Data("second".utf8), to: file)
    #expect(try String(contentsOf: file, encoding: .utf8) == "second")
    // No temporary files are left beside the destination.
    #expect(try FileManager.default.contentsOfDirectory(atPath: file.deletingLastPathComponent().path) == ["out.json"])
}

@Test func numbersCompareByValue() {
    #expect(JSONValue.number(3) == .integer(3))
    #expect(Set([JSONValue.number(3), .integer(3)]).count == 1)
    #expect(JSONValue.number(3.5) != .integer(3))
    #expect(JSONValue.array([.number(1)]) == .array([.integer(1)]))
}
