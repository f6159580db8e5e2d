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

/// The running state of one import: the report so far and the operator's ComfyUI URL; each format's reader
/// is an extension of it (`LockImporter+Manager.swift`, `+ComfyPack.swift`, `+ComfyCLI.swift`).
struct ImportState {
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
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}
