import Crypto
import Foundation

/// Tokenised datasets on disk, one file per (dataset content, tokenizer), so a sweep of hundreds
/// of runs tokenises each dataset once.
///
/// The file name is a SHA-256 of the dataset's ``Dataset/contentHash()`` and the tokenizer's
/// ``Tokenizing/identity``: editing any text, user or record order, or changing the vocabulary or
/// merges, looks up a different file (old files stay until deleted). Files are written
/// atomically and carry a SHA-256 checksum; a truncated or corrupt file is rebuilt.
///
/// Format (little-endian): magic `UDPTOKS1`; u32 format version; i32 separator; the dataset
/// hash and tokenizer identity as u32-length-prefixed UTF-8; u32 users, u32 records, u64 tokens;
/// per user its name (u32 length + UTF-8) and u32 record count; per record u64 dataset index and
/// its key (u32 length + UTF-8); u64 token offsets (records + 1); the i32 tokens; and the SHA-256
/// of everything before it.
public struct TokenCache: Sendable {
    /// Where cache files live.
    public let directory: URL

    /// A cache in `directory` (created on first write).
    public init(directory: URL) {
        self.directory = directory
    }

    /// The environment variable that overrides the default cache folder.
    public static let environmentVariable = "USERDP_CACHE"

    /// `$USERDP_CACHE/tokens`, else `$XDG_CACHE_HOME/userdp/tokens`, else
    /// `~/.cache/userdp/tokens`.
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let root = environment[environmentVariable], !root.isEmpty {
            return URL(fileURLWithPath: root).appendingPathComponent("tokens")
        }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            return URL(fileURLWithPath: xdg).appendingPathComponent("userdp/tokens")
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/userdp/tokens")
    }

    /// The cache file for a dataset hash and tokenizer identity.
    public func url(datasetHash: String, tokenizerIdentity: String) -> URL {
        directory.appendingPathComponent(cacheKey(datasetHash, tokenizerIdentity) + ".tokens")
    }

    /// The tokenised dataset, from the cache when present and valid, otherwise tokenised now and
    /// stored. `cached` says which.
    public func tokenized(_ dataset: Dataset, with tokenizer: any Tokenizing) throws -> (
        dataset: TokenizedDataset, cached: Bool
    ) {
        let hash = dataset.contentHash()
        let file = url(datasetHash: hash, tokenizerIdentity: tokenizer.identity)
        if let data = FileManager.default.contents(atPath: file.path),
            let stored = try? TokenizedDataset.decode(data, path: file.path),
            stored.datasetHash == hash, stored.tokenizerIdentity == tokenizer.identity
        {
            return (stored, true)
        }
        let fresh = TokenizedDataset.tokenize(dataset, with: tokenizer)
        try AtomicFile.write(fresh.encoded(), to: file)
        return (fresh, false)
    }
}

extension TokenizedDataset {
    static let magic = Array("UDPTOKS1".utf8)
    static let formatVersion: UInt32 = 1

    /// The binary cache format (see ``TokenCache``).
    public func encoded() -> Data {
        var writer = ByteWriter()
        writer.bytes(TokenizedDataset.magic)
        writer.u32(TokenizedDataset.formatVersion)
        writer.u32(UInt32(bitPattern: separator))
        writer.string(datasetHash)
        writer.string(tokenizerIdentity)
        writer.u32(UInt32(users.count))
        writer.u32(UInt32(recordCount))
        writer.u64(UInt64(tokenCount))
        for user in users {
            writer.string(user.user)
            writer.u32(UInt32(user.records.count))
        }
        for user in users {
            for (index, key) in zip(user.recordIndices, user.recordKeys) {
                writer.u64(UInt64(index))
                writer.string(key)
            }
        }
        var offset: UInt64 = 0
        writer.u64(0)
        for user in users {
            for record in user.records {
                offset += UInt64(record.count)
                writer.u64(offset)
            }
        }
        for user in users {
            for record in user.records {
                record.withUnsafeBytes { raw in
                    // Tokens are stored little-endian; every platform Swift supports is.
                    writer.data.append(contentsOf: raw)
                }
            }
        }
        writer.data.append(contentsOf: SHA256.hash(data: writer.data))
        return writer.data
    }

