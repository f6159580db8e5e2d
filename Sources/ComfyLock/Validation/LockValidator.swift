import ComfySupport

/// Checks a lock against the rules of schema v1 beyond its shape: hashes, commits, URLs (schemes, no credentials),
/// relative normalized paths, safe node names, duplicates, and that every artifact is pinned by hash.
///
/// Missing values (an empty `sha256` or `commit`, as produced by `LockImporter` when the source format does not
/// record them) are errors: a lock is only reproducible once everything is pinned.
public enum LockValidator {
    /// Every finding, errors and warnings, in document order.
    public static func validate(_ lock: Lock) -> [LockDiagnostic] {
        var v = Collector()
        v.check(lock)
        return v.diagnostics
    }

    /// Rules that only say a value is still missing (an incomplete import, a lock not pinned yet). A lock with only
    /// these errors is *safe* to read — nothing in it can name an option, a command, a credential or a path outside
    /// its root — but not complete enough to build a version from.
    public static let completenessRules: Set<String> = [
        "sha256-missing", "commit-missing", "python-unhashed", "required", "python-version-missing",
        "python-platform-missing", "model-size-missing",
    ]

    /// How much of the rule set a reader needs.
    public enum Level: Sendable {
        /// Every rule: the lock is complete and safe (version create, the handler, models verify/fetch).
        case complete
        /// Every rule except `completenessRules` (pin, wheelhouse, import: they fill in or use what is there).
        case safe
    }

    /// The errors of `validate` that matter at `level`.
    public static func errors(_ lock: Lock, level: Level) -> [LockDiagnostic] {
        validate(lock).filter {
            $0.severity == .error && (level == .complete || !completenessRules.contains($0.rule))
        }
    }

    /// The findings for a pin set on its own (a `pins.json`), with paths under `$.python`.
    public static func validate(python: PythonPins) -> [LockDiagnostic] {
        var v = Collector()
        v.checkPython(python)
        return v.diagnostics
    }

    /// True when `validate` reports no error (warnings allowed).
    public static func isValid(_ lock: Lock) -> Bool {
        !validate(lock).contains { $0.severity == .error }
    }

    /// True for exactly 64 lowercase hex characters.
    public static func isSHA256(_ text: String) -> Bool { isLowerHex(text, count: 64) }

    /// True for exactly 40 lowercase hex characters (a git SHA-1 commit).
    public static func isCommit(_ text: String) -> Bool { isLowerHex(text, count: 40) }

    static func isLowerHex(_ text: String, count: Int) -> Bool {
        var n = 0
        for byte in text.utf8 {
            guard (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) else { return false }
            n += 1
        }
        return n == count
    }

    /// Query parameters that carry credentials; a URL holding one is refused.
    public static let credentialQueryParameters: Set<String> = [
        "token", "download_token", "access_token", "auth", "auth_token", "api_key", "apikey", "key", "password",
        "passwd", "secret", "sig", "signature", "hf_token", "x-goog-signature", "x-goog-credential",
        "x-amz-signature", "x-amz-credential", "x-amz-security-token",
    ]

    /// What a URL is used for; decides the schemes it may have.
    public enum URLKind: Sendable {
        /// Downloaded over HTTP (models, wheels, indexes, file nodes): `http`, `https` or `file`.
        case download
        /// Fetched by git (ComfyUI, git nodes, VCS pins): `https`, `http`, `ssh`, `file`, or scp-style
        /// `[user@]host:path`. Never `git://` (it honours `core.gitProxy`) or `ext::` (runs a command).
        case git
    }

