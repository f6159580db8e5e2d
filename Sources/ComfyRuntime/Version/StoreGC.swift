internal import ComfySupport
public import ComfyModels
public import Foundation
internal import ComfyLock

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
    /// Blobs not referenced but still hard-linked somewhere (kept, to be safe).
    public var keptLinked: [String]
    /// Blobs pruned (or that would be, with `--dry-run`).
    public var pruned: [String]
    /// Bytes freed (or that would be).
    public var bytes: Int64
    /// True when nothing was deleted on purpose.
    public var dryRun: Bool
}

/// Prunes model blobs that no remaining version references. Versions are found in every versions root registered
/// in the store (`versions-roots/`, written by `version create`) plus the roots passed in. A blob that is not
/// referenced but still has other hard links is kept and reported. Runs under the store's gc lock, exclusive with
/// `version create` (which holds it shared), so a build in progress never loses a blob.
public enum StoreGC {
    /// The gc lock file of a store.
    public static func lockPath(store: URL) -> String { store.appendingPathComponent("locks/gc.lock").path }

    /// Runs the collection.
    public static func run(store: ModelStore, extraRoots: [URL], dryRun: Bool) async throws -> StoreGCReport {
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
            let blobs = store.blobsDirectory
            let names = (try? FileManager.default.contentsOfDirectory(atPath: blobs.path)) ?? []
            var pruned: [String] = []
            var kept: [String] = []
            var bytes: Int64 = 0
            var referencedCount = 0
            for name in names.sorted() where name.count == 64 && !name.contains(".") {
                if referenced.contains(name) {
                    referencedCount += 1
                    continue
                }
                let path = blobs.appendingPathComponent(name).path
                var info = stat()
                guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
                if info.st_nlink > 1 {
                    kept.append(name)
                    continue
                }
                pruned.append(name)
                bytes += Int64(info.st_size)
                if !dryRun {
                    guard unlink(path) == 0 || errno == ENOENT else {
                        throw RuntimeError.invalidInput("cannot remove \(path): \(String(cString: strerror(errno)))")
                    }
                    store.statCache.forget(path: path)
                }
            }
            return StoreGCReport(
                roots: roots.map(\.path), versions: versions, referenced: referencedCount, keptLinked: kept,
                pruned: pruned, bytes: bytes, dryRun: dryRun)
        }
    }
}
