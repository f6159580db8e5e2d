internal import ComfyCrypto
internal import Foundation

/// Identity of a git repository URL, so `https://github.com/A/b.git`, `https://github.com/A/b` and
/// `git@github.com:A/b.git` share one cache entry.
public enum GitURL {
    /// `url` with credentials removed (user-info and credential query values), safe to record in a lock or log.
    public static func strippingCredentials(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex
        var out = String(url[..<schemeEnd.upperBound])
        let authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") {
            out += authority[authority.index(after: at)...]
        } else {
            out += authority
        }
        out += rest[authorityEnd...]
        return out
    }

    /// The normalized identity: `host/path` (lowercase host, no scheme, user, port 443/22/80, trailing `/` or
    /// `.git`), or `file:<absolute path>` for local repositories.
    public static func normalized(_ url: String) -> String {
        var text = strippingCredentials(url.trimmingCharacters(in: .whitespacesAndNewlines))
        var host = ""
        var path = ""
        if let schemeEnd = text.range(of: "://") {
            let scheme = text[..<schemeEnd.lowerBound].lowercased()
            let rest = text[schemeEnd.upperBound...]
            if scheme == "file" {
                return "file:" + standardizedPath(String(rest))
            }
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            host = String(rest[..<slash]).lowercased()
            path = String(rest[slash...])
        } else if text.hasPrefix("/") || text.hasPrefix(".") {
            return "file:" + standardizedPath(text)
        } else if let colon = text.firstIndex(of: ":") {
            // scp-like: [user@]host:path
            var hostPart = text[..<colon]
            if let at = hostPart.lastIndex(of: "@") { hostPart = hostPart[hostPart.index(after: at)...] }
            host = hostPart.lowercased()
            path = "/" + text[text.index(after: colon)...]
        } else {
            return "file:" + standardizedPath(text)
        }
        for port in [":443", ":80", ":22", ":9418"] where host.hasSuffix(port) { host.removeLast(port.count) }
        if let query = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { path = String(path[..<query]) }
        while path.contains("//") { path = path.replacingOccurrences(of: "//", with: "/") }
        while path.hasSuffix("/") { path.removeLast() }
        if path.hasSuffix(".git") { path.removeLast(4) }
        text = host + path
        return text
    }

    /// A file-system-safe cache key: a readable slug plus 16 hex of the normalized identity's SHA-256.
    public static func cacheKey(_ url: String) -> String {
        let identity = normalized(url)
        let digest = SHA256.hash(Array(identity.utf8)).hex.prefix(16)
        var slug = String(
            identity.map { c -> Character in
                c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "-" || c == "_") ? c : "-"
            })
        while slug.contains("--") { slug = slug.replacingOccurrences(of: "--", with: "-") }
        slug = String(slug.trimmingCharacters(in: CharacterSet(charactersIn: "-.")).suffix(60))
        return slug.isEmpty ? String(digest) : "\(slug)-\(digest)"
    }

    private static func standardizedPath(_ path: String) -> String {
        var absolute = path
        if !absolute.hasPrefix("/") { absolute = FileManager.default.currentDirectoryPath + "/" + absolute }
        var result = (absolute as NSString).standardizingPath
        while result.count > 1 && result.hasSuffix("/") { result.removeLast() }
        if result.hasSuffix("/.git") { result.removeLast(5) }
        return result
    }
}
