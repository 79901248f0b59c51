import Foundation
import Persistence

/// Element types a safetensors file may hold that userdp reads (all converted to float32).
public enum SafeTensorsDType: String, Sendable, Codable, CaseIterable {
    /// IEEE 754 binary32; the only type userdp writes.
    case float32 = "F32"
    /// IEEE 754 binary16.
    case float16 = "F16"
    /// bfloat16: the upper 16 bits of a binary32.
    case bfloat16 = "BF16"
    /// IEEE 754 binary64 (rounded to float32 on reading).
    case float64 = "F64"

    /// Bytes per element.
    public var byteCount: Int {
        switch self {
        case .float32: 4
        case .float16, .bfloat16: 2
        case .float64: 8
        }
    }
}

/// Errors from reading or writing safetensors files. Each names the file and, where one is at
/// fault, the tensor.
public enum SafeTensorsError: Error, Equatable, LocalizedError {
    /// The file could not be read or written.
    case fileUnreadable(path: String, reason: String)
    /// The file ends before the length prefix, the header or the data it declares.
    case truncated(path: String, neededBytes: Int, fileBytes: Int)
    /// The header is not a JSON object of tensor entries (or its length is absurd).
    case invalidHeader(path: String, reason: String)
    /// One tensor's header entry is malformed (missing or ill-typed dtype, shape or offsets).
    case invalidTensorEntry(path: String, tensor: String, reason: String)
    /// The tensor's dtype is not one userdp can read as float32.
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// The tensor's byte range lies outside the data section.
    case offsetsOutOfBounds(path: String, tensor: String, begin: Int, end: Int, dataBytes: Int)
    /// The tensor's byte range does not match its shape and dtype.
    case sizeMismatch(path: String, tensor: String, shape: [Int], dtype: String, bytes: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(path: String, first: String, second: String)
    /// A required tensor is absent.
    case missingTensor(path: String, tensor: String)
    /// A tensor has a different shape from the one required.
    case shapeMismatch(path: String, tensor: String, expected: [Int], actual: [Int])
    /// Writing was asked for a tensor whose value count does not match its shape, or a name
    /// twice, or the reserved name `__metadata__`.
    case invalidTensorToWrite(tensor: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .fileUnreadable(path, reason):
            "\(path): cannot access the file (\(reason))"
        case let .truncated(path, needed, actual):
            "\(path): truncated safetensors file: needs at least \(needed) bytes but has \(actual)"
        case let .invalidHeader(path, reason):
            "\(path): invalid safetensors header: \(reason)"
        case let .invalidTensorEntry(path, tensor, reason):
            "\(path): tensor '\(tensor)': invalid header entry: \(reason)"
        case let .unsupportedDType(path, tensor, dtype):
            "\(path): tensor '\(tensor)' has dtype \(dtype); supported: \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", "))"
        case let .offsetsOutOfBounds(path, tensor, begin, end, dataBytes):
            "\(path): tensor '\(tensor)' data_offsets [\(begin), \(end)] lie outside the \(dataBytes)-byte data section"
        case let .sizeMismatch(path, tensor, shape, dtype, bytes):
            "\(path): tensor '\(tensor)' of shape \(shape) and dtype \(dtype) cannot occupy \(bytes) bytes"
        case let .overlappingTensors(path, first, second):
            "\(path): tensors '\(first)' and '\(second)' overlap in the data section"
        case let .missingTensor(path, tensor):
            "\(path): tensor '\(tensor)' is missing"
        case let .shapeMismatch(path, tensor, expected, actual):
            "\(path): tensor '\(tensor)' has shape \(actual) but \(expected) is required"
        case let .invalidTensorToWrite(tensor, reason):
            "cannot write tensor '\(tensor)': \(reason)"
        }
    }
}

/// A float32 tensor to write: name, row-major shape and values.
public struct NamedTensor: Sendable, Equatable {
    /// Tensor name, for example `h.0.attn.c_attn.weight`.
    public var name: String
    /// Row-major shape; `[]` is a scalar.
    public var shape: [Int]
    /// `shape.reduce(1, *)` values, row-major.
    public var values: [Float]

