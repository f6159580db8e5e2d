public import ComfyLock
public import ComfyModels
internal import ComfySupport
public import Foundation

/// Inputs of `lock create`.
public struct LockCreateRequest: Sendable {
    /// The ComfyUI install (its git checkout).
    public var comfyUI: URL
    /// The lock's tag.
    public var tag: String
    /// A models manifest: JSON `{"models": [{"path"?, "sha256"?, "sources": [...], "huggingface"?}]}`.
    public var modelsManifest: URL?
    /// A previous lock whose model sources, file-node URLs, workflows and Python artifact URLs are reused.
    public var previous: Lock?
    /// Record dirty git trees instead of refusing them (they are then flagged).
    public var allowDirty: Bool
    /// The venv to record; nil = `ComfyUI/venv`, `ComfyUI/.venv` or `../venv` (a version's layout), if present.
    public var venv: URL?
    /// Indexes asked for the artifact of each installed distribution; nil = the ones `init` used, else the
    /// previous lock's, else PyPI.
    public var indexURLs: [String]?
    /// The size limit of the files read whole (the models manifest), through `BoundedInput`.
    public var inputLimits: InputLimits

    /// A request.
    public init(
        comfyUI: URL, tag: String, modelsManifest: URL? = nil, previous: Lock? = nil, allowDirty: Bool = false,
        venv: URL? = nil, indexURLs: [String]? = nil, inputLimits: InputLimits = .default
    ) {
        self.inputLimits = inputLimits
        self.comfyUI = comfyUI
        self.tag = tag
        self.modelsManifest = modelsManifest
        self.previous = previous
        self.allowDirty = allowDirty
        self.venv = venv
        self.indexURLs = indexURLs
    }
}

/// What `lock create` produced besides the lock.
public struct LockCreateResult: Sendable {
    /// The lock.
    public var lock: Lock
    /// Git trees recorded although dirty (`--allow-dirty`): "ComfyUI" or "custom_nodes/NAME" with their paths.
    public var dirty: [String]
    /// Model paths recorded without any source (nobody could re-fetch them).
    public var modelsWithoutSource: [String]
    /// Python packages whose artifact hash is unknown, with the reason.
    public var pythonUnresolved: [String]
    /// Other notes (no venv found, ...).
    public var notes: [String]
    /// Recorded local files no other machine can fetch (untracked single-file nodes and models without a
    /// source): `custom_nodes/NAME` or `models/PATH`. They were put in the store, so this machine can build the lock.
    public var notFetchableElsewhere: [String] = []
    /// Files skipped because the ComfyUI (or a node's) commit tracks them (part of that commit).
    public var trackedSkipped: [String] = []
}

/// Records a lock from a live ComfyUI install: ComfyUI's commit, every custom node, the venv's packages and every
/// model file (under `models/` and the folders `extra_model_paths.yaml` names). Same inputs give the same bytes.
public struct LockCreator: Sendable {
    /// The model store (stat cache for hashes).
    public let store: ModelStore
    /// The Python recorder, or nil.
    public let python: (any PythonEnvironmentProvider)?
    /// The git runner.
    public let git: Git

    /// A lock creator.
    public init(store: ModelStore, python: (any PythonEnvironmentProvider)?, git: Git = Git()) {
        self.store = store
        self.python = python
        self.git = git
    }

