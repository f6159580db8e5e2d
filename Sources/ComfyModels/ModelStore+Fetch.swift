import ComfyCrypto
import ComfySupport
import ComfyTransport
public import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Progress of one blob download.
public struct FetchProgress: Sendable, Hashable {
    /// The blob being fetched.
    public var sha256: String
    /// The source being read (redacted URL).
    public var source: String
    /// Bytes of the blob on disk so far (including bytes resumed from an earlier attempt).
    public var bytesDone: Int64
    /// The blob's size, when known.
    public var totalBytes: Int64?
    /// Current transfer rate in bytes per second.
    public var bytesPerSecond: Double
}

/// Where `ensureBlob` found the blob.
public enum BlobOrigin: Sendable, Hashable {
    /// It was already in the store (verified).
    case store
    /// It was downloaded from this (redacted) URL.
    case downloaded(from: String)
}

extension ModelStore {
    /// Makes sure the blob `sha256` is in the store, verified, and returns its path and where it came from.
    ///
    /// A present blob is checked through the stat cache (a corrupt one is quarantined). Otherwise the sources are
    /// tried in order (mirrors): each download goes to `blobs/sha256/<hex>.partial`, hashed while it arrives,
    /// resumed with `Range` + `If-Range` after a dropped connection (restarting cleanly when the server answers 200
    /// or the validator changed), retried per `retryPolicy`, checked against `size` and `sha256`, fsynced and renamed.
    /// An exclusive `flock` on `locks/<hex>.lock` makes concurrent processes download a blob once: the others wait
    /// and then reuse it. Cancelling the task aborts the download and keeps the partial file for a later resume.
    ///
    /// A 206 whose ETag or offset differs from the partial's restarts the download; a `Content-Length` or
    /// `Content-Range` total that disagrees with `size` is refused before the body is read. A hash mismatch is
    /// retried once from scratch, then that source is given up. A blob of known size of at least `rangedThreshold`
    /// is fetched over `rangedConnections` connections (when more than one) in `rangeChunkSize` ranges. Each transfer
    /// takes its connections from `connectionBudget` while it runs (waiting while other downloads hold them); the
    /// final hash, fsync and rename run after they are given back. On success
    /// the blob is fsynced, made read-only and renamed into place, and the directory is fsynced. When every source
    /// fails, the error lists each source's failure (URLs redacted).
    public func ensureBlob(
        sha256: String, size: Int64? = nil, sources: [String],
        progress: (@Sendable (FetchProgress) -> Void)? = nil
    ) async throws -> (url: URL, origin: BlobOrigin) {
        try Self.checkDigest(sha256)
        try prepare()
        if let url = try await BlockingPool.shared.run({ try self.verifiedBlob(sha256: sha256, size: size) }) {
            return (url, .store)
        }
        let lock: FileLock
        do {
            lock = try await FileLock.acquire(path: locksDirectory.appendingPathComponent("\(sha256).lock").path)
        } catch {
            throw ModelError.file(error)
        }
        defer { withExtendedLifetime(lock) {} }
        // Someone else may have fetched it while we waited.
        if let url = try await BlockingPool.shared.run({ try self.verifiedBlob(sha256: sha256, size: size) }) {
            return (url, .store)
        }
        guard !sources.isEmpty else { throw ModelError.noSources(sha256: sha256) }
        var errors: [any Error & Sendable] = []
        for source in sources {
            guard let url = URL(string: source) else {
                errors.append(HTTPError.invalidURL(source, reason: "not a URL"))
                continue
            }
            let shown = Redaction.redactURL(url.absoluteString)
            logger.info("downloading", metadata: ["sha256": "\(sha256)", "url": "\(shown)"])
            do {
                try await download(sha256: sha256, size: size, from: url, progress: progress)
                logger.info("downloaded", metadata: ["sha256": "\(sha256)", "url": "\(shown)"])
                return (blobURL(sha256: sha256), .downloaded(from: shown))
            } catch {
                if Task.isCancelled { throw ModelError.cancelled("fetching \(sha256)") }
                logger.warning("source failed", metadata: ["sha256": "\(sha256)", "error": "\(error)"])
                errors.append(error)
            }
        }
        throw ModelError.allSourcesFailed(sha256: sha256, errors: errors)
    }

