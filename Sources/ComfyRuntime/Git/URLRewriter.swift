internal import ComfySupport
public import Foundation

/// Rewrites download URLs to mirrors (air-gapped hosts, internal caches). Applied when fetching; the original URL is
/// what locks and version metadata record.
///
/// Sources, in order (the longest matching prefix wins):
/// - `COMFYLOCK_GIT_MIRROR` (git URLs only): either `PREFIX=REPLACEMENT` pairs separated by `;` or newlines, or a
///   single base (`file:///srv/git` or `https://git.internal/mirror`) under which `https://HOST/PATH` is found as
///   `BASE/HOST/PATH`.
/// - `COMFYLOCK_MODEL_MIRROR` (model sources only): `PREFIX=REPLACEMENT` pairs.
/// - `COMFYLOCK_PACKAGE_MIRROR` (Python package indexes and pinned artifact URLs): `PREFIX=REPLACEMENT` pairs, e.g.
///   `https://pypi.org/simple=https://pypi.internal/simple;https://files.pythonhosted.org/=https://pypi.internal/files/`.
///   Index URLs are rewritten before uv/pip (and `lock create`'s index lookup) see them, and artifact URLs a mirror
///   returns are mapped back through the same rules (`restore(_:kind:)`), so locks always record the original URLs.
/// - The mirrors file (`$COMFYLOCK_MIRRORS`, else `$XDG_CONFIG_HOME/comfylock/mirrors.conf`, else
///   `~/.config/comfylock/mirrors.conf`): one rule per line, `PREFIX = REPLACEMENT` for every kind of URL, or
///   `git: PREFIX = REPLACEMENT` / `models: PREFIX = REPLACEMENT` / `packages: PREFIX = REPLACEMENT`; `#` starts a
///   comment.
public struct URLRewriter: Sendable, Hashable {
    /// What a URL is for.
    public enum Kind: String, Sendable, Hashable {
        /// Git repositories (ComfyUI, custom nodes).
        case git
        /// Model and file-node sources.
        case model
        /// Pinned Python artifacts (wheels, sdists).
        case package
    }

    /// One prefix rule.
    public struct Rule: Sendable, Hashable {
        /// The URL prefix to match.
        public var prefix: String
        /// What replaces the prefix.
        public var replacement: String
        /// The kinds of URL it applies to.
        public var kinds: Set<Kind>
        /// A rule.
        public init(prefix: String, replacement: String, kinds: Set<Kind> = [.git, .model, .package]) {
            self.prefix = prefix
            self.replacement = replacement
            self.kinds = kinds
        }
    }

    /// Prefix rules.
    public var rules: [Rule]
    /// Base directory/URL for git repositories (`BASE/HOST/PATH`), if set.
    public var gitBase: String?

    /// A rewriter with explicit rules.
    public init(rules: [Rule] = [], gitBase: String? = nil) {
        self.rules = rules
        self.gitBase = gitBase
    }

