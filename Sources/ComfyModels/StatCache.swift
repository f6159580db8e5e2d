import ComfyCrypto
public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A cache of file hashes keyed by (device, inode, size, mtime ns, ctime ns), stored under the store
/// (`<store>/statcache/<device>-<inode>`, one small file per entry, written atomically, so concurrent processes need
/// no lock; its text is `v1 dev ino size mtime_ns ctime_ns sha256`). A hit needs all five stat fields equal and skips
/// hashing. A file changed in place changes its mtime/ctime and misses.
///
/// "Racy" entries are never written: when a file's mtime or ctime is within `racyWindow` of the moment hashing
/// started, a later write could land in the same timestamp tick and go unnoticed, so the result is not cached
/// (the next check hashes again, by then the file is old enough).
public struct StatCache: Sendable {
    /// The directory holding the entries.
    public let directory: URL
    /// Changes closer than this to the start of hashing are not trusted (timestamp granularity): 50 ms by default.
    public var racyWindowNanoseconds: Int64 = 50_000_000

    /// A cache in `directory` (created on first write).
    public init(directory: URL) { self.directory = directory }

    /// The result of `hash(path:deep:)`.
    public struct Result: Sendable, Hashable {
        /// The SHA-256 (lowercase hex).
        public var sha256: String
        /// The size in bytes.
        public var size: Int64
        /// True when the cache answered without reading the file.
        public var fromCache: Bool
    }

    /// The cached SHA-256 of `path` when its current stat matches the entry; `nil` otherwise.
    public func lookup(path: String) -> String? {
        guard let st = try? FileStat.of(path: path), st.isRegularFile else { return nil }
        return lookup(st)
    }

    func lookup(_ st: FileStat) -> String? {
        guard let bytes = FS.readSmallFile(entryPath(st), limit: 512) else { return nil }
        let fields = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 7, fields[0] == "v1", UInt64(fields[1]) == st.device, UInt64(fields[2]) == st.inode,
            Int64(fields[3]) == st.size, Int64(fields[4]) == st.mtimeNanoseconds,
            Int64(fields[5]) == st.ctimeNanoseconds, Hex.isLowercaseHex(String(fields[6]), count: 64)
        else { return nil }
        return String(fields[6])
    }

    /// Records that the file with stat `st` (taken before hashing started at `hashStarted`) hashes to `sha256`.
    /// Racy stats are skipped (see the type's documentation). Failures to write are ignored: it is a cache.
    func record(_ st: FileStat, sha256: String, hashStarted: Int64) {
        guard st.isRegularFile,
            st.mtimeNanoseconds < hashStarted - racyWindowNanoseconds,
            st.ctimeNanoseconds < hashStarted - racyWindowNanoseconds
        else { return }
        let line = "v1 \(st.device) \(st.inode) \(st.size) \(st.mtimeNanoseconds) \(st.ctimeNanoseconds) \(sha256)\n"
        do {
            try FS.makeDirectories(directory.path)
            try FS.writeAtomically(Array(line.utf8), to: entryPath(st))
        } catch {}
    }

    /// Records `sha256` for a file this process has just written or linked itself and whose content it knows
    /// (a downloaded blob after its rename, a verified copy, a hard link of a verified blob): no racy check, because
    /// nobody else knew the file while it was written.
    func remember(_ st: FileStat, sha256: String) {
        guard st.isRegularFile else { return }
        let line = "v1 \(st.device) \(st.inode) \(st.size) \(st.mtimeNanoseconds) \(st.ctimeNanoseconds) \(sha256)\n"
        do {
            try FS.makeDirectories(directory.path)
            try FS.writeAtomically(Array(line.utf8), to: entryPath(st))
        } catch {}
    }

    /// Forgets what is cached for `path` (e.g. after moving a corrupt file away).
    public func forget(path: String) {
        guard let st = try? FileStat.of(path: path) else { return }
        FS.unlinkIfPresent(entryPath(st))
    }

    /// The SHA-256 and size of `path`: from the cache when its stat matches (unless `deep`), else by reading it
    /// (streamed, large chunks) and recording the result. The stat is re-checked after hashing: a file that changed
    /// while being read is not cached.
    public func hash(path: String, deep: Bool = false) throws -> Result {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ModelError.io("open", path: path, errno: errno) }
        defer { close(fd) }
        let before = try FileStat.of(descriptor: fd, path: path)
        guard before.isRegularFile else { throw ModelError.io("hash", path: path, reason: "not a regular file") }
        if !deep, let cached = lookup(before) {
            return Result(sha256: cached, size: before.size, fromCache: true)
        }
        let started = FS.realtimeNanoseconds()
        let (digest, size) = try Self.hashDescriptor(fd, path: path)
        let after = try FileStat.of(descriptor: fd, path: path)
        if after == before, size == before.size {
            record(before, sha256: digest.hex, hashStarted: started)
        }
        return Result(sha256: digest.hex, size: size, fromCache: false)
    }

    /// Streams an open file through SHA-256 from its start (ComfyCrypto's file hashing: mapped windows or reads).
    static func hashDescriptor(_ fd: Int32, path: String) throws -> (SHA256Digest, Int64) {
        do {
            let (digest, size) = try SHA256.hashFile(descriptor: fd, path: path)
            return (digest, size)
        } catch let error as FileHashError {
            throw ModelError.io("read", path: path, reason: error.reason)
        }
    }

    private func entryPath(_ st: FileStat) -> String {
        directory.appendingPathComponent("\(st.device)-\(st.inode)").path
    }
}
