/// Peer formats a lock can be imported from.
public enum ImportFormat: String, CaseIterable, Codable, Hashable, Sendable {
    /// ComfyUI-Manager snapshot (`comfyui`, `git_custom_nodes`, `cnr_custom_nodes`, `file_custom_nodes`, `pips`),
    /// JSON or YAML.
    case manager
    /// comfy-pack `snapshot.json`: a Manager snapshot plus `python` and `models`.
    case comfyPack = "comfy-pack"
    /// comfy-cli `comfy build scan` output, `schema: "distribution-definition/0"` (bare or inside `definition`).
    case comfyCLI = "comfy-cli"
}

/// What an import could not take from its source: values left empty in the lock (so `lock validate` fails until
/// they are pinned), defaults that were assumed, and source entries that could not be represented at all.
public struct ImportReport: Codable, Hashable, Sendable {
    /// One reported item.
    public struct Item: Codable, Hashable, Sendable, CustomStringConvertible {
        /// JSON path in the produced lock (for `missing`/`assumed`) or in the source (for `skipped`).
        public var path: String
        /// What is missing, assumed or skipped, and why.
        public var message: String

        /// An item.
        public init(path: String, message: String) {
            self.path = path
            self.message = message
        }

        /// `path: message`.
        public var description: String { "\(path): \(message)" }
    }

    /// Values the source does not record; left empty (or absent) in the lock, never invented.
    public var missing: [Item] = []
    /// Values filled with a stated default because the source does not say (e.g. the ComfyUI repository URL).
    public var assumed: [Item] = []
    /// Source entries that have no representation in a lock (e.g. an editable pip install from a local path).
    public var skipped: [Item] = []

    /// An empty report.
    public init() {}

    /// True when the import lacks nothing.
    public var isComplete: Bool { missing.isEmpty && assumed.isEmpty && skipped.isEmpty }
}

/// The lock an import produced and what its source lacked.
public struct ImportResult: Hashable, Sendable {
    /// The imported lock, collections sorted. Missing hashes/commits are empty strings or absent, so
    /// `LockValidator` reports them as errors.
    public var lock: Lock
    /// What the source lacked.
    public var report: ImportReport
}

/// Imports ComfyUI-Manager snapshots (JSON/YAML), comfy-pack `snapshot.json` and comfy-cli
/// `distribution-definition/0` into a lock. Nothing the source lacks is invented: it is left empty and reported.
public enum LockImporter {
    /// The ComfyUI repository assumed when a source records only a commit or version.
    public static let defaultComfyUIURL = "https://github.com/Comfy-Org/ComfyUI"

    /// Imports `bytes` (JSON, or YAML for Manager snapshots) in `format`.
    /// - Parameters:
    ///   - bytes: the source file's bytes (read through `BoundedInput`).
    ///   - format: which peer wrote it.
    ///   - tag: the lock's tag.
    ///   - createdBy: the tool string recorded in the lock.
    ///   - sourceName: the input's name, for messages.
    ///   - comfyUIURL: the ComfyUI repository URL (the sources do not record it).
    ///   - requirements: the `requirements.txt` beside a comfy-pack (< 0.4) snapshot, which records its pips there.
    public static func importLock(
        _ bytes: [UInt8], format: ImportFormat, tag: String, createdBy: String, sourceName: String = "input",
        comfyUIURL: String? = nil, requirements: [UInt8]? = nil
    ) throws(LockError) -> ImportResult {
        var document = try parseDocument(bytes, sourceName: sourceName)
        var state = ImportState(comfyUIURL: comfyUIURL)
        var lock: Lock
        switch format {
        case .manager:
            document = state.unwrapManagerYAML(document)
            lock = try state.manager(document, tag: tag, createdBy: createdBy)
        case .comfyPack:
            if state.isComfyPackBefore04(document) {
                lock = try state.comfyPackBefore04(document, tag: tag, createdBy: createdBy, requirements: requirements)
            } else {
                lock = try state.manager(
                    document, tag: tag, createdBy: createdBy, extraKeys: ["python", "models", "workflow", "workflows"])
            }
            try state.comfyPackExtras(document, into: &lock)
        case .comfyCLI:
            document = state.unwrapEnvelope(document)
            if state.isComfyLockYAML(document) {
                lock = try state.comfyLockYAML(document, tag: tag, createdBy: createdBy)
            } else {
                lock = try state.comfyCLI(document, tag: tag, createdBy: createdBy)
            }
        }
        lock = lock.sorted()
        // The one rule set, before anything is written: an option-looking URL or a non-hex commit is refused, never
        // copied (missing values are fine here: they are reported below).
        let unsafe = LockValidator.errors(lock, level: .safe)
        if !unsafe.isEmpty { throw LockError.invalidLock(file: Escaping.escaped(sourceName), unsafe) }
        state.report.missing = missingItems(lock)
        return ImportResult(lock: lock, report: state.report)
    }

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

