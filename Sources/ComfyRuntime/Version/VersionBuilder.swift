public import ComfyLock
public import ComfyModels
internal import ComfySupport
public import Foundation
public import Logging

#if canImport(Glibc)
    internal import Glibc
#endif

/// Options of `version create`.
public struct VersionCreateOptions: Sendable {
    /// How models are placed (hard links by default: zero bytes copied).
    public var models: ModelLinkMode
    /// Python build options (offline + wheelhouse, interpreter).
    public var python: PythonBuildOptions
    /// Progress lines ("step: detail"), for the CLI.
    public var progress: (@Sendable (String) -> Void)?
    /// Build a lock whose Python environment is not pinned: no python section (its venv was not recorded) or
    /// packages without an artifact hash (installed by version only, unverified). Refused otherwise.
    public var allowUnpinned: Bool

    /// Options.
    public init(
        models: ModelLinkMode = .shared, python: PythonBuildOptions = PythonBuildOptions(),
        progress: (@Sendable (String) -> Void)? = nil, allowUnpinned: Bool = false
    ) {
        self.allowUnpinned = allowUnpinned
        self.models = models
        self.python = python
        self.progress = progress
    }
}

/// What `version create` did.
public struct VersionCreateReport: Sendable, Codable, Hashable {
    /// The version name.
    public var name: String
    /// The version directory.
    public var path: String
    /// `LockFile.digest` of its lock.
    public var lockDigest: String
    /// The environment digest (`version digest`).
    public var digest: String
    /// Model bytes copied (0 with `--models shared`).
    public var modelBytesCopied: Int64
    /// Models placed, by method (hardlink, reflink, symlink, copy).
    public var modelMethods: [String: Int]
    /// Seconds per step.
    public var stepSeconds: [String: Double]
    /// True when the version already existed with the same lock and a clean status: nothing was built.
    public var alreadyBuilt: Bool = false
    /// How models were placed, in words (`hardlink (read-only shared blobs)`, `reflink`, `copy`, …), for the report.
    public var placement: String = "none"
}

/// Builds a version from a lock, fail-closed: everything happens in `<root>/.staging-<name>-<random>/`, which is
/// renamed to `<root>/<name>` only after every step and the final status check succeeded. On any failure the
/// staging directory is deleted and the error names the step (`RuntimeError.step`).
///
/// Steps, in order: `validate`, `comfyui`, `custom-nodes`, `python`, `models`, `lock`, `verify`, `publish`.
public struct VersionBuilder: Sendable {
    /// The step names, in order.
    public static let steps = ["validate", "comfyui", "custom-nodes", "python", "models", "lock", "verify", "publish"]

    /// The versions root.
    public let root: URL
    /// The git object cache.
    public let gitCache: GitCache
    /// The model store.
    public let store: ModelStore
    /// The Python step.
    public let python: (any PythonEnvironmentProvider)?
    /// Where builds are logged (each step's start, end and duration; failures).
    public let logger: Logger
    /// Test hook, called with each step's name as the step begins: throwing makes that step fail (tests prove that
    /// a failure at any step leaves nothing partial). `nil` in production.
    package var stepHook: (@Sendable (_ step: String) throws -> Void)?