    /// The one URL rule. Refuses: an empty URL, anything starting with `-` (git would read it as an option), spaces
    /// and control characters, schemes other than those of `kind`, a missing host (except `file`), a host starting
    /// with `-`, embedded credentials (`user:password@`; for http(s) any user info; ssh/scp-style allow a user name
    /// without password), and credential-looking parameters in the query or fragment (`?token=…`, `#token=…`).
    /// Returns `(rule, message)` for the first problem, or `nil` when fine. The message never echoes a secret: it
    /// shows the URL through `Redaction.redactURL` (no user info, no credential query values), without its
    /// fragment, control characters replaced by `?`, at most 200 characters.
    ///
    /// Public so that other modules refuse URLs by the same rule: ComfyRuntime's git runner, requirements reader,
    /// registry nodes and lock editor, and `comfy-cli node add`, call it.
    public static func checkURL(_ url: String, kind: URLKind = .download) -> (rule: String, message: String)? {
        let expected =
            kind == .git ? "an https, http, ssh, file or scp-style (host:path) git URL" : "an http(s) or file URL"
        guard !url.isEmpty else { return ("url", "missing URL; expected \(expected)") }
        var redacted: String { display(url) }  // only computed for a message
        if url.hasPrefix("-") {
            return (
                "url-option", "URL \(redacted) starts with '-' (it would be read as an option); expected \(expected)"
            )
        }
        let bytes = Array(url.utf8)
        for byte in bytes where byte <= 0x20 || byte == 0x7F {
            return ("url", "URL \(redacted) contains a space or control character; expected it percent-encoded")
        }
        var separator: Int?
        if bytes.count >= 3 {
            for i in 0...(bytes.count - 3) where bytes[i] == 0x3A && bytes[i + 1] == 0x2F && bytes[i + 2] == 0x2F {
                separator = i
                break
            }
        }
        guard let separator else {
            if kind == .git { return checkSCPStyle(url, bytes: bytes) }
            return ("url", "\(redacted) is not a URL with a scheme; expected \(expected)")
        }
        let scheme = String(decoding: bytes[..<separator], as: UTF8.self).lowercased()
        let allowed = kind == .git ? ["http", "https", "ssh", "file"] : ["http", "https", "file"]
        guard allowed.contains(scheme) else {
            return (
                "url-scheme",
                "URL scheme \(Escaping.quoted(String(scheme.prefix(40)))) is not allowed; expected \(expected)"
            )
        }
        let restStart = separator + 3
        var authorityEnd = restStart
        while authorityEnd < bytes.count, bytes[authorityEnd] != 0x2F, bytes[authorityEnd] != 0x3F,
            bytes[authorityEnd] != 0x23
        {
            authorityEnd += 1
        }
        let authority = bytes[restStart..<authorityEnd]
        var host = authority[...]
        if let at = authority.lastIndex(of: 0x40) {
            let user = authority[..<at]
            if scheme != "ssh" || user.contains(0x3A) || user.isEmpty {
                return (
                    "url-credentials",
                    "URL \(redacted) embeds credentials (user info before '@'); remove them and provide the token "
                        + "through the environment (e.g. HF_TOKEN, CIVITAI_API_TOKEN, COMFYLOCK_AUTH_<HOST>)"
                )
            }
            host = authority[(at + 1)...]
        }
        if scheme != "file" && host.isEmpty {
            return ("url", "URL \(redacted) has no host; expected \(scheme)://HOST/...")
        }
        if host.first == 0x2D {
            return ("url-option", "URL \(redacted) has a host starting with '-'; expected a host name")
        }
        if scheme == "file" && kind == .git && bytes.count == restStart {
            return ("url", "URL \(redacted) has no path; expected file:///PATH")
        }
        return checkCredentialParameters(url, bytes: bytes, from: restStart)
    }

    /// scp-style git addresses: `[user@]host:path`, or an absolute local path.
    private static func checkSCPStyle(_ url: String, bytes: [UInt8]) -> (rule: String, message: String)? {
        let redacted = display(url)
        if bytes.first == 0x2F {  // an absolute local path
            return checkCredentialParameters(url, bytes: bytes, from: 0)
        }
        guard let colon = bytes.firstIndex(of: 0x3A), colon > 0, colon + 1 < bytes.count,
            !bytes[..<colon].contains(0x2F)
        else {
            return (
                "url", "\(redacted) is not a URL; expected an https, http, ssh, file or scp-style (host:path) git URL"
            )
        }
        if bytes[colon + 1] == 0x3A {
            return ("url", "\(redacted) uses the remote-helper form TRANSPORT::ADDRESS; expected a git URL")
        }
        var host = bytes[..<colon]
        if let at = host.lastIndex(of: 0x40) {
            if host[..<at].isEmpty || host[..<at].contains(0x3A) {
                return ("url-credentials", "URL \(redacted) embeds credentials; expected user@host:path")
            }
            host = host[(at + 1)...]
        }
        if host.isEmpty || host.first == 0x2D {
            return ("url-option", "URL \(redacted) has an empty host or one starting with '-'; expected host:path")
        }
        return checkCredentialParameters(url, bytes: bytes, from: colon + 1)
    }

