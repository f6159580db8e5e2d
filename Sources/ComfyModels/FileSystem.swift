import ComfyCrypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The identity and change times of a file, as `stat(2)` reports them.
public struct FileStat: Sendable, Hashable {
    /// Device id.
    public var device: UInt64
    /// Inode number.
    public var inode: UInt64
    /// Size in bytes.
    public var size: Int64
    /// Modification time, nanoseconds since the epoch.
    public var mtimeNanoseconds: Int64
    /// Status change time, nanoseconds since the epoch.
    public var ctimeNanoseconds: Int64
    /// True for regular files.
    public var isRegularFile: Bool

    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        mtimeNanoseconds = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        ctimeNanoseconds = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        isRegularFile = (st.st_mode & S_IFMT) == S_IFREG
    }

    /// `stat` (following symlinks); `nil` when the path does not exist.
    public static func of(path: String) throws -> FileStat? {
        var st = stat()
        if stat(path, &st) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw ModelError.io("stat", path: path, errno: errno)
        }
        return FileStat(st)
    }

    /// `fstat` of an open descriptor.
    static func of(descriptor fd: Int32, path: String) throws -> FileStat {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ModelError.io("stat", path: path, errno: errno) }
        return FileStat(st)
    }
}

enum FS {
    static func realtimeNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func makeDirectories(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ModelError.io("create directory", path: path, reason: "\(error.localizedDescription)")
        }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func fsyncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }

    static func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(from, to) == 0 else { throw ModelError.io("rename to \(to) from", path: from, errno: errno) }
    }

    static func unlinkIfPresent(_ path: String) {
        _ = unlink(path)
    }

    /// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws {
        let temp = path + ".\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw ModelError.io("create", path: temp, errno: errno) }
        var ok = true
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    ok = false
                    return
                }
                offset += n
            }
        }
        let code = errno
        if ok { ok = fsync(fd) == 0 }
        close(fd)
        guard ok else {
            unlink(temp)
            throw ModelError.io("write", path: temp, errno: code)
        }
        do { try rename(temp, path) } catch {
            unlink(temp)
            throw error
        }
    }

    static func readSmallFile(_ path: String, limit: Int = 1 << 16) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, limit - total) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            total += n
        }
        return Array(out[..<total])
    }

    /// Writes all of `buffer` to `fd`.
    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw ModelError.io("write", path: path, errno: errno)
            }
            offset += n
        }
    }

    /// Hashes `length` bytes of `fd` from offset 0 (large reads).
    static func hashPrefix(_ fd: Int32, length: Int64, into hasher: inout SHA256, path: String) throws {
        let chunk = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while offset < length {
            let want = Int(min(Int64(chunk), length - offset))
            let n = pread(fd, buffer.baseAddress, want, off_t(offset))
            if n < 0 {
                if errno == EINTR { continue }
                throw ModelError.io("read", path: path, errno: errno)
            }
            if n == 0 { throw ModelError.io("read", path: path, reason: "file shorter than \(length) bytes") }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += Int64(n)
        }
    }
}

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
    public static func acquire(path: String, shared: Bool = false) async throws -> FileLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ModelError.io("open lock", path: path, errno: errno) }
        var delay: UInt64 = 5_000_000
        while true {
            if flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0 { return FileLock(path: path, fd: fd) }
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                close(fd)
                throw ModelError.io("lock", path: path, errno: code)
            }
            do { try await Task.sleep(nanoseconds: delay) } catch {
                close(fd)
                throw ModelError.cancelled("waiting for the lock \(path)")
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
