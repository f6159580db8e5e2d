public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How `materialize` may place a blob at a target path.
public enum MaterializeMode: String, Sendable, CaseIterable, Codable {
    /// Reflink, else hardlink, else copy (the default).
    case auto
    /// Copy-on-write clone only (btrfs, XFS, ...).
    case reflink
    /// Hard link only (same file system; the target shares the blob's read-only inode). Writing into such a target
    /// (as root, when the blob is not immutable) changes the blob too; verification catches it (the ctime moves) and
    /// fetches the blob again from its sources.
    case hardlink
    /// A full copy (verified while copying).
    case copy
    /// A symbolic link to the blob.
    case symlink
}

/// How a blob was actually placed.
public enum MaterializeMethod: String, Sendable, Codable, Hashable {
    /// A copy-on-write clone.
    case reflink
    /// A hard link.
    case hardlink
    /// A full copy.
    case copy
    /// A symbolic link.
    case symlink
}

extension ModelStore {
    /// Places the blob `sha256` at `target` atomically: the blob is verified first (stat cache), the new file is
    /// built as `<target>.<unique>.partial` in the target's directory, then renamed over the target, so the target
    /// never holds a partial or unverified file. `.auto` tries reflink (`FICLONE`), then hardlink, then copy (the
    /// copy is hashed while copying).
    ///
    /// `protectShared`: when the blob ends up shared (hard link or symlink), make it immutable where permitted
    /// (`BlobProtection.protect`; versions do this). It is always read-only.
    @discardableResult
    public func materialize(
        sha256: String, to target: URL, mode: MaterializeMode = .auto, protectShared: Bool = false
    ) throws -> MaterializeMethod {
        guard let blob = try verifiedBlob(sha256: sha256), let verified = try FileStat.of(path: blob.path) else {
            throw ModelError.notInStore(sha256: sha256)
        }
        let directory = target.deletingLastPathComponent().path
        try FS.makeDirectories(directory)
        let temp = target.path + ".\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16)).partial"
        let order: [MaterializeMethod]
        switch mode {
        case .auto: order = [.reflink, .hardlink, .copy]
        case .reflink: order = [.reflink]
        case .hardlink: order = [.hardlink]
        case .copy: order = [.copy]
        case .symlink: order = [.symlink]
        }
        var lastError: (any Error)?
        for method in order {
            do {
                try place(blob: blob.path, at: temp, method: method, sha256: sha256)
                do {
                    // Replacing a file that is itself a protected blob link: clear its flag for the rename and set
                    // it again on that inode afterwards if anything still links to it.
                    try BlobProtection.whileUnprotected(target.path) { try FS.rename(temp, target.path) }
                } catch {
                    FS.unlinkIfPresent(temp)
                    throw error
                }
                FS.fsyncDirectory(directory)
                if method == .symlink { recordSymlink(target, sha256: sha256) }
                if protectShared && (method == .hardlink || method == .symlink) {
                    // The blob is now shared with a version: read-only, and immutable where permitted.
                    BlobProtection.protect(blob.path)
                    if let st = try? FileStat.of(path: blob.path), st.inode == verified.inode, st.size == verified.size,
                        st.mtimeNanoseconds == verified.mtimeNanoseconds
                    {
                        statCache.remember(st, sha256: sha256)  // setting the flag changed only the ctime
                    }
                }
                rememberPlaced(target: target, blob: blob, verified: verified, method: method, sha256: sha256)
                return method
            } catch {
                FS.unlinkIfPresent(temp)
                lastError = error
            }
        }
        throw lastError ?? ModelError.io("materialize", path: target.path, reason: "no method available")
    }

    /// Keeps the stat cache warm after placing: a hard link changes the shared inode's ctime (not its content:
    /// the mtime must still be the verified one); a copy or clone is a new file whose bytes were just checked.
    private func rememberPlaced(
        target: URL, blob: URL, verified: FileStat, method: MaterializeMethod, sha256: String
    ) {
        guard method != .symlink, let placed = try? FileStat.of(path: target.path) else { return }
        switch method {
        case .hardlink:
            guard placed.inode == verified.inode, placed.size == verified.size,
                placed.mtimeNanoseconds == verified.mtimeNanoseconds
            else { return }
            statCache.remember(placed, sha256: sha256)
        default:
            guard placed.size == verified.size else { return }
            statCache.remember(placed, sha256: sha256)
        }
    }

