#if canImport(Glibc)
    internal import Glibc
#endif

/// A `flock(2)` on a lock file (exclusive, or shared), shared between processes (and between tasks of one process,
/// since each holder opens its own file description). Waiting polls with `LOCK_NB` and sleeps, so no thread of the
/// cooperative pool blocks and cancellation works. The one file-lock mechanism of the product: the store's blob
/// fetches, the runtime's git cache, version builds and `store gc` all use it.
public final class FileLock: Sendable {
    /// The lock file's path.
    public let path: String
    private let fd: Int32
    private let removeOnRelease: Bool

    private init(path: String, fd: Int32, removeOnRelease: Bool = false) {
        self.path = path
        self.fd = fd
        self.removeOnRelease = removeOnRelease
    }

    private static func openLockFile(_ path: String) throws(FileError) -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o644)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP {
                throw FileError.io(
                    "open lock", path: path, reason: "is a symbolic link; refusing to follow it (remove it if stale)")
            }
            throw FileError.io("open lock", path: path, errno: code)
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FileError.io("open lock", path: path, reason: "is not a regular file; refusing to use it as a lock")
        }
        return fd
    }

    /// Waits until the lock at `path` (created if missing) is held, exclusively or `shared`; released on deinit.
    /// Throws `FileError` (`isCancellation` when the waiting task was cancelled).
    ///
    /// The lock file is opened with `O_NOFOLLOW` and must be a regular file: a symbolic link planted at `path` is
    /// refused, never followed. With `removeOnRelease` (exclusive locks only) the file is unlinked when released,
    /// while still held; every acquirer checks after locking that `path` still names the inode it locked and
    /// retries otherwise, so the removal never lets two holders in.
    public static func acquire(
        path: String, shared: Bool = false, removeOnRelease: Bool = false
    ) async throws(FileError) -> FileLock {
        var fd = try openLockFile(path)
        var delay: UInt64 = 5_000_000
        while true {
            if flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 {
                var held = stat()
                var named = stat()
                if fstat(fd, &held) == 0, lstat(path, &named) == 0, held.st_ino == named.st_ino,
                    held.st_dev == named.st_dev
                {
                    return FileLock(path: path, fd: fd, removeOnRelease: removeOnRelease && !shared)
                }
                // The previous holder removed (or replaced) the file after we opened it: lock the current one.
                close(fd)
                fd = try openLockFile(path)
                continue
            }
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                close(fd)
                throw FileError.io("lock", path: path, errno: code)
            }
            do { try await Task.sleep(nanoseconds: delay) } catch {
                close(fd)
                throw FileError.cancelled("waiting for the lock \(path)", path: path)
            }
            delay = min(delay * 2, 200_000_000)
        }
    }

    /// Runs `body` while holding the lock at `path`.
    public static func withLock<T: Sendable>(
        at path: String, shared: Bool = false, removeOnRelease: Bool = false, _ body: () async throws -> T
    ) async throws -> T {
        let lock = try await acquire(path: path, shared: shared, removeOnRelease: removeOnRelease)
        defer { withExtendedLifetime(lock) {} }
        return try await body()
    }

    /// Releases the lock (closing the descriptor releases the flock).
    deinit {
        if removeOnRelease { _ = unlink(path) }
        _ = flock(fd, LOCK_UN)
        close(fd)
    }
}
