import ComfyCrypto
import ComfySupport
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

    /// `fstatat` of `relativePath` under the open directory `directory` (following symlinks); `nil` when it does not
    /// exist. Cheaper than `of(path:)` for many files of one tree: the kernel walks only the relative part.
    public static func of(relativePath: String, inDirectory directory: Int32) throws -> FileStat? {
        var st = stat()
        if fstatat(directory, relativePath, &st, 0) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw ModelError.io("stat", path: relativePath, errno: errno)
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

    /// Writes `bytes` to `path` atomically (`ComfySupport.AtomicFile`).
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: Int = 0o644) throws {
        do { try AtomicFile.write(bytes, to: path, permissions: mode) } catch { throw ModelError.file(error) }
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

    /// Writes all of `buffer` to `fd` (`ComfySupport.FileIO`).
    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        do { try FileIO.writeAll(fd, buffer, path: path) } catch { throw ModelError.file(error) }
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