    /// Creates the lock.
    public func create(_ request: LockCreateRequest) async throws -> LockCreateResult {
        let comfy = request.comfyUI.standardizedFileURL
        var dirty: [String] = []
        var notes: [String] = []
        // Inputs first (bounded, before any git call): the models manifest.
        let manifest =
            try request.modelsManifest.map { try ModelsManifest.read($0, limits: request.inputLimits) }
            ?? ModelsManifest(entries: [])
        guard let commit = try await git.head(in: comfy.path) else {
            throw RuntimeError.invalidInput("\(comfy.path) is not a git checkout of ComfyUI (no HEAD commit)")
        }
        guard let url = try await git.remoteURL(in: comfy.path) else {
            throw RuntimeError.invalidInput(
                "\(comfy.path) has no 'origin' remote: cannot record where ComfyUI comes from")
        }
        // Changes to tracked files are dirty wherever they are (models/configs too); untracked files under
        // custom_nodes/, models/ and the venv are the install's own content, recorded below.
        let comfyDirty = try await GitChange.comfyUIDirtyPaths(comfy.path, git: git)
        let comfyTracked = try await TrackedFiles.of(comfy, git: git)
        var trees = [comfyTracked]
        var notFetchable: [String] = []
        var trackedSkipped: [String] = []
        var ref: String? = nil
        let tagResult = try await git.execute(
            ["describe", "--tags", "--exact-match", "--end-of-options", "HEAD"], in: comfy.path)
        if tagResult.termination.isSuccess, !tagResult.trimmedOutput.isEmpty { ref = tagResult.trimmedOutput }
        if !comfyDirty.isEmpty {
            guard request.allowDirty else { throw RuntimeError.dirtyTree(path: comfy.path, paths: comfyDirty) }
            dirty.append("ComfyUI: " + VersionInspector.list(comfyDirty))
            ref = (ref ?? String(commit.prefix(12))) + "-dirty"
        }
        let comfyPin = ComfyUIPin(url: GitURL.strippingCredentials(url), commit: commit, ref: ref)

        // Custom nodes.
        var nodes: [CustomNode] = []
        let previousNodes = Dictionary(
            (request.previous?.customNodes ?? []).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var unlockable: [String] = []
        for found in NodeScanner.scan(comfy.appendingPathComponent("custom_nodes")) {
            if comfyTracked.contains(file: found.path) {
                trackedSkipped.append("custom_nodes/\(found.name)")
                continue
            }
            if found.isDirectory {
                guard let head = try await git.head(in: found.path) else {
                    unlockable.append(found.name)
                    continue
                }
                guard let remote = try await git.remoteURL(in: found.path) else {
                    throw RuntimeError.invalidInput("custom node \(found.name) (\(found.path)) has no 'origin' remote")
                }
                let changes = try await git.dirtyPaths(in: found.path)
                if !changes.isEmpty {
                    guard request.allowDirty else { throw RuntimeError.dirtyTree(path: found.path, paths: changes) }
                    dirty.append("custom_nodes/\(found.name): " + VersionInspector.list(changes))
                }
                nodes.append(
                    CustomNode(
                        name: found.name, kind: .git, url: GitURL.strippingCredentials(remote), commit: head,
                        enabled: found.enabled))
                trees.append(try await TrackedFiles.of(URL(fileURLWithPath: found.path), git: git))
            } else {
                let hash = try store.hashFile(at: URL(fileURLWithPath: found.path)).sha256
                let previous = previousNodes[found.name]
                let url = previous?.sha256 == hash ? previous?.url : nil
                if url == nil {
                    try putInStore(URL(fileURLWithPath: found.path), sha256: hash)
                    notFetchable.append("custom_nodes/\(found.name)")
                }
                nodes.append(CustomNode(name: found.name, kind: .file, url: url, sha256: hash, enabled: found.enabled))
            }
        }
        if !unlockable.isEmpty {
            throw RuntimeError.invalidInput(
                "custom nodes that are neither git checkouts nor single files cannot be locked: "
                    + unlockable.joined(separator: ", ") + " (clone them with git, or remove them)")
        }

        // Python.
        var pins: PythonPins? = nil
        var unresolved: [String] = []
        let venvCandidates =
            request.venv.map { [$0] }
            ?? [
                comfy.appendingPathComponent("venv"), comfy.appendingPathComponent(".venv"),
                comfy.deletingLastPathComponent().appendingPathComponent("venv"),
            ]
        if let venv = venvCandidates.first(where: {
            FileManager.default.fileExists(atPath: $0.appendingPathComponent("pyvenv.cfg").path)
        }) {
            if let python {
                let indexes =
                    request.indexURLs
                    ?? InitState.read(in: comfy)?.indexURLs.flatMap { $0.isEmpty ? nil : $0 }
                    ?? request.previous?.python?.indexUrls
                let recorded = try await python.record(
                    venv: venv, previous: request.previous?.python, indexURLs: indexes)
                pins = recorded.pins
                unresolved = recorded.unresolved
            } else {
                notes.append("venv \(venv.path) found but no Python recorder is available: python section left out")
            }
        } else if let explicit = request.venv {
            throw RuntimeError.notFound("no venv at \(explicit.path) (pyvenv.cfg missing)")
        } else {
            notes.append("no venv found (looked for ComfyUI/venv, ComfyUI/.venv, ../venv): python section left out")
        }

        // Models.
        var models: [String: ModelEntry] = [:]
        var withoutSource: [String] = []
        for (path, file) in try ModelRoots.files(comfyUI: comfy) {
            if trees.contains(where: { $0.contains(file: file.path) }) {
                trackedSkipped.append("models/\(path)")
                continue
            }
            let hash = try store.hashFile(at: file)
            var entry = ModelEntry(path: path, size: hash.size, sha256: hash.sha256)
            if let known = manifest.lookup(path: path, sha256: hash.sha256) {
                entry.sources = known.sources.map(GitURL.strippingCredentials)
                entry.huggingface = known.huggingface
            } else if let previous = request.previous?.models.first(where: {
                $0.path == path && $0.sha256 == hash.sha256
            })
                ?? request.previous?.models.first(where: { $0.sha256 == hash.sha256 })
            {
                entry.sources = previous.sources
                entry.huggingface = previous.huggingface
            }
            if entry.sources.isEmpty && entry.huggingface == nil {
                withoutSource.append(path)
                try putInStore(file, sha256: hash.sha256)
                notFetchable.append("models/\(path)")
            }
            if let existing = models[path], existing.sha256 != entry.sha256 {
                throw RuntimeError.invalidInput(
                    "model path \(path) is found twice with different contents (ComfyUI/models and a folder of "
                        + "extra_model_paths.yaml); keep one")
            }
            models[path] = entry
        }

        let lock = Lock(
            tag: request.tag, createdBy: ComfyLockVersion.createdBy, comfyui: comfyPin,
            customNodes: nodes, python: pins, models: models.values.sorted { $0.path < $1.path },
            workflows: request.previous?.workflows ?? []
        ).sorted()
        // Repositories' origin URLs, node and model names come from an untrusted tree: the one rule set decides.
        let unsafe = LockValidator.errors(lock, level: .safe)
        if !unsafe.isEmpty { throw LockError.invalidLock(file: Escaping.escaped(comfy.path), unsafe) }
        return LockCreateResult(
            lock: lock, dirty: dirty, modelsWithoutSource: withoutSource.sorted(), pythonUnresolved: unresolved,
            notes: notes, notFetchableElsewhere: notFetchable.sorted(), trackedSkipped: trackedSkipped.sorted())
    }

    /// Copies a recorded local file into the store (verified), unless the store already holds its blob.
    private func putInStore(_ file: URL, sha256: String) throws {
        if (try? store.verifiedBlob(sha256: sha256)) ?? nil != nil { return }
        _ = try store.importFile(at: file, expectedSHA256: sha256)
    }
}

/// A models manifest for `lock create --models-manifest`: where each model can be downloaded.
public struct ModelsManifest: Sendable {
    /// One entry: matched by `path` and/or `sha256`.
    public struct Entry: Sendable, Codable {
        /// Model path relative to the models root.
        public var path: String?
        /// Content hash.
        public var sha256: String?
        /// Download URLs (first = primary).
        public var sources: [String]
        /// Hugging Face reference.
        public var huggingface: HuggingFaceRef?
    }
    /// The entries.
    public var entries: [Entry]

