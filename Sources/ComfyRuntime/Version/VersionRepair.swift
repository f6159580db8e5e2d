internal import ComfyLock
internal import ComfyModels
internal import ComfySupport
internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// What `version repair` did.
public struct VersionRepairReport: Sendable, Codable, Hashable {
    /// The version name.
    public var name: String
    /// The version directory.
    public var path: String
    /// The drift found before repairing.
    public var before: [VersionDrift]
    /// What was re-materialized: `comfyui`, `custom-node NAME`, `python`, `model PATH`, `config`, `blob SHA256`,
    /// `removed custom-node NAME`, `removed model PATH`, `shared model ROOT/NAME:PATH` (another version that shared a
    /// repaired blob).
    public var repaired: [String]
    /// The drift left afterwards (empty when the repair worked).
    public var after: [VersionDrift]
    /// True when the version matches its lock after the repair.
    public var clean: Bool
}

extension VersionBuilder {
    /// Re-materializes what drifted in version `name` from its own lock: ComfyUI's checkout (forced back to the
    /// commit, untracked files outside `custom_nodes/` cleaned), every drifted node (re-checked out from the git
    /// cache or the store), the venv (rebuilt beside the old one, then swapped in), and every drifted model (its blob
    /// re-verified — a corrupt blob is quarantined and fetched again — then placed again). Extra nodes and models are
    /// removed; the generated `extra_model_paths.yaml` is rewritten. When a blob had to be repaired, every other
    /// version in the registered roots that placed the same content and now differs is repaired the same way
    /// (a hard-linked blob corrupted through one version corrupts all of them).
    ///
    /// Runs under the same locks as `create` (shared store lock, exclusive per-name lock).
    public func repair(
        name: String, options: VersionCreateOptions = VersionCreateOptions()
    ) async throws
        -> VersionRepairReport
    {
        try VersionName.validate(name)
        let directory = root.appendingPathComponent(name, isDirectory: true)
        let layout = VersionLayout(directory: directory)
        guard let lock = try? LockFile.read(from: layout.lockFile) else {
            throw RuntimeError.notFound(
                "no version '\(name)' in \(root.path) (no readable \(layout.lockFile.lastPathComponent))")
        }
        return try await FileLock.withLock(at: StoreGC.lockPath(store: store.root), shared: true) {
            try await FileLock.withLock(at: VersionLayout.nameLock(root: root, name: name), removeOnRelease: true) {
                let inspector = VersionInspector(store: store, python: python)
                let before = try await inspector.status(directory: directory, lock: lock)
                var repaired: [String] = []
                var repairedBlobs: Set<String> = []
                if !before.clean {
                    try await repairDrift(
                        before.drift, lock: lock, layout: layout, options: options, repaired: &repaired,
                        repairedBlobs: &repairedBlobs)
                }
                if !repairedBlobs.isEmpty {
                    repaired += try await repairSharers(of: repairedBlobs, except: directory, options: options)
                }
                let after = try await inspector.status(directory: directory, lock: lock)
                return VersionRepairReport(
                    name: name, path: directory.path, before: before.drift, repaired: repaired, after: after.drift,
                    clean: after.clean)
            }
        }
    }

