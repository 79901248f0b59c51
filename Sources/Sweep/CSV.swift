import Persistence

/// RFC 4180 CSV with `\n` line ends, byte-stable number formatting.
public enum CSV {
    /// A parse failure at a 1-based line.
    public struct ParseError: Error, Equatable {
        /// 1-based line.
        public var line: Int
        /// What is wrong there.
        public var reason: String
    }

    /// One record; fields with a comma, quote or line break are quoted, quotes doubled.
    public static func line(_ fields: [String]) -> String {
        fields.map { field in
            guard field.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return field }
            return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: ",")
    }

    /// A number: canonical shortest round-trip form (`8`, `0.001`, `1e-05`), `inf`, `-inf`,
    /// `nan`.
    public static func number(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        return JSONValue.canonicalNumber(value)
    }

    /// Parses CSV text into records (a trailing line end is optional; `\r\n` accepted).
    public static func parse(_ text: String) throws(ParseError) -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var line = 1
        var iterator = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = iterator.next()
        var atFieldStart = true
        while let c = pending {
            pending = iterator.next()
            if quoted {
                if c == "\"" {
                    if pending == "\"" {
                        field.unicodeScalars.append("\"")
                        pending = iterator.next()
                    } else {
                        quoted = false
                    }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
                continue
            }
            switch c {
            case "\"" where atFieldStart:
                quoted = true
                atFieldStart = false
            case "\"":
                throw ParseError(line: line, reason: "a quote inside an unquoted field")
            case ",":
                record.append(field)
                field = ""
                atFieldStart = true
            case "\r":
                continue
            case "\n":
                record.append(field)
                records.append(record)
                record = []
                field = ""
                atFieldStart = true
                line += 1
            default:
                field.unicodeScalars.append(c)
                atFieldStart = false
            }
        }
        if quoted { throw ParseError(line: line, reason: "an unterminated quoted field") }
        if !field.isEmpty || !record.isEmpty {
            record.append(field)
            records.append(record)
        }
        return records
    }
}
