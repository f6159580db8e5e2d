import ComfyCrypto
import ComfySupport
import ComfyTransport
public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension ModelStore {
    /// Downloads `url` whose hash is not known yet (e.g. `models add`) into the store, hashing in the same pass, and
    /// returns its digest and size. The bytes land in a uniquely named `.partial` in the blobs directory and are
    /// renamed to `blobs/sha256/<hex>` (or dropped when that blob is already present). Retried from scratch per
    /// `retryPolicy` (without a known hash there is nothing to resume against safely).
    public func adopt(
        url: URL, expectedSize: Int64? = nil, progress: (@Sendable (FetchProgress) -> Void)? = nil
    ) async throws -> (sha256: String, size: Int64) {
        try prepare()
        let partial = blobsDirectory.appendingPathComponent(
            "adopt-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16)).partial"
        ).path
        defer {
            FS.unlinkIfPresent(partial)
            FS.unlinkIfPresent(partial + ".meta")
        }
        let shown = Redaction.redactURL(url.absoluteString)
        let digest: String
        do {
            digest = try await retryPolicy.run { _ in
                let fd = open(partial, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw ModelError.io("create", path: partial, errno: errno) }
                defer { close(fd) }
                let sink = BlobSink(
                    fd: fd, path: partial, metaPath: partial + ".meta", url: url, expectedSize: expectedSize,
                    resumeFrom: 0, previousETag: nil, cap: expectedSize ?? maxUnsizedDownloadBytes, io: downloadIO)
                defer { sink.stopPipeline() }  // before the close above
                let reporter = progress.map { report in
                    { @Sendable (p: HTTPProgress) in
                        report(
                            FetchProgress(
                                sha256: "", source: shown, bytesDone: sink.bytesOnDisk, totalBytes: p.totalToReceive,
                                bytesPerSecond: p.bytesPerSecond))
                    }
                }
                do {
                    var request = HTTPRequest(url: url)
                    request.timeout = downloadAttemptTimeout
                    _ = try await client.stream(request, to: sink, progress: reporter)
                } catch let error as HTTPError {
                    if let failure = sink.failure {
                        switch failure {
                        case .restart(let reason): throw DownloadRetry(error: reason)
                        case .final(let reason): throw reason
                        }
                    }
                    throw error
                }
                if let end = sink.expectedEnd, sink.bytesOnDisk != end {
                    throw DownloadRetry(
                        error: ModelError.sizeMismatch(expected: end, actual: sink.bytesOnDisk, source: shown))
                }
                let digest = try sink.finishDigest()
                guard fsync(fd) == 0 else { throw ModelError.io("fsync", path: partial, errno: errno) }
                return digest
            }
        } catch let retry as DownloadRetry {
            throw retry.error
        }
        let size = try FileStat.of(path: partial)?.size ?? 0
        let blob = blobURL(sha256: digest).path
        if (try? verifiedBlob(sha256: digest, size: size)) == nil {
            guard chmod(partial, 0o444) == 0 else { throw ModelError.io("chmod", path: partial, errno: errno) }
            try FS.rename(partial, blob)
            FS.fsyncDirectory(blobsDirectory.path)
            if let st = try FileStat.of(path: blob) { statCache.remember(st, sha256: digest) }
        }
        return (digest, size)
    }
}
