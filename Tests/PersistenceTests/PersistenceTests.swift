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

/// A format's own error type for ``ObjectReader``.
enum SampleFormatError: KeyPathError, Equatable {
    case unknownKey(keyPath: String, known: [String])
    case invalidValue(keyPath: String, expected: String, got: String)
}

@Test func objectReaderNamesKeyPathsInTheFormatsOwnErrors() throws {
    enum Colour: String, CaseIterable { case red, green }
    let json = try JSONValue(parsing: Data(#"{"name": "x", "count": 3, "ratio": 0.5, "colour": "red", "inner": {"deep": -1}}"#.utf8))
    let reader = try ObjectReader<SampleFormatError>(json, keyPath: "", known: ["colour", "count", "inner", "name", "ratio"])
    #expect(try reader.string("name", expected: "a name") == "x")
    #expect(try reader.integer("count", minimum: 1, expected: "a positive integer") == 3)
    #expect(try reader.number("ratio", positive: true) == 0.5)
    #expect(try reader.choice("colour", Colour.self) == .red)
    #expect(try reader.string("missing", expected: "a name") == nil, "an absent key is nil, never a default")
    let inner = try ObjectReader<SampleFormatError>(reader["inner"]!, keyPath: reader.path("inner"), known: ["deep"])
    #expect(throws: SampleFormatError.invalidValue(keyPath: "inner.deep", expected: "a non-negative integer", got: "-1")) {
        try inner.integer("deep", minimum: 0, expected: "a non-negative integer")
    }
    #expect(throws: SampleFormatError.unknownKey(keyPath: "inner", known: ["colour", "count", "name", "ratio"])) {
        try ObjectReader<SampleFormatError>(json, keyPath: "", known: ["ratio", "name", "count", "colour"])
    }
    #expect(throws: SampleFormatError.invalidValue(keyPath: "colour", expected: #"one of "red", "green""#, got: #""blue""#)) {
        try ObjectReader<SampleFormatError>.choose(.string("blue"), keyPath: "colour", Colour.self)
    }
    #expect(throws: SampleFormatError.invalidValue(keyPath: "config", expected: "an object", got: "[]")) {
        try ObjectReader<SampleFormatError>(.array([]), keyPath: "", known: [])
    }
}
