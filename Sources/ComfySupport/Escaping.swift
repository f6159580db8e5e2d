/// The one way hostile strings (from locks, snapshots, repositories, servers, file names) are shown in messages.
///
/// `quoted` wraps the text in double quotes and escapes what could forge output or confuse a terminal: `"` and `\`,
/// C0/C1 control characters (newline, carriage return, escape …), DEL, and Unicode format/bidi controls
/// (U+200B–U+200F, U+202A–U+202E, U+2066–U+2069, U+FEFF) — as `\n`, `\r`, `\t` or `\u{XXXX}`. Long text is cut
/// at `limit` characters with `…`.
public enum Escaping {
    /// `text` escaped and in double quotes, at most `limit` characters of it.
    public static func quoted<S: StringProtocol>(_ text: S, limit: Int = 200) -> String {
        "\"" + escaped(text, limit: limit) + "\""
    }

    /// `text` escaped (see the type), without quotes.
    public static func escaped<S: StringProtocol>(_ text: S, limit: Int = 200) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                out += "…"
                break
            }
            count += 1
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if needsEscape(scalar) {
                    out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// True for characters that `escaped` replaces by an escape sequence (other than `"` and `\`).
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || (0x7F...0x9F).contains(v) || (0x200B...0x200F).contains(v) || (0x202A...0x202E).contains(v)
            || (0x2066...0x2069).contains(v) || v == 0xFEFF || v == 0x2028 || v == 0x2029
    }
}
