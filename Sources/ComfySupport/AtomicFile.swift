internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// The one atomic file write of the product: the bytes go to a partial file with a unique name in the target's
/// directory (`NAME.<pid>-<random>.partial`, created with `O_EXCL`, so two writers never share one), which is
/// fsynced, given its mode, renamed over the target, and the directory is fsynced. A reader sees the old file or the
/// new one, never half of one; on any failure the partial file is removed and the target is untouched.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically with `permissions` (default `0o644`). With `skipIfUnchanged`, a file that
    /// already holds exactly these bytes is left alone (no rewrite, mtime unchanged). Returns whether it wrote.
    @discardableResult
    public static func write(
        _ bytes: [UInt8], to path: String, permissions: Int = 0o644, skipIfUnchanged: Bool = false
    ) throws(FileError) -> Bool {
        if skipIfUnchanged, let existing = readIfSmall(path, limit: bytes.count), existing == bytes { return false }
        let partial = partialPath(for: path)
        let fd = open(partial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode_t(permissions))
        guard fd >= 0 else { throw FileError.io("create", path: partial, errno: errno) }
        var failure: FileError?
        do throws(FileError) {
            try FileIO.writeAll(fd, bytes, path: partial)
            // The umask may have narrowed the mode given to open(2).
            if fchmod(fd, mode_t(permissions)) != 0 { throw FileError.io("chmod", path: partial, errno: errno) }
            if fsync(fd) != 0 { throw FileError.io("fsync", path: partial, errno: errno) }
        } catch {
            failure = error
        }
        if close(fd) != 0 && failure == nil { failure = FileError.io("close", path: partial, errno: errno) }
        if let failure {
            unlink(partial)
            throw failure
        }
        if rename(partial, path) != 0 {
            let code = errno
            unlink(partial)
            throw FileError.io("rename \(partial) to", path: path, errno: code)
        }
        fsyncDirectory(containing: path)
        return true
    }

    /// A fresh partial-file name next to `path`: `path.<pid>-<random>.partial`.
    public static func partialPath(for path: String) -> String {
        "\(path).\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36)).partial"
    }

    /// fsyncs the directory that holds `path` (best effort: makes a rename durable).
    public static func fsyncDirectory(containing path: String) {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            close(fd)
        }
    }

    /// The file's bytes if it is a regular file of exactly `limit` bytes, else `nil`.
    private static func readIfSmall(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) == limit else { return nil }
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            count += n
        }
        return count == limit ? Array(bytes[..<count]) : nil
    }
}