    /// Refuses credential-looking `name=value` parameters in the query or the fragment.
    private static func checkCredentialParameters(
        _ url: String, bytes: [UInt8], from start: Int
    )
        -> (rule: String, message: String)?
    {
        let tail = bytes[start...]
        var sections: [ArraySlice<UInt8>] = []
        let fragmentStart = tail.firstIndex(of: 0x23)
        if let queryStart = tail.firstIndex(of: 0x3F), queryStart < (fragmentStart ?? bytes.count) {
            sections.append(bytes[(queryStart + 1)..<(fragmentStart ?? bytes.count)])
        }
        if let fragmentStart { sections.append(bytes[(fragmentStart + 1)...]) }
        for (index, section) in sections.enumerated() {
            let isFragment = index == sections.count - 1 && fragmentStart != nil
            for pair in section.split(whereSeparator: { $0 == 0x26 || $0 == 0x3B }) {
                let name = String(decoding: pair.split(separator: 0x3D, maxSplits: 1).first ?? [], as: UTF8.self)
                let decoded = (name.removingPercentEncodingIfPossible ?? name).lowercased()
                if credentialQueryParameters.contains(decoded) {
                    return (
                        "url-credentials",
                        "URL \(display(url)) carries a credential in \(isFragment ? "fragment" : "query") parameter "
                            + "'\(Escaping.escaped(decoded))'; remove it and provide the token through the "
                            + "environment (e.g. HF_TOKEN, CIVITAI_API_TOKEN) instead"
                    )
                }
            }
        }
        return nil
    }

    /// `shown` without the fragment (a fragment may hold a credential, e.g. `#token=…`).
    static func display(_ url: String) -> String {
        guard let hash = url.firstIndex(of: "#") else { return shown(url) }
        return shown(String(url[..<hash])) + "#…"
    }