    /// Fetches one file: ensures the blob (from the store or `sources`) and materializes it at `target`.
    @discardableResult
    public func fetch(
        sha256: String, size: Int64? = nil, sources: [String], to target: URL, mode: MaterializeMode = .auto,
        progress: (@Sendable (FetchProgress) -> Void)? = nil
    ) async throws -> (origin: BlobOrigin, method: MaterializeMethod) {
        let (_, origin) = try await ensureBlob(sha256: sha256, size: size, sources: sources, progress: progress)
        let method = try await BlockingPool.shared.run { try self.materialize(sha256: sha256, to: target, mode: mode) }
        return (origin, method)
    }

    /// Downloads `url` into the blob's partial file and moves it into place when it verifies.
    func download(
        sha256: String, size: Int64?, from url: URL, progress: (@Sendable (FetchProgress) -> Void)?
    ) async throws {
        let blob = blobURL(sha256: sha256).path
        let partial = blob + ".partial"
        let metaPath = partial + ".meta"
        let shown = Redaction.redactURL(url.absoluteString)
        var mismatches = 0
        // One big blob of known size: parallel ranges, unless the server shows it ignores Range.
        var ranged = rangedConnections > 1 && (size ?? 0) >= rangedThreshold
        do {
            try await retryPolicy.run(onRetry: { _, _, _ in }) { _ in
                do {
                    var rangedDigest: String?
                    if ranged, let size {
                        do {
                            rangedDigest = try await rangedAttempt(
                                url: url, partial: partial, metaPath: metaPath, size: size, sha256: sha256,
                                connections: rangedConnections, progress: progress)
                        } catch is RangesUnsupported {
                            logger.info("no range support: one stream", metadata: ["url": "\(shown)"])
                            ranged = false
                            FS.unlinkIfPresent(metaPath)
                        }
                    }
                    let digest: String
                    if let rangedDigest {
                        digest = rangedDigest
                    } else {
                        digest = try await attempt(
                            url: url, partial: partial, metaPath: metaPath, size: size, sha256: sha256,
                            progress: progress)
                    }
                    guard digest == sha256 else {
                        FS.unlinkIfPresent(partial)
                        FS.unlinkIfPresent(metaPath)
                        let error = ModelError.checksumMismatch(expected: sha256, actual: digest, source: shown)
                        mismatches += 1
                        // Wrong bytes may be transient: try once more from scratch, then give up on this source.
                        throw mismatches == 1 ? DownloadRetry(error: error) as any Error : error
                    }
                } catch let restart as RestartDownload {
                    FS.unlinkIfPresent(partial)
                    FS.unlinkIfPresent(metaPath)
                    throw DownloadRetry(error: restart.error)
                }
            }
        } catch let retry as DownloadRetry {
            throw retry.error
        }
        // Verified: make it read-only, durable, and visible under its name.
        guard chmod(partial, 0o444) == 0 else { throw ModelError.io("chmod", path: partial, errno: errno) }
        try FS.rename(partial, blob)
        FS.fsyncDirectory(blobsDirectory.path)
        FS.unlinkIfPresent(metaPath)
        // Hashed while written: remember it, so placing it next does not read it again.
        if let st = try FileStat.of(path: blob) { statCache.remember(st, sha256: sha256) }
    }