    private func place(blob: String, at temp: String, method: MaterializeMethod, sha256: String) throws {
        switch method {
        case .hardlink:
            // An immutable inode cannot get a new link: clear the flag (set again by the caller once placed).
            var rc = link(blob, temp)
            if rc != 0 && errno == EPERM && BlobProtection.isImmutable(blob) {
                BlobProtection.unprotect(blob)
                rc = link(blob, temp)
            }
            guard rc == 0 else { throw ModelError.io("hard link \(blob) to", path: temp, errno: errno) }
        case .symlink:
            guard symlink(blob, temp) == 0 else { throw ModelError.io("symlink \(blob) to", path: temp, errno: errno) }
        case .reflink:
            let source = open(blob, O_RDONLY | O_CLOEXEC)
            guard source >= 0 else { throw ModelError.io("open", path: blob, errno: errno) }
            defer { close(source) }
            let output = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
            guard output >= 0 else { throw ModelError.io("create", path: temp, errno: errno) }
            defer { close(output) }
            let ficlone: UInt = 0x4004_9409  // _IOW(0x94, 9, int)
            guard ioctl(output, ficlone, source) == 0 else {
                throw ModelError.io("reflink \(blob) to", path: temp, errno: errno)
            }
            guard fsync(output) == 0 else { throw ModelError.io("fsync", path: temp, errno: errno) }
        case .copy:
            let (digest, _) = try Self.copyHashing(from: blob, to: temp, mode: 0o444)
            guard digest.hex == sha256 else {
                throw ModelError.checksumMismatch(expected: sha256, actual: digest.hex, source: blob)
            }
        }
    }
}

/// Shared blobs are read-only (mode 0444) and, where the file system and privileges allow (`CAP_LINUX_IMMUTABLE`,
/// e.g. root on ext4/XFS/btrfs), immutable (`FS_IMMUTABLE_FL` through `FS_IOC_SETFLAGS`): then not even root can write
/// through a hard link into a version, so one version can never corrupt the store or another version. An immutable
/// inode cannot get a new link, be renamed or be unlinked, so every code path that does that clears the flag first
/// (`unprotect`) and sets it again after (`protect`).
public enum BlobProtection {
    // _IOR('f', 1, long) / _IOW('f', 2, long) on 64-bit Linux.
    private static let getFlags: UInt = 0x8008_6601
    private static let setFlags: UInt = 0x4008_6602
    private static let immutable: Int = 0x0000_0010  // FS_IMMUTABLE_FL

    /// Makes `path` read-only and, when permitted, immutable. Returns true when the immutable flag is set.
    @discardableResult
    public static func protect(_ path: String) -> Bool {
        _ = chmod(path, 0o444)
        return change(path) { $0 | immutable }
    }

    /// Clears the immutable flag of `path` (no-op when it is not set or cannot be read).
    public static func unprotect(_ path: String) {
        guard isImmutable(path) else { return }
        _ = change(path) { $0 & ~immutable }
    }

    /// Runs `body` (a rename over, or unlink of, `path`) with `path`'s immutable flag cleared; afterwards the flag
    /// is set again on the same inode (through an open descriptor) when other links to it remain — so removing a
    /// version's hard link never leaves the store's blob writable.
    public static func whileUnprotected<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return try body() }
        defer { close(fd) }
        var flags: Int = 0
        guard (withUnsafeMutablePointer(to: &flags) { ioctl(fd, getFlags, $0) }) == 0, flags & immutable != 0 else {
            return try body()
        }
        var cleared = flags & ~immutable
        _ = (withUnsafeMutablePointer(to: &cleared) { ioctl(fd, setFlags, $0) })
        defer {
            var info = stat()
            if fstat(fd, &info) == 0, info.st_nlink > 0 {
                var again = flags
                _ = (withUnsafeMutablePointer(to: &again) { ioctl(fd, setFlags, $0) })
            }
        }
        return try body()
    }

    /// Unlinks `path`, clearing its immutable flag for the unlink and keeping the inode protected when other links
    /// remain (see `whileUnprotected`). Returns `unlink(2)`'s result (errno set on failure).
    public static func unlink(_ path: String) -> Int32 {
        let rc = Glibc.unlink(path)
        guard rc != 0, errno == EPERM else { return rc }
        return (try? whileUnprotected(path) { Glibc.unlink(path) }) ?? -1
    }

    /// True when `path` carries the immutable flag.
    public static func isImmutable(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var flags: Int = 0
        guard (withUnsafeMutablePointer(to: &flags) { ioctl(fd, getFlags, $0) }) == 0 else { return false }
        return flags & immutable != 0
    }

    private static func change(_ path: String, _ transform: (Int) -> Int) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var flags: Int = 0
        guard (withUnsafeMutablePointer(to: &flags) { ioctl(fd, getFlags, $0) }) == 0 else { return false }
        var wanted = transform(flags)
        if wanted == flags { return true }
        return (withUnsafeMutablePointer(to: &wanted) { ioctl(fd, setFlags, $0) }) == 0
    }
}