    /// Reads the rules from the environment and the mirrors file; an unreadable or malformed file is an error.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws
        -> URLRewriter
    {
        var rewriter = URLRewriter()
        if let value = environment["COMFYLOCK_GIT_MIRROR"]?.trimmingCharacters(in: .whitespacesAndNewlines),
            !value.isEmpty
        {
            if value.contains("=") {
                rewriter.rules += try parsePairs(value, kinds: [.git], origin: "COMFYLOCK_GIT_MIRROR")
            } else {
                rewriter.gitBase = value
            }
        }
        if let value = environment["COMFYLOCK_MODEL_MIRROR"], !value.isEmpty {
            rewriter.rules += try parsePairs(value, kinds: [.model], origin: "COMFYLOCK_MODEL_MIRROR")
        }
        if let value = environment["COMFYLOCK_PACKAGE_MIRROR"], !value.isEmpty {
            rewriter.rules += try parsePairs(value, kinds: [.package], origin: "COMFYLOCK_PACKAGE_MIRROR")
        }
        let file: String
        if let explicit = environment["COMFYLOCK_MIRRORS"], !explicit.isEmpty {
            file = explicit
            guard FileManager.default.fileExists(atPath: file) else {
                throw RuntimeError.invalidConfiguration("COMFYLOCK_MIRRORS names \(file), which does not exist")
            }
        } else if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty {
            file = xdg + "/comfylock/mirrors.conf"
        } else {
            file = (environment["HOME"] ?? NSHomeDirectory()) + "/.config/comfylock/mirrors.conf"
        }
        if FileManager.default.fileExists(atPath: file) {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw RuntimeError.invalidConfiguration("cannot read mirrors file \(file)")
            }
            rewriter.rules += try parseFile(text, origin: file)
        }
        return rewriter
    }

    /// `url` rewritten by the longest matching rule (or the git base), else unchanged.
    public func rewrite(_ url: String, kind: Kind) -> String {
        let matching = rules.filter { $0.kinds.contains(kind) && url.hasPrefix($0.prefix) }
        if let best = matching.max(by: { $0.prefix.count < $1.prefix.count }) {
            return best.replacement + url.dropFirst(best.prefix.count)
        }
        if kind == .git, let gitBase, let schemeEnd = url.range(of: "://") {
            let rest = GitURL.strippingCredentials(url)[schemeEnd.upperBound...]
            let base = gitBase.hasSuffix("/") ? String(gitBase.dropLast()) : gitBase
            return base + "/" + rest
        }
        return url
    }

    /// The inverse of `rewrite(_:kind:)` for prefix rules: `url` with the longest matching replacement turned back into
    /// its prefix, else unchanged. A URL served by a mirror is recorded under the original host this way.
    public func restore(_ url: String, kind: Kind) -> String {
        let matching = rules.filter { $0.kinds.contains(kind) && url.hasPrefix($0.replacement) }
        if let best = matching.max(by: { $0.replacement.count < $1.replacement.count }) {
            return best.prefix + url.dropFirst(best.replacement.count)
        }
        return url
    }

    /// True when at least one rule applies to `kind` (or, for git, a base is set).
    public func hasRules(for kind: Kind) -> Bool {
        rules.contains { $0.kinds.contains(kind) } || (kind == .git && gitBase != nil)
    }

    static func parsePairs(_ text: String, kinds: Set<Kind>, origin: String) throws -> [Rule] {
        try text.split(whereSeparator: { $0 == ";" || $0 == "\n" }).compactMap { item in
            let pair = item.trimmingCharacters(in: .whitespaces)
            if pair.isEmpty { return nil }
            guard let eq = pair.firstIndex(of: "=") else {
                throw RuntimeError.invalidConfiguration("\(origin): expected PREFIX=REPLACEMENT, got \(pair)")
            }
            let prefix = pair[..<eq].trimmingCharacters(in: .whitespaces)
            let replacement = pair[pair.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !prefix.isEmpty, !replacement.isEmpty else {
                throw RuntimeError.invalidConfiguration("\(origin): empty prefix or replacement in \(pair)")
            }
            return Rule(prefix: prefix, replacement: replacement, kinds: kinds)
        }
    }

    static func parseFile(_ text: String, origin: String) throws -> [Rule] {
        var rules: [Rule] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: .whitespaces)
            if let hash = line.firstIndex(of: "#"), hash == line.startIndex || line[line.index(before: hash)] == " " {
                line = String(line[..<hash]).trimmingCharacters(in: .whitespaces)
            }
            if line.isEmpty { continue }
            var kinds: Set<Kind> = [.git, .model, .package]
            if line.hasPrefix("git:") && !line.hasPrefix("git://") {
                kinds = [.git]
                line = String(line.dropFirst(4))
            } else if line.hasPrefix("models:") {
                kinds = [.model]
                line = String(line.dropFirst(7))
            } else if line.hasPrefix("packages:") {
                kinds = [.package]
                line = String(line.dropFirst(9))
            }
            guard let sep = line.range(of: " = ") ?? line.range(of: "=") else {
                throw RuntimeError.invalidConfiguration(
                    "\(origin):\(number + 1): expected 'PREFIX = REPLACEMENT', got '\(Redaction.redact(line))'")
            }
            let prefix = line[..<sep.lowerBound].trimmingCharacters(in: .whitespaces)
            let replacement = line[sep.upperBound...].trimmingCharacters(in: .whitespaces)
            guard !prefix.isEmpty, !replacement.isEmpty else {
                throw RuntimeError.invalidConfiguration("\(origin):\(number + 1): empty prefix or replacement")
            }
            rules.append(Rule(prefix: prefix, replacement: replacement, kinds: kinds))
        }
        return rules
    }
}