    /// Reads the binary cache format.
    /// - Throws: ``UserDataError/corruptCache(path:reason:)`` when the file is truncated, of
    ///   another format version, or fails its checksum.
    public static func decode(_ data: Data, path: String) throws -> TokenizedDataset {
        let bytes = [UInt8](data)
        guard bytes.count >= magic.count + 32 else { throw UserDataError.corruptCache(path: path, reason: "truncated") }
        guard Array(bytes[0..<magic.count]) == magic else {
            throw UserDataError.corruptCache(path: path, reason: "not a token cache")
        }
        let body = bytes[0..<(bytes.count - 32)]
        guard Array(SHA256.hash(data: body)) == Array(bytes[(bytes.count - 32)...]) else {
            throw UserDataError.corruptCache(path: path, reason: "checksum mismatch")
        }
        var reader = ByteReader(bytes: bytes, end: bytes.count - 32, position: magic.count, path: path)
        let version = try reader.u32()
        guard version == formatVersion else {
            throw UserDataError.corruptCache(path: path, reason: "format version \(version), expected \(formatVersion)")
        }
        let separator = Int32(bitPattern: try reader.u32())
        let datasetHash = try reader.string()
        let tokenizerIdentity = try reader.string()
        let userCount = Int(try reader.u32())
        let recordCount = Int(try reader.u32())
        let tokenCount = Int(try reader.u64())
        var names: [(String, Int)] = []
        for _ in 0..<userCount { names.append((try reader.string(), Int(try reader.u32()))) }
        guard names.reduce(0, { $0 + $1.1 }) == recordCount else {
            throw UserDataError.corruptCache(path: path, reason: "record counts disagree")
        }
        var indices: [Int] = []
        var keys: [String] = []
        for _ in 0..<recordCount {
            indices.append(Int(try reader.u64()))
            keys.append(try reader.string())
        }
        var offsets: [Int] = []
        for _ in 0...recordCount { offsets.append(Int(try reader.u64())) }
        guard offsets.first == 0, offsets.last == tokenCount, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw UserDataError.corruptCache(path: path, reason: "bad token offsets")
        }
        let tokens = try reader.int32s(tokenCount)
        var users: [TokenizedUser] = []
        var record = 0
        for (name, count) in names {
            let range = record..<(record + count)
            users.append(
                TokenizedUser(
                    user: name, records: range.map { Array(tokens[offsets[$0]..<offsets[$0 + 1]]) },
                    recordKeys: Array(keys[range]), recordIndices: Array(indices[range])))
            record += count
        }
        return TokenizedDataset(
            datasetHash: datasetHash, tokenizerIdentity: tokenizerIdentity, separator: separator, users: users)
    }
}

/// Appends little-endian integers and length-prefixed strings.
struct ByteWriter {
    var data = Data()

    mutating func bytes(_ values: [UInt8]) { data.append(contentsOf: values) }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
    mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        u32(UInt32(utf8.count))
        data.append(contentsOf: utf8)
    }
}

/// Reads what ``ByteWriter`` writes, throwing `corruptCache` past the end.
struct ByteReader {
    let bytes: [UInt8]
    let end: Int
    var position: Int
    let path: String

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, position + count <= end else {
            throw UserDataError.corruptCache(path: path, reason: "truncated")
        }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    mutating func u32() throws -> UInt32 {
        try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func u64() throws -> UInt64 {
        try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func string() throws -> String {
        let count = Int(try u32())
        return String(decoding: try take(count), as: UTF8.self)
    }

    mutating func int32s(_ count: Int) throws -> [Int32] {
        let slice = try take(count * 4)
        return [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            slice.withUnsafeBytes { raw in
                for index in 0..<count {
                    buffer[index] = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: index * 4, as: Int32.self))
                }
            }
            initialized = count
        }
    }
}
