internal import ComfyCrypto
public import ComfyLock
public import ComfyModels
internal import ComfySupport
public import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// One difference between a version and its lock.
public struct VersionDrift: Codable, Hashable, Sendable, CustomStringConvertible {
    /// `comfyui`, `custom-node`, `python`, `model`, `config` or `lock`.
    public var area: String
    /// The node name, model path, package, or file concerned.
    public var subject: String
    /// What is wrong: `commit`, `dirty`, `missing`, `extra`, `enabled`, `sha256`, `size`, `url`, `package`...
    public var problem: String
    /// What the lock says, when it applies.
    public var expected: String?
    /// What the version has, when it applies.
    public var actual: String?

    /// A drift entry.
    public init(area: String, subject: String, problem: String, expected: String? = nil, actual: String? = nil) {
        self.area = area
        self.subject = subject
        self.problem = problem
        self.expected = expected
        self.actual = actual
    }

    /// "custom-node nodeA: commit expected X, found Y".
    public var description: String {
        var text = "\(area) \(subject): \(problem)"
        if let expected { text += ", expected \(expected)" }
        if let actual { text += ", found \(actual)" }
        return text
    }
}

/// The result of `version status`.
public struct VersionStatus: Codable, Hashable, Sendable {
    /// The version directory.
    public var path: String
    /// `LockFile.digest` of the lock compared against.
    public var lockDigest: String
    /// True when there is no drift.
    public var clean: Bool
    /// Every difference found, in a stable order.
    public var drift: [VersionDrift]
}

/// The result of `version digest`.
public struct VersionDigest: Codable, Hashable, Sendable {
    /// SHA-256 (hex) of `lines` joined with newlines, after the header `comfylock-environment-v1`.
    public var digest: String
    /// The identity lines: commits, dirty files, nodes, installed packages with hashes, model hashes.
    public var lines: [String]
}

/// Compares a version directory with a lock (`version status`) and computes its identity digest (`version digest`)
/// from what is actually on disk.
public struct VersionInspector: Sendable {
    /// The store (stat cache for model hashes).
    public let store: ModelStore
    /// The Python step, or nil (the lock's python section is then reported as not checkable).
    public let python: (any PythonEnvironmentProvider)?
    /// The git runner.
    public let git: Git

    /// When true, a model file that is the same inode as its store blob counts as that blob without being read
    /// (only right after `materialize` verified the blob, as `version create` does).
    public let trustStoreLinks: Bool

    /// How the venv's installed files are checked against their `RECORD` (default: through the venv's stat cache).
    public let venvFiles: VenvFileCheck

    /// When true, every model file is hashed again, ignoring the store's stat cache (`version status --deep`).
    public let deepModels: Bool

    /// An inspector.
    public init(
        store: ModelStore, python: (any PythonEnvironmentProvider)?, git: Git = Git(), trustStoreLinks: Bool = false,
        venvFiles: VenvFileCheck = .statCache, deepModels: Bool = false
    ) {
        self.store = store
        self.python = python
        self.git = git
        self.trustStoreLinks = trustStoreLinks
        self.venvFiles = venvFiles
        self.deepModels = deepModels
    }

    /// An inspector for `version status [--deep]`: `deep` re-hashes every venv file and model.
    public static func forStatus(
        store: ModelStore, python: (any PythonEnvironmentProvider)?, deep: Bool
    ) -> VersionInspector {
        VersionInspector(store: store, python: python, venvFiles: deep ? .deep : .statCache, deepModels: deep)
    }

    /// Python drift: versions, commits and hashes from the provider; installed files through the stat cache.
    func pythonDrift(venv: URL, pins: PythonPins, python: any PythonEnvironmentProvider) async throws -> [VersionDrift]
    {
        guard let runtime = python as? RuntimePythonEnvironment else {
            return try await python.driftEntries(venv: venv, pins: pins)
        }
        var drift = try await runtime.structuredDrift(
            venv: venv, pins: pins, options: PythonDriftOptions(verifyFiles: nil))
        // As PythonDriftCheck does: files are checked for pinned packages that are installed at the pinned version.
        let skipped = Set(drift.filter { $0.problem == "missing" || $0.problem == "version" }.map(\.subject))
        let pinned = Set(pins.packages.map { PythonNames.normalize($0.name) })
        let mode = venvFiles
        let files = try await BlockingPool.shared.run { () throws -> [VersionDrift] in
            let env = try PythonVirtualEnvironment(existingAt: venv.path)
            let packages = try PythonInstallation.packages(in: env).filter {
                pinned.contains($0.name) && !skipped.contains($0.name)
            }
            return VenvFileChecker.driftEntries(
                VenvFileChecker.check(venvRoot: env.root, packages: packages, mode: mode).modified)
        }
        // Keep PythonDriftCheck's order (by name, the file entry last for its package).
        drift = (drift + files).enumerated().sorted {
            ($0.element.subject, $0.offset) < ($1.element.subject, $1.offset)
        }
        .map(\.element)
        return drift
    }

