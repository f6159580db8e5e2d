public import Foundation

/// The directory layout of one version (`<root>/<name>/`):
/// ```
/// comfylock.lock.json          the lock it was built from (canonical bytes)
/// .comfylock-version.json      metadata: name, lock digest, models mode, tool
/// ComfyUI/                     ComfyUI checkout at the locked commit (+ extra_model_paths.yaml)
/// ComfyUI/custom_nodes/NAME    enabled nodes; disabled ones under custom_nodes/.disabled/NAME
/// venv/                        the Python environment
/// models/PATH                  model files (hard links to store blobs by default)
/// ```
public struct VersionLayout: Sendable, Hashable {
    /// The version directory.
    public let directory: URL

    /// A layout rooted at `directory`.
    public init(directory: URL) { self.directory = directory }

    /// The lock copy.
    public var lockFile: URL { directory.appendingPathComponent("comfylock.lock.json") }
    /// The metadata file.
    public var metadataFile: URL { directory.appendingPathComponent(".comfylock-version.json") }
    /// The ComfyUI checkout.
    public var comfyUI: URL { directory.appendingPathComponent("ComfyUI", isDirectory: true) }
    /// `ComfyUI/custom_nodes`.
    public var customNodes: URL { comfyUI.appendingPathComponent("custom_nodes", isDirectory: true) }
    /// Where a node lives, by enabled state.
    public func node(_ name: String, enabled: Bool) -> URL {
        enabled
            ? customNodes.appendingPathComponent(name)
            : customNodes.appendingPathComponent(".disabled", isDirectory: true).appendingPathComponent(name)
    }
    /// The venv.
    public var venv: URL { directory.appendingPathComponent("venv", isDirectory: true) }
    /// The models root.
    public var models: URL { directory.appendingPathComponent("models", isDirectory: true) }
    /// `ComfyUI/extra_model_paths.yaml`.
    public var extraModelPaths: URL { comfyUI.appendingPathComponent("extra_model_paths.yaml") }

    /// The per-name lock file in the versions root (`.NAME.lock`): held exclusively by create and remove, opened
    /// with `O_NOFOLLOW`, unlinked when released.
    public static func nameLock(root: URL, name: String) -> String { root.appendingPathComponent(".\(name).lock").path }
}

/// What `.comfylock-version.json` records.
public struct VersionMetadata: Codable, Sendable, Hashable {
    /// The version name.
    public var name: String
    /// `LockFile.digest` of the lock it was built from.
    public var lockDigest: String
    /// The lock's tag.
    public var tag: String
    /// How models were placed.
    public var models: ModelLinkMode
    /// The tool that built it.
    public var createdBy: String
}

/// How a version's model files relate to the store's blobs.
public enum ModelLinkMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Hard links (or reflinks) to the store blobs: zero bytes copied; symlinks across file systems.
    case shared
    /// Independent files (reflinked where the file system can, else copied).
    case copy
}

/// Version names: one path component of `[A-Za-z0-9._-]`, not starting with `.` or `-`, at most 100 characters.
public enum VersionName {
    /// Throws `RuntimeError.invalidName` unless `name` is acceptable.
    public static func validate(_ name: String) throws {
        let allowed = name.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a)
                || $0 == 0x2e || $0 == 0x5f || $0 == 0x2d
        }
        guard !name.isEmpty, name.utf8.count <= 100, allowed, !name.hasPrefix("."), !name.hasPrefix("-") else {
            throw RuntimeError.invalidName(
                "version name '\(name)' is not allowed: use letters, digits, '.', '_' or '-' (not first), at most 100")
        }
    }
}

/// The versions root: `--root`, else `$COMFYLOCK_VERSIONS`, else `~/comfy-versions`.
public enum VersionsRoot {
    /// The default root of the process environment (`$COMFYLOCK_VERSIONS`, else `~/comfy-versions`): the front
    /// ends' entry point.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        resolve(nil, environment: environment)
    }

    /// The root directory for `explicit` / the environment.
    public static func resolve(
        _ explicit: String?, environment: [String: String]
    )
        -> URL
    {
        if let explicit, !explicit.isEmpty {
            return URL(fileURLWithPath: explicit, isDirectory: true).standardizedFileURL
        }
        if let value = environment["COMFYLOCK_VERSIONS"], !value.isEmpty {
            return URL(fileURLWithPath: value, isDirectory: true).standardizedFileURL
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return URL(fileURLWithPath: home, isDirectory: true).appendingPathComponent("comfy-versions")
    }
}
