import ComfyLock
import ComfyModels
import ComfyRuntime
import ComfySupport
import Foundation
import Logging

/// The start-up check of a version against its lock, fail-closed: version status (models through the stat cache),
/// missing models fetched into the store when configured, then the drift policy — `fail` refuses jobs with the
/// reason, `warn` serves and marks every result, `repair` re-materializes the version from its lock
/// (`VersionBuilder.repair`) and verifies it again before serving; a repair that fails or leaves drift fails closed.
struct VersionCheck {
    let directory: URL
    let lock: Lock
    let store: ModelStore
    let options: WorkerOptions
    let fetchMissingModels: Bool
    var metrics: WorkerMetrics? = nil
    /// `--models lazy`: a model missing from the version is not drift; it is fetched when a job needs it.
    var lazyModels = false
    let logger: Logger

    /// What the check established.
    struct Result {
        /// Set when jobs must be refused (drift, a failed repair, a check that could not run).
        var failure: JobFailure?
        /// Set with `--on-drift warn`: the drift every result is marked with.
        var warning: String?
        /// The version digest when it could be computed.
        var versionDigest: String?
        /// Models fetched into the store and placed (paths).
        var fetched: [String] = []
        /// What a repair re-materialized.
        var repaired: [String] = []
        /// `--models lazy`: the lock's models missing from the version, left for the jobs that need them.
        var deferred: [String] = []
    }

    var inspector: VersionInspector { VersionInspector(store: store, python: options.python) }

    func run() async -> Result {
        var result = Result()
        guard FileManager.default.fileExists(atPath: directory.path) else {
            let reason = "version \(directory.path) does not exist (create it with comfy-cli version create)"
            logger.error("\(reason)")
            result.failure = JobFailure(kind: .drift, message: reason)
            return result
        }
        do {
            var status = try await inspector.status(directory: directory, lock: lock)
            if lazyModels {
                let missing = status.drift.filter { $0.area == "model" && $0.problem == "missing" }
                result.deferred = missing.map(\.subject)
                status.drift.removeAll { $0.area == "model" && $0.problem == "missing" }
                status.clean = status.drift.isEmpty
                if !missing.isEmpty {
                    logger.notice(
                        "\(missing.count) locked model(s) not on the volume yet: fetched when a job needs them (--models lazy)"
                    )
                }
            }
            if !status.clean && fetchMissingModels && !lazyModels {
                let missing = status.drift.filter { $0.area == "model" && $0.problem == "missing" }.map(\.subject)
                if !missing.isEmpty {
                    result.fetched = try await fetchModels(missing)
                    status = try await inspector.status(directory: directory, lock: lock)
                }
            }
            if !status.clean {
                let reason = Self.describe(status.drift)
                switch options.onDrift {
                case .fail:
                    logger.error("\(reason); refusing jobs (--on-drift fail)")
                    result.failure = JobFailure(kind: .drift, message: reason)
                case .warn:
                    logger.warning("\(reason); running jobs anyway (--on-drift warn), every result is marked")
                    result.warning = reason
                case .repair:
                    logger.warning("\(reason); repairing the version from its lock (--on-drift repair)")
                    do {
                        result.repaired = try await repair()
                        // Verified again by an independent status, not only the repair's own report.
                        var after = try await inspector.status(directory: directory, lock: lock)
                        if lazyModels {
                            after.drift.removeAll { $0.area == "model" && $0.problem == "missing" }
                            after.clean = after.drift.isEmpty
                        }
                        if after.clean {
                            logger.notice("repaired \(result.repaired.count) item(s); the version matches its lock")
                        } else {
                            let left = "the repair left drift: " + Self.describe(after.drift)
                            logger.error("\(left); refusing jobs")
                            result.failure = JobFailure(kind: .drift, message: reason + "; " + left)
                        }
                    } catch {
                        let failed = "the repair failed: \(Redaction.redact(String(describing: error)))"
                        logger.error("\(failed); refusing jobs")
                        result.failure = JobFailure(kind: .drift, message: reason + "; " + failed)
                    }
                }
            } else {
                logger.info("version \(directory.lastPathComponent) matches lock \(LockFile.digest(lock))")
            }
            result.versionDigest = try await inspector.digest(directory: directory).digest
        } catch {
            let reason = "cannot check the version against the lock: \(Redaction.redact(String(describing: error)))"
            logger.error("\(reason)")
            result.failure = JobFailure(kind: .drift, message: reason)
        }
        return result
    }