    /// JSON (strict) when the document starts with `{`/`[`, YAML otherwise.
    static func parseDocument(_ bytes: [UInt8], sourceName: String) throws(LockError) -> JSONValue {
        let first = bytes.first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            do {
                return try JSONParser.parse(bytes)
            } catch {
                throw LockError.invalidJSON(error)
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw LockError.importFormat(path: nil, "\(sourceName): not UTF-8 text; expected a JSON or YAML document")
        }
        return try YAMLReader.parse(text, path: sourceName)
    }

    /// Everything the lock still lacks (empty hashes and commits, unhashed packages, unknown interpreter).
    static func missingItems(_ lock: Lock) -> [ImportReport.Item] {
        var items: [ImportReport.Item] = []
        if lock.comfyui.commit.isEmpty {
            items.append(.init(path: "$.comfyui.commit", message: "the source records no ComfyUI commit"))
        }
        for (index, node) in lock.customNodes.enumerated() {
            let base = "$.customNodes[\(index)]"
            switch node.kind {
            case .git where node.commit == nil:
                items.append(.init(path: base + ".commit", message: "no commit recorded for git node \"\(node.name)\""))
            case .file where node.sha256 == nil:
                items.append(
                    .init(path: base + ".sha256", message: "no SHA-256 recorded for file node \"\(node.name)\""))
            default: break
            }
        }
        if let python = lock.python {
            if python.version.isEmpty {
                items.append(.init(path: "$.python.version", message: "the source records no Python version"))
            }
            if python.platform.isEmpty {
                items.append(.init(path: "$.python.platform", message: "the source records no platform tag"))
            }
            for (index, package) in python.packages.enumerated() {
                let base = "$.python.packages[\(index)]"
                if package.version.isEmpty {
                    items.append(.init(path: base + ".version", message: "no version recorded for \"\(package.name)\""))
                }
                if let vcs = package.vcs, vcs.commit.isEmpty {
                    items.append(
                        .init(
                            path: base + ".vcs.commit",
                            message: "VCS requirement \(package.name) is not pinned to a commit"))
                }
                if package.artifacts.isEmpty && package.vcs == nil {
                    items.append(
                        .init(
                            path: base + ".artifacts",
                            message:
                                "no artifact URLs or hashes for \(package.name)==\(package.version) (run "
                                + "`comfy-cli pin`)"
                        ))
                }
            }
        }
        for (index, model) in lock.models.enumerated() {
            let base = "$.models[\(index)]"
            if model.sha256.isEmpty {
                items.append(.init(path: base + ".sha256", message: "no SHA-256 recorded for \"\(model.path)\""))
            }
            if model.size <= 0 {
                items.append(.init(path: base + ".size", message: "no size recorded for \"\(model.path)\""))
            }
            if model.sources.isEmpty {
                items.append(.init(path: base + ".sources", message: "no download URL recorded for \"\(model.path)\""))
            }
        }
        return items
    }
}

