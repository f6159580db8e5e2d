internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// An exclusive (or shared) `flock(2)` on a lock file, held for the duration of `withLock`. Waits without blocking the
/// cooperative pool (polls with `LOCK_NB` and sleeps).
enum FileLock {
    static func withLock<T: Sendable>(
        at path: String, shared: Bool = false, _ body: () async throws -> T
    ) async throws -> T {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RuntimeError.invalidInput("cannot open lock file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var delay: UInt64 = 5
        while flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw RuntimeError.invalidInput("cannot lock \(path): \(String(cString: strerror(errno)))")
            }
            try await Task.sleep(for: .milliseconds(delay))
            delay = min(delay * 2, 200)
        }
        defer { _ = flock(fd, LOCK_UN) }
        return try await body()
    }
}
