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
    /// Hard link only (same file system; the target shares the blob's read-only inode).
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
    /// never holds a partial or unverified file. `.auto` tries reflink, then hardlink, then copy.
    @discardableResult
    public func materialize(sha256: String, to target: URL, mode: MaterializeMode = .auto) throws -> MaterializeMethod {
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
                    try FS.rename(temp, target.path)
                } catch {
                    FS.unlinkIfPresent(temp)
                    throw error
                }
                FS.fsyncDirectory(directory)
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
            guard link(blob, temp) == 0 else { throw ModelError.io("hard link \(blob) to", path: temp, errno: errno) }
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
