internal import ComfyLock
internal import ComfyModels
internal import ComfySupport
public import Foundation
internal import Logging

#if canImport(Glibc)
    internal import Glibc
#endif

/// Remembers the versions roots that use a store, so `store gc` knows which versions still reference blobs:
/// `<store>/versions-roots/<sha256 of the root path>` holds the root path.
public enum VersionRegistry {
    /// Records `root` as a versions root using `store` (best effort).
    public static func register(root: URL, store: URL) {
        let dir = store.appendingPathComponent("versions-roots", isDirectory: true)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = root.standardizedFileURL.path
        let key = GitURL.cacheKey("file://" + path)
        let file = dir.appendingPathComponent(key)
        if (try? String(contentsOf: file, encoding: .utf8)) != path {
            try? path.write(to: file, atomically: true, encoding: .utf8)
        }
    }

    /// Every registered versions root that still exists.
    public static func roots(store: URL) -> [URL] {
        let dir = store.appendingPathComponent("versions-roots", isDirectory: true)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().compactMap { name in
            guard let path = try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8),
                FileManager.default.fileExists(atPath: path)
            else { return nil }
            return URL(fileURLWithPath: path, isDirectory: true)
        }
    }
}
