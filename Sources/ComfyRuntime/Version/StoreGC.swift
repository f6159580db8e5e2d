internal import ComfyLock
public import ComfyModels
internal import ComfySupport
public import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// What `store gc` found and did.
public struct StoreGCReport: Codable, Sendable, Hashable {
    /// The versions roots scanned.
    public var roots: [String]
    /// Versions whose locks were read.
    public var versions: Int
    /// Blobs referenced by a remaining version (kept).
    public var referenced: Int
    /// Blobs not referenced but still placed somewhere — hard-linked (link count > 1) or pointed to by a recorded
    /// symlink placement — kept, so no placement is ever left dangling.
    public var keptLinked: [String]
    /// Blobs pruned (or that would be, with `--dry-run`).
    public var pruned: [String]
    /// Bytes freed from blobs (or that would be).
    public var bytes: Int64
    /// Quarantine buckets older than the retention, emptied (or that would be).
    public var quarantinePruned: [String] = []
    /// Bytes freed from the quarantine (or that would be).
    public var quarantineBytes: Int64 = 0
    /// Bytes of blobs in the store afterwards.
    public var storeBytes: Int64 = 0
    /// Bytes left in the quarantine afterwards.
    public var quarantineBytesLeft: Int64 = 0
    /// True when nothing was deleted on purpose.
    public var dryRun: Bool
}

/// Prunes model blobs that no remaining version references, and empties quarantine buckets older than a retention.
/// Versions are found in every versions root registered in the store (`versions-roots/`, written by `version
/// create`) plus the roots passed in. A blob that is not referenced but still placed somewhere — hard links (every
/// hardlink placement raises the inode's link count) or a recorded symlink placement that still points at it — is
/// kept and reported; reflink and copy placements are independent files and never depend on a blob. Blobs are
/// reached only through ComfyModels' store API (`blobs()`, `removeBlob`, `quarantineBuckets()`). Runs under the
/// store's gc lock, exclusive with `version create` (which holds it shared), so a build in progress never loses a
/// blob.
public enum StoreGC {
    /// The gc lock file of a store.
    public static func lockPath(store: URL) -> String { store.appendingPathComponent("locks/gc.lock").path }

    /// The default quarantine retention: 7 days.
    public static let defaultQuarantineRetention: Duration = .seconds(7 * 24 * 3600)

    /// Runs the collection. `only`: consider just these blobs (what a removed version used); nil = all.
    public static func run(
        store: ModelStore, extraRoots: [URL], dryRun: Bool,
        quarantineRetention: Duration? = StoreGC.defaultQuarantineRetention, only: Set<String>? = nil,
        now: Date = Date()
    ) async throws -> StoreGCReport {
        try FileManager.default.createDirectory(
            at: store.root.appendingPathComponent("locks"), withIntermediateDirectories: true)
        return try await FileLock.withLock(at: lockPath(store: store.root)) {
            var roots: [URL] = []
            for root in VersionRegistry.roots(store: store.root) + extraRoots
            where !roots.contains(where: { $0.standardizedFileURL.path == root.standardizedFileURL.path }) {
                roots.append(root.standardizedFileURL)
            }
            var referenced = Set<String>()
            var versions = 0
            for root in roots {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
                for name in names {
                    // Staging directories of builds in progress cannot exist here: builds hold the gc lock shared.
                    let layout = VersionLayout(directory: root.appendingPathComponent(name))
                    guard FileManager.default.fileExists(atPath: layout.lockFile.path) else { continue }
                    guard let lock = try? LockFile.read(from: layout.lockFile) else {
                        throw RuntimeError.invalidInput(
                            "cannot read \(layout.lockFile.path); refusing to collect (it may reference blobs)")
                    }
                    versions += 1
                    for model in lock.models { referenced.insert(model.sha256) }
                    for node in lock.customNodes { if let sha = node.sha256 { referenced.insert(sha) } }
                }
            }
            var pruned: [String] = []
            var kept: [String] = []
            var bytes: Int64 = 0
            var referencedCount = 0
            for blob in try store.blobs() {
                if let only, !only.contains(blob.sha256) { continue }
                if referenced.contains(blob.sha256) {
                    referencedCount += 1
                    continue
                }
                if blob.linkCount > 1 || !blob.symlinks.isEmpty {
                    kept.append(blob.sha256)
                    continue
                }
                pruned.append(blob.sha256)
                bytes += blob.size
                if !dryRun { try store.removeBlob(sha256: blob.sha256) }
            }
            var quarantinePruned: [String] = []
            var quarantineBytes: Int64 = 0
            if let quarantineRetention, only == nil {
                let cutoff = now.addingTimeInterval(-Double(quarantineRetention.components.seconds))
                for bucket in store.quarantineBuckets() where bucket.created < cutoff {
                    quarantinePruned.append(bucket.path)
                    quarantineBytes += bucket.bytes
                    if !dryRun { try store.removeQuarantineBucket(bucket) }
                }
            }
            let size = store.size()
            return StoreGCReport(
                roots: roots.map(\.path), versions: versions, referenced: referencedCount, keptLinked: kept,
                pruned: pruned, bytes: bytes, quarantinePruned: quarantinePruned, quarantineBytes: quarantineBytes,
                storeBytes: size.blobs, quarantineBytesLeft: size.quarantine, dryRun: dryRun)
        }
    }
}
