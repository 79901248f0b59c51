import Foundation
import Persistence

/// One UTF-8 text file read for tokenizer training, pretraining or evaluation.
public struct TextDocument: Sendable, Equatable {
    /// Path as given (or directory + file name).
    public var path: String
    /// Contents, without a leading byte-order mark.
    public var text: String

    /// Creates a document.
    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}

/// Errors from reading text corpora and from pretraining.
public enum PretrainError: Error, Equatable, LocalizedError {
    /// A file or directory could not be read.
    case fileUnreadable(path: String, reason: String)
    /// A file is not valid UTF-8.
    case notUTF8(path: String)
    /// A directory given as input holds no `*.txt` file.
    case noTextFiles(directory: String)
    /// The inputs hold fewer tokens than one training sequence needs.
    case corpusTooSmall(tokens: Int, needed: Int)
    /// A hyperparameter is out of range; `name` is the command-line flag.
    case invalidSetting(name: String, value: String, expected: String)

    public var errorDescription: String? {
        switch self {
        case let .fileUnreadable(path, reason): "\(path): cannot read (\(reason))"
        case let .notUTF8(path): "\(path): not UTF-8 text; convert it (for example with iconv) first"
        case let .noTextFiles(directory): "\(directory): no *.txt files in this directory"
        case let .corpusTooSmall(tokens, needed): "the corpus has \(tokens) tokens but at least \(needed) are needed"
        case let .invalidSetting(name, value, expected): "\(name) \(value): expected \(expected)"
        }
    }
}

/// Reads text inputs given on a command line.
public enum TextFiles {
    /// Reads each path: a file as one document, a directory as its `*.txt` files sorted by name
    /// (not recursive). Order is preserved, so results are reproducible.
    ///
    /// - Throws: `PretrainError` naming the unreadable, non-UTF-8 or empty input.
    public static func read(_ paths: [String]) throws -> [TextDocument] {
        var documents: [TextDocument] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw PretrainError.fileUnreadable(path: path, reason: "no such file or directory")
            }
            if isDirectory.boolValue {
                let names: [String]
                do {
                    names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".txt") }.sorted()
                } catch {
                    throw PretrainError.fileUnreadable(path: path, reason: FileProblem.describe(error))
                }
                if names.isEmpty { throw PretrainError.noTextFiles(directory: path) }
                for name in names { documents.append(try readFile((path as NSString).appendingPathComponent(name))) }
            } else {
                documents.append(try readFile(path))
            }
        }
        return documents
    }

    private static func readFile(_ path: String) throws -> TextDocument {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PretrainError.fileUnreadable(path: path, reason: FileProblem.describe(error))
        }
        var bytes = data[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard let text = String(data: Data(bytes), encoding: .utf8) else { throw PretrainError.notUTF8(path: path) }
        return TextDocument(path: path, text: text)
    }
}

/// Token streams for pretraining and evaluation.
public enum TokenStream {
    /// The documents' tokens concatenated, each document followed by `<|endoftext|>` (GPT-2's
    /// document separator), so windows that cross a boundary see the separator.
    public static func tokens(of documents: [TextDocument], tokenizer: BPETokenizer) -> [Int32] {
        var stream: [Int32] = []
        for ids in tokenizer.encode(documents.map(\.text)) {
            stream.append(contentsOf: ids.lazy.map { Int32($0) })
            stream.append(Int32(tokenizer.endOfTextID))
        }
        return stream
    }
}