    /// "the environment does not match the lock (N differences): a; b; …" (the first ten).
    static func describe(_ drift: [VersionDrift]) -> String {
        let summary = drift.prefix(10).map(\.description).joined(separator: "; ")
        return "the environment does not match the lock (\(drift.count) differences): \(summary)"
    }

    /// `VersionBuilder.repair` of this version. It rebuilds from the version's own lock, so that lock must be the
    /// one the worker applies (an explicit `--lock` that differs is refused rather than silently repaired to
    /// another lock).
    func repair() async throws -> [String] {
        let layout = VersionLayout(directory: directory)
        if options.lockPath != nil {
            let own = try WorkerStartup.loadLock(layout.lockFile.path, options: options, optional: true)
            guard LockFile.digest(own) == LockFile.digest(lock) else {
                throw StartupError(
                    "the version was built from another lock (\(LockFile.digest(own).prefix(16))) than --lock "
                        + "(\(LockFile.digest(lock).prefix(16))); repair re-materializes a version from its own lock")
            }
        }
        let builder = VersionBuilder(
            root: directory.deletingLastPathComponent(),
            gitCache: GitCache(storeRoot: store.root, rewriter: options.rewriter), store: store,
            python: options.python, logger: logger)
        let progressLogger = logger
        let report = try await builder.repair(
            name: directory.lastPathComponent,
            options: VersionCreateOptions(
                python: options.pythonBuild, progress: { progressLogger.info("repair: \($0)") },
                allowUnpinned: options.allowUnpinned))
        return report.repaired
    }

    /// Fetches each missing model into the store (verified by its sha256) and places it in the version, under the
    /// same locks as `version create` (shared store lock, exclusive per-version lock).
    func fetchModels(_ paths: [String]) async throws -> [String] {
        let byPath = Dictionary(lock.models.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        return try await Self.fetchAndPlace(
            paths.compactMap { byPath[$0] }, directory: directory, store: store, rewriter: options.rewriter,
            metrics: metrics, logger: logger)
    }

    /// `models` fetched into `store` (each verified by its sha256 in the same pass; a blob already there is a cache
    /// hit) and placed into version `directory` (hard link, else reflink, else symlink), under the store's shared
    /// lock and the version's exclusive lock, as `version create` does. Returns the placed paths.
    static func fetchAndPlace(
        _ models: [ModelEntry], directory: URL, store: ModelStore, rewriter: URLRewriter, metrics: WorkerMetrics?,
        logger: Logger
    ) async throws -> [String] {
        let layout = VersionLayout(directory: directory)
        try FileManager.default.createDirectory(
            at: store.root.appendingPathComponent("locks"), withIntermediateDirectories: true)
        let root = directory.deletingLastPathComponent()
        let name = directory.lastPathComponent
        return try await FileLock.withLock(at: StoreGC.lockPath(store: store.root), shared: true) {
            try await FileLock.withLock(at: VersionLayout.nameLock(root: root, name: name), removeOnRelease: true) {
                var fetched: [String] = []
                for model in models {
                    let target = try ModelVerifier.target(for: model.path, root: layout.models)
                    let sources = model.sources.map { rewriter.rewrite($0, kind: .model) }
                    let started = ContinuousClock.now
                    let (_, origin) = try await store.ensureBlob(
                        sha256: model.sha256, size: model.size, sources: sources)
                    try FileManager.default.createDirectory(
                        at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                    let method = try await BlockingPool.shared.run { [store] in
                        try Self.place(store: store, sha256: model.sha256, at: target)
                    }
                    let seconds = Double((ContinuousClock.now - started).milliseconds) / 1000
                    let from: String
                    switch origin {
                    case .store:
                        from = "the store"
                        metrics?.modelNeeded(hit: true)
                    case .downloaded(let url):
                        from = url
                        metrics?.modelNeeded(hit: false, bytes: model.size)
                    }
                    let line =
                        "fetched model \(model.path) (\(model.size) bytes) from \(from) into "
                        + "\(store.root.path) in \(seconds) s (\(method))"
                    logger.notice("\(line)")
                    fetched.append(model.path)
                }
                return fetched
            }
        }
    }

    /// Hard link, else reflink, else a symbolic link (a store on another file system than the version).
    static func place(store: ModelStore, sha256: String, at target: URL) throws -> MaterializeMethod {
        var lastError: (any Error)?
        for mode in [MaterializeMode.hardlink, .reflink, .symlink] {
            do {
                return try store.materialize(sha256: sha256, to: target, mode: mode, protectShared: true)
            } catch {
                lastError = error
            }
        }
        throw lastError ?? StartupError("cannot place \(sha256) at \(target.path)")
    }
}