    private func repairDrift(
        _ drift: [VersionDrift], lock: Lock, layout: VersionLayout, options: VersionCreateOptions,
        repaired: inout [String], repairedBlobs: inout Set<String>
    ) async throws {
        let git = gitCache.git
        // ComfyUI.
        if drift.contains(where: { $0.area == "comfyui" }) {
            if !FileManager.default.fileExists(atPath: layout.comfyUI.path) {
                try await gitCache.checkout(url: lock.comfyui.url, commit: lock.comfyui.commit, into: layout.comfyUI)
            } else {
                let mirror = try await gitCache.ensure(url: lock.comfyui.url, commit: lock.comfyui.commit)
                try await git.run(
                    ["fetch", "--quiet", "--no-tags", "--", mirror.path, lock.comfyui.commit], in: layout.comfyUI.path)
                try await git.run(
                    ["checkout", "--quiet", "--force", "--detach", lock.comfyui.commit, "--"], in: layout.comfyUI.path)
                try await git.run(
                    ["clean", "--quiet", "-f", "-d", "-e", "/custom_nodes/", "-e", "/extra_model_paths.yaml"],
                    in: layout.comfyUI.path)
            }
            repaired.append("comfyui")
        }
        // Custom nodes: drifted ones are placed again, extra ones removed.
        let byName = Dictionary(lock.customNodes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in Set(drift.filter { $0.area == "custom-node" }.map(\.subject)).sorted() {
            for enabled in [true, false] {
                try SafeRemoval.removeTree(layout.node(name, enabled: enabled).path)
            }
            guard let node = byName[name] else {
                repaired.append("removed custom-node \(name)")
                continue
            }
            try await placeNode(node, at: layout.node(node.name, enabled: node.enabled))
            repaired.append("custom-node \(name)")
        }
        // Python: a new venv beside the old one, swapped in only when complete.
        if drift.contains(where: { $0.area == "python" }), let pins = lock.python, let python {
            let staging = layout.directory.appendingPathComponent(
                ".repair-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))", isDirectory: true)
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
            defer { try? SafeRemoval.removeTree(staging.path) }
            let fresh = staging.appendingPathComponent("venv")
            var build = options.python
            build.allowUnpinned = build.allowUnpinned || options.allowUnpinned
            try await python.build(venv: fresh, pins: pins, options: build)
            try VenvRelocation.relocate(venv: fresh, from: staging.path, to: layout.directory.path)
            let old = staging.appendingPathComponent("old-venv")
            if FileManager.default.fileExists(atPath: layout.venv.path) {
                guard rename(layout.venv.path, old.path) == 0 else {
                    throw RuntimeError.invalidInput(
                        "cannot move \(layout.venv.path) aside: \(String(cString: strerror(errno)))")
                }
            }
            guard rename(fresh.path, layout.venv.path) == 0 else {
                throw RuntimeError.invalidInput(
                    "cannot move the rebuilt venv into place: \(String(cString: strerror(errno)))")
            }
            repaired.append("python")
        }
        // Models.
        let models = Dictionary(lock.models.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        for path in Set(drift.filter { $0.area == "model" }.map(\.subject)).sorted() {
            let target = try ModelVerifier.target(for: path, root: layout.models)
            guard let model = models[path] else {
                try SafeRemoval.removeTree(target.path)
                repaired.append("removed model \(path)")
                continue
            }
            if try repairBlobIfCorrupt(model) { repairedBlobs.insert(model.sha256) }
            let sources = model.sources.map { gitCache.rewriter.rewrite($0, kind: .model) }
            _ = try await store.ensureBlob(sha256: model.sha256, size: model.size, sources: sources)
            _ = try place(sha256: model.sha256, at: target, mode: versionMode(layout))
            repaired.append("model \(path)")
        }
        if drift.contains(where: { $0.area == "config" }) {
            try ExtraModelPaths.render(lock: lock, modelsRoot: layout.models)
                .write(to: layout.extraModelPaths, atomically: true, encoding: .utf8)
            repaired.append("config")
        }
    }

    /// True when the store's blob for `model` was present but no longer hashes to its name (it is quarantined by
    /// `verifiedBlob`, and fetched again by the caller).
    func repairBlobIfCorrupt(_ model: ModelEntry) throws -> Bool {
        guard store.containsBlob(sha256: model.sha256) else { return false }
        // A deep hash: a write through a hard link may keep size and mtime (mmap) — do not trust the stat cache.
        let blob = store.blobURL(sha256: model.sha256)
        let actual = try store.hashFile(at: blob, deep: true).sha256
        guard actual != model.sha256 else { return false }
        BlobProtection.unprotect(blob.path)
        _ = try store.quarantine(blob)
        return true
    }

    /// Re-places, in every version of the registered roots (and this builder's root), each model whose content is one
    /// of `blobs` and whose file no longer matches it — after `models verify --fix` restored a corrupt shared blob.
    /// Returns `shared model ROOT/NAME:PATH` per file re-placed.
    public func repairVersionsSharing(_ blobs: Set<String>) async throws -> [String] {
        guard !blobs.isEmpty else { return [] }
        return try await FileLock.withLock(at: StoreGC.lockPath(store: store.root), shared: true) {
            try await repairSharers(
                of: blobs, except: URL(fileURLWithPath: "/nonexistent"), options: VersionCreateOptions())
        }
    }

    /// Other versions (registered roots) whose lock places one of `blobs` and whose file now differs from it.
    private func repairSharers(
        of blobs: Set<String>, except skipped: URL, options: VersionCreateOptions
    ) async throws
        -> [String]
    {
        var repaired: [String] = []
        var roots = VersionRegistry.roots(store: store.root)
        if !roots.contains(where: { $0.standardizedFileURL.path == root.standardizedFileURL.path }) {
            roots.append(root)
        }
        for versionsRoot in roots {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: versionsRoot.path)) ?? []
            for name in names.sorted() where !name.hasPrefix(".") {
                let layout = VersionLayout(directory: versionsRoot.appendingPathComponent(name, isDirectory: true))
                guard layout.directory.standardizedFileURL.path != skipped.standardizedFileURL.path,
                    let lock = try? LockFile.read(from: layout.lockFile)
                else { continue }
                for model in lock.models where blobs.contains(model.sha256) {
                    let target = try ModelVerifier.target(for: model.path, root: layout.models)
                    let current = try? store.hashFile(at: target, deep: true).sha256
                    guard current != model.sha256 else { continue }
                    _ = try place(sha256: model.sha256, at: target, mode: versionMode(layout))
                    repaired.append("shared model \(versionsRoot.path)/\(name):\(model.path)")
                }
            }
        }
        return repaired
    }

    /// The models mode the version was built with (its metadata, read bounded), default shared.
    func versionMode(_ layout: VersionLayout) -> ModelLinkMode {
        VersionCatalog.metadata(layout)?.models ?? .shared
    }
}
