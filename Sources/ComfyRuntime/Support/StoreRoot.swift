internal import ComfyModels
public import Foundation

/// Where ComfyLock keeps its caches: `$COMFYLOCK_STORE`, else `~/.cache/comfylock` (ComfyModels' store root).
/// The model blobs live under `blobs/` (ComfyModels), the git object cache under `git/` (ComfyRuntime).
public enum RuntimeStore {
    /// The store root for `environment`.
    public static func root(environment: [String: String]) -> URL {
        ModelStore.defaultRoot(environment: environment)
    }

    /// The git object cache directory under `root`.
    public static func gitCache(root: URL) -> URL { root.appendingPathComponent("git", isDirectory: true) }
}
