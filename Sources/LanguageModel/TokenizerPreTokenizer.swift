// GPT-2's byte-to-unicode table and pre-tokenization pattern (Radford et al. 2019, the
// released `encoder.py`), implemented as a hand-written scanner: the pattern needs Unicode
// letter/number classes and a negative lookahead, and a scanner is several times faster than a
// general regex engine on a corpus.

/// GPT-2's reversible map from bytes to printable Unicode scalars, so every byte sequence can be
/// a JSON string key in `vocab.json`.
///
/// The 188 bytes that are printable in Latin-1 ('!'...'~', '¡'...'¬', '®'...'ÿ') map to
/// themselves; the other 68 (controls, space, DEL, NBSP, soft hyphen) map, in increasing byte
/// order, to U+0100, U+0101, ... (so space, byte 32, becomes 'Ġ' U+0120). The position of a byte
/// in this printable-first order is also its token id in GPT-2's vocabulary (space is id 220).
enum ByteLevelAlphabet {
    /// Bytes in GPT-2's order: printable ones first, then the rest.
    static let orderedBytes: [UInt8] = {
        let printable = Array(UInt8(33)...126) + Array(UInt8(161)...172) + Array(UInt8(174)...255)
        let printableSet = Set(printable)
        return printable + (0...255).map(UInt8.init).filter { !printableSet.contains($0) }
    }()

    /// Scalar for each byte value.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var shifted: UInt32 = 0
        for byte in orderedBytes {
            let isPrintable = (33...126).contains(byte) || (161...172).contains(byte) || byte >= 174
            if isPrintable {
                table[Int(byte)] = Unicode.Scalar(byte)
            } else {
                table[Int(byte)] = Unicode.Scalar(256 + shifted)!
                shifted += 1
            }
        }
        return table
    }()

    /// Byte for each scalar of the byte-level alphabet.
    static let byteForScalar: [Unicode.Scalar: UInt8] = {
        Dictionary(uniqueKeysWithValues: (0...255).map { (scalarForByte[$0], UInt8($0)) })
    }()

    /// The byte-level string of raw bytes (one scalar per byte).
    static func string(for bytes: some Sequence<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(scalarForByte[Int(byte)]) }
        return String(scalars)
    }

    /// Raw bytes of a byte-level string, or nil if it holds a scalar outside the alphabet.
    static func bytes(for token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = byteForScalar[scalar] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}

/// Splits text into the pieces GPT-2 runs BPE on, exactly as the pattern
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` does with
/// leftmost-first alternation.
///
/// `\s` is taken as the Unicode White_Space property, `\p{L}` and `\p{N}` as the letter and number
/// general categories. (Python's `regex` module may also count U+001C...U+001F as space; such
/// control characters are vanishingly rare in text.)
enum PreTokenizer {
    private enum Kind: UInt8 { case letter, number, space, other }

    private static let asciiKinds: [Kind] = (0..<128).map { value in
        classify(Unicode.Scalar(UInt8(value)))
    }

    private static func kind(of scalar: Unicode.Scalar) -> Kind {
        scalar.value < 128 ? asciiKinds[Int(scalar.value)] : classify(scalar)
    }

    private static func classify(_ scalar: Unicode.Scalar) -> Kind {
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// Byte ranges of the pieces of `bytes` (valid UTF-8), in order, covering it exactly. The
    /// ranges use `bytes`' own indices.
    static func pieces(of bytes: ArraySlice<UInt8>) -> [Range<Int>] {
        var scalars: [Unicode.Scalar] = []
        var kinds: [Kind] = []
        var offsets: [Int] = []  // index in `bytes` of each scalar, plus the end
        scalars.reserveCapacity(bytes.count)
        kinds.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var offset = bytes.startIndex
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                scalars.append(scalar)
                kinds.append(kind(of: scalar))
                offsets.append(offset)
                offset += UTF8.width(scalar)
            case .emptyInput:
                break decoding
            case .error:
                preconditionFailure("pre-tokenizer input must be valid UTF-8")
            }
        }
        offsets.append(offset)

        let count = scalars.count
        var result: [Range<Int>] = []
        var start = 0
        while start < count {
            let end = matchEnd(at: start, scalars: scalars, kinds: kinds)
            result.append(offsets[start]..<offsets[end])
            start = end
        }
        return result
    }

    /// End (exclusive scalar index) of the pattern's match starting at `i`.
    private static func matchEnd(at i: Int, scalars: [Unicode.Scalar], kinds: [Kind]) -> Int {
        let count = scalars.count
        // 's 't 're 've 'm 'll 'd (case-sensitive, as in GPT-2).
        if scalars[i] == "'", i + 1 < count {
            switch scalars[i + 1] {
            case "s", "t", "m", "d": return i + 2
            case "r", "v", "l":
                if i + 2 < count {
                    let pair = (scalars[i + 1], scalars[i + 2])
                    if pair == ("r", "e") || pair == ("v", "e") || pair == ("l", "l") { return i + 3 }
                }
            default: break
            }
        }
        // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional ASCII space, then a run.
        let runStart = (scalars[i] == " " && i + 1 < count) ? i + 1 : i
        let runKind = kinds[runStart]
        if runKind != .space {
            var end = runStart + 1
            while end < count, kinds[end] == runKind { end += 1 }
            return end
        }
        // '\s+(?!\S)' then '\s+': a whitespace run; if a non-space follows, leave the run's last
        // whitespace to attach to it (unless the run is a single character).
        var end = i + 1
        while end < count, kinds[end] == .space { end += 1 }
        if end < count, end - i >= 2 { return end - 1 }
        return end
    }
}
