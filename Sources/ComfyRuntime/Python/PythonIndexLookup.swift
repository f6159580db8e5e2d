public import ComfyLock
internal import ComfySupport
public import ComfyTransport
import Foundation

/// Finds the artifact of an installed distribution on a package index (PEP 691 JSON or PEP 503 HTML simple pages),
/// over ComfyTransport.
///
/// Used by `lock create` for packages of a live venv that are in no known pin set: the index page of the project
/// lists every file with its sha256; the wheel whose name, version and tags equal the installed dist's `WHEEL` tags is
/// the file an installer would have taken. Only an exact match is accepted; an install from an sdist or a local build
/// stays unresolved.
public struct PythonIndexLookup: Sendable {
    /// The indexes, searched in order.
    public var indexURLs: [String]
    /// The HTTP client.
    public var client: HTTPClient
    /// Per-request time limit.
    public var timeout: Duration
    /// Package mirror rules: pages are fetched from the rewritten index URL, and the artifact URL found there is
    /// restored to the original host before it is recorded.
    public var mirrors: URLRewriter

    /// A lookup over `indexURLs`.
    public init(
        indexURLs: [String], client: HTTPClient = .shared, timeout: Duration = .seconds(60),
        mirrors: URLRewriter = URLRewriter()
    ) {
        self.indexURLs = indexURLs
        self.client = client
        self.timeout = timeout
        self.mirrors = mirrors
    }

    /// One file listed on a project page.
    struct IndexFile: Hashable {
        var filename: String
        var url: String
        var sha256: String?
    }

    /// The pinned artifact for `dist`, or nil with the reason. With `exactFilename` (the installed wheel's name, as
    /// an installer cache evidences it), that file is taken instead of the one whose tags equal the `WHEEL` tags.
    public func artifact(
        for dist: InstalledPythonPackage, exactFilename: String? = nil
    ) async -> (artifact: PythonArtifact?, reason: String) {
        guard !dist.wheelTags.isEmpty || exactFilename != nil else { return (nil, "no WHEEL tags recorded") }
        var reasons: [String] = []
        for index in indexURLs.map({ mirrors.rewrite($0, kind: .package) }) {
            let base = index.hasSuffix("/") ? index : index + "/"
            guard let url = URL(string: base + dist.name + "/") else { continue }
            let files: [IndexFile]
            do {
                files = try await projectFiles(url)
            } catch {
                reasons.append("\(Redaction.redactURL(url.absoluteString)): \(error)")
                continue
            }
            let tags = Set(dist.wheelTags)
            let matches = files.filter { file in
                if let exactFilename { return file.filename == exactFilename }
                guard let parsed = PythonNames.parseWheelFilename(file.filename) else { return false }
                return parsed.name == dist.name && PythonDriftCheck.versionsEqual(parsed.version, dist.version)
                    && parsed.tags == tags
            }
            if let match = matches.first, matches.count == 1, let sha = match.sha256 {
                let url = Redaction.redactURL(mirrors.restore(match.url, kind: .package))
                return (PythonArtifact(url: url, sha256: sha, filename: match.filename), "")
            }
            reasons.append(
                "\(Redaction.redactURL(url.absoluteString)): "
                    + (matches.isEmpty
                        ? "no wheel \(dist.name) \(dist.version) with tags \(dist.wheelTags.joined(separator: ","))"
                        : "no single wheel with a sha256"))
        }
        return (nil, reasons.isEmpty ? "no index to look in" : reasons.joined(separator: "; "))
    }

    /// The files listed on a project page (JSON when the index offers it, else HTML anchors).
    func projectFiles(_ url: URL) async throws -> [IndexFile] {
        let request = HTTPRequest(
            url: url,
            headers: ["Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.1"],
            timeout: timeout)
        let response = try await client.send(request, retry: RetryPolicy.none)
        guard response.head.isSuccess else {
            throw PythonError.downloadFailed(
                url.absoluteString, underlying: PythonError.io("HTTP \(response.head.status)"))
        }
        let pageURL = response.head.url
        let contentType = response.head.headers["Content-Type"] ?? ""
        if contentType.contains("json"),
            let json = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let files = json["files"] as? [[String: Any]]
        {
            return files.compactMap { file in
                guard let name = file["filename"] as? String, let href = file["url"] as? String else { return nil }
                let sha = ((file["hashes"] as? [String: Any])?["sha256"] as? String)?.lowercased()
                let absolute = URL(string: href, relativeTo: pageURL)?.absoluteURL.absoluteString ?? href
                return IndexFile(filename: name, url: absolute, sha256: sha)
            }
        }
        return Self.parseHTML(String(decoding: response.body, as: UTF8.self), page: pageURL)
    }

    /// `<a href="URL#sha256=HEX">FILENAME</a>` anchors of a PEP 503 page.
    static func parseHTML(_ html: String, page: URL) -> [IndexFile] {
        guard
            let regex = try? NSRegularExpression(
                pattern: #"<a\s[^>]*href\s*=\s*["']([^"']+)["'][^>]*>([^<]+)</a>"#, options: [.caseInsensitive])
        else { return [] }
        var files: [IndexFile] = []
        let range = NSRange(html.startIndex..., in: html)
        for match in regex.matches(in: html, range: range) {
            guard let hrefRange = Range(match.range(at: 1), in: html),
                let textRange = Range(match.range(at: 2), in: html)
            else { continue }
            let href = String(html[hrefRange]).replacingOccurrences(of: "&amp;", with: "&")
            let text = html[textRange].trimmingCharacters(in: .whitespacesAndNewlines)
            var link = href
            var sha: String?
            if let hash = href.range(of: "#") {
                link = String(href[..<hash.lowerBound])
                let fragment = href[hash.upperBound...]
                if fragment.hasPrefix("sha256=") { sha = String(fragment.dropFirst(7)).lowercased() }
            }
            let absolute = URL(string: link, relativeTo: page)?.absoluteURL.absoluteString ?? link
            let filename = text.isEmpty ? PythonNames.filename(ofURL: absolute) : text
            files.append(IndexFile(filename: filename, url: absolute, sha256: sha))
        }
        return files
    }
}
