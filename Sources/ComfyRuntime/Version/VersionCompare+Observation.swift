internal import ComfyCrypto
internal import ComfyLock
internal import ComfySupport
public import Foundation

/// What a version directory holds, observed on disk: the input of `version digest` and `version compare`.
///
/// Nothing in it depends on where the version lives: paths are relative to the version (or to its checkouts), and
/// the generated `extra_model_paths.yaml` is reduced to its folder entries with the version directory replaced by
/// `<version>`. Two versions built from one lock in different roots therefore observe equal.
public struct VersionObservation: Codable, Hashable, Sendable {
    /// A file that differs from its checkout's commit (modified, untracked or deleted).
    public struct DirtyFile: Codable, Hashable, Sendable {
        /// Path relative to the checkout.
        public var path: String
        /// `sha256` hex of the content, `deleted`, `dir:<tree hash>` or `symlink:<target>`.
        public var content: String
    }

    /// A git checkout (ComfyUI).
    public struct Checkout: Codable, Hashable, Sendable {
        /// The checked-out commit, or nil when the directory is not a git work tree.
        public var commit: String?
        /// The git tree hash of that commit (`HEAD^{tree}`).
        public var tree: String?
        /// Uncommitted changes, sorted by path (the version's own additions excluded).
        public var dirty: [DirtyFile]
    }

    /// One entry under `custom_nodes/` (or `custom_nodes/.disabled/`).
    public struct Node: Codable, Hashable, Sendable {
        /// The directory or file name.
        public var name: String
        /// False when the node sits under `custom_nodes/.disabled/`.
        public var enabled: Bool
        /// `git` (a checkout), `tree` (a plain directory) or `file` (a single `.py`).
        public var kind: String
        /// `git`: the checked-out commit.
        public var commit: String?
        /// `git`: the commit's tree hash; `tree`: the content hash of the directory.
        public var tree: String?
        /// `file`: SHA-256 of the file.
        public var sha256: String?
        /// `git`: uncommitted changes.
        public var dirty: [DirtyFile]
    }

    /// One installed Python distribution.
    public struct PythonDistribution: Codable, Hashable, Sendable {
        /// PEP 503 normalized name.
        public var name: String
        /// Installed version.
        public var version: String
        /// `sha256:<artifact hash>` (from the install receipt or `direct_url.json`), `sha256:unknown` or
        /// `vcs:<url>@<commit>` — the same text as the `python` lines of `version digest`.
        public var artifact: String
        /// SHA-256 over the distribution's `RECORD` entries inside site-packages (path, hash, size), or nil when the
        /// dist has no `RECORD`. Bytecode and files outside site-packages (console scripts, whose shebang names the
        /// venv path) are left out: they legitimately differ between directories.
        public var record: String?
    }

    /// One model file under `models/`.
    public struct Model: Codable, Hashable, Sendable {
        /// Path relative to `models/`.
        public var path: String
        /// Size in bytes.
        public var size: Int64
        /// SHA-256 of the file.
        public var sha256: String
    }

    /// ComfyUI, or nil when `ComfyUI/` is missing.
    public var comfyUI: Checkout?
    /// Custom nodes, sorted by enabled state then name (as `custom_nodes/` is scanned).
    public var nodes: [Node]
    /// Installed distributions sorted by name (seed packages pip/setuptools/wheel left out unless pinned), or nil
    /// when the version has no venv.
    public var python: [PythonDistribution]?
    /// Model files, sorted by path.
    public var models: [Model]
    /// The folder entries of `ComfyUI/extra_model_paths.yaml` as `folder path` lines (the version directory
    /// written as `<version>`), sorted; nil when the file is missing.
    public var extraModelPaths: [String]?
}

