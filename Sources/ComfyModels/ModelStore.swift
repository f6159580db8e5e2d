import ComfyCrypto
public import ComfyTransport
public import Foundation
public import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The content-addressed store of model files (and the home of other caches: `<store>/git/` belongs to the runtime).
///
/// Layout under `root` (`$COMFYLOCK_STORE`, else `~/.cache/comfylock`):
/// - `CACHEDIR.TAG` — marks the tree as a cache for backup tools;
/// - `blobs/sha256/<hex>` — verified blobs, read-only (0444); downloads land in `blobs/sha256/<hex>.partial`
///   (same file system, so the final `rename(2)` is atomic) with `<hex>.partial.meta` holding the URL and validator
///   used to resume;
/// - `locks/<hex>.lock` — `flock` files, so concurrent processes fetching one blob download it once;
/// - `statcache/` — the `StatCache`;
/// - `quarantine/` — corrupt blobs moved aside (never deleted).
public struct ModelStore: Sendable {
    /// The store's root directory.
    public let root: URL
    /// The HTTP client downloads use.
    public let client: HTTPClient
    /// Retries of each source during a fetch (resuming from the partial file after a dropped connection).
    public var retryPolicy: RetryPolicy
    /// Cap for a download whose size is not known (no `size` given): 64 GiB by default. A body that grows past it
    /// (or announces a larger `Content-Length`) is refused, so a hostile server cannot fill the disk.
    public var maxUnsizedDownloadBytes: Int64 = ModelStore.defaultMaxUnsizedDownloadBytes
    /// Overall deadline of one download attempt, besides the transport's low-speed timeout (a server trickling
    /// just above the low-speed limit cannot hold a fetch forever): 6 hours by default.
    public var downloadAttemptTimeout: Duration = .seconds(6 * 3600)

    /// How downloads are written (writeback per window, preallocation); see `DownloadIO`.
    public var downloadIO = DownloadIO()

    /// Parallel ranged download of one big blob: how many connections (1 = one stream).
    public var rangedConnections = ModelStore.defaultRangedConnections
    /// Blobs smaller than this (or of unknown size) are fetched as one stream: 64 MiB by default.
    public var rangedThreshold: Int64 = 64 << 20
    /// The size of each range request of a ranged download: 32 MiB by default.
    public var rangeChunkSize: Int64 = 32 << 20
    /// The default `rangedConnections` (docs/benchmarks.md, P3b).
    public static let defaultRangedConnections = 4
    /// Concurrent download connections of this store value and its copies (shared: a class): each download takes
    /// `connectionCost(size:)` of it while it runs. Default `defaultConnectionBudget`.
    public var connectionBudget = ConnectionBudget(total: ModelStore.defaultConnectionBudget)
    /// The default connection budget: 16, what 4 big downloads at once with 4 ranged connections each use — the
    /// big-file case measured best at that — while 16 small single-stream files may run at once (docs/benchmarks.md,
    /// "many models").
    public static let defaultConnectionBudget = 16

    /// How many connections a download of a blob of `size` opens: `rangedConnections` when it is fetched in
    /// ranges, else 1.
    public func connectionCost(size: Int64?) -> Int {
        rangedConnections > 1 && (size ?? 0) >= rangedThreshold ? rangedConnections : 1
    }

    /// The default `maxUnsizedDownloadBytes`: 64 GiB.
    public static let defaultMaxUnsizedDownloadBytes: Int64 = 64 << 30
    /// Where fetches are logged (downloads, source failures); URLs redacted.
    public var logger: Logger