    /// One HTTP attempt: resume or restart the partial file, stream into it while hashing. Returns the digest of
    /// the whole partial file.
    private func attempt(
        url: URL, partial: String, metaPath: String, size: Int64?, sha256: String,
        progress: (@Sendable (FetchProgress) -> Void)?
    ) async throws -> String {
        let shown = Redaction.redactURL(url.absoluteString)
        let fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ModelError.io("open", path: partial, errno: errno) }
        defer { close(fd) }
        let existing = try FileStat.of(descriptor: fd, path: partial).size
        let meta = PartialMeta.read(metaPath)
        if let size, existing >= size, meta?.rangedChunkSize == nil {
            // A complete (or overlong) partial from an earlier run: check it without a request.
            if existing == size {
                var hasher = SHA256()
                try FS.hashPrefix(fd, length: existing, into: &hasher, path: partial)
                let digest = hasher.finish().hex
                if digest == sha256 { return digest }
            }
            throw RestartDownload(error: ModelError.sizeMismatch(expected: size, actual: existing, source: partial))
        }
        var request = HTTPRequest(url: url)
        request.timeout = downloadAttemptTimeout
        var resumeFrom: Int64 = 0
        if existing > 0, let meta, meta.url == url.absoluteString, meta.rangedChunkSize == nil,
            let validator = meta.etag ?? meta.lastModified
        {
            resumeFrom = existing
            request.headers.add(name: "Range", value: "bytes=\(existing)-")
            request.headers.add(name: "If-Range", value: validator)
        }
        let sink = BlobSink(
            fd: fd, path: partial, metaPath: metaPath, url: url, expectedSize: size, resumeFrom: resumeFrom,
            previousETag: resumeFrom > 0 ? meta?.etag : nil, cap: size ?? maxUnsizedDownloadBytes, io: downloadIO)
        // The writer thread must be done with the descriptor before it is closed (this runs before the close).
        defer { sink.stopPipeline() }
        let clock = ContinuousClock()
        let transferStart = clock.now
        let resumed = resumeFrom
        let reporter = progress.map { report in
            { @Sendable (p: HTTPProgress) in
                report(
                    FetchProgress(
                        sha256: sha256, source: shown, bytesDone: sink.bytesOnDisk,
                        totalBytes: size ?? p.totalToReceive.map { $0 + resumed },
                        bytesPerSecond: p.bytesPerSecond))
            }
        }
        do {
            _ = try await withConnections(1) { try await client.stream(request, to: sink, progress: reporter) }
        } catch let error as HTTPError {
            if let failure = sink.failure {
                switch failure {
                case .restart(let reason): throw RestartDownload(error: reason)
                case .final(let reason): throw reason
                }
            }
            if error.status == 416 {
                throw RestartDownload(error: error)
            }
            throw error
        }
        let received = clock.now
        let digest = try sink.finishDigest()
        let drained = clock.now
        guard fsync(fd) == 0 else { throw ModelError.io("fsync", path: partial, errno: errno) }
        let synced = clock.now
        let t = sink.timings
        logger.info(
            "download timings",
            metadata: [
                "sha256": "\(sha256)", "bytes": "\(sink.bytesOnDisk - resumed)",
                "receive_s": "\(Self.seconds(received - transferStart))",
                "drain_s": "\(Self.seconds(drained - received))", "fsync_s": "\(Self.seconds(synced - drained))",
                "producer_wait_s": "\(t.producerWait)", "write_busy_s": "\(t.write)",
                "writeback_wait_s": "\(t.writeback)", "hash_busy_s": "\(t.hash)",
            ])
        let written = sink.bytesOnDisk
        if let size, written != size {
            // A consistent but short (or long) response: the server's file is not the locked one.
            throw RestartDownload(error: ModelError.sizeMismatch(expected: size, actual: written, source: shown))
        }
        if let length = sink.expectedEnd, written != length {
            throw RestartDownload(
                error: ModelError.sizeMismatch(expected: length, actual: written, source: shown))
        }
        return digest
    }

    /// Runs `body` (a transfer) holding `cost` connections of `connectionBudget`: the budget bounds the connections
    /// of all downloads at once, and is given back as soon as the bytes are in (not after the fsync).
    func withConnections<T: Sendable>(_ cost: Int, _ body: () async throws -> T) async throws -> T {
        let budget = connectionBudget
        let taken = try await budget.acquire(cost)
        do {
            let result = try await body()
            budget.release(taken)
            return result
        } catch {
            budget.release(taken)
            throw error
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// Retry the download from scratch (the partial file was discarded); retryable with the normal backoff.
struct DownloadRetry: RetryableError, Sendable {
    let error: any Error & Sendable
    var isRetryable: Bool { true }
    var retryAfter: Duration? { nil }
}

/// The partial file cannot be continued (validator changed, server ignored Range, wrong size): discard it.
struct RestartDownload: Error, Sendable {
    let error: any Error & Sendable
}

/// What a partial download was resumed from: `<hex>.partial.meta`, one `key value` per line.
struct PartialMeta {
    var url: String
    var etag: String?
    var lastModified: String?
    /// A ranged download's blob size, chunk size and bytes done per chunk start (`size N`, `chunk N`,
    /// `range START DONE` lines); a single stream writes none of these.
    var size: Int64?
    var rangedChunkSize: Int64?
    var ranges: [Int64: Int64] = [:]

    init(url: String, etag: String?, lastModified: String?) {
        self.url = url
        self.etag = etag
        self.lastModified = lastModified
    }

    static func read(_ path: String) -> PartialMeta? {
        guard let bytes = FS.readSmallFile(path) else { return nil }
        var values: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            values[String(line[..<space])] = String(line[line.index(after: space)...])
        }
        guard let url = values["url"] else { return nil }
        var meta = PartialMeta(url: url, etag: values["etag"], lastModified: values["last-modified"])
        meta.size = values["size"].flatMap { Int64($0) }
        meta.rangedChunkSize = values["chunk"].flatMap { Int64($0) }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("range ") {
            let fields = line.split(separator: " ")
            if fields.count == 3, let start = Int64(fields[1]), let done = Int64(fields[2]), start >= 0, done > 0 {
                meta.ranges[start] = done
            }
        }
        return meta
    }

    func write(_ path: String) throws {
        var text = "url \(url)\n"
        if let etag { text += "etag \(etag)\n" }
        if let lastModified { text += "last-modified \(lastModified)\n" }
        if let size { text += "size \(size)\n" }
        if let rangedChunkSize { text += "chunk \(rangedChunkSize)\n" }
        for (start, done) in ranges.sorted(by: { $0.key < $1.key }) { text += "range \(start) \(done)\n" }
        try FS.writeAtomically(Array(text.utf8), to: path)
    }
}

/// Writes a download into the partial file and hashes it in the same pass.
/// `@unchecked Sendable`: the transport calls it from one transfer thread at a time; the caller reads it only after
/// the transfer ended (the continuation orders the accesses). `bytesOnDisk` is atomic for progress readers.
final class BlobSink: HTTPBodySink, @unchecked Sendable {
    enum Failure {
        case restart(any Error & Sendable)
        case final(any Error & Sendable)
    }

    let fd: Int32
    let path: String
    let metaPath: String
    let url: URL
    let expectedSize: Int64?
    /// The most bytes accepted: the expected size, else the store's cap for unsized downloads.
    let cap: Int64
    let resumeFrom: Int64
    let previousETag: String?
    /// Writes the body and computes its SHA-256, each on a thread of its own, from one copy of the bytes.
    private let pipeline: DownloadPipeline
    private let written = Atomic<Int64>(0)
    var failure: Failure?
    /// The byte offset the response should end at (from Content-Length/Content-Range), when known.
    var expectedEnd: Int64?

    init(
        fd: Int32, path: String, metaPath: String, url: URL, expectedSize: Int64?, resumeFrom: Int64,
        previousETag: String?, cap: Int64, io: DownloadIO
    ) {
        pipeline = DownloadPipeline(fd: fd, path: path, io: io)
        self.cap = cap
        self.fd = fd
        self.path = path
        self.metaPath = metaPath
        self.url = url
        self.expectedSize = expectedSize
        self.resumeFrom = resumeFrom
        self.previousETag = previousETag
        written.store(resumeFrom, ordering: .relaxed)
    }

    var bytesOnDisk: Int64 { written.load(ordering: .relaxed) }

    /// Waits for the writer and the hasher; the digest of the whole partial file. Throws a write error.
    func finishDigest() throws -> String {
        do { return try pipeline.finish().hex } catch {
            failure = .final(error)
            throw error
        }
    }

    /// Stops the pipeline's threads (idempotent).
    func stopPipeline() { pipeline.stop() }

    var timings: DownloadTimings { pipeline.timings }

    deinit { pipeline.stop() }

    private func fail(_ failure: Failure) -> any Error {
        self.failure = failure
        switch failure {
        case .restart(let e), .final(let e): return e
        }
    }

    func begin(_ head: HTTPResponseHead) throws {
        let shown = Redaction.redactURL(url.absoluteString)
        var start: Int64 = 0
        if head.status == 206 {
            guard resumeFrom > 0, let range = head.contentRange, range.start == resumeFrom else {
                throw fail(.restart(ModelError.io("resume", path: shown, reason: "unexpected Content-Range")))
            }
            if let previousETag, let etag = head.etag, etag != previousETag {
                throw fail(.restart(ModelError.io("resume", path: shown, reason: "the file changed on the server")))
            }
            if let total = range.total, let expectedSize, total != expectedSize {
                throw fail(.final(ModelError.sizeMismatch(expected: expectedSize, actual: total, source: shown)))
            }
            expectedEnd = range.end + 1
            do { try FS.hashPrefix(fd, length: resumeFrom, into: &pipeline.hasher, path: path) } catch {
                throw fail(.restart(error))
            }
            start = resumeFrom
            do { try pipeline.start(at: start, expectedSize: expectedSize) } catch { throw fail(.final(error)) }
        } else {
            // 200: a fresh body (first attempt, Range ignored, or If-Range saw a changed validator): start over.
            guard ftruncate(fd, 0) == 0 else { throw fail(.final(ModelError.io("truncate", path: path, errno: errno))) }
            pipeline.hasher.reset()
            if let length = head.contentLength {
                if let expectedSize, length != expectedSize {
                    // Refused before any body byte; retried (a proxy may have cut it short), then final.
                    throw fail(.restart(ModelError.sizeMismatch(expected: expectedSize, actual: length, source: shown)))
                }
                expectedEnd = length
                if expectedSize == nil, length > cap { throw fail(.final(tooLarge())) }
            }
            do { try pipeline.start(at: 0, expectedSize: expectedSize ?? head.contentLength) } catch {
                throw fail(.final(error))
            }
        }
        written.store(start, ordering: .relaxed)
        do {
            try PartialMeta(url: url.absoluteString, etag: head.etag, lastModified: head.lastModified).write(metaPath)
        } catch {
            throw fail(.final(error))
        }
    }

    /// The error for a body past `cap` when no size was given.
    private func tooLarge() -> ModelError {
        ModelError.io(
            "download", path: Redaction.redactURL(url.absoluteString),
            reason: "larger than \(cap) bytes, the cap for a download without a known size (give the size)")
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        let offset = written.load(ordering: .relaxed)
        if expectedSize == nil, offset + Int64(bytes.count) > cap { throw fail(.final(tooLarge())) }
        if let expectedSize, offset + Int64(bytes.count) > expectedSize {
            let shown = Redaction.redactURL(url.absoluteString)
            throw fail(
                .restart(
                    ModelError.sizeMismatch(expected: expectedSize, actual: offset + Int64(bytes.count), source: shown))
            )
        }
        do { try pipeline.update(bytes) } catch { throw fail(.final(error)) }
        written.store(offset + Int64(bytes.count), ordering: .relaxed)
    }
}
