import Foundation
import Persistence

/// A directory of calibration results, one JSON file per distinct request, so that a grid never
/// recomputes the same calibration.
///
/// - Key: a 128-bit FNV-1a hash (two 64-bit lanes) of the canonical JSON (sorted keys) of the
///   request together with ``NoiseCalibration/codeVersion``, with the camelCase keys of earlier
///   versions so that their files keep their names; the file is `<key>.json`. The request
///   covers the privacy unit (event kind and k), q, T, ε, δ, the accountant and its parameters,
///   and the σ tolerance.
/// - Each file stores the code version and the full request beside the result (snake_case keys;
///   files of earlier versions, in camelCase, are read as well); a file whose
///   request or version differs (a hash collision, or older code) is a miss and is overwritten.
/// - Writes are atomic (a uniquely named temporary file in the same directory, then `rename`), so
///   concurrent processes never see a partial file; two processes computing the same request
///   write the same bytes, and the last rename wins.
public struct CalibrationCache: Sendable {
    /// The directory holding the cache files.
    public let directory: URL

    /// Opens (creating if needed) a cache directory.
    /// - Throws: ``PrivacyError/cacheFailure(path:reason:)`` when it cannot be created.
    public init(directory: URL) throws {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw PrivacyError.cacheFailure(path: directory.path, reason: "cannot create the folder: \(FileProblem.describe(error))")
        }
        // Temporary files of writers killed mid-write would otherwise stay forever.
        AtomicFile.removeStaleTemporaries(in: directory)
    }

    /// A cache file: snake_case keys; files written by earlier versions (camelCase) are read too.
    private struct Entry: Codable {
        var codeVersion: String
        var request: CalibrationRequest
        var result: CalibrationResult

        private enum CodingKeys: String, CodingKey {
            case request, result
            case codeVersion = "code_version"
            /// The spelling of earlier versions, still read (StoredKeys.swift).
            case legacyCodeVersion = "codeVersion"
        }

        init(codeVersion: String, request: CalibrationRequest, result: CalibrationResult) {
            self.codeVersion = codeVersion
            self.request = request
            self.result = result
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            codeVersion = try container.decode(String.self, forKey: .codeVersion, legacy: .legacyCodeVersion)
            request = try container.decode(CalibrationRequest.self, forKey: .request)
            result = try container.decode(CalibrationResult.self, forKey: .result)
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(codeVersion, forKey: .codeVersion)
            try container.encode(request, forKey: .request)
            try container.encode(result, forKey: .result)
        }
    }

    /// What the file name hashes, spelled as when the cache was introduced: camelCase keys here
    /// and in the request (``CodingUserInfoKey/camelCaseStoredKeys``), so that the files earlier
    /// versions wrote keep their names and stay hits. It is hashed, never written.
    private struct KeyMaterial: Encodable {
        var codeVersion: String
        var request: CalibrationRequest
    }

    /// The file that holds (or would hold) the result for `request`.
    public func fileURL(for request: CalibrationRequest) throws -> URL {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.userInfo[.camelCaseStoredKeys] = true
        let material = try encoder.encode(KeyMaterial(codeVersion: NoiseCalibration.codeVersion, request: request))
        return directory.appendingPathComponent(fowlerNollVo128(material) + ".json")
    }

    /// The cached result for `request`, or nil on a miss.
    /// - Throws: ``PrivacyError/cacheFailure(path:reason:)`` for an unreadable or corrupt file.
    public func load(_ request: CalibrationRequest) throws -> CalibrationResult? {
        let url = try fileURL(for: request)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PrivacyError.cacheFailure(path: url.path, reason: "cannot read: \(FileProblem.describe(error))")
        }
        let entry: Entry
        do {
            entry = try JSONDecoder().decode(Entry.self, from: data)
        } catch {
            throw PrivacyError.cacheFailure(path: url.path, reason: "not a calibration cache entry; delete the file")
        }
        guard entry.codeVersion == NoiseCalibration.codeVersion, entry.request == request else { return nil }
        return entry.result
    }

    /// Stores `result` for `request` atomically.
    /// - Throws: ``PrivacyError/cacheFailure(path:reason:)`` when the file cannot be written.
    public func store(_ result: CalibrationResult, for request: CalibrationRequest) throws {
        let url = try fileURL(for: request)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let data = try encoder.encode(Entry(codeVersion: NoiseCalibration.codeVersion, request: request, result: result))
        do {
            try AtomicFile.write(data, to: url)
        } catch {
            throw PrivacyError.cacheFailure(path: error.path, reason: error.reason)
        }
    }
}

/// FNV-1a over `data` in two 64-bit lanes with different offset bases, as 32 hex digits.
/// Not cryptographic: collisions are caught by comparing the stored request.
private func fowlerNollVo128(_ data: Data) -> String {
    let prime: UInt64 = 0x0000_0100_0000_01B3
    var first: UInt64 = 0xCBF2_9CE4_8422_2325
    var second: UInt64 = 0x8422_2325_CBF2_9CE4
    for byte in data {
        first = (first ^ UInt64(byte)) &* prime
        second = (second ^ UInt64(byte ^ 0x5A)) &* prime
    }
    return String(format: "%016llx%016llx", first, second)
}
