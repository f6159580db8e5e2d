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

    /// Checks one URL: scheme http(s)/git/file, a host (except file), no spaces or control characters, and no
    /// embedded credentials. Returns `(rule, message)` for the first problem, or `nil` when fine. The message shows
    /// the URL through `Redaction` (no user info, no credential query values), so it never echoes a secret.
    public static func checkURL(_ url: String) -> (rule: String, message: String)? {
        guard !url.isEmpty else { return ("url", "missing URL; expected an http(s), git or file URL") }
        var redacted: String { shown(url) }  // only computed for a message
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
            return ("url", "\(redacted) is not a URL with a scheme; expected http://, https://, git:// or file://")
        }
        let scheme = String(decoding: bytes[..<separator], as: UTF8.self).lowercased()
        guard ["http", "https", "git", "file"].contains(scheme) else {
            return ("url", "URL scheme \"\(scheme.prefix(40))\" is not allowed; expected http, https, git or file")
        }
        let restStart = separator + 3
        var authorityEnd = restStart
        while authorityEnd < bytes.count, bytes[authorityEnd] != 0x2F, bytes[authorityEnd] != 0x3F,
            bytes[authorityEnd] != 0x23
        {
            authorityEnd += 1
        }
        if bytes[restStart..<authorityEnd].contains(0x40) {
            return (
                "url-credentials",
                "URL \(redacted) embeds credentials (user info before '@'); remove them and provide the token "
                    + "through the environment (e.g. HF_TOKEN, CIVITAI_TOKEN) or a credentials helper"
            )
        }
        if scheme != "file" && authorityEnd == restStart {
            return ("url", "URL \(redacted) has no host; expected \(scheme)://HOST/...")
        }
        if let queryStart = bytes[restStart...].firstIndex(of: 0x3F) {
            let queryEnd = bytes[queryStart...].firstIndex(of: 0x23) ?? bytes.count
            for pair in bytes[(queryStart + 1)..<queryEnd].split(separator: 0x26) {
                let name = String(decoding: pair.split(separator: 0x3D, maxSplits: 1).first ?? [], as: UTF8.self)
                let decoded = (name.removingPercentEncodingIfPossible ?? name).lowercased()
                if credentialQueryParameters.contains(decoded) {
                    return (
                        "url-credentials",
                        "URL \(redacted) carries a credential in query parameter '\(decoded)'; remove it and provide "
                            + "the token through the environment (e.g. HF_TOKEN, CIVITAI_TOKEN) instead"
                    )
                }
            }
        }
        return nil
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
            return ("path-absolute", "absolute path \"\(path)\"; expected a path relative to the root")
        }
        if path.contains("\\") {
            return ("path-backslash", "path \"\(path)\" contains a backslash; expected '/' as the only separator")
        }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for segment in segments {
            if segment == ".." {
                return ("path-traversal", "path \"\(path)\" contains '..'; expected a path that stays under the root")
            }
            if segment.isEmpty {
                return ("path-not-normalized", "path \"\(path)\" has an empty segment ('//' or a trailing '/')")
            }
            if segment == "." {
                return ("path-not-normalized", "path \"\(path)\" contains a '.' segment; expected it normalized")
            }
        }
        return nil
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
                "node name \"\(name)\" is not a single safe path component; expected a directory name with no "
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
            error(path, "sha256", "\"\(value.prefix(80))\" is not a SHA-256; expected 64 lowercase hex characters")
        }
    }

    mutating func commit(_ value: String, _ path: String) {
        if value.isEmpty {
            error(path, "commit-missing", "missing commit (the source did not record it); expected 40 lowercase hex")
        } else if !LockValidator.isCommit(value) {
            error(path, "commit", "\"\(value.prefix(80))\" is not a commit SHA; expected 40 lowercase hex characters")
        }
    }

    mutating func url(_ value: String, _ path: String) {
        if let (rule, message) = LockValidator.checkURL(value) { error(path, rule, message) }
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
        for scalar in lock.tag.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7F {
            error("$.tag", "tag", "tag contains a control character")
            break
        }
        nonEmpty(lock.createdBy, "$.createdBy", "createdBy")
        url(lock.comfyui.url, "$.comfyui.url")
        commit(lock.comfyui.commit, "$.comfyui.commit")
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
                    "node \"\(node.name)\" is listed twice (also at $.customNodes[\(first)])")
            } else {
                seen[node.name] = index
                let key = node.name.lowercased()
                if let other = folded[key], other != node.name {
                    warning(
                        base + ".name", "node-case-collision",
                        "node \"\(node.name)\" differs from \"\(other)\" only by case; they collide on "
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
                    self.url(url, base + ".url")
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
            case .registry:
                if let id = node.registryId {
                    nonEmpty(id, base + ".registryId", "registryId")
                } else {
                    error(base + ".registryId", "required", "a registry node needs registryId")
                }
                if let version = node.version {
                    nonEmpty(version, base + ".version", "version")
                } else {
                    error(base + ".version", "required", "a registry node needs version")
                }
                if let url = node.url { self.url(url, base + ".url") }
                forbid(node.commit, "commit")
                forbid(node.sha256, "sha256")
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
            }
        }
    }

    mutating func checkPython(_ python: PythonPins) {
        let version = python.version.split(separator: ".", omittingEmptySubsequences: false)
        if python.version.isEmpty {
            error("$.python.version", "python-version", "missing Python version; expected e.g. 3.11 or 3.11.7")
        } else if !(2...3).contains(version.count)
            || version.contains(where: { $0.isEmpty || !$0.allSatisfy(\.isASCIIDigit) })
        {
            error(
                "$.python.version", "python-version",
                "\"\(python.version)\" is not a Python version; expected e.g. 3.11 or 3.11.7")
        }
        if python.platform.isEmpty {
            error("$.python.platform", "python-platform", "missing platform tag; expected e.g. manylinux_2_36_x86_64")
        } else if !python.platform.allSatisfy({
            $0.isASCIIDigit || ($0.isASCII && $0.isLetter) || $0 == "_" || $0 == "."
        }) {
            error(
                "$.python.platform", "python-platform",
                "\"\(python.platform)\" is not a platform tag; expected e.g. manylinux_2_36_x86_64")
        }
        for (index, url) in python.indexUrls.enumerated() { self.url(url, "$.python.indexUrls[\(index)]") }
        var seen: [String: Int] = [:]
        for (index, package) in python.packages.enumerated() {
            let base = "$.python.packages[\(index)]"
            if package.name.isEmpty {
                error(base + ".name", "required", "package name is empty")
            } else if PythonPackage.normalize(package.name) != package.name {
                error(
                    base + ".name", "python-package-name",
                    "\"\(package.name)\" is not PEP 503 normalized; expected "
                        + "\"\(PythonPackage.normalize(package.name))\""
                )
            }
            if let first = seen[package.name] {
                error(
                    base + ".name", "python-package-duplicate",
                    "package \"\(package.name)\" is listed twice (also at $.python.packages[\(first)])")
            } else {
                seen[package.name] = index
            }
            nonEmpty(package.version, base + ".version", "version")
            if package.artifacts.isEmpty && package.vcs == nil {
                error(
                    base + ".artifacts", "python-unhashed",
                    "package \"\(package.name)\" has no artifact with a hash and no vcs pin; an install would be "
                        + "unverified (run `comfy-cli pin`)"
                )
            }
            var files: Set<String> = []
            for (artifactIndex, artifact) in package.artifacts.enumerated() {
                let path = base + ".artifacts[\(artifactIndex)]"
                url(artifact.url, path + ".url")
                sha256(artifact.sha256, path + ".sha256")
                if artifact.filename.isEmpty || artifact.filename.contains("/") || artifact.filename.hasPrefix(".") {
                    error(path + ".filename", "python-artifact-filename", "\"\(artifact.filename)\" is not a file name")
                } else if !files.insert(artifact.filename).inserted {
                    error(
                        path + ".filename", "python-artifact-duplicate",
                        "artifact \"\(artifact.filename)\" is listed twice")
                }
            }
            if let vcs = package.vcs {
                url(vcs.url, base + ".vcs.url")
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
                        "model path \"\(model.path)\" is listed twice (also at $.models[\(first)])")
                } else {
                    seen[model.path] = index
                    let key = model.path.lowercased()
                    if let other = folded[key], other != model.path {
                        warning(
                            base + ".path", "path-case-collision",
                            "\"\(model.path)\" differs from \"\(other)\" only by case; they collide on "
                                + "case-insensitive file systems"
                        )
                    }
                    folded[key] = model.path
                }
            }
            if model.size <= 0 {
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
                        "\"\(hf.repo)\" is not a repository id; expected owner/name")
                }
                if hf.revision.isEmpty {
                    error(base + ".huggingface.revision", "required", "revision is empty; expected a commit SHA")
                } else if !LockValidator.isCommit(hf.revision) {
                    warning(
                        base + ".huggingface.revision", "huggingface-revision",
                        "revision \"\(hf.revision)\" is not a commit SHA; a branch or tag can move")
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
            if let first = seen[workflow.name] {
                error(
                    base + ".name", "workflow-duplicate",
                    "workflow \"\(workflow.name)\" is listed twice (also at $.workflows[\(first)])")
            } else {
                seen[workflow.name] = index
            }
            switch (workflow.path, workflow.inline) {
            case (nil, nil):
                error(
                    base, "workflow-source",
                    "workflow \"\(workflow.name)\" has neither path nor inline; expected exactly one")
            case (.some, .some):
                error(
                    base, "workflow-source",
                    "workflow \"\(workflow.name)\" has both path and inline; expected exactly one")
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
                    error(path + ".name", "output-duplicate", "output \"\(output.name)\" is listed twice")
                }
                sha256(output.sha256, path + ".sha256")
                if let pixels = output.pixelsSha256 { sha256(pixels, path + ".pixelsSha256") }
                if let image = output.imageDataSha256 { sha256(image, path + ".imageDataSha256") }
                if let kind = output.kind, !ExpectedOutput.kinds.contains(kind) {
                    error(
                        path + ".kind", "output-kind",
                        "output kind \"\(kind)\"; expected one of \(ExpectedOutput.kinds.sorted().joined(separator: ", "))")
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
                        + "\(value.map { String(decoding: CanonicalJSON.encode($0), as: UTF8.self) } ?? "absent") in the graph")
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
