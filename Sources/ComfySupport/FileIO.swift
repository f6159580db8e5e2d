#if canImport(Glibc)
    internal import Glibc
#endif

/// The one EINTR-safe write loop: `write(2)`/`pwrite(2)` until every byte is written, retrying on `EINTR` (and on a
/// short write), failing on any other error. A write that returns 0 bytes is an error, never a retry, so a full or
/// broken descriptor cannot make the loop spin.
public enum FileIO {
    /// Writes all of `buffer` to `fd` at its current offset. `path` only names the file in the error.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(FileError) {
        if let code = writeAll(fd, buffer) { throw FileError.io("write", path: path, errno: code) }
    }

    /// Writes all of `bytes` to `fd` at its current offset.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FileError) {
        let failure = bytes.withUnsafeBytes { writeAll(fd, $0) }
        if let failure { throw FileError.io("write", path: path, errno: failure) }
    }

    /// Writes all of `buffer` to `fd` starting at `offset` (`pwrite(2)`; the file offset is not moved).
    public static func writeAll(
        _ fd: Int32, _ buffer: UnsafeRawBufferPointer, at offset: Int64, path: String
    ) throws(FileError) {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let n = pwrite(fd, base + done, buffer.count - done, off_t(offset + Int64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError.io("write", path: path, errno: errno)
            }
            if n == 0 { throw FileError.io("write", path: path, errno: EIO) }
            done += n
        }
    }

    /// Writes all of `buffer` to `fd`; returns `nil` on success or the `errno` of the failure. For callers that
    /// must not throw (C callbacks, signal-adjacent code).
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int32? {
        guard let base = buffer.baseAddress else { return nil }
        var done = 0
        while done < buffer.count {
            let n = write(fd, base + done, buffer.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return EIO }  // no progress: never spin
            done += n
        }
        return nil
    }
}
