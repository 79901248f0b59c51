import Foundation

/// A parsed RFC 822 / MIME email: unfolded headers and the decoded text of its `text/plain`
/// parts.
struct EmailMessage {
    /// Headers in order, continuation lines unfolded.
    var headers: [(name: String, value: String)]
    /// The raw body bytes after the blank line that ends the headers.
    var body: [UInt8]

    /// Splits raw bytes (LF or CRLF line ends) into headers and body.
    init(_ raw: [UInt8]) {
        let bytes = EmailMessage.normalisingLineEnds(raw)
        var headerEnd = bytes.count
        var bodyStart = bytes.count
        if bytes.first == UInt8(ascii: "\n") {
            headerEnd = 0
            bodyStart = 1
        } else {
            var index = 0
            while index + 1 < bytes.count {
                if bytes[index] == UInt8(ascii: "\n") && bytes[index + 1] == UInt8(ascii: "\n") {
                    headerEnd = index
                    bodyStart = index + 2
                    break
                }
                index += 1
            }
        }
        var headers: [(name: String, value: String)] = []
        for line in String(decoding: bytes[0..<headerEnd], as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first == " " || first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += " " + line.trimmingCharacters(in: .whitespaces)
            } else if let colon = line.firstIndex(of: ":") {
                headers.append(
                    (String(line[..<colon]).trimmingCharacters(in: .whitespaces),
                     String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
            }
        }
        self.headers = headers
        self.body = Array(bytes[min(bodyStart, bytes.count)...])
    }

    /// The first header of that name (case-insensitive).
    func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The decoded text of every `text/plain` part that is not an attachment, joined by blank
    /// lines; nil when the message has none (for example HTML only). A message without
    /// `Content-Type` is `text/plain; charset=us-ascii` (RFC 2045 §5.2).
    func plainText() -> String? {
        let contentType = ContentType(header("Content-Type") ?? "text/plain")
        if contentType.type.hasPrefix("multipart/") {
            guard let boundary = contentType.parameters["boundary"], !boundary.isEmpty else { return nil }
            let texts = EmailMessage.parts(of: body, boundary: boundary).compactMap { EmailMessage($0).plainText() }
            return texts.isEmpty ? nil : texts.joined(separator: "\n\n")
        }
        guard contentType.type == "text/plain" else { return nil }
        if let disposition = header("Content-Disposition"), disposition.lowercased().hasPrefix("attachment") {
            return nil
        }
        let encoding = (header("Content-Transfer-Encoding") ?? "7bit").lowercased().trimmingCharacters(in: .whitespaces)
        switch encoding {
        case "quoted-printable":
            return Charset.decode(EmailMessage.decodeQuotedPrintable(body), charset: contentType.parameters["charset"], wasEncoded: true)
        case "base64":
            return Charset.decode(EmailMessage.decodeBase64(body), charset: contentType.parameters["charset"], wasEncoded: true)
        default:
            return Charset.decode(body, charset: contentType.parameters["charset"], wasEncoded: false)
        }
    }

    // MARK: MIME pieces

    /// `type/subtype; name=value; name="quoted value"`, type and names lowercased.
    struct ContentType {
        var type: String
        var parameters: [String: String] = [:]

        init(_ header: String) {
            var pieces = EmailMessage.splitParameters(header)
            type = pieces.isEmpty ? "text/plain" : pieces.removeFirst().lowercased()
            for piece in pieces {
                guard let equals = piece.firstIndex(of: "=") else { continue }
                let name = piece[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
                var value = piece[piece.index(after: equals)...].trimmingCharacters(in: .whitespaces)
                if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 {
                    value = String(value.dropFirst().dropLast())
                }
                parameters[name] = value
            }
        }
    }

    /// Splits at semicolons outside double quotes.
    static func splitParameters(_ header: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        var quoted = false
        for character in header {
            if character == "\"" { quoted.toggle() }
            if character == ";" && !quoted {
                pieces.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
        }
        pieces.append(current.trimmingCharacters(in: .whitespaces))
        return pieces.filter { !$0.isEmpty }
    }

    /// The bodies between `--boundary` lines, up to `--boundary--`.
    static func parts(of body: [UInt8], boundary: String) -> [[UInt8]] {
        let delimiter = Array(("--" + boundary).utf8)
        var parts: [[UInt8]] = []
        var current: [UInt8]?
        var lineStart = 0
        while lineStart < body.count {
            var lineEnd = lineStart
            while lineEnd < body.count && body[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            var line = body[lineStart..<lineEnd]
            while let last = line.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { line = line.dropLast() }
            if line.starts(with: delimiter) {
                let rest = line.dropFirst(delimiter.count)
                if let finished = current {
                    parts.append(Array(finished.dropLast()))  // the line break before the delimiter
                }
                if rest.starts(with: Array("--".utf8)) { return parts }
                current = []
            } else if current != nil {
                current!.append(contentsOf: body[lineStart..<min(lineEnd + 1, body.count)])
            }
            lineStart = lineEnd + 1
        }
        if let unfinished = current { parts.append(unfinished) }
        return parts
    }

    static func normalisingLineEnds(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(UInt8(ascii: "\r")) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\r") {
                out.append(UInt8(ascii: "\n"))
                if index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\n") { index += 1 }
            } else {
                out.append(bytes[index])
            }
            index += 1
        }
        return out
    }

    /// RFC 2045 §6.7: `=XY` is a byte, `=` at the end of a line joins it to the next.
    static func decodeQuotedPrintable(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            default: return nil
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "=") {
                // Soft line break, possibly with trailing whitespace before it.
                var next = index + 1
                while next < bytes.count && (bytes[next] == UInt8(ascii: " ") || bytes[next] == UInt8(ascii: "\t")) { next += 1 }
                if next < bytes.count && bytes[next] == UInt8(ascii: "\n") {
                    index = next + 1
                    continue
                }
                if next == bytes.count {
                    index = next
                    continue
                }
                if index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                    out.append(high << 4 | low)
                    index += 3
                    continue
                }
            }
            out.append(byte)
            index += 1
        }
        return out
    }

    /// Base64 ignoring whitespace and any character outside the alphabet (RFC 2045 §6.8).
    static func decodeBase64(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = byte - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = byte - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="): return out
            default: continue
            }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return out
    }

    /// Decodes RFC 2047 encoded words (`=?iso-8859-1?Q?caf=E9?=`) in a header value.
    static func decodeEncodedWords(_ value: String) -> String {
        guard value.contains("=?") else { return value }
        var result = ""
        var rest = Substring(value)
        while let start = rest.range(of: "=?") {
            let afterStart = rest[start.upperBound...]
            let pieces = afterStart.split(separator: "?", maxSplits: 2, omittingEmptySubsequences: false)
            guard pieces.count == 3, let end = pieces[2].range(of: "?=") else { break }
            let charset = String(pieces[0])
            let encoding = pieces[1].lowercased()
            let text = Array(pieces[2][..<end.lowerBound].utf8)
            let bytes: [UInt8]
            if encoding == "q" {
                bytes = decodeQuotedPrintable(text.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: " ") : $0 })
            } else if encoding == "b" {
                bytes = decodeBase64(text)
            } else {
                break
            }
            let before = rest[..<start.lowerBound]
            // Whitespace between two encoded words is not part of the text (RFC 2047 §6.2).
            if !(before.allSatisfy(\.isWhitespace) && !result.isEmpty) { result += before }
            result += Charset.decode(bytes, charset: charset, wasEncoded: true)
            rest = pieces[2][end.upperBound...]
        }
        return result + rest
    }
}

