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

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// Waits until the lock at `path` (created if missing) is held, exclusively or `shared`; released on deinit.
    /// Throws `FileError` (`isCancellation` when the waiting task was cancelled).
    public static func acquire(path: String, shared: Bool = false) async throws(FileError) -> FileLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError.io("open lock", path: path, errno: errno) }
        var delay: UInt64 = 5_000_000
        while true {
            if flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 { return FileLock(path: path, fd: fd) }
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
        at path: String, shared: Bool = false, _ body: () async throws -> T
    ) async throws -> T {
        let lock = try await acquire(path: path, shared: shared)
        defer { withExtendedLifetime(lock) {} }
        return try await body()
    }

    /// Releases the lock (closing the descriptor releases the flock).
    deinit {
        _ = flock(fd, LOCK_UN)
        close(fd)
    }
}
