import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Errors from reading a file to hash it.
public struct FileHashError: Error, CustomStringConvertible, Sendable {
    /// The file that could not be read.
    public let path: String
    /// What went wrong, from the OS.
    public let reason: String
    /// A one-line message naming the file.
    public var description: String { "cannot hash \(path): \(reason)" }
}

extension SHA256 {
    /// Default read size for streaming a file through the hash (large reads keep syscalls rare).
    public static let defaultChunkSize = 4 << 20

    /// Streams a file through SHA-256 in `chunkSize` reads; memory use does not grow with the file.
    /// Returns the digest and the number of bytes read.
    public static func hashFile(atPath path: String, chunkSize: Int = defaultChunkSize) throws -> (
        digest: SHA256Digest, size: Int64
    ) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileHashError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        #if os(Linux)
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        #endif
        var hasher = SHA256()
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileHashError(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += Int64(n)
        }
        return (hasher.finalize(), total)
    }
}
