internal import Foundation

/// The one credential redaction of the product: every message, log line, error and report that may carry text from
/// a user, a server or a child process passes through it before it is shown.
///
/// One mask (`***`) and one rule set, applied in this order:
/// 1. explicit secrets (known token values; strings shorter than 4 characters are ignored);
/// 2. URL user info: `https://user:token@host` → `https://***@host`;
/// 3. Authorization-style header values: `Authorization:`, `Proxy-Authorization:`, `Cookie:`/`Set-Cookie:`,
///    `X-Api-Key:`/`Api-Key:`, `X-Auth-Token:`, `Private-Token:` → `Authorization: ***` (to the end of the line
///    or the closing quote);
/// 4. bearer tokens anywhere: `Bearer abc.def` → `Bearer ***`;
/// 5. JWT-shaped strings (`eyJ….….…`) → `***`;
/// 6. credential query values: `?token=…`, `&X-Goog-Signature=…`, `&upload_id=…` (see `isCredentialName`);
/// 7. credential fields in JSON or form text: `"access_token": "…"`, `client_secret=…`, `"private_key": "…"`.
public enum Redaction {
    /// The replacement text of every rule.
    public static let mask = "***"

    /// `text` with every secret form above replaced by `mask`; `secrets` are known values to remove as well.
    public static func redact(_ text: String, secrets: [String] = []) -> String {
        var out = text
        for secret in secrets.filter({ $0.count >= 4 }).sorted(by: { $0.count > $1.count }) {
            out = out.replacingOccurrences(of: secret, with: mask)
        }
        if out.contains("://") { out = redactURLUserInfo(out) }
        out = redactHeaders(out)
        if out.range(of: "bearer", options: .caseInsensitive) != nil {
            out = out.replacingOccurrences(
                of: #"(?i)\bbearer(\s+)[A-Za-z0-9._~+/=-]+"#, with: "Bearer$1" + mask, options: .regularExpression)
        }
        if out.contains("eyJ") {
            out = out.replacingOccurrences(
                of: #"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"#, with: mask,
                options: .regularExpression)
        }
        if out.contains("=") { out = redactQueryValues(out) }
        if out.contains(":") || out.contains("=") { out = redactFields(out) }
        return out
    }

    /// A URL string safe to show or record: no user info, no credential query values (the same rules as `redact`).
    public static func redactURL(_ url: String, secrets: [String] = []) -> String { redact(url, secrets: secrets) }

    /// True for query parameter and field names that carry credentials: `token`, `key`, `sig`, `auth`,
    /// `upload_id`, `assertion`; names containing `token`, `secret`, `password`, `passwd`, `signature`,
    /// `credential`; names ending in `key`/`_key`/`-key` (`apikey`, `private_key`, `X-Api-Key`), and the AWS/Google
    /// signing fields (`X-Amz-Security-Token`, `X-Goog-Credential`, ...).
    public static func isCredentialName(_ name: String) -> Bool {
        let lower = name.lowercased()
        if ["key", "sig", "auth", "authorization", "upload_id", "assertion"].contains(lower) { return true }
        if lower.hasSuffix("_key") || lower.hasSuffix("-key") || lower.hasSuffix("apikey") { return true }
        return ["token", "secret", "password", "passwd", "signature", "credential"].contains { lower.contains($0) }
    }

    private static let headerNames = [
        "authorization:", "cookie:", "api-key:", "auth-token:", "private-token:",
    ]

    private static func redactURLUserInfo(_ text: String) -> String {
        var result = ""
        var rest = Substring(text)
        while let schemeEnd = rest.range(of: "://") {
            result += rest[..<schemeEnd.upperBound]
            rest = rest[schemeEnd.upperBound...]
            // The authority ends at the first '/', '?', '#', whitespace or quote.
            let authorityEnd = rest.firstIndex(where: { "/?#\"' \t\n\r".contains($0) }) ?? rest.endIndex
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
        var out = text
        for name in headerNames where out.range(of: name, options: .caseInsensitive) != nil {
            var result = ""
            var rest = Substring(out)
            while let range = rest.range(of: name, options: .caseInsensitive) {
                result += rest[..<range.upperBound]
                rest = rest[range.upperBound...]
                let end = rest.firstIndex(where: { "'\"\n\r".contains($0) }) ?? rest.endIndex
                if rest[..<end].contains(where: { !$0.isWhitespace }) { result += " " + mask }
                rest = rest[end...]
            }
            result += rest
            out = result
        }
        return out
    }

    private static func redactQueryValues(_ text: String) -> String {
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
            let key = String(text[index..<eq])
            result += text[index...eq]
            index = text.index(after: eq)
            let end = text[index...].firstIndex(where: { "&# \t\n\"'".contains($0) }) ?? text.endIndex
            let name = key.removingPercentEncoding ?? key
            if isCredentialName(name) && index < end {
                result += mask
            } else {
                result += text[index..<end]
            }
            index = end
        }
        return result
    }

    private static let fieldNames = [
        "access_token", "refresh_token", "id_token", "client_secret", "assertion", "private_key", "password",
        "api_key", "apikey", "secret",
    ]

    private static func redactFields(_ text: String) -> String {
        let lower = text.lowercased()
        guard fieldNames.contains(where: { lower.contains($0) }) else { return text }
        let names = fieldNames.joined(separator: "|")
        return text.replacingOccurrences(
            of: #"(?i)("?\b(?:"# + names + #")"?\s*[:=]\s*"?)(?!\*\*\*)[^"&,\s}]+"#, with: "$1" + mask,
            options: .regularExpression)
    }
}
