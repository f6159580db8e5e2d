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

    /// Streams a file through SHA-256; memory use does not grow with the file. Returns the digest and the number of
    /// bytes read. Regular (non-sparse) files are hashed straight from the page cache through a sliding 32 MiB
    /// `mmap` window (no copy into a user buffer); other files, or when mapping fails, use `chunkSize` reads.
    public static func hashFile(
        atPath path: String, chunkSize: Int = defaultChunkSize
    ) throws -> (
        digest: SHA256Digest, size: Int64
    ) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileHashError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        return try hashFile(descriptor: fd, path: path, chunkSize: chunkSize)
    }

    /// Hashes an open file from offset 0 to its end (see `hashFile(atPath:chunkSize:)`); `path` is for messages.
    public static func hashFile(
        descriptor fd: Int32, path: String, chunkSize: Int = defaultChunkSize
    ) throws -> (
        digest: SHA256Digest, size: Int64
    ) {
        var st = stat()
        // Sparse files are read, not mapped: a read fault on a hole of a tmpfs file allocates memory for it.
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0,
            Int64(st.st_blocks) * 512 >= Int64(st.st_size),
            let mapped = try hashMapped(fd, size: Int64(st.st_size), path: path)
        {
            return mapped
        }
        #if os(Linux)
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        #endif
        var hasher = SHA256()
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n = pread(fd, buffer.baseAddress, chunkSize, off_t(total))
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

    /// Size of the sliding `mmap` window (bounds the resident mapped pages).
    static let mapWindow = 32 << 20

    /// Hashes `size` bytes through sliding read-only mappings; `nil` when mapping is not possible (the caller falls
    /// back to reads). A file that shrinks underneath would fault (SIGBUS), so the size is re-checked per window.
    private static func hashMapped(_ fd: Int32, size: Int64, path: String) throws -> (SHA256Digest, Int64)? {
        var hasher = SHA256()
        var offset: Int64 = 0
        while offset < size {
            var st = stat()
            guard fstat(fd, &st) == 0, Int64(st.st_size) >= size else {
                throw FileHashError(path: path, reason: "the file changed size while being hashed")
            }
            let length = Int(min(Int64(mapWindow), size - offset))
            guard let base = mmap(nil, length, PROT_READ, MAP_SHARED, fd, off_t(offset)), base != MAP_FAILED else {
                if offset == 0 { return nil }
                throw FileHashError(path: path, reason: String(cString: strerror(errno)))
            }
            #if os(Linux)
                _ = madvise(base, length, MADV_SEQUENTIAL)
                _ = madvise(base, length, MADV_WILLNEED)
            #endif
            hasher.update(UnsafeRawBufferPointer(start: base, count: length))
            munmap(base, length)
            offset += Int64(length)
        }
        return (hasher.finalize(), size)
    }
}