    /// A URL (or a line holding one) safe to print: credentials removed by `Redaction.redactURL` (user info,
    /// credential query values), control characters replaced by `?`, at most 200 characters.
    package static func shown(_ url: String) -> String {
        var limited = ""
        for scalar in Redaction.redactURL(url).unicodeScalars.prefix(200) {
            limited.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F ? "?" : scalar)
        }
        return limited
    }

    /// Checks a relative path (model path, workflow path): non-empty, relative, `/`-separated, normalized (no empty,
    /// `.` or `..` segments), no NUL or control characters. Returns `(rule, message)` or `nil`.
    public static func checkRelativePath(_ path: String) -> (rule: String, message: String)? {
        if path.isEmpty { return ("path", "empty path; expected a relative path like checkpoints/x.safetensors") }
        for scalar in path.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7F {
            return ("path-control-character", "path contains NUL or a control character (U+\(hex4(scalar.value)))")
        }
        if path.hasPrefix("/") {
            return ("path-absolute", "absolute path \(Escaping.quoted(path)); expected a path relative to the root")
        }
        if path.contains("\\") {
            return (
                "path-backslash",
                "path \(Escaping.quoted(path)) contains a backslash; expected '/' as the only separator"
            )
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for segment in segments {
            if segment == ".." {
                return (
                    "path-traversal",
                    "path \(Escaping.quoted(path)) contains '..'; expected a path that stays under the root"
                )
            }
            if segment.isEmpty {
                return (
                    "path-not-normalized", "path \(Escaping.quoted(path)) has an empty segment ('//' or a trailing '/')"
                )
            }
            if segment == "." {
                return (
                    "path-not-normalized",
                    "path \(Escaping.quoted(path)) contains a '.' segment; expected it normalized"
                )
            }
            if segment.utf8.count > 255 {
                return (
                    "path-component-too-long",
                    "path \(Escaping.quoted(path, limit: 80)) has a component of \(segment.utf8.count) bytes; "
                        + "expected at most 255 (a file name limit)"
                )
            }
        }
        if path.utf8.count > 4095 {
            return ("path-too-long", "path of \(path.utf8.count) bytes; expected at most 4095")
        }
        return nil
    }

    /// Checks a name that becomes one file or directory name (tags, workflow names, version names): non-empty,
    /// at most 255 bytes, no `/` or `\\`, not `.` or `..`, no leading `.` or `-`, no control or format characters.
    /// `what` names the field in the message. Returns `(rule, message)` or `nil`.
    public static func checkComponent(_ name: String, what: String, rule: String) -> (rule: String, message: String)? {
        if name.isEmpty { return (rule, "empty \(what); expected a name") }
        if name.unicodeScalars.contains(where: { Escaping.needsEscape($0) }) {
            return (rule, "\(what) \(Escaping.quoted(name)) contains a control or format character")
        }
        if name.contains("/") || name.contains("\\") || name == "." || name == ".." || name.hasPrefix(".")
            || name.hasPrefix("-")
        {
            return (
                rule,
                "\(what) \(Escaping.quoted(name)) is not a safe file name; expected one path component with no '/', "
                    + "'\\\\', leading '.' or '-'"
            )
        }
        if name.utf8.count > 255 { return (rule, "\(what) is \(name.utf8.count) bytes long; expected at most 255") }
        return nil
    }

    /// True for a PEP 503-normalized project name: lowercase ASCII letters and digits in runs joined by single `-`.
    public static func isNormalizedPackageName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, let last = bytes.last, first != 0x2D, last != 0x2D, bytes.count <= 255 else {
            return false
        }
        var previousDash = false
        for byte in bytes {
            let isDash = byte == 0x2D
            guard isDash || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) else { return false }
            if isDash && previousDash { return false }
            previousDash = isDash
        }
        return true
    }

    /// True for text that can be a version or git ref in a requirement or argv: non-empty, at most 255 bytes,
    /// ASCII letters, digits and `. _ + ! - / ~ ^ @`, not starting with `-`.
    public static func isSafeVersionText(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 255, !text.hasPrefix("-") else { return false }
        return text.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || [0x2E, 0x5F, 0x2B, 0x21, 0x2D, 0x2F, 0x7E, 0x5E, 0x40].contains(b)
        }
    }

    /// Checks a custom node name: one safe path component. Returns `(rule, message)` or `nil`.
    public static func checkNodeName(_ name: String) -> (rule: String, message: String)? {
        if name.isEmpty { return ("node-name", "empty node name; expected the directory name under custom_nodes/") }
        for scalar in name.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7F {
            return ("node-name", "node name contains NUL or a control character (U+\(hex4(scalar.value)))")
        }
        if name.contains("/") || name.contains("\\") || name == "." || name == ".." || name.hasPrefix(".") {
            return (
                "node-name",
                "node name \(Escaping.quoted(name)) is not a single safe path component; expected a directory name with no "
                    + "'/', '\\\\' or leading '.'"
            )
        }
        if name.utf8.count > 255 { return ("node-name", "node name is longer than 255 bytes") }
        return nil
    }

    static func hex4(_ value: UInt32) -> String { String(format4: value).uppercased() }
}

