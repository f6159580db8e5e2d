internal import Foundation

/// Masks credentials in text shown to users (commands, stderr tails, URLs).
///
/// Removes: explicit secret strings, the user-info part of URLs (`https://user:token@host` →
/// `https://***@host`), `Authorization`/`Proxy-Authorization` header values, and the values of query parameters
/// commonly used for credentials (`token`, `access_token`, `key`, `sig`, `X-Goog-Signature`, ...).
public enum Redaction {
    /// The replacement text.
    public static let mask = "***"

    private static let secretQueryKeys: Set<String> = [
        "token", "access_token", "api_key", "apikey", "key", "sig", "signature", "x-goog-signature",
        "x-amz-signature", "x-amz-credential", "x-goog-credential", "password", "secret", "auth",
    ]

    /// `text` with every known secret form replaced by `***`.
    public static func redact(_ text: String, secrets: [String] = []) -> String {
        var out = text
        for secret in secrets where secret.count >= 4 {
            out = out.replacingOccurrences(of: secret, with: mask)
        }
        out = redactURLUserInfo(out)
        out = redactHeaders(out)
        out = redactQueryValues(out)
        return out
    }

    /// A URL string safe to show or record: no user-info, no credential query values.
    public static func redactURL(_ url: String) -> String { redact(url) }

    private static func redactURLUserInfo(_ text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let schemeEnd = rest.range(of: "://") {
            result += rest[..<schemeEnd.upperBound]
            rest = rest[schemeEnd.upperBound...]
            // The authority ends at the first '/', '?', '#', whitespace or quote.
            let authorityEnd =
                rest.firstIndex(where: { "/?#\"' \t\n\r".contains($0) }) ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                result += mask + "@"
                rest = rest[rest.index(after: at)...]
            }
        }
        result += rest
        return result
    }

    private static func redactHeaders(_ text: String) -> String {
        // `Authorization: <scheme> <credentials>`: mask up to the end of the line or the closing quote.
        var result = ""
        var rest = Substring(text)
        while let range = rest.range(of: "authorization:", options: .caseInsensitive) {
            result += rest[..<range.upperBound]
            rest = rest[range.upperBound...]
            let end = rest.firstIndex(where: { "'\"\n\r".contains($0) }) ?? rest.endIndex
            if rest[..<end].contains(where: { !$0.isWhitespace }) { result += " " + mask }
            rest = rest[end...]
        }
        result += rest
        return result
    }

    private static func redactQueryValues(_ text: String) -> String {
        guard text.contains("=") else { return text }
        var result = ""
        var index = text.startIndex
        while index < text.endIndex {
            let char = text[index]
            guard char == "?" || char == "&" else {
                result.append(char)
                index = text.index(after: index)
                continue
            }
            result.append(char)
            index = text.index(after: index)
            guard let eq = text[index...].firstIndex(where: { $0 == "=" || "&?# \t\n\"'".contains($0) }),
                text[eq] == "="
            else { continue }
            let key = text[index..<eq].lowercased()
            result += text[index...eq]
            index = text.index(after: eq)
            let end = text[index...].firstIndex(where: { "&# \t\n\"'".contains($0) }) ?? text.endIndex
            if secretQueryKeys.contains(key) && index < end {
                result += mask
            } else {
                result += text[index..<end]
            }
            index = end
        }
        return result
    }
}