/// Bytes to text for the charsets found in old email.
enum Charset {
    /// Windows-1252 code points for bytes 0x80–0x9F (where it differs from ISO 8859-1); 0 for
    /// the five unassigned bytes, which map to the same code point as in Latin-1.
    static let windows1252High: [UInt32] = [
        0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
        0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
    ]

    /// Decodes `bytes` declared as `charset`.
    ///
    /// Bytes that arrive unencoded (7bit/8bit) and are valid UTF-8 are read as UTF-8 whatever
    /// the declaration: exports such as `emails.csv` already re-encoded the text, and a
    /// Latin-1 reading would garble it. Otherwise UTF-8 is tried for `utf-8` and unknown
    /// charsets, ISO 8859-1 is decoded byte by byte, and anything that is not valid UTF-8 falls
    /// back to Windows-1252 (a superset of Latin-1 for printable text), which never fails.
    static func decode(_ bytes: [UInt8], charset: String?, wasEncoded: Bool) -> String {
        let name = (charset ?? "us-ascii").lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
        let validUTF8 = String(validating: bytes, as: UTF8.self)
        if !wasEncoded, let text = validUTF8 { return text }
        if ["iso-8859-1", "iso8859-1", "latin1", "latin-1", "iso_8859-1", "l1"].contains(name) {
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        }
        return validUTF8 ?? windows1252(bytes)
    }

    static func windows1252(_ bytes: [UInt8]) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes {
            if (0x80...0x9F).contains(byte), windows1252High[Int(byte) - 0x80] != 0 {
                scalars.append(Unicode.Scalar(windows1252High[Int(byte) - 0x80])!)
            } else {
                scalars.append(Unicode.Scalar(byte))
            }
        }
        return String(scalars)
    }
}