    /// A store at `root` (created on first use), logging to `logger` (default: nowhere).
    public init(
        root: URL, client: HTTPClient = .shared, retryPolicy: RetryPolicy = .default,
        logger: Logger = Logger(label: "comfylock.store", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.root = root.standardizedFileURL
        self.client = client
        self.retryPolicy = retryPolicy
        self.logger = logger
    }

    /// `$COMFYLOCK_STORE` if set and non-empty in `environment`, else `~/.cache/comfylock` (`$HOME`, else the user
    /// database).
    public static func defaultRoot(environment: [String: String]) -> URL {
        if let dir = environment["COMFYLOCK_STORE"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".cache/comfylock")
    }

    /// The store at `defaultRoot(environment:)` of the process environment: the front ends' entry point.
    public static func fromEnvironment(
        client: HTTPClient = .shared, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> ModelStore {
        var store = ModelStore(root: defaultRoot(environment: environment), client: client)
        store.downloadIO = DownloadIO.fromEnvironment(environment)
        return store
    }

    /// `<root>/blobs/sha256`.
    public var blobsDirectory: URL { root.appendingPathComponent("blobs/sha256") }
    /// `<root>/quarantine`.
    public var quarantineDirectory: URL { root.appendingPathComponent("quarantine") }
    /// `<root>/locks`.
    var locksDirectory: URL { root.appendingPathComponent("locks") }
    /// The stat cache kept under the store (`<root>/statcache`).
    public var statCache: StatCache { StatCache(directory: root.appendingPathComponent("statcache")) }

    /// The path a blob has (or would have) in the store.
    public func blobURL(sha256: String) -> URL { blobsDirectory.appendingPathComponent(sha256) }

    /// Creates the layout and `CACHEDIR.TAG` if missing.
    public func prepare() throws {
        for dir in [blobsDirectory, locksDirectory, quarantineDirectory] { try FS.makeDirectories(dir.path) }
        let tag = root.appendingPathComponent("CACHEDIR.TAG").path
        if !FS.exists(tag) {
            let text = """
                Signature: 8a477f597d28d172789f06886806bc55
                # This file is a cache directory tag created by comfylock (content-addressed model store).
                # For information about cache directory tags, see https://bford.info/cachedir/

                """
            try FS.writeAtomically(Array(text.utf8), to: tag)
        }
    }

    /// True when a file exists at the blob's path (not verified; see `verifiedBlob`).
    public func containsBlob(sha256: String) -> Bool { FS.exists(blobURL(sha256: sha256).path) }

    /// The blob's path when it is present and really hashes to `sha256` (checked through the stat cache, so an
    /// unchanged blob is not re-read). A blob with the wrong size or content is moved to `quarantine/` and `nil`
    /// is returned.
    public func verifiedBlob(sha256: String, size: Int64? = nil) throws -> URL? {
        try Self.checkDigest(sha256)
        let url = blobURL(sha256: sha256)
        guard let st = try FileStat.of(path: url.path) else { return nil }
        if let size, st.size != size {
            _ = try? quarantine(url)
            return nil
        }
        let result = try statCache.hash(path: url.path)
        guard result.sha256 == sha256 else {
            _ = try? quarantine(url)
            return nil
        }
        return url
    }

    /// Moves a corrupt blob (or any file) into `quarantine/<timestamp>-<random>/<name>`; returns where it went.
    @discardableResult
    public func quarantine(_ file: URL) throws -> URL {
        try Self.quarantine(file, into: quarantineDirectory)
    }

    /// Moves `file` aside into `directory/<UTC timestamp>-<random>/<name>` (rename; never deletes). Returns the new
    /// location.
    public static func quarantine(_ file: URL, into directory: URL) throws -> URL {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let bucket = directory.appendingPathComponent(
            "\(formatter.string(from: Date()))-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))")
        try FS.makeDirectories(bucket.path)
        let destination = bucket.appendingPathComponent(file.lastPathComponent)
        BlobProtection.unprotect(file.path)  // a quarantined file is never shared again
        try FS.rename(file.path, destination.path)
        return destination
    }

    /// Hashes a file, answering from the stat cache when its (device, inode, size, mtime, ctime) are unchanged,
    /// unless `deep`.
    public func hashFile(at url: URL, deep: Bool = false) throws -> StatCache.Result {
        try statCache.hash(path: url.path, deep: deep)
    }

    /// Adds a local file to the store (copied while hashing; verified against `expectedSHA256` when given) and
    /// returns its digest and size. Nothing is stored when the content does not match.
    @discardableResult
    public func importFile(at url: URL, expectedSHA256: String? = nil) throws -> (sha256: String, size: Int64) {
        if let expectedSHA256 { try Self.checkDigest(expectedSHA256) }
        try prepare()
        let temp = blobsDirectory.appendingPathComponent(
            "import-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).partial")
        let (digest, size) = try Self.copyHashing(from: url.path, to: temp.path, mode: 0o444)
        guard expectedSHA256 == nil || digest.hex == expectedSHA256 else {
            FS.unlinkIfPresent(temp.path)
            throw ModelError.checksumMismatch(expected: expectedSHA256!, actual: digest.hex, source: url.path)
        }
        let target = blobURL(sha256: digest.hex)
        if FS.exists(target.path), (try? verifiedBlob(sha256: digest.hex)) != nil {
            FS.unlinkIfPresent(temp.path)
        } else {
            try FS.rename(temp.path, target.path)
            FS.fsyncDirectory(blobsDirectory.path)
        }
        return (digest.hex, size)
    }

    static func checkDigest(_ sha256: String) throws {
        guard Hex.isLowercaseHex(sha256, count: 64) else { throw ModelError.invalidDigest(sha256) }
    }

    /// Copies `source` to a new file `destination` (created exclusively with `mode`) while hashing, then fsyncs.
    static func copyHashing(from source: String, to destination: String, mode: mode_t) throws -> (SHA256Digest, Int64) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw ModelError.io("open", path: source, errno: errno) }
        defer { close(input) }
        _ = posix_fadvise(input, 0, 0, POSIX_FADV_SEQUENTIAL)
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard output >= 0 else { throw ModelError.io("create", path: destination, errno: errno) }
        var hasher = SHA256()
        var total: Int64 = 0
        let chunk = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        do {
            while true {
                let n = read(input, buffer.baseAddress, chunk)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ModelError.io("read", path: source, errno: errno)
                }
                if n == 0 { break }
                let slice = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
                hasher.update(slice)
                try FS.writeAll(output, slice, path: destination)
                total += Int64(n)
            }
            guard fsync(output) == 0 else { throw ModelError.io("fsync", path: destination, errno: errno) }
        } catch {
            close(output)
            unlink(destination)
            throw error
        }
        close(output)
        return (hasher.finalize(), total)
    }
}
