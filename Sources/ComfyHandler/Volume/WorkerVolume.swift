internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// The worker's network volume (RunPod mounts it at `/runpod-volume`) and the layout ComfyLock keeps on it:
///
/// ```
/// /runpod-volume/comfylock/store/      content-addressed store: model blobs, git mirrors, stat cache
/// /runpod-volume/comfylock/versions/   versions built at start (a baked image keeps its own under /opt/comfylock)
/// /runpod-volume/comfylock/scratch/    per-job inputs/outputs before delivery
/// ```
///
/// `check` runs before anything is written there: a volume that is mounted but cannot be used (read-only, full,
/// owned by another user) is a clear start-up error naming the path, instead of a failure deep inside a download.
/// An absent mount point is not an error: the image's own store and versions are used (image-baked models).
public struct WorkerVolume: Sendable, Hashable {
    /// Where RunPod mounts a network volume.
    public static let defaultMountPoint = "/runpod-volume"
    /// Free space below which a mounted volume is refused (64 MiB: room for the stat cache, locks and a job's
    /// scratch files; model downloads are checked against their own sizes by the store).
    public static let defaultMinimumFreeBytes: Int64 = 64 << 20

    /// The mount point.
    public var mountPoint: String
    /// `<mount>/comfylock`.
    public var root: String { mountPoint + "/comfylock" }
    /// `<mount>/comfylock/store`.
    public var store: String { root + "/store" }
    /// `<mount>/comfylock/versions`.
    public var versions: String { root + "/versions" }
    /// `<mount>/comfylock/scratch`.
    public var scratch: String { root + "/scratch" }

    /// A volume at `mountPoint`.
    public init(mountPoint: String = WorkerVolume.defaultMountPoint) {
        self.mountPoint = mountPoint
    }

    /// What `check` found.
    public enum Status: Sendable, Hashable {
        /// No directory at the mount point: run from the image alone.
        case absent
        /// Usable; the layout exists, `freeBytes` are available to this user.
        case ready(freeBytes: Int64)
    }

    /// Checks the volume and creates the layout (mode 0755, owned by the current user) when it is usable.
    /// Throws `WorkerVolumeError` when it is mounted but read-only, full, not a directory, or not writable by this
    /// user (typically owned by another uid).
    public func check(minimumFreeBytes: Int64 = WorkerVolume.defaultMinimumFreeBytes) throws -> Status {
        var info = stat()
        guard lstat(mountPoint, &info) == 0 else {
            if errno == ENOENT { return .absent }
            throw WorkerVolumeError.unusable(mountPoint, reason: String(cString: strerror(errno)))
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR || (info.st_mode & S_IFMT) == S_IFLNK else {
            throw WorkerVolumeError.unusable(mountPoint, reason: "it is not a directory")
        }
        var fs = statvfs()
        guard statvfs(mountPoint, &fs) == 0 else {
            throw WorkerVolumeError.unusable(mountPoint, reason: String(cString: strerror(errno)))
        }
        if (fs.f_flag & UInt(ST_RDONLY)) != 0 {
            throw WorkerVolumeError.readOnly(mountPoint)
        }
        let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
        for path in [root, store, versions, scratch] where FileManager.default.fileExists(atPath: path) {
            if !FileManager.default.isDirectoryAt(path) {
                throw WorkerVolumeError.unusable(path, reason: "it exists and is not a directory")
            }
        }
        // The deepest existing directory of the layout is the one this user must be able to write into.
        var deepest = mountPoint
        for path in [root, store] where FileManager.default.fileExists(atPath: path) { deepest = path }
        for path in [root, store, versions, scratch] where FileManager.default.fileExists(atPath: path) {
            if access(path, W_OK | X_OK) != 0 { deepest = path; break }
        }
        if access(deepest, W_OK | X_OK) != 0 {
            let code = errno
            var owner = stat()
            _ = stat(deepest, &owner)
            if code == EROFS { throw WorkerVolumeError.readOnly(mountPoint) }
            throw WorkerVolumeError.notWritable(
                deepest, ownerUID: UInt32(owner.st_uid), mode: UInt32(owner.st_mode & 0o7777),
                processUID: UInt32(geteuid()))
        }
        if free < minimumFreeBytes {
            throw WorkerVolumeError.full(mountPoint, freeBytes: free, neededBytes: minimumFreeBytes)
        }
        for path in [root, store, versions, scratch] {
            if mkdir(path, 0o755) != 0 {
                let code = errno
                if code == EEXIST, FileManager.default.isDirectoryAt(path) { continue }
                if code == ENOSPC || code == EDQUOT {
                    throw WorkerVolumeError.full(mountPoint, freeBytes: free, neededBytes: 1)
                }
                if code == EROFS { throw WorkerVolumeError.readOnly(mountPoint) }
                let reason = code == EEXIST ? "it exists and is not a directory" : String(cString: strerror(code))
                throw WorkerVolumeError.unusable(path, reason: "cannot create it: \(reason)")
            }
        }
        // A real write: catches what the flags and permission bits do not say (quota, a full inode table, FUSE).
        let probe = scratch + "/.write-probe-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if fd < 0 {
            let code = errno
            if code == ENOSPC || code == EDQUOT {
                throw WorkerVolumeError.full(mountPoint, freeBytes: free, neededBytes: 1)
            }
            if code == EROFS { throw WorkerVolumeError.readOnly(mountPoint) }
            throw WorkerVolumeError.unusable(
                scratch, reason: "cannot create a file: \(String(cString: strerror(code)))")
        }
        let byte: [UInt8] = [0x2a]
        let written = byte.withUnsafeBytes { write(fd, $0.baseAddress, 1) }
        let writeErrno = errno
        let synced = written == 1 ? fsync(fd) : -1
        close(fd)
        unlink(probe)
        if written != 1 || synced != 0 {
            if writeErrno == ENOSPC || writeErrno == EDQUOT || errno == ENOSPC {
                throw WorkerVolumeError.full(mountPoint, freeBytes: free, neededBytes: 1)
            }
            throw WorkerVolumeError.unusable(scratch, reason: "cannot write: \(String(cString: strerror(writeErrno)))")
        }
        return .ready(freeBytes: free)
    }
}