extension VersionInspector {
    /// Observes the version at `directory`: commits and tree hashes, dirty files, nodes, installed Python
    /// distributions, model hashes (through the stat cache) and the model folder configuration.
    ///
    /// `includePython: false` skips the venv (`version digest` takes its Python lines from the provider instead).
    public func observe(directory: URL, includePython: Bool = true) async throws -> VersionObservation {
        let layout = VersionLayout(directory: directory)
        var observation = VersionObservation(comfyUI: nil, nodes: [], python: nil, models: [], extraModelPaths: nil)

        if FileManager.default.fileExists(atPath: layout.comfyUI.path) {
            let head = try await git.head(in: layout.comfyUI.path)
            var checkout = VersionObservation.Checkout(commit: head, tree: nil, dirty: [])
            if head != nil {
                checkout.tree = try await treeHash(in: layout.comfyUI.path)
                for path in try await comfyDirtyPaths(layout.comfyUI.path) {
                    let full = layout.comfyUI.appendingPathComponent(path).path
                    checkout.dirty.append(.init(path: path, content: try await Self.offPool(Self.contentHash, full)))
                }
            }
            observation.comfyUI = checkout
        }

        for found in try await scanNodes(layout) {  // files the ComfyUI commit tracks are not nodes
            var node = VersionObservation.Node(
                name: found.name, enabled: found.enabled, kind: "file", commit: nil, tree: nil, sha256: nil, dirty: [])
            if found.isDirectory, let head = try await git.head(in: found.path) {
                node.kind = "git"
                node.commit = head
                node.tree = try await treeHash(in: found.path)
                for path in try await git.dirtyPaths(in: found.path) {
                    let full = found.path + "/" + path
                    node.dirty.append(.init(path: path, content: try await Self.offPool(Self.contentHash, full)))
                }
            } else if found.isDirectory {
                node.kind = "tree"
                node.tree = try await Self.offPool(Self.treeHash, found.path)
            } else {
                node.sha256 = try await Self.offPool(Self.contentHash, found.path)
            }
            observation.nodes.append(node)
        }

        if includePython, FileManager.default.fileExists(atPath: layout.venv.path) {
            let venvPath = layout.venv.path
            observation.python = try await BlockingPool.shared.run {
                let venv = try PythonVirtualEnvironment(existingAt: venvPath)
                return try PythonEnvironmentIdentity.entries(of: venv).map { entry in
                    VersionObservation.PythonDistribution(
                        name: entry.package.name, version: entry.package.version, artifact: entry.artifact,
                        record: PythonRecordHash.hash(of: entry.package))
                }
            }
        }

        let expected =
            trustStoreLinks
            ? Dictionary(
                ((try? LockFile.read(from: layout.lockFile))?.models ?? []).map { ($0.path, $0.sha256) },
                uniquingKeysWith: { a, _ in a }) : [:]
        for path in ModelScanner.scan(layout.models) {
            let url = layout.models.appendingPathComponent(path)
            let expectedHash = expected[path]
            let hash = try await BlockingPool.shared.run { try modelHash(url, expected: expectedHash) }
            observation.models.append(.init(path: path, size: hash.size, sha256: hash.sha256))
        }

        if let bytes = try? BoundedInput.read(layout.extraModelPaths.path, limits: InputLimits(maxBytes: 1 << 20)),
            let text = String(validating: bytes, as: UTF8.self)
        {
            let base = directory.standardizedFileURL.path
            do {
                observation.extraModelPaths = try ExtraModelPaths.folders(text, relativeTo: layout.comfyUI).map {
                    folder, url in
                    var path = url.path
                    if path == base || path.hasPrefix(base + "/") { path = "<version>" + path.dropFirst(base.count) }
                    return "\(folder) \(path)"
                }.sorted()
            } catch {
                // Recorded, not thrown: a version whose file ComfyUI could not read differs from one it can.
                observation.extraModelPaths = ["invalid YAML"]
            }
        }
        return observation
    }

    /// The `version digest` identity lines of an observation (Python lines given separately, in their order).
    static func identityLines(_ observation: VersionObservation, python: [String]) -> [String] {
        var lines: [String] = []
        if let comfy = observation.comfyUI, let commit = comfy.commit {
            lines.append("comfyui \(commit)")
            lines += comfy.dirty.map { "comfyui dirty \($0.path) \($0.content)" }
        } else {
            lines.append("comfyui missing")
        }
        for node in observation.nodes {
            let state = node.enabled ? "enabled" : "disabled"
            switch node.kind {
            case "git":
                lines.append("node \(node.name) \(state) git \(node.commit ?? "")")
                lines += node.dirty.map { "node \(node.name) dirty \($0.path) \($0.content)" }
            case "tree": lines.append("node \(node.name) \(state) tree \(node.tree ?? "")")
            default: lines.append("node \(node.name) \(state) file \(node.sha256 ?? "")")
            }
        }
        lines += python.map { "python \($0)" }
        lines += observation.models.map { "model \($0.path) \($0.size) \($0.sha256)" }
        return lines
    }

    /// The tree hash of the checked-out commit (`HEAD^{tree}`), or nil.
    private func treeHash(in directory: String) async throws -> String? {
        let result = try await git.execute(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", "HEAD^{tree}"], in: directory)
        guard result.termination.isSuccess else { return nil }
        let hash = result.trimmedOutput
        return GitCommitID.isFull(hash) ? hash : nil
    }
}

/// The content hash of a distribution's `RECORD` (see `VersionObservation.PythonDistribution.record`).
enum PythonRecordHash {
    static func hash(of package: InstalledPythonPackage) -> String? {
        guard let record = FileManager.default.contents(atPath: package.distInfo + "/RECORD") else { return nil }
        var entries: [String] = []
        for line in String(decoding: record, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let fields = CSVLine.split(String(line))
            guard fields.count >= 3, !fields[0].isEmpty, !fields[1].isEmpty else { continue }
            let path = fields[0]
            if path.hasPrefix("../") || path.hasPrefix("/") || path.hasSuffix(".pyc") || path.contains("__pycache__/") {
                continue
            }
            entries.append("\(path),\(fields[1]),\(fields[2])")
        }
        var hasher = SHA256()
        hasher.update(Array(entries.sorted().joined(separator: "\n").utf8))
        return hasher.finalize().hex
    }
}
