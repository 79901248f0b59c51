import Foundation
import Testing
import TestSupport
@testable import LanguageModel

/// Builds a safetensors file byte by byte, independently of `SafeTensorsFile.write`.
func handBuiltSafeTensors(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> Data {
    let headerBytes = Array(header.utf8)
    let length = declaredLength ?? UInt64(headerBytes.count)
    var file = Data((0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) })
    file.append(contentsOf: headerBytes)
    file.append(contentsOf: data)
    return file
}

func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { value in (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
}

@Suite struct SafeTensorsTests {
    @Test func writtenFileHasTheDocumentedLayoutAndReadsBack() throws {
        let directory = try TemporaryDirectory()
        let url = directory.file("model.safetensors")
        let tensors = [
            NamedTensor(name: "wte.weight", shape: [3, 2], values: [1, -2, 0.5, .pi, -0, 1e-30]),
            NamedTensor(name: "ln_f.bias", shape: [2], values: [7, 8]),
            NamedTensor(name: "scalar", shape: [], values: [42]),
        ]
        try SafeTensorsFile.write(tensors, metadata: ["format": "pt", "note": "a \"quoted\" value"], to: url)

        // Independent parse of the bytes: length prefix, JSON header, aligned data.
        let bytes = try Data(contentsOf: url)
        let headerLength = Int(bytes.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        #expect(headerLength % 8 == 0)
        #expect(bytes.count == 8 + headerLength + 4 * 9)
        let header = try JSONSerialization.jsonObject(with: bytes[8..<(8 + headerLength)]) as! [String: Any]
        #expect((header["__metadata__"] as? [String: String]) == ["format": "pt", "note": "a \"quoted\" value"])
        let wte = header["wte.weight"] as! [String: Any]
        #expect(wte["dtype"] as? String == "F32")
        #expect(wte["shape"] as? [Int] == [3, 2])
        #expect(wte["data_offsets"] as? [Int] == [0, 24])
        #expect((header["ln_f.bias"] as! [String: Any])["data_offsets"] as? [Int] == [24, 32])
        let firstValue = bytes[(8 + headerLength)..<(8 + headerLength + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        #expect(Float(bitPattern: firstValue) == 1)

        let file = try SafeTensorsFile(contentsOf: url)
        #expect(file.names == ["wte.weight", "ln_f.bias", "scalar"])
        #expect(file.metadata == ["format": "pt", "note": "a \"quoted\" value"])
        for tensor in tensors {
            #expect(file.entries[tensor.name]?.shape == tensor.shape)
            let values = try file.floats(tensor.name, shape: tensor.shape)
            #expect(values.map(\.bitPattern) == tensor.values.map(\.bitPattern), "\(tensor.name)")
        }
    }

    @Test func readsHalfBFloatAndDoubleAsFloat() throws {
        // F16: 1.0, -2.0, smallest subnormal 2^-24, +inf, 65504 (largest finite).
        let half: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7C00, 0x7BFF]
        // BF16: 1.0, -5.0, 3.140625 (0x4049).
        let bfloat: [UInt16] = [0x3F80, 0xC0A0, 0x4049]
        let double: [UInt64] = [0.1, -1e300].map(\.bitPattern)
        let data = littleEndianBytes(half) + littleEndianBytes(bfloat) + littleEndianBytes(double)
        let header = """
            {"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]},\
            "b":{"dtype":"BF16","shape":[1,3],"data_offsets":[10,16]},\
            "d":{"dtype":"F64","shape":[2],"data_offsets":[16,32]}}
            """
        let file = try SafeTensorsFile(data: handBuiltSafeTensors(header: header, data: data), path: "hand.safetensors")
        #expect(try file.floats("h") == [1, -2, Float(sign: .plus, exponent: -24, significand: 1), .infinity, 65504])
        #expect(try file.floats("b", shape: [1, 3]) == [1, -5, 3.140625])
        #expect(try file.floats("d") == [Float(0.1), -.infinity])
        #expect(file.names == ["h", "b", "d"])
        #expect(file.metadata.isEmpty)
        // At full precision F64 keeps every bit; the narrower types widen exactly.
        #expect(try file.doubles("d").map(\.bitPattern) == [0.1, -1e300].map(\.bitPattern))
        #expect(try file.doubles("b") == [1, -5, 3.140625])
        #expect(try file.doubles("h") == [1, -2, 0x1p-24, .infinity, 65504])
        #expect(throws: SafeTensorsError.missingTensor(path: "hand.safetensors", tensor: "x")) { try file.doubles("x") }
    }

    @Test func halfConversionMatchesFloat16OnEveryBitPattern() {
        #if arch(x86_64) && os(Linux) || arch(arm64)
        var mismatches = 0
        for bits in UInt16.min...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let actual = floatFromHalf(bits)
            if expected.bitPattern != actual.bitPattern && !(expected.isNaN && actual.isNaN) { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #endif
    }

    func expectError(_ expected: SafeTensorsError, header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) {
        #expect(throws: expected) {
            _ = try SafeTensorsFile(data: handBuiltSafeTensors(header: header, data: data, declaredLength: declaredLength), path: "bad.safetensors")
        }
    }

    @Test func corruptFilesGiveErrorsNamingFileAndTensor() throws {
        let path = "bad.safetensors"
        let four = [UInt8](repeating: 0, count: 4)
        #expect(throws: SafeTensorsError.truncated(path: path, neededBytes: 8, fileBytes: 5)) {
            _ = try SafeTensorsFile(data: Data([1, 2, 3, 4, 5]), path: path)
        }
        expectError(.truncated(path: path, neededBytes: 8 + 500, fileBytes: 8 + 2), header: "{}", declaredLength: 500)
        expectError(.invalidHeader(path: path, reason: "declared header length 1099511627776 exceeds 100000000 bytes"), header: "{}", declaredLength: 1 << 40)
        expectError(.invalidHeader(path: path, reason: "the header is not a JSON object"), header: "[1]")
        expectError(.unsupportedDType(path: path, tensor: "x", dtype: "I64"), header: #"{"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: four + four)
        expectError(.invalidTensorEntry(path: path, tensor: "x", reason: "'shape' is not an array of non-negative integers"), header: #"{"x":{"dtype":"F32","data_offsets":[0,4]}}"#, data: four)
        expectError(.invalidTensorEntry(path: path, tensor: "x", reason: "'data_offsets' is not [begin, end]"), header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, data: four)
        // Data section shorter than the offsets: a truncated file.
        expectError(.offsetsOutOfBounds(path: path, tensor: "x", begin: 0, end: 8, dataBytes: 4), header: #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: four)
        expectError(.offsetsOutOfBounds(path: path, tensor: "x", begin: 4, end: 0, dataBytes: 4), header: #"{"x":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#, data: four)
        expectError(.sizeMismatch(path: path, tensor: "x", shape: [3], dtype: "F32", bytes: 8), header: #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: four + four)
        expectError(.overlappingTensors(path: path, first: "a", second: "b"), header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: four + four)
        expectError(.invalidHeader(path: path, reason: "__metadata__ value for 'n' is not a string"), header: #"{"__metadata__":{"n":1}}"#)
        do {
            _ = try SafeTensorsFile(data: handBuiltSafeTensors(header: "{not json", data: []), path: path)
            Issue.record("invalid JSON must fail")
        } catch let SafeTensorsError.invalidHeader(errorPath, reason) {
            #expect(errorPath == path && reason.hasPrefix("not valid JSON"))
        }

        let good = try SafeTensorsFile(data: handBuiltSafeTensors(header: #"{"x":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}"#, data: four), path: path)
        #expect(throws: SafeTensorsError.missingTensor(path: path, tensor: "y")) { try good.floats("y") }
        #expect(throws: SafeTensorsError.shapeMismatch(path: path, tensor: "x", expected: [1], actual: [1, 1])) { try good.floats("x", shape: [1]) }

        let directory = try TemporaryDirectory()
        #expect(throws: SafeTensorsError.invalidTensorToWrite(tensor: "x", reason: "shape [2, 2] needs 4 values, got 3")) {
            try SafeTensorsFile.write([NamedTensor(name: "x", shape: [2, 2], values: [1, 2, 3])], to: directory.file("w.safetensors"))
        }
        #expect(throws: SafeTensorsError.invalidTensorToWrite(tensor: "x", reason: "the name is reserved or used twice")) {
            try SafeTensorsFile.write([NamedTensor(name: "x", shape: [1], values: [1]), NamedTensor(name: "x", shape: [1], values: [1])], to: directory.file("w.safetensors"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory.file("w.safetensors").path))
    }

    @Test func truncatingAWrittenFileAnywhereIsAnError() throws {
        let directory = try TemporaryDirectory()
        let url = directory.file("t.safetensors")
        try SafeTensorsFile.write([NamedTensor(name: "a", shape: [2, 3], values: [1, 2, 3, 4, 5, 6])], to: url)
        let full = try Data(contentsOf: url)
        for length in 0..<full.count {
            #expect(throws: SafeTensorsError.self) { _ = try SafeTensorsFile(data: full.prefix(length), path: "t") }
        }
    }
}
