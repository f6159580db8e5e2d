import ComfyCrypto
public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One blob of the store, as `store gc` sees it.
public struct StoredBlob: Sendable, Hashable {
    /// The content hash (the file name).
    public var sha256: String
    /// Bytes.
    public var size: Int64
    /// Hard links to the blob's inode (1 = only the store).
    public var linkCount: Int
    /// Symbolic links recorded by `materialize(mode: .symlink)` that still point at the blob.
    public var symlinks: [String]
}

/// One bucket of the quarantine (`quarantine/<UTC timestamp>-<random>/`).
public struct QuarantineBucket: Sendable, Hashable {
    /// The bucket directory.
    public var path: String
    /// When it was made (its name's timestamp, else its mtime).
    public var created: Date
    /// Bytes inside.
    public var bytes: Int64
}

/// The store API `store gc` goes through: blobs, the symlinks placed to them, the quarantine, the store's size.
/// Nothing outside ComfyModels touches `blobs/` or `quarantine/` directly.
extension ModelStore {
    /// Directory of symlink placement records: `links/<sha256>/<sha256 of the link path>` holds the link path.
    var symlinkRecords: URL { root.appendingPathComponent("links") }

    /// Every blob in the store (partial downloads and other files skipped), sorted by hash.
    public func blobs() throws -> [StoredBlob] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: blobsDirectory.path)) ?? []
        var result: [StoredBlob] = []
        for name in names.sorted() where Hex.isLowercaseHex(name, count: 64) {
            var info = stat()
            guard lstat(blobsDirectory.appendingPathComponent(name).path, &info) == 0,
                (info.st_mode & S_IFMT) == S_IFREG
            else { continue }
            result.append(
                StoredBlob(
                    sha256: name, size: Int64(info.st_size), linkCount: Int(info.st_nlink),
                    symlinks: liveSymlinks(to: name)))
        }
        return result
    }

    /// Deletes blob `sha256` (its immutable flag cleared first) and its stat-cache entry and symlink records.
    /// Returns the bytes freed (0 when it was not there).
    @discardableResult
    public func removeBlob(sha256: String) throws -> Int64 {
        try Self.checkDigest(sha256)
        let path = blobURL(sha256: sha256).path
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        BlobProtection.unprotect(path)
        guard unlink(path) == 0 || errno == ENOENT else { throw ModelError.io("unlink", path: path, errno: errno) }
        statCache.forget(path: path)
        try? FileManager.default.removeItem(at: symlinkRecords.appendingPathComponent(sha256))
        return Int64(info.st_size)
    }

    /// Remembers that `link` is a symbolic link to blob `sha256` (so gc keeps the blob while the link exists).
    func recordSymlink(_ link: URL, sha256: String) {
        let dir = symlinkRecords.appendingPathComponent(sha256)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = link.standardizedFileURL.path
        let key = SHA256Hex.of(path)
        try? FS.writeAtomically(Array(path.utf8), to: dir.appendingPathComponent(key).path)
    }

    /// Recorded symlinks to `sha256` that still exist and still point at the blob; stale records are dropped.
    func liveSymlinks(to sha256: String) -> [String] {
        let dir = symlinkRecords.appendingPathComponent(sha256)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        let blob = blobURL(sha256: sha256).path
        var live: [String] = []
        for name in names.sorted() {
            let record = dir.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: record.path) else { continue }
            let link = String(decoding: data, as: UTF8.self)
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link), target == blob {
                live.append(link)
            } else {
                try? FileManager.default.removeItem(at: record)
            }
        }
        return live
    }

    /// The quarantine's buckets, oldest first.
    public func quarantineBuckets() -> [QuarantineBucket] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: quarantineDirectory.path)) ?? []
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        var buckets: [QuarantineBucket] = []
        for name in names where !name.hasPrefix(".") {
            let path = quarantineDirectory.appendingPathComponent(name).path
            let stamp = name.split(separator: "-").first.map(String.init) ?? ""
            let created =
                formatter.date(from: stamp)
                ?? ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? Date()
            buckets.append(QuarantineBucket(path: path, created: created, bytes: Self.treeBytes(path)))
        }
        return buckets.sorted { $0.created < $1.created }
    }

    /// Deletes `bucket` (it must be a bucket of this store's quarantine). Returns the bytes freed.
    @discardableResult
    public func removeQuarantineBucket(_ bucket: QuarantineBucket) throws -> Int64 {
        let parent = URL(fileURLWithPath: bucket.path).deletingLastPathComponent().standardizedFileURL.path
        guard parent == quarantineDirectory.standardizedFileURL.path else {
            throw ModelError.io("remove", path: bucket.path, reason: "not a bucket of \(quarantineDirectory.path)")
        }
        if let enumerator = FileManager.default.enumerator(atPath: bucket.path) {
            while let item = enumerator.nextObject() as? String { BlobProtection.unprotect(bucket.path + "/" + item) }
        }
        try FileManager.default.removeItem(atPath: bucket.path)
        return bucket.bytes
    }

    /// Bytes used by the store's blobs and quarantine (each inode counted once).
    public func size() -> (blobs: Int64, quarantine: Int64) {
        (Self.treeBytes(blobsDirectory.path), Self.treeBytes(quarantineDirectory.path))
    }

    static func treeBytes(_ path: String) -> Int64 {
        var total: Int64 = 0
        var seen = Set<UInt64>()
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return 0 }
        while let item = enumerator.nextObject() as? String {
            var info = stat()
            guard lstat(path + "/" + item, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG,
                seen.insert(UInt64(info.st_ino)).inserted
            else { continue }
            total += Int64(info.st_size)
        }
        return total
    }
}

/// SHA-256 hex of a string (record keys).
enum SHA256Hex {
    static func of(_ text: String) -> String {
        SHA256.hash(Array(text.utf8)).hex
    }
}