    /// A builder, logging to `logger` (default: nowhere).
    public init(
        root: URL, gitCache: GitCache, store: ModelStore, python: (any PythonEnvironmentProvider)?,
        logger: Logger = Logger(label: "comfylock.version", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.logger = logger
        self.root = root
        self.gitCache = gitCache
        self.store = store
        self.python = python
    }

    /// Builds version `name` from `lock`.
    public func create(
        name: String, lock: Lock, options: VersionCreateOptions = VersionCreateOptions()
    ) async throws
        -> VersionCreateReport
    {
        try VersionName.validate(name)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let final = root.appendingPathComponent(name, isDirectory: true)
        try FileManager.default.createDirectory(
            at: store.root.appendingPathComponent("locks"), withIntermediateDirectories: true)
        // Shared with other builds, exclusive with `store gc`: gc never prunes a blob a build is about to link.
        return try await FileLock.withLock(at: StoreGC.lockPath(store: store.root), shared: true) {
            try await FileLock.withLock(at: VersionLayout.nameLock(root: root, name: name), removeOnRelease: true) {
                if FileManager.default.fileExists(atPath: final.path) {
                    return try await existing(name: name, lock: lock, final: final)
                }
                let staging = root.appendingPathComponent(
                    ".staging-\(name)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))", isDirectory: true)
                do {
                    let report = try await build(
                        name: name, lock: lock, staging: staging, final: final, options: options)
                    return report
                } catch {
                    try? SafeRemoval.removeTree(staging.path)
                    throw error
                }
            }
        }
    }

    /// `version create` on an existing name: the same lock and a clean status is success ("already built");
    /// anything else is refused with what differs (and how to fix it).
    private func existing(name: String, lock: Lock, final: URL) async throws -> VersionCreateReport {
        let layout = VersionLayout(directory: final)
        let lockDigest = LockFile.digest(lock)
        guard let recorded = try? LockFile.read(from: layout.lockFile) else {
            throw RuntimeError.alreadyExists("\(final.path) already exists and is not a version (no readable lock)")
        }
        guard LockFile.digest(recorded) == lockDigest else {
            throw RuntimeError.alreadyExists(
                "version '\(name)' already exists at \(final.path) with another lock (\(LockFile.digest(recorded).prefix(16)), "
                    + "this one is \(lockDigest.prefix(16))); pick another name or remove it first")
        }
        let inspector = VersionInspector(store: store, python: python)
        let status = try await inspector.status(directory: final, lock: lock)
        guard status.clean else {
            throw RuntimeError.alreadyExists(
                "version '\(name)' already exists with this lock but differs from it (run `comfy-cli version repair "
                    + "\(name)`):\n" + status.drift.map { "  \($0)" }.joined(separator: "\n"))
        }
        let digest = try await inspector.digest(directory: final).digest
        return VersionCreateReport(
            name: name, path: final.path, lockDigest: lockDigest, digest: digest, modelBytesCopied: 0,
            modelMethods: [:], stepSeconds: [:], alreadyBuilt: true, placement: "unchanged")
    }

    private func build(
        name: String, lock: Lock, staging: URL, final: URL, options: VersionCreateOptions
    ) async throws -> VersionCreateReport {
        let layout = VersionLayout(directory: staging)
        var seconds: [String: Double] = [:]
        var copied: Int64 = 0
        var methods: [String: Int] = [:]
        let clock = ContinuousClock()

        func step<T>(_ step: String, _ body: () async throws -> T) async throws -> T {
            options.progress?("\(step): started")
            logger.debug("step started", metadata: ["version": "\(name)", "step": "\(step)"])
            let start = clock.now
            do {
                try stepHook?(step)
                let value = try await body()
                let elapsed = clock.now - start
                seconds[step] = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                options.progress?("\(step): done")
                logger.info(
                    "step done",
                    metadata: ["version": "\(name)", "step": "\(step)", "seconds": "\(seconds[step] ?? 0)"])
                return value
            } catch let error as RuntimeError where error.step != nil {
                throw error
            } catch {
                logger.error("step failed", metadata: ["version": "\(name)", "step": "\(step)", "error": "\(error)"])
                throw RuntimeError.stepFailed(step, underlying: error)
            }
        }

        try await step("validate") {
            // An unpinned registry node is only a warning for readers, but nothing can be built from it.
            let errors = LockValidator.validate(lock).filter {
                ($0.severity == .error && !(options.allowUnpinned && $0.rule == "python-unhashed"))
                    || $0.rule == "registry-unpinned"
            }
            guard errors.isEmpty else {
                throw RuntimeError.invalidInput(
                    "the lock is not valid:\n" + errors.map { "  \($0)" }.joined(separator: "\n"))
            }
            if lock.python == nil && !options.allowUnpinned {
                throw RuntimeError.invalidInput(
                    "the lock pins no Python environment (no python section: its venv was not recorded); run "
                        + "`comfy-cli pin --lock LOCK` first, or pass --allow-unpinned to build without one")
            }
            if lock.python != nil && python == nil {
                throw RuntimeError.invalidInput("the lock pins Python packages but no Python installer is available")
            }
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
        }
        try await step("comfyui") {
            try await gitCache.checkout(url: lock.comfyui.url, commit: lock.comfyui.commit, into: layout.comfyUI)
        }
        try await step("custom-nodes") {
            try FileManager.default.createDirectory(at: layout.customNodes, withIntermediateDirectories: true)
            // Nodes are independent checkouts: run them concurrently (git is mostly waiting on the file system).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in lock.customNodes {
                    let target = layout.node(node.name, enabled: node.enabled)
                    group.addTask { try await placeNode(node, at: target) }
                }
                try await group.waitForAll()
            }
        }
        try await step("python") {
            guard let pins = lock.python, let python else { return }
            var build = options.python
            build.allowUnpinned = build.allowUnpinned || options.allowUnpinned
            try await python.build(venv: layout.venv, pins: pins, options: build)
            try VenvRelocation.relocate(venv: layout.venv, from: staging.path, to: final.path)
        }
        try await step("models") {
            try FileManager.default.createDirectory(at: layout.models, withIntermediateDirectories: true)
            for model in lock.models {
                let target = try ModelVerifier.target(for: model.path, root: layout.models)
                let sources = model.sources.map { gitCache.rewriter.rewrite($0, kind: .model) }
                _ = try await store.ensureBlob(sha256: model.sha256, size: model.size, sources: sources)
                let (sha256, mode) = (model.sha256, options.models)
                let method = try await BlockingPool.shared.run { try place(sha256: sha256, at: target, mode: mode) }
                methods[method.rawValue, default: 0] += 1
                if method == .copy { copied += model.size }
            }
            try ExtraModelPaths.render(lock: lock, modelsRoot: VersionLayout(directory: final).models)
                .write(to: layout.extraModelPaths, atomically: true, encoding: .utf8)
        }
        let lockDigest = LockFile.digest(lock)
        try await step("lock") {
            _ = try LockFile.write(lock, to: layout.lockFile)
            let metadata = VersionMetadata(
                name: name, lockDigest: lockDigest, tag: lock.tag, models: options.models,
                createdBy: ComfyLockVersion.createdBy)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try encoder.encode(metadata).write(to: layout.metadataFile, options: .atomic)
        }
        let digest: String = try await step("verify") {
            // Models were hard-linked from blobs verified just before (materialize): a file sharing its blob's inode
            // needs no second full read here. `version status` run later always hashes (through the stat cache).
            // The venv was just installed from hash-checked artifacts: its files are size-checked and recorded in the
            // venv's stat cache without being read, so a later `version status` only re-hashes what changed since.
            let inspector = VersionInspector(
                store: store, python: python, trustStoreLinks: true, venvFiles: .trustInstalled)
            let status = try await inspector.status(
                directory: staging, lock: lock, expectedModelsRoot: VersionLayout(directory: final).models)
            guard status.clean else {
                throw RuntimeError.invalidInput(
                    "the new version does not match its lock:\n"
                        + status.drift.map { "  \($0)" }.joined(separator: "\n"))
            }
            return try await inspector.digest(directory: staging).digest
        }
        try await step("publish") {
            guard rename(staging.path, final.path) == 0 else {
                throw RuntimeError.alreadyExists(
                    "cannot rename \(staging.path) to \(final.path): \(String(cString: strerror(errno)))")
            }
            VersionRegistry.register(root: root, store: store.root)
        }
        return VersionCreateReport(
            name: name, path: final.path, lockDigest: lockDigest, digest: digest, modelBytesCopied: copied,
            modelMethods: methods, stepSeconds: seconds, placement: Self.describePlacement(methods))
    }

    /// "hardlink ×3 (shared read-only blobs)", "reflink ×2 (copy-on-write)", … for the report.
    static func describePlacement(_ methods: [String: Int]) -> String {
        guard !methods.isEmpty else { return "none (no models)" }
        let words: [String: String] = [
            "hardlink": "shared read-only blobs", "reflink": "copy-on-write clones, independent of the store",
            "symlink": "links to read-only blobs", "copy": "independent copies",
        ]
        return methods.keys.sorted().map { "\($0) ×\(methods[$0]!) (\(words[$0] ?? $0))" }.joined(separator: ", ")
    }

    /// Puts one custom node at `target`: a git checkout from the cache, or a single file from the store.
    func placeNode(_ node: CustomNode, at target: URL) async throws {
        switch node.kind {
        case .git:
            guard let url = node.url, let commit = node.commit else {
                throw RuntimeError.invalidInput("custom node \(node.name) has no url/commit")
            }
            try await gitCache.checkout(url: url, commit: commit, into: target)
        case .file:
            guard let sha = node.sha256 else {
                throw RuntimeError.invalidInput("custom node \(node.name) has no sha256")
            }
            _ = try await store.ensureBlob(
                sha256: sha, sources: node.url.map { [gitCache.rewriter.rewrite($0, kind: .model)] } ?? [])
            _ = try await BlockingPool.shared.run { try store.materialize(sha256: sha, to: target, mode: .copy) }
        case .registry:
            // Archive from the store (or its URL, through the mirrors), verified by sha256, extracted safely into a
            // staging directory beside the target, tree hash checked, renamed into place.
            try FileManager.default.createDirectory(
                at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try await RegistryNodeInstaller(store: store, rewriter: gitCache.rewriter).place(node, at: target)
        }
    }

    func place(sha256: String, at target: URL, mode: ModelLinkMode) throws -> MaterializeMethod {
        let order: [MaterializeMode] = mode == .shared ? [.hardlink, .reflink, .symlink] : [.reflink, .copy]
        var lastError: (any Error)?
        for candidate in order {
            do {
                return try store.materialize(sha256: sha256, to: target, mode: candidate, protectShared: true)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? RuntimeError.modelMissing("cannot place \(sha256) at \(target.path)")
    }
}