private struct ImportState {
    var report = ImportReport()
    let comfyUIURL: String?

    init(comfyUIURL: String?) { self.comfyUIURL = comfyUIURL }

    // MARK: helpers

    func object(_ value: JSONValue?, _ path: String) throws(LockError) -> [String: JSONValue] {
        guard let value, value != .null else { return [:] }
        guard case .object(let members) = value else {
            throw LockError.importFormat(path: path, "expected an object, found \(value.typeDescription)")
        }
        return members
    }

    func array(_ value: JSONValue?, _ path: String) throws(LockError) -> [JSONValue] {
        guard let value, value != .null else { return [] }
        guard case .array(let elements) = value else {
            throw LockError.importFormat(path: path, "expected an array, found \(value.typeDescription)")
        }
        return elements
    }

    /// A string, or a YAML/JSON scalar rendered as text (YAML may type an all-digit version as a number).
    func text(_ value: JSONValue?, _ path: String) throws(LockError) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let string)?: return string.trimmingSpaces
        case .number(let number)?:
            var out: [UInt8] = []
            CanonicalJSON.writeNumber(number, into: &out)
            return String(decoding: out, as: UTF8.self)
        case .some(let other):
            throw LockError.importFormat(path: path, "expected a string, found \(other.typeDescription)")
        }
    }

    func bool(_ value: JSONValue?, _ path: String) throws(LockError) -> Bool? {
        switch value {
        case nil, .null?: return nil
        case .bool(let bool)?: return bool
        case .string(let text)? where ["true", "false"].contains(text.lowercased()): return text.lowercased() == "true"
        case .some(let other):
            throw LockError.importFormat(path: path, "expected true or false, found \(other.typeDescription)")
        }
    }

    mutating func comfyUI(commitOrRef: String?) -> ComfyUIPin {
        let url: String
        if let comfyUIURL {
            url = comfyUIURL
        } else {
            url = LockImporter.defaultComfyUIURL
            report.assumed.append(
                .init(
                    path: "$.comfyui.url",
                    message:
                        "the source does not record the ComfyUI repository; assumed \(url) (override with "
                        + "--comfyui-url)"
                ))
        }
        guard let value = commitOrRef, !value.isEmpty else { return ComfyUIPin(url: url, commit: "") }
        let lower = value.lowercased()
        if LockValidator.isCommit(lower) { return ComfyUIPin(url: url, commit: lower) }
        // A version or ref (e.g. "v0.3.40"): recorded as ref; the commit it points to is not known offline.
        return ComfyUIPin(url: url, commit: "", ref: value)
    }

    static func repositoryName(_ url: String) -> String { LockImporterNameCheck.repositoryName(url) }

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

    /// A Manager `hash` value: a commit, or nil (reported missing). Manager writes "unknown" when the ref it read
    /// is packed (`git_utils.get_commit_hash`), and keeps the newline of a detached HEAD file.
    mutating func commitValue(_ raw: String?, sourcePath: String) throws(LockError) -> String? {
        guard let raw = raw?.trimmingSpaces.lowercased(), !raw.isEmpty else { return nil }
        guard raw != "unknown" else {
            report.skipped.append(
                .init(
                    path: sourcePath,
                    message:
                        "hash \"unknown\" (Manager writes it when the ref it read is packed); the commit is missing"))
            return nil
        }
        // Anything else that is not a commit is kept, so the one rule set refuses it (never silently dropped).
        return raw
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

    /// Manager's YAML snapshot is `{custom_nodes: {comfyui, git_custom_nodes, …}}` (`save_snapshot_with_postfix`).
    func unwrapManagerYAML(_ document: JSONValue) -> JSONValue {
        guard case .object(let root) = document, root["comfyui"] == nil, root["git_custom_nodes"] == nil,
            case .object(let inner)? = root["custom_nodes"],
            inner["comfyui"] != nil || inner["git_custom_nodes"] != nil || inner["cnr_custom_nodes"] != nil
        else { return document }
        return .object(inner)
    }

    /// comfy-cli's JSON output wraps results: `{schema: "envelope/1", type: "envelope", ok, command, data: {…,
    /// definition}}` (`Renderer._envelope`; `build scan` puts the definition in `data.definition`).
    func unwrapEnvelope(_ document: JSONValue) -> JSONValue {
        guard case .object(let root) = document, root["schema"] == .string("envelope/1"),
            case .object(let data)? = root["data"]
        else { return document }
        if let definition = data["definition"] { return definition }
        return .object(data)
    }

    // MARK: ComfyUI-Manager

    mutating func manager(
        _ document: JSONValue, tag: String, createdBy: String, extraKeys: Set<String> = []
    )
        throws(LockError) -> Lock
    {
        let root = try object(document, "$")
        let known: Set<String> = ["comfyui", "git_custom_nodes", "cnr_custom_nodes", "file_custom_nodes", "pips"]
        guard root["comfyui"] != nil || root["git_custom_nodes"] != nil || root["cnr_custom_nodes"] != nil else {
            throw LockError.importFormat(
                path: "$",
                "not a ComfyUI-Manager snapshot; expected members comfyui, git_custom_nodes, cnr_custom_nodes")
        }
        for key in root.keys.sorted() where !known.contains(key) && !extraKeys.contains(key) {
            report.skipped.append(
                .init(path: JSONPath.appending("$", key: key), message: "member not understood; ignored"))
        }
        let pin = comfyUI(commitOrRef: try text(root["comfyui"], "$.comfyui"))
        var nodes: [CustomNode] = []
        for (rawURL, value) in try object(root["git_custom_nodes"], "$.git_custom_nodes").sorted(by: { $0.key < $1.key }
        ) {
            let path = JSONPath.appending("$.git_custom_nodes", key: LockValidator.shown(rawURL))
            let url = normalizeRemote(clean(rawURL, sourcePath: path), sourcePath: path)
            let entry = try object(value, path)
            let hash = try commitValue(try text(entry["hash"], path + ".hash"), sourcePath: path + ".hash")
            let disabled = try bool(entry["disabled"], path + ".disabled") ?? false
            nodes.append(
                CustomNode(
                    name: Self.repositoryName(url), kind: .git, url: url, commit: hash, enabled: !disabled))
        }
        for (id, value) in try object(root["cnr_custom_nodes"], "$.cnr_custom_nodes").sorted(by: { $0.key < $1.key }) {
            let path = JSONPath.appending("$.cnr_custom_nodes", key: id)
            let version = try text(value, path) ?? ""
            nodes.append(CustomNode(name: id, kind: .registry, registryId: id, version: version))
        }
        for (index, value) in try array(root["file_custom_nodes"], "$.file_custom_nodes").enumerated() {
            let path = "$.file_custom_nodes[\(index)]"
            let entry = try object(value, path)
            guard let filename = try text(entry["filename"], path + ".filename"), !filename.isEmpty else {
                throw LockError.importFormat(path: path + ".filename", "missing filename")
            }
            let disabled = try bool(entry["disabled"], path + ".disabled") ?? false
            nodes.append(CustomNode(name: filename, kind: .file, enabled: !disabled))
        }
        var python: PythonPins?
        if let pips = root["pips"], pips != .null {
            var packages: [PythonPackage] = []
            for (key, value) in try object(pips, "$.pips").sorted(by: { $0.key < $1.key }) {
                let sourcePath = JSONPath.appending("$.pips", key: LockValidator.shown(key))
                // Manager's `pip freeze` split: "name==version": "" and, for direct references,
                // "name": "git+URL@commit" (the freeze line `name @ git+URL@commit` split at " @ ").
                let reference = try text(value, sourcePath) ?? ""
                let line = reference.isEmpty ? key : "\(key) @ \(reference)"
                if reference.hasPrefix("file:") {
                    report.skipped.append(
                        .init(path: sourcePath, message: "\(key) was installed from a local file; not fetchable"))
                    continue
                }
                if let package = requirement(line, sourcePath: sourcePath) {
                    packages.append(package)
                }
            }
            python = PythonPins(version: "", platform: "", packages: packages)
        }
        return Lock(tag: tag, createdBy: createdBy, comfyui: pin, customNodes: nodes, python: python)
    }

    /// One pip requirement line (`name==version`, `name @ git+URL@COMMIT`, `git+URL@COMMIT#egg=name`).
    mutating func requirement(_ raw: String, sourcePath: String) -> PythonPackage? {
        let line = raw.trimmingSpaces
        if line.isEmpty || line.hasPrefix("#") { return nil }
        if line.hasPrefix("-") {
            report.skipped.append(
                .init(
                    path: sourcePath,
                    message:
                        "pip option or editable install \"\(LockValidator.shown(line))\" has no lock representation"))
            return nil
        }
        var name: String?
        var reference = line
        if let at = line.range(of: " @ ") {
            name = String(line[..<at.lowerBound]).trimmingSpaces
            reference = String(line[at.upperBound...]).trimmingSpaces
        }
        if reference.hasPrefix("git+") {
            var url = String(reference.dropFirst(4))
            if let hash = url.firstIndex(of: "#") {
                let fragment = url[url.index(after: hash)...]
                for part in fragment.split(separator: "&") where part.hasPrefix("egg=") {
                    name = name ?? String(part.dropFirst(4))
                }
                url = String(url[..<hash])
            }
            var commit = ""
            if let at = url.lastIndex(of: "@"), let slash = url.lastIndex(of: "/"), at > slash {
                commit = String(url[url.index(after: at)...]).lowercased()
                url = String(url[..<at])
            }
            guard let name, !name.isEmpty else {
                report.skipped.append(
                    .init(path: sourcePath, message: "VCS requirement without a package name; add #egg=NAME"))
                return nil
            }
            if !LockValidator.isCommit(commit) {
                commit = ""
            }
            return PythonPackage(
                name: PythonPackage.normalize(name), version: "",
                vcs: VCSPin(url: clean(url, sourcePath: sourcePath), commit: commit))
        }
        if name != nil {
            report.skipped.append(
                .init(
                    path: sourcePath,
                    message: "direct reference \"\(LockValidator.shown(reference))\" is not a VCS pin; not imported"))
            return nil
        }
        guard let equals = line.range(of: "==") else {
            report.skipped.append(
                .init(path: sourcePath, message: "requirement \"\(line)\" is not pinned with ==; not imported"))
            return nil
        }
        var packageName = String(line[..<equals.lowerBound]).trimmingSpaces
        if let bracket = packageName.firstIndex(of: "[") { packageName = String(packageName[..<bracket]) }
        var version = String(line[equals.upperBound...]).trimmingSpaces
        if let semicolon = version.firstIndex(of: ";") { version = String(version[..<semicolon]).trimmingSpaces }
        return PythonPackage(name: PythonPackage.normalize(packageName), version: version)
    }

    // MARK: comfy-pack

    mutating func comfyPackExtras(_ document: JSONValue, into lock: inout Lock) throws(LockError) {
        let root = try object(document, "$")
        if let python = root["python"], python != .null {
            var version: String?
            if case .object(let members) = python {
                version = try text(members["version"], "$.python.version")
            } else {
                version = try text(python, "$.python")
            }
            if let version {
                var pins = lock.python ?? PythonPins(version: "", platform: "")
                pins.version = version.split(separator: " ").first.map(String.init) ?? version
                lock.python = pins
            }
        }
        for (index, value) in try array(root["models"], "$.models").enumerated() {
            let path = "$.models[\(index)]"
            let entry = try object(value, path)
            guard var filename = try text(entry["filename"], path + ".filename"), !filename.isEmpty else {
                throw LockError.importFormat(path: path + ".filename", "missing filename")
            }
            if filename.hasPrefix("models/") { filename = String(filename.dropFirst("models/".count)) }
            let disabled = try bool(entry["disabled"], path + ".disabled") ?? false
            if disabled {
                report.skipped.append(
                    .init(path: path, message: "model \"\(filename)\" is marked disabled; not imported"))
                continue
            }
            let sha = try text(entry["sha256"], path + ".sha256")?.lowercased() ?? ""
            var size: Int64 = 0
            if case .number(let number)? = entry["size"], number >= 0, number == number.rounded(.towardZero),
                number < 9.0e15
            {
                size = Int64(number)
            }
            var sources: [String] = []
            var huggingface: HuggingFaceRef?
            let source = try object(entry["source"], path + ".source")
            let kind = try text(source["source"], path + ".source.source")
            let repo = try text(source["repo"], path + ".source.repo")
            let commit = try text(source["commit"], path + ".source.commit")
            let filePath = try text(source["path"], path + ".source.path")
            if kind == "huggingface", let repo, let commit, let filePath {
                // comfy-pack records the repository, commit and file path; the resolve URL follows from them.
                huggingface = HuggingFaceRef(repo: repo, revision: commit, file: filePath)
                sources.append(
                    "https://huggingface.co/\(Self.percentEncodePath(repo))/resolve/\(Self.percentEncodePath(commit))/"
                        + Self.percentEncodePath(filePath))
            } else if let download = try text(source["download_url"], path + ".source.download_url"),
                download.contains("://")
            {
                sources.append(download)
            } else if let url = try text(source["url"], path + ".source.url"), url.contains("://") {
                sources.append(url)
            }
            sources = sources.map { clean($0, sourcePath: path + ".source") }
            lock.models.append(
                ModelEntry(path: filename, size: size, sha256: sha, sources: sources, huggingface: huggingface))
        }
        if root["workflow"] != nil || root["workflows"] != nil {
            report.skipped.append(
                .init(
                    path: "$.workflow",
                    message: "comfy-pack workflows carry no expected outputs; add them with the workflows section"))
        }
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

    // MARK: comfy-pack before 0.4

    /// comfy-pack < 0.4 (`nodes/api.py` `_write_snapshot`): `{python, comfyui, models, custom_nodes: [{url,
    /// commit_hash, disabled, path}]}`, and the pips in a `requirements.txt` beside it (`_write_requirements`).
    func isComfyPackBefore04(_ document: JSONValue) -> Bool {
        guard case .object(let root) = document, root["pips"] == nil, case .array? = root["custom_nodes"] else {
            return false
        }
        return true
    }

    mutating func comfyPackBefore04(
        _ document: JSONValue, tag: String, createdBy: String, requirements: [UInt8]?
    ) throws(LockError) -> Lock {
        let root = try object(document, "$")
        let known: Set<String> = ["python", "comfyui", "models", "custom_nodes", "workflow", "workflows"]
        for key in root.keys.sorted() where !known.contains(key) {
            report.skipped.append(
                .init(path: JSONPath.appending("$", key: key), message: "member not understood; ignored"))
        }
        let pin = comfyUI(commitOrRef: try text(root["comfyui"], "$.comfyui"))
        var nodes: [CustomNode] = []
        for (index, value) in try array(root["custom_nodes"], "$.custom_nodes").enumerated() {
            let path = "$.custom_nodes[\(index)]"
            let entry = try object(value, path)
            guard let raw = try text(entry["url"], path + ".url"), !raw.isEmpty else {
                report.skipped.append(
                    .init(path: path, message: "custom node without a url; skipped (as comfy-pack does)"))
                continue
            }
            let url = normalizeRemote(clean(raw, sourcePath: path + ".url"), sourcePath: path + ".url")
            let commit = try commitValue(
                try text(entry["commit_hash"], path + ".commit_hash"), sourcePath: path + ".commit_hash")
            let disabled = try bool(entry["disabled"], path + ".disabled") ?? false
            nodes.append(
                CustomNode(name: Self.repositoryName(url), kind: .git, url: url, commit: commit, enabled: !disabled))
        }
        var python: PythonPins?
        if let requirements {
            guard let content = String(validating: requirements, as: UTF8.self) else {
                throw LockError.importFormat(path: "requirements.txt", "not UTF-8 text")
            }
            var packages: [PythonPackage] = []
            for (index, line) in content.split(whereSeparator: \.isNewline).enumerated() {
                if let package = requirement(String(line), sourcePath: "requirements.txt[line \(index + 1)]") {
                    packages.append(package)
                }
            }
            python = PythonPins(version: "", platform: "", packages: packages)
        } else {
            report.skipped.append(
                .init(
                    path: "requirements.txt",
                    message: "comfy-pack < 0.4 keeps its pips in a requirements.txt beside snapshot.json; none given"))
        }
        return Lock(tag: tag, createdBy: createdBy, comfyui: pin, customNodes: nodes, python: python)
    }

    // MARK: comfy-cli comfy.lock.yaml

    /// comfy-cli's `comfy.lock.yaml` (`workspace_manager.save_yaml`): `{basics: {name, updated_at}, models: [{model,
    /// url, paths: [{path}], hash, type}], custom_nodes: []}`; the README documents `custom_nodes` as a Manager
    /// YAML snapshot object, which is read as one.
    func isComfyLockYAML(_ document: JSONValue) -> Bool {
        guard case .object(let root) = document, root["schema"] == nil else { return false }
        return root["basics"] != nil || (root["models"] != nil && root["custom_nodes"] != nil)
    }

    mutating func comfyLockYAML(_ document: JSONValue, tag: String, createdBy: String) throws(LockError) -> Lock {
        let root = try object(document, "$")
        var lock: Lock
        if case .object(let nodes)? = root["custom_nodes"], !nodes.isEmpty {
            lock = try manager(.object(nodes), tag: tag, createdBy: createdBy)
        } else {
            lock = Lock(tag: tag, createdBy: createdBy, comfyui: comfyUI(commitOrRef: nil))
            report.skipped.append(
                .init(path: "$.custom_nodes", message: "comfy.lock.yaml records no custom nodes (comfy-cli writes [])"))
        }
        for (index, value) in try array(root["models"], "$.models").enumerated() {
            let path = "$.models[\(index)]"
            let entry = try object(value, path)
            var target = ""
            for item in try array(entry["paths"], path + ".paths") {
                if case .object(let members) = item, case .string(let value)? = members["path"] {
                    target = value
                    break
                }
            }
            if target.isEmpty, let name = try text(entry["model"], path + ".model") { target = name }
            if target.hasPrefix("models/") { target = String(target.dropFirst("models/".count)) }
            guard !target.isEmpty else {
                throw LockError.importFormat(path: path + ".paths", "a model needs a path")
            }
            var sha = (try text(entry["hash"], path + ".hash") ?? "").lowercased()
            if !sha.isEmpty && !Self.isSHA256(sha) {
                report.skipped.append(.init(path: path + ".hash", message: "hash \"\(sha)\" is not a SHA-256"))
                sha = ""
            }
            var sources: [String] = []
            if let url = try text(entry["url"], path + ".url"), url.contains("://") {
                sources.append(clean(url, sourcePath: path + ".url"))
            }
            lock.models.append(ModelEntry(path: target, size: 0, sha256: sha, sources: sources))
        }
        return lock
    }

    static func isSHA256(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    // MARK: comfy-cli distribution-definition/0

    mutating func comfyCLI(_ document: JSONValue, tag: String, createdBy: String) throws(LockError) -> Lock {
        var root = try object(document, "$")
        var base = "$"
        if root["schema"] == .string("comfy-build/1"), case .object(let definition)? = root["definition"] {
            root = definition
            base = "$.definition"
        }
        guard root["schema"] == .string("distribution-definition/0") else {
            throw LockError.importFormat(
                path: base + ".schema", "not a comfy-cli definition; expected schema \"distribution-definition/0\"")
        }
        let pin = comfyUI(commitOrRef: try text(root["baseComfyVersion"], base + ".baseComfyVersion"))
        var nodes: [CustomNode] = []
        for (index, value) in try array(root["customNodes"], base + ".customNodes").enumerated() {
            let path = base + ".customNodes[\(index)]"
            let entry = try object(value, path)
            guard let name = try text(entry["name"], path + ".name"), !name.isEmpty else {
                throw LockError.importFormat(path: path + ".name", "missing node name")
            }
            let repository = try text(entry["repository"], path + ".repository")
            var ref = try text(entry["gitRef"], path + ".gitRef")
            if ref == nil { ref = try text(entry["commit"], path + ".commit") }
            let registryVersion = try text(entry["registryVersion"], path + ".registryVersion")
            if let repository, !repository.isEmpty {
                var commit = ref?.lowercased()
                if let value = commit, !LockValidator.isCommit(value) {
                    // A branch or tag is not a pin: the commit is reported missing (with the ref for context).
                    report.skipped.append(
                        .init(path: path + ".gitRef", message: "gitRef \"\(value)\" of \"\(name)\" is not a commit SHA")
                    )
                    commit = nil
                }
                let url = normalizeRemote(
                    clean(repository, sourcePath: path + ".repository"), sourcePath: path + ".repository")
                nodes.append(CustomNode(name: name, kind: .git, url: url, commit: commit))
            } else if let registryVersion, !registryVersion.isEmpty {
                let id = try text(entry["id"], path + ".id") ?? name
                nodes.append(CustomNode(name: name, kind: .registry, registryId: id, version: registryVersion))
            } else {
                report.skipped.append(
                    .init(
                        path: path,
                        message: "node \"\(name)\" has no upstream source (source: local); upload or publish it first"))
            }
        }
        var models: [ModelEntry] = []
        for (index, value) in try array(root["models"], base + ".models").enumerated() {
            let path = base + ".models[\(index)]"
            let entry = try object(value, path)
            guard let type = try text(entry["type"], path + ".type"), !type.isEmpty,
                let filename = try text(entry["filename"], path + ".filename"), !filename.isEmpty
            else {
                throw LockError.importFormat(path: path, "a model needs type and filename")
            }
            let sha = try text(entry["sha256"], path + ".sha256")?.lowercased() ?? ""
            var size: Int64 = 0
            if case .number(let number)? = entry["sizeBytes"], number >= 0, number == number.rounded(.towardZero),
                number < 9.0e15
            {
                size = Int64(number)
            }
            var sources: [String] = []
            if let uri = try text(entry["sourceUri"], path + ".sourceUri"), uri.contains("://") {
                sources.append(clean(uri, sourcePath: path + ".sourceUri"))
            }
            models.append(ModelEntry(path: type + "/" + filename, size: size, sha256: sha, sources: sources))
        }
        var python: PythonPins?
        let environment = try object(root["environment"], base + ".environment")
        if let freeze = try text(root["pipDependencies"], base + ".pipDependencies") {
            var packages: [PythonPackage] = []
            for (index, line) in freeze.split(separator: "\n").enumerated() {
                if let package = requirement(String(line), sourcePath: base + ".pipDependencies[line \(index + 1)]") {
                    packages.append(package)
                }
            }
            var platform = ""
            let os = try text(environment["os"], base + ".environment.os")?.lowercased()
            let arch = try text(environment["arch"], base + ".environment.arch")?.lowercased()
            if os == "linux", let arch, ["x86_64", "aarch64"].contains(arch) { platform = "linux_\(arch)" }
            python = PythonPins(
                version: try text(environment["pythonVersion"], base + ".environment.pythonVersion") ?? "",
                platform: platform, packages: packages)
        }
        return Lock(tag: tag, createdBy: createdBy, comfyui: pin, customNodes: nodes, python: python, models: models)
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}
