extension LockImporter {
    /// `url` without user info and without credential query parameters (`LockValidator.credentialQueryParameters`),
    /// and whether anything was removed.
    public static func strippingCredentials(_ url: String) -> (url: String, removed: Bool) {
        guard let schemeEnd = url.range(of: "://") else { return (url, false) }
        var removed = false
        var rest = String(url[schemeEnd.upperBound...])
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        if let at = rest[..<authorityEnd].lastIndex(of: "@") {
            rest = String(rest[rest.index(after: at)...])
            removed = true
        }
        if let queryStart = rest.firstIndex(of: "?") {
            let fragmentStart = rest[queryStart...].firstIndex(of: "#") ?? rest.endIndex
            let query = rest[rest.index(after: queryStart)..<fragmentStart]
            let kept = query.split(separator: "&").filter { pair in
                let name = String(pair.split(separator: "=", maxSplits: 1).first ?? "")
                let decoded = (name.removingPercentEncodingIfPossible ?? name).lowercased()
                if LockValidator.credentialQueryParameters.contains(decoded) {
                    removed = true
                    return false
                }
                return true
            }
            let fragment = rest[fragmentStart...]
            rest = String(rest[..<queryStart]) + (kept.isEmpty ? "" : "?" + kept.joined(separator: "&")) + fragment
        }
        return (String(url[..<schemeEnd.upperBound]) + rest, removed)
    }
}

extension ImportState {
    /// `url` without embedded credentials (user info, credential query parameters); reports the removal under
    /// `skipped` with a redacted path. Secrets never reach the lock or the report.
    mutating func clean(_ url: String, sourcePath: String) -> String {
        let (cleaned, removed) = LockImporter.strippingCredentials(url)
        if removed {
            report.skipped.append(
                .init(
                    path: sourcePath,
                    message: "credentials removed from \(LockValidator.shown(url)); provide them through the "
                        + "environment (e.g. HF_TOKEN, CIVITAI_TOKEN, a git credential helper) instead"))
        }
        return cleaned
    }

    /// scp-style remotes (`git@github.com:owner/repo.git`, what `git clone git@…` leaves in `remote.origin.url`)
    /// become `https://host/owner/repo.git`, the URL form a lock records (the same mapping as the git cache key).
    mutating func normalizeRemote(_ url: String, sourcePath: String) -> String {
        guard !url.contains("://"), let colon = url.firstIndex(of: ":"), let at = url.firstIndex(of: "@"), at < colon
        else { return url }
        let host = url[url.index(after: at)..<colon]
        var path = String(url[url.index(after: colon)...])
        while path.hasPrefix("/") { path.removeFirst() }
        guard !host.isEmpty, !path.isEmpty, !host.contains("/") else { return url }
        let normalized = "https://\(host)/\(path)"
        report.assumed.append(
            .init(path: sourcePath, message: "scp-style remote \(LockValidator.shown(url)) recorded as \(normalized)"))
        return normalized
    }

    /// Each `/`-separated segment percent-encoded (RFC 3986 unreserved characters kept), so a Hugging Face path
    /// with spaces, `#`, `?` or non-ASCII characters becomes a valid URL path.
    static func percentEncodePath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            var out = ""
            for byte in segment.utf8 {
                let c = Character(Unicode.Scalar(byte))
                if (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
                    || "-._~".contains(c)
                {
                    out.append(c)
                } else {
                    let hex = String(byte, radix: 16, uppercase: true)
                    out += "%" + (hex.count == 1 ? "0" + hex : hex)
                }
            }
            return out
        }.joined(separator: "/")
    }
}