extension FileManager {
    fileprivate func isDirectoryAt(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}

/// Why the worker's volume cannot be used (the message names the path and what to do).
public struct WorkerVolumeError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: Sendable, Hashable {
        case readOnly, full, notWritable, unusable
    }

    private let code: Code
    /// The path concerned.
    public let path: String
    /// A one-line explanation with the remedy.
    public let message: String

    private init(_ code: Code, path: String, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// True when the volume is mounted read-only.
    public var isReadOnly: Bool { code == .readOnly }
    /// True when the volume has no room left.
    public var isFull: Bool { code == .full }
    /// True when this user may not write there (wrong owner or mode).
    public var isNotWritable: Bool { code == .notWritable }

    /// The volume is mounted read-only.
    public static func readOnly(_ path: String) -> WorkerVolumeError {
        WorkerVolumeError(
            .readOnly, path: path,
            message: "volume \(path) is mounted read-only: the worker keeps its model store and versions there; "
                + "mount it read-write, or remove the mount to run from the image alone")
    }

    /// The volume has less free space than needed.
    public static func full(_ path: String, freeBytes: Int64, neededBytes: Int64) -> WorkerVolumeError {
        WorkerVolumeError(
            .full, path: path,
            message: "volume \(path) is full (\(freeBytes) bytes free, at least \(neededBytes) needed): "
                + "free space (comfy-cli store gc) or grow the network volume")
    }

    /// The directory is not writable by this process (owner/mode shown).
    public static func notWritable(
        _ path: String, ownerUID: UInt32, mode: UInt32, processUID: UInt32
    )
        -> WorkerVolumeError
    {
        WorkerVolumeError(
            .notWritable, path: path,
            message: "volume directory \(path) is owned by uid \(ownerUID) with mode \(String(mode, radix: 8)) and "
                + "the worker runs as uid \(processUID), which may not write there: chown it to \(processUID) "
                + "or run the worker as uid \(ownerUID)")
    }

    /// Any other reason.
    public static func unusable(_ path: String, reason: String) -> WorkerVolumeError {
        WorkerVolumeError(.unusable, path: path, message: "volume path \(path) cannot be used: \(reason)")
    }

    /// The message.
    public var description: String { message }
}
