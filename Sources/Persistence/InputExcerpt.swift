import Foundation

/// Short, printable excerpts of user input for error messages.
///
/// Contract: the result is one line of printable characters however binary the input is:
/// control characters (C0, DEL, C1), the replacement character that stands for invalid UTF-8,
/// and format characters are written as `\u{hex}`; longer input is cut at `limit` characters and
/// marked with "...". Errors quote input only through this, never raw.
public enum InputExcerpt {
    /// `text` escaped and cut to at most `limit` characters (plus "...").
    public static func escaped(_ text: some StringProtocol, limit: Int = 60) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                out += "..."
                break
            }
            let value = scalar.value
            let printable =
                value >= 0x20 && value != 0x7F && !(0x80...0x9F).contains(value) && value != 0xFFFD
                && scalar.properties.generalCategory != .format && scalar.properties.generalCategory != .unassigned
                && scalar.properties.generalCategory != .lineSeparator && scalar.properties.generalCategory != .paragraphSeparator
            if printable {
                out.unicodeScalars.append(scalar)
            } else {
                out += "\\u{\(String(value, radix: 16))}"
            }
            count += 1
        }
        return out
    }

    /// The first bytes of `data`, decoded leniently as UTF-8 and escaped like ``escaped(_:limit:)``.
    public static func of(_ data: some Collection<UInt8>, limit: Int = 60) -> String {
        escaped(String(decoding: data.prefix(limit * 4), as: UTF8.self), limit: limit)
    }
}