    /// Reads `{"models": [...]}` (or a bare array).
    public static func read(_ url: URL, limits: InputLimits = .default) throws -> ModelsManifest {
        let data: Data
        do {
            data = Data(try BoundedInput.read(url.path, limits: limits, what: "models manifest"))
        } catch {
            throw RuntimeError.notFound("models manifest cannot be read: \(error)")
        }
        struct Wrapper: Decodable { var models: [Entry] }
        do {
            if let wrapped = try? JSONDecoder().decode(Wrapper.self, from: data) {
                return ModelsManifest(entries: wrapped.models)
            }
            return ModelsManifest(entries: try JSONDecoder().decode([Entry].self, from: data))
        } catch {
            throw RuntimeError.invalidInput(
                "models manifest \(Escaping.quoted(url.path)): expected {\"models\": [{\"path\", \"sha256\", \"sources\": [...]}]}: \(error)"
            )
        }
    }

    func lookup(path: String, sha256: String) -> Entry? {
        entries.first { $0.path == path && ($0.sha256 == nil || $0.sha256 == sha256) }
            ?? entries.first { $0.path == nil && $0.sha256 == sha256 }
            ?? entries.first { $0.sha256 == sha256 }
    }
}

/// The model files of an install: `ComfyUI/models/**` and the folders named by `ComfyUI/extra_model_paths.yaml`,
/// as (lock path, file) pairs. Placeholder files (`put_*_here`) and hidden files are skipped.
enum ModelRoots {
    static func files(comfyUI: URL) throws -> [(String, URL)] {
        var out: [(String, URL)] = []
        let models = comfyUI.appendingPathComponent("models")
        for path in ModelScanner.scan(models) where !isPlaceholder(path) {
            out.append((path, models.appendingPathComponent(path)))
        }
        let yaml = comfyUI.appendingPathComponent("extra_model_paths.yaml")
        if let bytes = try? BoundedInput.read(yaml.path, limits: InputLimits(maxBytes: 1 << 20)),
            let text = String(validating: bytes, as: UTF8.self)
        {
            for (folder, directory) in try ExtraModelPaths.folders(text, relativeTo: comfyUI, name: yaml.path) {
                for path in ModelScanner.scan(directory) where !isPlaceholder(path) {
                    out.append(("\(folder)/\(path)", directory.appendingPathComponent(path)))
                }
            }
        }
        return out
    }

    static func isPlaceholder(_ path: String) -> Bool {
        let name = (path as NSString).lastPathComponent
        return name.hasPrefix("put_") && name.hasSuffix("_here")
    }
}