    /// Creates a tensor; `write` checks the value count.
    public init(name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

/// A safetensors file (HuggingFace's format): an 8-byte little-endian header length N, an
/// N-byte UTF-8 JSON header `{name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}` with
/// an optional `"__metadata__"` object of strings, then the raw little-endian data; offsets are
/// relative to the start of the data.
///
/// Reading validates the whole header up front (bounds, sizes, overlaps), so later element
/// access cannot fail except for name lookups. The data stays memory-mapped where possible.
public struct SafeTensorsFile: Sendable {
    /// One tensor's header entry.
    public struct Entry: Sendable, Equatable {
        /// Element type.
        public var dtype: SafeTensorsDType
        /// Row-major shape.
        public var shape: [Int]
        /// Byte range within the data section.
        public var byteRange: Range<Int>
    }

    /// Path the file was read from (for error messages).
    public let path: String
    /// Entries by tensor name.
    public let entries: [String: Entry]
    /// The `__metadata__` object (empty when absent).
    public let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    /// Largest header accepted, as in the reference implementation (100 MB).
    static let maximumHeaderBytes = 100_000_000

    /// Tensor names in file order (by data offset).
    public var names: [String] {
        entries.sorted { ($0.value.byteRange.lowerBound, $0.key) < ($1.value.byteRange.lowerBound, $1.key) }.map(\.key)
    }

    /// Reads and validates a file.
    ///
    /// - Throws: `SafeTensorsError` naming the file and the tensor at fault.
    public init(contentsOf url: URL) throws {
        let path = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw SafeTensorsError.fileUnreadable(path: path, reason: FileProblem.describe(error))
        }
        try self.init(data: data, path: path)
    }

    /// Parses a file held in memory; `path` is used in error messages.
    public init(data: Data, path: String) throws {
        guard data.count >= 8 else { throw SafeTensorsError.truncated(path: path, neededBytes: 8, fileBytes: data.count) }
        let headerLength = data.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard headerLength <= UInt64(Self.maximumHeaderBytes) else {
            throw SafeTensorsError.invalidHeader(
                path: path, reason: "declared header length \(headerLength) exceeds \(Self.maximumHeaderBytes) bytes")
        }
        let dataStart = 8 + Int(headerLength)
        guard data.count >= dataStart else { throw SafeTensorsError.truncated(path: path, neededBytes: dataStart, fileBytes: data.count) }
        let headerBytes = data[data.startIndex + 8 ..< data.startIndex + dataStart]
        // The strict parser: duplicate tensor names are errors, not "the last one wins".
        let object: JSONValue
        do {
            object = try JSONValue(parsing: Data(headerBytes))
        } catch {
            throw SafeTensorsError.invalidHeader(path: path, reason: "not valid JSON (\(error.reason))")
        }
        guard case .object(let header) = object else {
            throw SafeTensorsError.invalidHeader(path: path, reason: "the header is not a JSON object")
        }
        let dataBytes = data.count - dataStart
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        // Sorted so that the first error reported does not depend on hash order.
        for name in header.keys.sorted() {
            let value = header[name]!
            if name == "__metadata__" {
                guard case .object(let dictionary) = value else {
                    throw SafeTensorsError.invalidHeader(path: path, reason: "__metadata__ is not an object")
                }
                for (key, item) in dictionary {
                    guard case .string(let text) = item else {
                        throw SafeTensorsError.invalidHeader(
                            path: path, reason: "__metadata__ value for '\(InputExcerpt.escaped(key, limit: 40))' is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            entries[name] = try Self.entry(name: name, value: value, path: path, dataBytes: dataBytes)
        }
        let ordered = entries.sorted { ($0.value.byteRange.lowerBound, $0.key) < ($1.value.byteRange.lowerBound, $1.key) }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.value.byteRange.lowerBound < previous.value.byteRange.upperBound {
            throw SafeTensorsError.overlappingTensors(
                path: path, first: InputExcerpt.escaped(previous.key, limit: 80), second: InputExcerpt.escaped(next.key, limit: 80))
        }
        self.path = path
        self.entries = entries
        self.metadata = metadata
        self.data = data
        self.dataStart = dataStart
    }

    private static func entry(name rawName: String, value: JSONValue, path: String, dataBytes: Int) throws -> Entry {
        let name = InputExcerpt.escaped(rawName, limit: 80)
        func fail(_ reason: String) -> SafeTensorsError { .invalidTensorEntry(path: path, tensor: name, reason: reason) }
        func integers(_ item: JSONValue?) -> [Int]? {
            guard case .array(let array)? = item else { return nil }
            var result: [Int] = []
            for element in array {
                guard case .integer(let integer) = element, integer >= 0 else { return nil }
                result.append(integer)
            }
            return result
        }
        guard case .object(let fields) = value else { throw fail("not an object") }
        guard case .string(let dtypeName)? = fields["dtype"] else { throw fail("no string 'dtype'") }
        guard let shape = integers(fields["shape"]) else { throw fail("'shape' is not an array of non-negative integers") }
        guard let offsets = integers(fields["data_offsets"]), offsets.count == 2 else {
            throw fail("'data_offsets' is not [begin, end]")
        }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw SafeTensorsError.unsupportedDType(path: path, tensor: name, dtype: InputExcerpt.escaped(dtypeName, limit: 20))
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end, end <= dataBytes else {
            throw SafeTensorsError.offsetsOutOfBounds(path: path, tensor: name, begin: begin, end: end, dataBytes: dataBytes)
        }
        let (count, overflow) = shape.reduce((1, false)) { partial, dimension in
            let (product, overflowed) = partial.0.multipliedReportingOverflow(by: dimension)
            return (product, partial.1 || overflowed)
        }
        let (byteCount, byteOverflow) = count.multipliedReportingOverflow(by: dtype.byteCount)
        guard !overflow, !byteOverflow, byteCount == end - begin else {
            throw SafeTensorsError.sizeMismatch(path: path, tensor: name, shape: shape, dtype: dtypeName, bytes: end - begin)
        }
        return Entry(dtype: dtype, shape: shape, byteRange: begin..<end)
    }

    /// The tensor's values converted to float32, row-major.
    ///
    /// - Throws: `SafeTensorsError.missingTensor` if the file has no such tensor.
    public func floats(_ name: String) throws -> [Float] {
        guard let entry = entries[name] else { throw SafeTensorsError.missingTensor(path: path, tensor: name) }
        let start = data.startIndex + dataStart + entry.byteRange.lowerBound
        let bytes = data[start ..< start + entry.byteRange.count]
        let count = entry.byteRange.count / entry.dtype.byteCount
        return bytes.withUnsafeBytes { raw -> [Float] in
            // loadUnaligned: a tensor's offset need not be aligned to its element size.
            switch entry.dtype {
            case .float32:
                return (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            case .float16:
                return (0..<count).map { floatFromHalf(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
            case .bfloat16:
                return (0..<count).map { Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) << 16) }
            case .float64:
                return (0..<count).map { Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))) }
            }
        }
    }

    /// The tensor's values as float64, row-major: exact for every supported dtype (F64 is not
    /// rounded to float32 as in `floats`), for reference values kept at full precision.
    ///
    /// - Throws: `SafeTensorsError.missingTensor` if the file has no such tensor.
    public func doubles(_ name: String) throws -> [Double] {
        guard let entry = entries[name] else { throw SafeTensorsError.missingTensor(path: path, tensor: name) }
        // F32, F16 and BF16 values are all float32 values, which float64 holds exactly.
        guard entry.dtype == .float64 else { return try floats(name).map(Double.init) }
        let start = data.startIndex + dataStart + entry.byteRange.lowerBound
        return data[start ..< start + entry.byteRange.count].withUnsafeBytes { raw in
            (0 ..< entry.byteRange.count / 8).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }
        }
    }

    /// The tensor's values, after checking it has exactly `shape`.
    ///
    /// - Throws: `SafeTensorsError.missingTensor` or `.shapeMismatch`.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        guard let entry = entries[name] else { throw SafeTensorsError.missingTensor(path: path, tensor: name) }
        guard entry.shape == shape else {
            throw SafeTensorsError.shapeMismatch(path: path, tensor: name, expected: shape, actual: entry.shape)
        }
        return try floats(name)
    }

    /// Writes float32 tensors (in the given order) and string metadata as a safetensors file,
    /// atomically. The header is padded with spaces to a multiple of 8 bytes so the data is
    /// aligned, as HuggingFace's writer does.
    ///
    /// - Throws: `SafeTensorsError.invalidTensorToWrite` for a value count that does not match
    ///   the shape or a repeated or reserved name; `.fileUnreadable` if the file cannot be written.
    public static func write(_ tensors: [NamedTensor], metadata: [String: String] = [:], to url: URL) throws {
        var seen = Set<String>()
        var header = "{"
        if !metadata.isEmpty {
            let items = metadata.sorted { $0.key < $1.key }.map { JSONValue.quoted($0.key) + ":" + JSONValue.quoted($0.value) }
            header += "\"__metadata__\":{" + items.joined(separator: ",") + "}"
        }
        var offset = 0
        for tensor in tensors {
            guard tensor.name != "__metadata__", seen.insert(tensor.name).inserted else {
                throw SafeTensorsError.invalidTensorToWrite(tensor: tensor.name, reason: "the name is reserved or used twice")
            }
            let count = tensor.shape.reduce(1, *)
            guard tensor.shape.allSatisfy({ $0 >= 0 }), count == tensor.values.count else {
                throw SafeTensorsError.invalidTensorToWrite(tensor: tensor.name, reason: "shape \(tensor.shape) needs \(count) values, got \(tensor.values.count)")
            }
            if header.count > 1 { header += "," }
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            header += "\(JSONValue.quoted(tensor.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + 4 * count)]}"
            offset += 4 * count
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        headerBytes += [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8)

        var file = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(contentsOf: headerBytes)
        for tensor in tensors {
            tensor.values.withUnsafeBufferPointer { values in
                #if _endian(little)
                file.append(values)
                #else
                for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { file.append(contentsOf: $0) } }
                #endif
            }
        }
        do {
            try AtomicFile.write(file, to: url)
        } catch {
            throw SafeTensorsError.fileUnreadable(path: url.path, reason: FileProblem.describe(error))
        }
    }
}

/// IEEE 754 binary16 → binary32, exact for every value (subnormals, infinities, NaN payloads).
func floatFromHalf(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = Int(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x03FF)
    switch exponent {
    case 0:
        // Zero or subnormal: mantissa · 2^-24.
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign == 0 ? magnitude : -magnitude
    case 0x1F:
        return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
    default:
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13)
    }
}
