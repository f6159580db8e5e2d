internal import ComfyLock
public import ComfyModels
internal import ComfySupport
public import Foundation

/// One version in a versions root, as `version list` reports it.
public struct VersionSummary: Codable, Sendable, Hashable {
    /// The version name (the directory name).
    public var name: String
    /// The version directory.
    public var path: String
    /// The lock's tag, from the version's metadata (`nil` when the metadata is missing or unreadable).
    public var tag: String?
    /// `LockFile.digest` of the lock it was built from, from the metadata.
    public var lockDigest: String?
    /// How its models were placed (`shared` or `copy`), from the metadata.
    public var models: String?

    /// A summary with these fields.
    public init(name: String, path: String, tag: String? = nil, lockDigest: String? = nil, models: String? = nil) {
        self.name = name
        self.path = path
        self.tag = tag
        self.lockDigest = lockDigest
        self.models = models
    }
}

/// The versions of a versions root: listing them and resolving a name to its directory. The front ends (`version
/// list/status/digest/repair`, the worker) use this instead of reading the root themselves.
public enum VersionCatalog {
    /// The largest metadata file read (it is a few hundred bytes when this tool writes it).
    static let maxMetadataBytes = 1 << 20

    /// Every version in `root`, sorted by name: the directories (not starting with `.`) that hold a lock copy.
    /// Their metadata is read bounded; a missing or unreadable one leaves the summary's fields `nil`. A missing
    /// root lists nothing.
    public static func list(root: URL) -> [VersionSummary] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.sorted().filter { !$0.hasPrefix(".") }.compactMap { name in
            let layout = VersionLayout(directory: root.appendingPathComponent(name, isDirectory: true))
            guard FileManager.default.fileExists(atPath: layout.lockFile.path) else { return nil }
            let metadata = self.metadata(layout)
            return VersionSummary(
                name: name, path: layout.directory.path, tag: metadata?.tag, lockDigest: metadata?.lockDigest,
                models: metadata?.models.rawValue)
        }
    }

    /// The metadata (`.comfylock-version.json`) of a version, read bounded; `nil` when missing or unreadable.
    public static func metadata(_ layout: VersionLayout) -> VersionMetadata? {
        guard
            let bytes = try? BoundedInput.read(
                layout.metadataFile.path, limits: InputLimits(maxBytes: maxMetadataBytes))
        else { return nil }
        return try? JSONDecoder().decode(VersionMetadata.self, from: Data(bytes))
    }

    /// The directory of version `name` in `root`. Throws `RuntimeError.invalidName` for a name that is not a plain
    /// version name (`VersionName`) and `RuntimeError.notFound` when no version of that name (a directory with a
    /// lock copy) is there.
    public static func directory(root: URL, name: String) throws -> URL {
        try VersionName.validate(name)
        let directory = root.appendingPathComponent(name, isDirectory: true)
        guard FileManager.default.fileExists(atPath: VersionLayout(directory: directory).lockFile.path) else {
            throw RuntimeError.notFound("no version '\(name)' in \(root.path)")
        }
        return directory
    }
}

/// What `version remove` did (or, in a dry run, would do).
public struct VersionRemovalReport: Codable, Sendable, Hashable {
    /// The version name.
    public var name: String
    /// The version directory.
    public var path: String
    /// Whether this was a dry run (nothing deleted).
    public var dryRun: Bool
    /// Whether the version was removed.
    public var removed: Bool
    /// Every entry deleted (or that would be), children before their directory.
    public var entries: [String]
    /// Bytes of the regular files among them.
    public var bytes: Int64
    /// Store blobs only this version used, deleted with it.
    public var freedBlobs: [String]
    /// Their bytes.
    public var freedBytes: Int64
}

/// Removing one version: the safety checks (`SafeRemoval`), under the per-name lock `version create` holds, then
/// the store blobs nothing else uses are freed (`StoreGC` limited to the version's own digests).
public struct VersionRemoval: Sendable {
    /// The versions root.
    public let root: URL
    /// The version name.
    public let name: String
    /// The model store; its root is never removed, and its blobs only this version used are freed.
    public let store: ModelStore
    /// The user's home directory (from `$HOME`, as the front end knows it): never a root, never a target.
    public let home: String?

    /// A removal of version `name` from `root`.
    public init(root: URL, name: String, store: ModelStore, home: String?) {
        self.root = root
        self.name = name
        self.store = store
        self.home = home
    }

    /// Checks everything without deleting: refuses `/` or `home` as the versions root and every target
    /// `SafeRemoval.plan` refuses, and lists what would go.
    public func plan() throws -> SafeRemoval.Plan {
        let rootPath = root.standardizedFileURL.path
        let homePath = home.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        if rootPath == "/" || rootPath == homePath {
            throw RuntimeError.unsafePath("refusing to use \(rootPath) as a versions root")
        }
        return try SafeRemoval.plan(root: root, name: name, protected: [store.root], home: home)
    }

    /// Removes the version (re-planned under its per-name lock, so a concurrent `version create` of the same name
    /// cannot interleave), then frees the blobs only it used. With `dryRun` only `plan()` runs.
    public func run(dryRun: Bool) async throws -> VersionRemovalReport {
        let plan = try plan()
        guard !dryRun else {
            return VersionRemovalReport(
                name: name, path: plan.target.path, dryRun: true, removed: false, entries: plan.entries,
                bytes: plan.bytes, freedBlobs: [], freedBytes: 0)
        }
        // What the version used, read before it goes, so the blobs nothing else uses are freed with it.
        let used = (try? LockFile.read(from: VersionLayout(directory: plan.target).lockFile)).map { lock in
            Set(lock.models.map(\.sha256) + lock.customNodes.compactMap(\.sha256))
        }
        // Under the per-name lock `version create` holds (O_NOFOLLOW; removed afterwards), re-planned inside it.
        try await FileLock.withLock(at: VersionLayout.nameLock(root: root, name: name), removeOnRelease: true) {
            try SafeRemoval.execute(try self.plan())
        }
        var freed: StoreGCReport?
        if let used, !used.isEmpty {
            freed = try await StoreGC.run(
                store: store, extraRoots: [root], dryRun: false, quarantineRetention: nil, only: used)
        }
        return VersionRemovalReport(
            name: name, path: plan.target.path, dryRun: false, removed: true, entries: plan.entries, bytes: plan.bytes,
            freedBlobs: freed?.pruned ?? [], freedBytes: freed?.bytes ?? 0)
    }
}