extension String {
    var removingPercentEncodingIfPossible: String? {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = Array(utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

private struct Collector {
    var diagnostics: [LockDiagnostic] = []

    mutating func error(_ path: String, _ rule: String, _ message: String) {
        diagnostics.append(LockDiagnostic(severity: .error, path: path, rule: rule, message: message))
    }

    mutating func warning(_ path: String, _ rule: String, _ message: String) {
        diagnostics.append(LockDiagnostic(severity: .warning, path: path, rule: rule, message: message))
    }

    mutating func sha256(_ value: String, _ path: String) {
        if value.isEmpty {
            error(path, "sha256-missing", "missing SHA-256 (the source did not record it); expected 64 lowercase hex")
        } else if !LockValidator.isSHA256(value) {
            error(
                path, "sha256",
                "\(Escaping.quoted(value.prefix(80))) is not a SHA-256; expected 64 lowercase hex characters")
        }
    }

    mutating func commit(_ value: String, _ path: String) {
        if value.isEmpty {
            error(path, "commit-missing", "missing commit (the source did not record it); expected 40 lowercase hex")
        } else if !LockValidator.isCommit(value) {
            error(
                path, "commit",
                "\(Escaping.quoted(value.prefix(80))) is not a commit SHA; expected 40 lowercase hex characters")
        }
    }

    mutating func url(_ value: String, _ path: String, kind: LockValidator.URLKind = .download) {
        if let (rule, message) = LockValidator.checkURL(value, kind: kind) { error(path, rule, message) }
    }

    mutating func relativePath(_ value: String, _ path: String) -> Bool {
        if let (rule, message) = LockValidator.checkRelativePath(value) {
            error(path, rule, message)
            return false
        }
        return true
    }

    mutating func nonEmpty(_ value: String, _ path: String, _ what: String) {
        if value.trimmingSpaces.isEmpty { error(path, "required", "\(what) is empty; expected a value") }
    }

    mutating func check(_ lock: Lock) {
        if !Lock.supportedSchemaVersions.contains(lock.schemaVersion) {
            error("$.schemaVersion", "schema-version", "schemaVersion \(lock.schemaVersion); expected 1 or 2")
        }
        nonEmpty(lock.tag, "$.tag", "tag")
        if !lock.tag.isEmpty, let (rule, message) = LockValidator.checkComponent(lock.tag, what: "tag", rule: "tag") {
            error("$.tag", rule, message)
        }
        nonEmpty(lock.createdBy, "$.createdBy", "createdBy")
        url(lock.comfyui.url, "$.comfyui.url", kind: .git)
        commit(lock.comfyui.commit, "$.comfyui.commit")
        if let ref = lock.comfyui.ref, !LockValidator.isSafeVersionText(ref) {
            error(
                "$.comfyui.ref", "ref",
                "ref \(Escaping.quoted(ref)) is not a git ref name; expected letters, digits and . _ + - / (no leading -)"
            )
        }
        checkNodes(lock.customNodes)
        if let python = lock.python {
            checkPython(python)
        } else {
            warning(
                "$.python", "python-unpinned",
                "no python section: Python packages are not pinned yet (run `comfy-cli pin`)")
        }
        checkModels(lock.models)
        checkWorkflows(lock.workflows)
    }

    mutating func checkNodes(_ nodes: [CustomNode]) {
        var seen: [String: Int] = [:]
        var folded: [String: String] = [:]
        for (index, node) in nodes.enumerated() {
            let base = "$.customNodes[\(index)]"
            if let (rule, message) = LockValidator.checkNodeName(node.name) { error(base + ".name", rule, message) }
            if let first = seen[node.name] {
                error(
                    base + ".name", "node-duplicate",
                    "node \(Escaping.quoted(node.name)) is listed twice (also at $.customNodes[\(first)])")
            } else {
                seen[node.name] = index
                let key = node.name.lowercased()
                if let other = folded[key], other != node.name {
                    warning(
                        base + ".name", "node-case-collision",
                        "node \(Escaping.quoted(node.name)) differs from \(Escaping.quoted(other)) only by case; they collide on "
                            + "case-insensitive file systems"
                    )
                }
                folded[key] = node.name
            }
            func forbid(_ value: String?, _ field: String) {
                if value != nil {
                    error(
                        base + "." + field, "node-kind-fields",
                        "\(field) does not apply to a \(node.kind.rawValue) node; remove it")
                }
            }
            switch node.kind {
            case .git:
                if let url = node.url {
                    self.url(url, base + ".url", kind: .git)
                } else {
                    error(base + ".url", "required", "a git node needs url")
                }
                if let commit = node.commit {
                    self.commit(commit, base + ".commit")
                } else {
                    error(base + ".commit", "commit-missing", "a git node needs commit (40 lowercase hex)")
                }
                forbid(node.registryId, "registryId")
                forbid(node.version, "version")
                forbid(node.sha256, "sha256")
                forbid(node.treeHash, "treeHash")
            case .registry:
                if let id = node.registryId {
                    nonEmpty(id, base + ".registryId", "registryId")
                    if !id.isEmpty,
                        let (rule, message) = LockValidator.checkComponent(
                            id, what: "registryId", rule: "registry-id")
                    {
                        error(base + ".registryId", rule, message)
                    }
                } else {
                    error(base + ".registryId", "required", "a registry node needs registryId")
                }
                if let version = node.version {
                    nonEmpty(version, base + ".version", "version")
                    if !version.isEmpty && !LockValidator.isSafeVersionText(version) {
                        error(
                            base + ".version", "registry-version",
                            "version \(Escaping.quoted(version)) is not a version")
                    }
                } else {
                    error(base + ".version", "required", "a registry node needs version")
                }
                if let url = node.url { self.url(url, base + ".url") }
                if let sha = node.sha256 { sha256(sha, base + ".sha256") }
                if let tree = node.treeHash { sha256(tree, base + ".treeHash") }
                // Pinned = archive URL, archive sha256 and tree hash, all three (`comfy-cli lock pin-registry`).
                // A warning for every reader; `VersionBuilder` refuses to build a lock that has it.
                let missing = [("url", node.url), ("sha256", node.sha256), ("treeHash", node.treeHash)]
                    .filter { $0.1 == nil }.map(\.0)
                if !missing.isEmpty {
                    warning(
                        base, "registry-unpinned",
                        "registry node not pinned (no \(missing.joined(separator: ", "))): it cannot be built until "
                            + "`comfy-cli lock pin-registry` records its archive URL, sha256 and tree hash")
                }
                forbid(node.commit, "commit")
            case .file:
                if let sha = node.sha256 {
                    sha256(sha, base + ".sha256")
                } else {
                    error(base + ".sha256", "sha256-missing", "a file node needs sha256 (64 lowercase hex)")
                }
                if let url = node.url { self.url(url, base + ".url") }
                forbid(node.commit, "commit")
                forbid(node.registryId, "registryId")
                forbid(node.version, "version")
                forbid(node.treeHash, "treeHash")
            }
        }
    }

    mutating func checkPython(_ python: PythonPins) {
        let version = python.version.split(separator: ".", omittingEmptySubsequences: false)
        if python.version.isEmpty {
            error("$.python.version", "python-version-missing", "missing Python version; expected e.g. 3.11 or 3.11.7")
        } else if !(2...3).contains(version.count)
            || version.contains(where: { $0.isEmpty || !$0.allSatisfy(\.isASCIIDigit) })
        {
            error(
                "$.python.version", "python-version",
                "\(Escaping.quoted(python.version)) is not a Python version; expected e.g. 3.11 or 3.11.7")
        }
        if python.platform.isEmpty {
            error(
                "$.python.platform", "python-platform-missing",
                "missing platform tag; expected e.g. manylinux_2_36_x86_64")
        } else if !python.platform.allSatisfy({
            $0.isASCIIDigit || ($0.isASCII && $0.isLetter) || $0 == "_" || $0 == "."
        }) {
            error(
                "$.python.platform", "python-platform",
                "\(Escaping.quoted(python.platform)) is not a platform tag; expected e.g. manylinux_2_36_x86_64")
        }
        for (index, url) in python.indexUrls.enumerated() { self.url(url, "$.python.indexUrls[\(index)]") }
        var seen: [String: Int] = [:]
        for (index, package) in python.packages.enumerated() {
            let base = "$.python.packages[\(index)]"
            if package.name.isEmpty {
                error(base + ".name", "required", "package name is empty")
            } else if !LockValidator.isNormalizedPackageName(PythonPackage.normalize(package.name)) {
                error(
                    base + ".name", "python-package-name",
                    "\(Escaping.quoted(package.name)) is not a PEP 503 project name; expected letters, digits and "
                        + "single '-' (normalized)"
                )
            } else if PythonPackage.normalize(package.name) != package.name {
                error(
                    base + ".name", "python-package-name",
                    "\(Escaping.quoted(package.name)) is not PEP 503 normalized; expected "
                        + "\(Escaping.quoted(PythonPackage.normalize(package.name)))"
                )
            }
            if let first = seen[package.name] {
                error(
                    base + ".name", "python-package-duplicate",
                    "package \(Escaping.quoted(package.name)) is listed twice (also at $.python.packages[\(first)])")
            } else {
                seen[package.name] = index
            }
            nonEmpty(package.version, base + ".version", "version")
            if !package.version.isEmpty && !LockValidator.isSafeVersionText(package.version) {
                error(
                    base + ".version", "python-version-text",
                    "version \(Escaping.quoted(package.version)) is not a version; expected e.g. 1.2.3 (letters, "
                        + "digits, . _ + ! -)")
            }
            if package.artifacts.isEmpty && package.vcs == nil {
                error(
                    base + ".artifacts", "python-unhashed",
                    "package \(Escaping.quoted(package.name)) has no artifact with a hash and no vcs pin; an install would be "
                        + "unverified (run `comfy-cli pin`)"
                )
            }
            var files: Set<String> = []
            for (artifactIndex, artifact) in package.artifacts.enumerated() {
                let path = base + ".artifacts[\(artifactIndex)]"
                url(artifact.url, path + ".url")
                sha256(artifact.sha256, path + ".sha256")
                if let (_, message) = LockValidator.checkComponent(
                    artifact.filename, what: "artifact file name", rule: "python-artifact-filename")
                {
                    error(path + ".filename", "python-artifact-filename", message)
                } else if !files.insert(artifact.filename).inserted {
                    error(
                        path + ".filename", "python-artifact-duplicate",
                        "artifact \(Escaping.quoted(artifact.filename)) is listed twice")
                }
            }
            if let vcs = package.vcs {
                url(vcs.url, base + ".vcs.url", kind: .git)
                commit(vcs.commit, base + ".vcs.commit")
            }
        }
    }

    mutating func checkModels(_ models: [ModelEntry]) {
        var seen: [String: Int] = [:]
        var folded: [String: String] = [:]
        for (index, model) in models.enumerated() {
            let base = "$.models[\(index)]"
            if relativePath(model.path, base + ".path") {
                if let first = seen[model.path] {
                    error(
                        base + ".path", "path-duplicate",
                        "model path \(Escaping.quoted(model.path)) is listed twice (also at $.models[\(first)])")
                } else {
                    seen[model.path] = index
                    let key = model.path.lowercased()
                    if let other = folded[key], other != model.path {
                        warning(
                            base + ".path", "path-case-collision",
                            "\(Escaping.quoted(model.path)) differs from \(Escaping.quoted(other)) only by case; they collide on "
                                + "case-insensitive file systems"
                        )
                    }
                    folded[key] = model.path
                }
            }
            if model.size == 0 {
                error(base + ".size", "model-size-missing", "size 0; expected the file size in bytes (> 0)")
            } else if model.size < 0 {
                error(base + ".size", "model-size", "size \(model.size); expected the file size in bytes (> 0)")
            }
            sha256(model.sha256, base + ".sha256")
            if model.sources.isEmpty {
                warning(
                    base + ".sources", "model-no-source", "no source URL: the file can only come from a local store")
            }
            var sources: Set<String> = []
            for (sourceIndex, source) in model.sources.enumerated() {
                url(source, base + ".sources[\(sourceIndex)]")
                if !sources.insert(source).inserted {
                    warning(base + ".sources[\(sourceIndex)]", "source-duplicate", "the same source is listed twice")
                }
            }
            if let hf = model.huggingface {
                let parts = hf.repo.split(separator: "/", omittingEmptySubsequences: false)
                if parts.count != 2 || parts.contains(where: { $0.isEmpty || $0 == ".." || $0 == "." }) {
                    error(
                        base + ".huggingface.repo", "huggingface-repo",
                        "\(Escaping.quoted(hf.repo)) is not a repository id; expected owner/name")
                }
                if hf.revision.isEmpty {
                    error(base + ".huggingface.revision", "required", "revision is empty; expected a commit SHA")
                } else if !LockValidator.isCommit(hf.revision) {
                    warning(
                        base + ".huggingface.revision", "huggingface-revision",
                        "revision \(Escaping.quoted(hf.revision)) is not a commit SHA; a branch or tag can move")
                }
                _ = relativePath(hf.file, base + ".huggingface.file")
            }
        }
    }

    mutating func checkWorkflows(_ workflows: [WorkflowEntry]) {
        var seen: [String: Int] = [:]
        for (index, workflow) in workflows.enumerated() {
            let base = "$.workflows[\(index)]"
            nonEmpty(workflow.name, base + ".name", "workflow name")
            if !workflow.name.isEmpty,
                let (rule, message) = LockValidator.checkComponent(
                    workflow.name, what: "workflow name", rule: "workflow-name")
            {
                error(base + ".name", rule, message)
            }
            if let first = seen[workflow.name] {
                error(
                    base + ".name", "workflow-duplicate",
                    "workflow \(Escaping.quoted(workflow.name)) is listed twice (also at $.workflows[\(first)])")
            } else {
                seen[workflow.name] = index
            }
            switch (workflow.path, workflow.inline) {
            case (nil, nil):
                error(
                    base, "workflow-source",
                    "workflow \(Escaping.quoted(workflow.name)) has neither path nor inline; expected exactly one")
            case (.some, .some):
                error(
                    base, "workflow-source",
                    "workflow \(Escaping.quoted(workflow.name)) has both path and inline; expected exactly one")
            case (.some(let path), nil):
                _ = relativePath(path, base + ".path")
            case (nil, .some(let inline)):
                if inline.objectValue == nil {
                    error(
                        base + ".inline", "workflow-inline",
                        "inline workflow is \(inline.typeDescription); expected an object (API format)")
                }
            }
            var outputs: Set<String> = []
            for (outputIndex, output) in workflow.expectedOutputs.enumerated() {
                let path = base + ".expectedOutputs[\(outputIndex)]"
                nonEmpty(output.name, path + ".name", "output name")
                if !outputs.insert(output.name).inserted {
                    error(path + ".name", "output-duplicate", "output \(Escaping.quoted(output.name)) is listed twice")
                }
                sha256(output.sha256, path + ".sha256")
                if let pixels = output.pixelsSha256 { sha256(pixels, path + ".pixelsSha256") }
                if let image = output.imageDataSha256 { sha256(image, path + ".imageDataSha256") }
                if let kind = output.kind, !ExpectedOutput.kinds.contains(kind) {
                    error(
                        path + ".kind", "output-kind",
                        "output kind \"\(kind)\"; expected one of \(ExpectedOutput.kinds.sorted().joined(separator: ", "))"
                    )
                }
                if let index = output.index, index < 0 { error(path + ".index", "output-index", "index must be >= 0") }
                if let size = output.size, size < 0 { error(path + ".size", "output-size", "size must be >= 0") }
            }
            if let recording = workflow.recording { checkRecording(recording, workflow, base) }
        }
    }

    /// A recorded workflow (`repro record`): the graph is inline, every output says where it comes from, the
    /// digests are SHA-256s and every recorded seed is what the graph holds.
    mutating func checkRecording(_ recording: WorkflowRecording, _ workflow: WorkflowEntry, _ base: String) {
        sha256(recording.lockDigest, base + ".recording.lockDigest")
        for key in recording.lockFields.keys.sorted() {
            sha256(recording.lockFields[key] ?? "", base + ".recording.lockFields." + key)
        }
        guard let graph = workflow.inline?.objectValue else {
            error(
                base, "workflow-recording",
                "recorded workflow \"\(workflow.name)\" must keep its graph inline (the graph the outputs came from)")
            return
        }
        for (outputIndex, output) in workflow.expectedOutputs.enumerated()
        where output.node == nil || output.index == nil || output.kind == nil {
            error(
                base + ".expectedOutputs[\(outputIndex)]", "output-source",
                "recorded output \"\(output.name)\" needs node, index and kind")
        }
        for (seedIndex, seed) in recording.seeds.enumerated() {
            let path = base + ".recording.seeds[\(seedIndex)]"
            let value = graph[seed.node]?["inputs"]?[seed.input]
            if value != .number(Double(seed.value)) {
                error(
                    path, "workflow-seed",
                    "seed \(seed.input) of node \(seed.node) is \(seed.value) in the recording but "
                        + "\(value.map { String(decoding: CanonicalJSON.encode($0), as: UTF8.self) } ?? "absent") in the graph"
                )
            }
            if seed.value.magnitude > 9_007_199_254_740_992 {
                error(path + ".value", "workflow-seed", "seed beyond 2^53 cannot be carried exactly by JSON")
            }
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