    /// SHA-256 and size of a model file: through the stat cache, or by inode identity with its expected blob.
    func modelHash(_ url: URL, expected: String?) throws -> (sha256: String, size: Int64) {
        if trustStoreLinks, let expected {
            var file = stat()
            var blob = stat()
            if stat(url.path, &file) == 0, stat(store.blobURL(sha256: expected).path, &blob) == 0,
                file.st_dev == blob.st_dev, file.st_ino == blob.st_ino
            {
                return (expected, Int64(file.st_size))
            }
        }
        let result = try store.hashFile(at: url, deep: deepModels)
        return (result.sha256, result.size)
    }

    /// Drift between the version at `directory` and `lock`. `expectedModelsRoot` is where the generated
    /// extra_model_paths.yaml must point (the version's own models directory by default).
    public func status(directory: URL, lock: Lock, expectedModelsRoot: URL? = nil) async throws -> VersionStatus {
        let layout = VersionLayout(directory: directory)
        var drift: [VersionDrift] = []

        // ComfyUI.
        if !FileManager.default.fileExists(atPath: layout.comfyUI.path) {
            drift.append(VersionDrift(area: "comfyui", subject: "ComfyUI", problem: "missing"))
        } else {
            let head = try await git.head(in: layout.comfyUI.path)
            if head != lock.comfyui.commit {
                drift.append(
                    VersionDrift(
                        area: "comfyui", subject: "ComfyUI", problem: "commit", expected: lock.comfyui.commit,
                        actual: head ?? "none"))
            }
            let dirty = try await comfyDirtyPaths(layout.comfyUI.path)
            if !dirty.isEmpty {
                drift.append(
                    VersionDrift(area: "comfyui", subject: "ComfyUI", problem: "dirty", actual: Self.list(dirty)))
            }
        }

        // Custom nodes.
        let present = try await scanNodes(layout)
        let locked = Dictionary(lock.customNodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for found in present where locked[found.name] == nil {
            drift.append(VersionDrift(area: "custom-node", subject: found.name, problem: "extra", actual: found.path))
        }
        for node in lock.customNodes {
            guard let found = present.first(where: { $0.name == node.name }) else {
                drift.append(VersionDrift(area: "custom-node", subject: node.name, problem: "missing"))
                continue
            }
            if found.enabled != node.enabled {
                drift.append(
                    VersionDrift(
                        area: "custom-node", subject: node.name, problem: "enabled", expected: "\(node.enabled)",
                        actual: "\(found.enabled)"))
            }
            switch node.kind {
            case .git:
                let head = found.isDirectory ? try await git.head(in: found.path) : nil
                if head != node.commit {
                    drift.append(
                        VersionDrift(
                            area: "custom-node", subject: node.name, problem: "commit", expected: node.commit,
                            actual: head ?? "not a git checkout"))
                }
                if head != nil {
                    let dirty = try await git.dirtyPaths(in: found.path)
                    if !dirty.isEmpty {
                        drift.append(
                            VersionDrift(
                                area: "custom-node", subject: node.name, problem: "dirty", actual: Self.list(dirty)))
                    }
                }
            case .file:
                let filePath = found.path
                let actual =
                    found.isDirectory
                    ? "a directory"
                    : try await BlockingPool.shared.run { [store] in
                        try store.hashFile(at: URL(fileURLWithPath: filePath))
                    }.sha256
                if actual != node.sha256 {
                    drift.append(
                        VersionDrift(
                            area: "custom-node", subject: node.name, problem: "sha256", expected: node.sha256,
                            actual: actual))
                }
            case .registry:
                // The extracted tree against the lock's tree hash (any edited, added or removed file is drift).
                let nodePath = found.path
                let actual: String
                if !found.isDirectory {
                    actual = "not a directory"
                } else {
                    do {
                        actual = try await BlockingPool.shared.run {
                            try RegistryTree.hash(directory: URL(fileURLWithPath: nodePath))
                        }
                    } catch { actual = "unreadable tree (\(error))" }
                }
                if actual != node.treeHash {
                    drift.append(
                        VersionDrift(
                            area: "custom-node", subject: node.name, problem: "tree", expected: node.treeHash ?? "none",
                            actual: actual))
                }
            }
        }

        // Python.
        if let pins = lock.python {
            if !FileManager.default.fileExists(atPath: layout.venv.path) {
                drift.append(VersionDrift(area: "python", subject: "venv", problem: "missing"))
            } else if let python {
                drift += try await pythonDrift(venv: layout.venv, pins: pins, python: python)
            } else {
                drift.append(VersionDrift(area: "python", subject: "venv", problem: "no Python checker available"))
            }
        }

        // Models.
        let modelFiles = ModelScanner.scan(layout.models)
        let lockedPaths = Set(lock.models.map(\.path))
        for file in modelFiles where !lockedPaths.contains(file) {
            drift.append(VersionDrift(area: "model", subject: file, problem: "extra"))
        }
        let presentFiles = Set(modelFiles)
        for model in lock.models {
            guard presentFiles.contains(model.path) else {
                drift.append(VersionDrift(area: "model", subject: model.path, problem: "missing"))
                continue
            }
            let url = layout.models.appendingPathComponent(model.path)
            let size = Self.fileSize(url.path)
            if size != model.size {
                drift.append(
                    VersionDrift(
                        area: "model", subject: model.path, problem: "size", expected: "\(model.size)",
                        actual: "\(size)"))
                continue
            }
            let hash = try await BlockingPool.shared.run { try modelHash(url, expected: model.sha256) }.sha256
            if hash != model.sha256 {
                drift.append(
                    VersionDrift(
                        area: "model", subject: model.path, problem: "sha256", expected: model.sha256, actual: hash))
            }
        }
        let expectedYAML = ExtraModelPaths.render(lock: lock, modelsRoot: expectedModelsRoot ?? layout.models)
        let actualYAML = try? String(contentsOf: layout.extraModelPaths, encoding: .utf8)
        if actualYAML != expectedYAML {
            drift.append(
                VersionDrift(
                    area: "config", subject: "ComfyUI/extra_model_paths.yaml",
                    problem: actualYAML == nil ? "missing" : "content differs from the generated file"))
        }
        return VersionStatus(
            path: directory.path, lockDigest: LockFile.digest(lock), clean: drift.isEmpty, drift: drift)
    }

    /// The identity digest of the version at `directory`: independent of where it lives. Computed from
    /// `observe(directory:)` (the same scan `version compare` uses); the Python lines come from the provider.
    public func digest(directory: URL) async throws -> VersionDigest {
        let layout = VersionLayout(directory: directory)
        let observation = try await observe(directory: directory, includePython: false)
        var pythonLines: [String] = []
        if FileManager.default.fileExists(atPath: layout.venv.path), let python {
            pythonLines = try await python.identity(venv: layout.venv)
        }
        let lines = Self.identityLines(observation, python: pythonLines)
        var hasher = SHA256()
        hasher.update(Array("comfylock-environment-v1\n".utf8))
        hasher.update(Array(lines.joined(separator: "\n").utf8))
        return VersionDigest(digest: hasher.finalize().hex, lines: lines)
    }

    /// Dirty paths of the ComfyUI checkout, ignoring what a version adds on purpose.
    func comfyDirtyPaths(_ path: String) async throws -> [String] {
        try await GitChange.comfyUIDirtyPaths(path, git: git)
    }

    /// The nodes under the version's `custom_nodes/` that are not files of the ComfyUI commit itself.
    func scanNodes(_ layout: VersionLayout) async throws -> [NodeScanner.Found] {
        let tracked = try await TrackedFiles.of(layout.comfyUI, git: git)
        return NodeScanner.scan(layout.customNodes).filter { !tracked.contains(file: $0.path) }
    }

    static func list(_ paths: [String]) -> String {
        paths.prefix(10).joined(separator: ", ") + (paths.count > 10 ? " and \(paths.count - 10) more" : "")
    }

    static func fileSize(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : -1
    }

    /// Runs a synchronous hash of `path` on the shared blocking pool (never on the cooperative pool).
    static func offPool(_ hash: @escaping @Sendable (String) -> String, _ path: String) async throws -> String {
        try await BlockingPool.shared.run { hash(path) }
    }

    static func contentHash(_ path: String) -> String {
        var info = stat()
        guard lstat(path, &info) == 0 else { return "deleted" }
        if (info.st_mode & S_IFMT) == S_IFLNK {
            return "symlink:" + ((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?")
        }
        if (info.st_mode & S_IFMT) == S_IFDIR { return "dir:" + treeHash(path) }
        return (try? SHA256.hashFile(atPath: path).digest.hex) ?? "unreadable"
    }

    static func treeHash(_ path: String) -> String {
        let files = (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []).sorted()
        var hasher = SHA256()
        for file in files where !file.contains("__pycache__") {
            let full = path + "/" + file
            var info = stat()
            guard lstat(full, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR else { continue }
            hasher.update(Array("\(file) \(contentHash(full))\n".utf8))
        }
        return hasher.finalize().hex
    }
}
