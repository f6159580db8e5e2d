import ComfyCrypto
import ComfySupport
import ComfyTransport
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The server answered a range request with the whole file: fetch it as one stream instead.
struct RangesUnsupported: Error, Sendable {}

/// The chunks of one parallel ranged download and how far each got (shared by the connections and the hasher).
/// `@unchecked Sendable`: every field is behind `state` (a Mutex) or immutable.
final class RangedPlan: @unchecked Sendable {
    struct Chunk {
        var start: Int64
        var end: Int64  // exclusive
        var done: Int64 = 0  // bytes written from `start`
        var taken = false
        var length: Int64 { end - start }
        var complete: Bool { done >= length }
    }

    let size: Int64
    let chunkSize: Int64
    private let state: Mutex<[Chunk]>
    private let failed = Atomic<Bool>(false)

    init(size: Int64, chunkSize: Int64, done: [Int64: Int64] = [:]) {
        self.size = size
        self.chunkSize = chunkSize
        var chunks: [Chunk] = []
        var start: Int64 = 0
        while start < size {
            let end = min(start + chunkSize, size)
            chunks.append(Chunk(start: start, end: end, done: min(done[start] ?? 0, end - start)))
            start = end
        }
        state = Mutex(chunks)
    }

    /// The next chunk nobody works on that still has bytes missing (its index), or nil.
    func take() -> Int? {
        state.withLock { chunks in
            guard let index = chunks.firstIndex(where: { !$0.taken && !$0.complete }) else { return nil }
            chunks[index].taken = true
            return index
        }
    }

    func chunk(_ index: Int) -> Chunk { state.withLock { $0[index] } }

    func advance(_ index: Int, by count: Int64) { state.withLock { $0[index].done += count } }

    /// Bytes of the file present from offset 0 without a gap.
    var contiguousEnd: Int64 {
        state.withLock { chunks in
            for chunk in chunks where !chunk.complete { return chunk.start + chunk.done }
            return size
        }
    }

    var bytesDone: Int64 { state.withLock { $0.reduce(0) { $0 + min($1.done, $1.length) } } }
    var isComplete: Bool { state.withLock { $0.allSatisfy(\.complete) } }
    var progressByStart: [Int64: Int64] {
        state.withLock { Dictionary(uniqueKeysWithValues: $0.filter { $0.done > 0 }.map { ($0.start, $0.done) }) }
    }

    var hasFailed: Bool { failed.load(ordering: .relaxed) }
    func fail() { failed.store(true, ordering: .relaxed) }
}

/// Hashes the partial file in order, from offset 0, as the contiguous prefix grows (a thread of its own, `pread`
/// from the page cache in 4 MiB reads): the whole file is hashed exactly once, whatever order the ranges arrive in.
/// `@unchecked Sendable`: `hasher` belongs to the thread until `finish` returns.
final class FrontierHasher: @unchecked Sendable {
    private let fd: Int32
    private let path: String
    private let plan: RangedPlan
    private var hasher = SHA256()
    private let done = DispatchSemaphore(value: 0)
    private let stopFlag = Atomic<Bool>(false)
    private var error: ModelError?
    private(set) var hashed: Int64 = 0
    private(set) var busySeconds: Double = 0

    init(fd: Int32, path: String, plan: RangedPlan) {
        self.fd = fd
        self.path = path
        self.plan = plan
        let thread = Thread { [self] in run() }
        thread.name = "comfylock-sha256"
        thread.start()
    }

    private func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 4096)
        defer {
            buffer.deallocate()
            done.signal()
        }
        while hashed < plan.size {
            if stopFlag.load(ordering: .relaxed) { return }
            let available = plan.contiguousEnd
            if available <= hashed {
                usleep(2000)
                continue
            }
            let want = Int(min(Int64(buffer.count), available - hashed))
            let started = DispatchTime.now().uptimeNanoseconds
            let n = pread(fd, buffer.baseAddress, want, off_t(hashed))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                error =
                    n == 0
                    ? ModelError.io("read", path: path, reason: "the file ended at \(hashed) bytes")
                    : ModelError.io("read", path: path, errno: errno)
                return
            }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            hashed += Int64(n)
            busySeconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        }
    }

    /// Waits for the whole file to be hashed (or the thread to stop) and returns the digest.
    func finish() throws -> String {
        done.wait()
        if let error { throw error }
        guard hashed == plan.size else {
            throw ModelError.io("hash", path: path, reason: "stopped at \(hashed) of \(plan.size) bytes")
        }
        return hasher.finish().hex
    }

    /// Stops the thread early (an abandoned download) and waits for it.
    func stop() {
        stopFlag.store(true, ordering: .relaxed)
        done.wait()
        done.signal()  // so a later finish/stop does not block
    }
}

/// Writes one range response at its offset in the partial file (`pwrite` on the transfer thread).
/// `@unchecked Sendable`: used by one transfer thread at a time; read by the caller after the transfer.
final class RangeSink: HTTPBodySink, @unchecked Sendable {
    let fd: Int32
    let path: String
    let plan: RangedPlan
    let index: Int
    let offset: Int64
    let end: Int64  // exclusive, what was asked
    let validator: (etag: String?, lastModified: String?)?
    let onHead: @Sendable (HTTPResponseHead) -> Void
    var failure: (any Error & Sendable)?
    private var position: Int64

    init(
        fd: Int32, path: String, plan: RangedPlan, index: Int, offset: Int64, end: Int64,
        validator: (etag: String?, lastModified: String?)?, onHead: @escaping @Sendable (HTTPResponseHead) -> Void
    ) {
        self.fd = fd
        self.path = path
        self.plan = plan
        self.index = index
        self.offset = offset
        self.end = end
        self.validator = validator
        self.onHead = onHead
        position = offset
    }

    func begin(_ head: HTTPResponseHead) throws {
        guard head.status == 206 else {
            failure = RangesUnsupported()
            throw RangesUnsupported()
        }
        guard let range = head.contentRange, range.start == offset, range.end < end, range.end >= offset,
            range.total == nil || range.total == plan.size
        else {
            let error = RestartDownload(
                error: ModelError.io("ranged download", path: path, reason: "unexpected Content-Range"))
            failure = error
            throw error
        }
        if let validator, let etag = head.etag, let expected = validator.etag, etag != expected {
            let error = RestartDownload(
                error: ModelError.io("ranged download", path: path, reason: "the file changed on the server"))
            failure = error
            throw error
        }
        onHead(head)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if plan.hasFailed { throw CancellationError() }
        guard position + Int64(bytes.count) <= end else {
            let error = RestartDownload(
                error: ModelError.io("ranged download", path: path, reason: "a range response is longer than asked"))
            failure = error
            throw error
        }
        do { try FileIO.writeAll(fd, bytes, at: position, path: path) } catch {
            let wrapped = ModelError.file(error)
            failure = wrapped
            throw wrapped
        }
        position += Int64(bytes.count)
        plan.advance(index, by: Int64(bytes.count))
    }
}

/// The validators every range must match (the first range response's, or an earlier run's).
final class ValidatorBox: Sendable {
    typealias Value = (etag: String?, lastModified: String?)
    private let state: Mutex<Value?>
    init(_ value: Value?) { state = Mutex(value) }
    var value: Value? { state.withLock { $0 } }
    func setIfUnset(_ value: Value) { state.withLock { if $0 == nil { $0 = value } } }
}

/// Resolves once: the first range response's validators (or the probe's failure).
final class RangeGate: Sendable {
    enum Outcome: Sendable {
        case ready(etag: String?, lastModified: String?)
        case failed
    }
    private let state = Mutex<(Outcome?, [CheckedContinuation<Outcome, Never>])>((nil, []))

    func resolve(_ outcome: Outcome) {
        let waiters = state.withLock { s -> [CheckedContinuation<Outcome, Never>] in
            guard s.0 == nil else { return [] }
            s.0 = outcome
            defer { s.1 = [] }
            return s.1
        }
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    func wait() async -> Outcome {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { s -> Outcome? in
                if let outcome = s.0 { return outcome }
                s.1.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

extension ModelStore {
    /// Parallel ranged download of `url` into the partial file: `connections` connections take `rangeChunkSize`
    /// ranges in file order, each written at its offset as it arrives; one thread hashes the file in order as its
    /// gap-free prefix grows (every byte hashed once). The first range is a probe: a 200 answer means the server
    /// ignores Range (`RangesUnsupported`: the caller fetches one stream); its validators are then required of every
    /// other range (`If-Range`). A failed range is retried from where it stopped (`retryPolicy` per range); the
    /// progress of every range is kept in the `.partial.meta` file, so a later run fetches only what is missing.
    /// Returns the digest of the whole file (fsynced).
    func rangedAttempt(
        url: URL, partial: String, metaPath: String, size: Int64, sha256: String, connections: Int,
        progress: (@Sendable (FetchProgress) -> Void)?
    ) async throws -> String {
        let shown = Redaction.redactURL(url.absoluteString)
        let fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ModelError.io("open", path: partial, errno: errno) }
        defer { close(fd) }
        // Resume what an earlier ranged run of the same URL, size and chunking left (validators checked below).
        var meta = PartialMeta.read(metaPath)
        if let m = meta,
            m.url != url.absoluteString || m.rangedChunkSize != rangeChunkSize || m.size != size
                || (m.etag == nil && m.lastModified == nil)
        {
            meta = nil
        }
        if meta == nil {
            guard ftruncate(fd, 0) == 0 else { throw ModelError.io("truncate", path: partial, errno: errno) }
        }
        if downloadIO.preallocate {
            // Reserve the whole file (the ranges land anywhere in it); its size stays what was written.
            try SyncFileRange.reserve(fd, offset: 0, length: size, path: partial)
        }
        let plan = RangedPlan(size: size, chunkSize: rangeChunkSize, done: meta?.ranges ?? [:])
        let saved = meta
        let validators = ValidatorBox(saved.map { (etag: $0.etag, lastModified: $0.lastModified) })
        func saveMeta() {
            let v = validators.value
            guard let v, v.etag != nil || v.lastModified != nil else { return }
            var m = PartialMeta(url: url.absoluteString, etag: v.etag, lastModified: v.lastModified)
            m.size = size
            m.rangedChunkSize = rangeChunkSize
            m.ranges = plan.progressByStart
            try? m.write(metaPath)
        }
        let hasher = FrontierHasher(fd: fd, path: partial, plan: plan)
        var hasherFinished = false
        defer { if !hasherFinished { hasher.stop() } }
        let gate = RangeGate()
        if saved != nil { gate.resolve(.ready(etag: saved?.etag, lastModified: saved?.lastModified)) }
        let started = ContinuousClock.now
        let reporter = progress
        let resumedBytes = plan.bytesDone
        let report: @Sendable () -> Void = {
            guard let reporter else { return }
            let elapsed = max(ModelStore.seconds(ContinuousClock.now - started), 0.001)
            let done = plan.bytesDone
            reporter(
                FetchProgress(
                    sha256: sha256, source: shown, bytesDone: done, totalBytes: size,
                    bytesPerSecond: Double(done - resumedBytes) / elapsed))
        }
        let policy = retryPolicy
        let timeout = downloadAttemptTimeout
        let client = self.client

        /// Fetches chunk `index` to its end, retrying from where each try stopped.
        @Sendable func fetchChunk(_ index: Int) async throws {
            var attempt = 1
            while true {
                let chunk = plan.chunk(index)
                if chunk.complete { return }
                let from = chunk.start + chunk.done
                var request = HTTPRequest(url: url)
                request.timeout = timeout
                request.headers.add(name: "Range", value: "bytes=\(from)-\(chunk.end - 1)")
                let v = validators.value
                if let validator = v?.etag ?? v?.lastModified {
                    request.headers.add(name: "If-Range", value: validator)
                }
                let sink = RangeSink(
                    fd: fd, path: partial, plan: plan, index: index, offset: from, end: chunk.end, validator: v,
                    onHead: { head in
                        validators.setIfUnset((etag: head.etag, lastModified: head.lastModified))
                        gate.resolve(.ready(etag: head.etag, lastModified: head.lastModified))
                    })
                do {
                    _ = try await client.stream(request, to: sink, progress: { _ in report() })
                    // A shorter answer than asked (a server may send less): ask again for the rest.
                    if plan.chunk(index).complete { return }
                    throw ModelError.io("ranged download", path: shown, reason: "a range ended early")
                } catch {
                    if let failure = sink.failure,
                        failure is RangesUnsupported || failure is RestartDownload
                            || (failure as? ModelError)?.isNoSpace == true
                    {
                        throw failure
                    }
                    if Task.isCancelled || plan.hasFailed { throw CancellationError() }
                    // A full disk stays full: no retry.
                    let retryable =
                        (error as? HTTPError)?.isRetryable ?? (error as? ModelError).map { !$0.isNoSpace } ?? false
                    guard retryable, attempt < policy.maxAttempts else { throw error }
                    let wait = policy.delay(beforeRetry: attempt, retryAfter: (error as? HTTPError)?.retryAfter)
                    logger.debug(
                        "range retry",
                        metadata: ["url": "\(shown)", "range": "\(from)-\(chunk.end - 1)", "error": "\(error)"])
                    try await Task.sleep(for: wait)
                    attempt += 1
                }
            }
        }

        do {
            // The connections of the whole ranged transfer, from the store's budget (given back before the fsync).
            try await withConnections(connections) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    guard let first = plan.take() else { return }
                    group.addTask {
                        do { try await fetchChunk(first) } catch {
                            gate.resolve(.failed)
                            throw error
                        }
                        while let next = plan.take() { try await fetchChunk(next) }
                    }
                    for _ in 1..<max(1, connections) {
                        group.addTask {
                            guard case .ready = await gate.wait() else { return }
                            while let next = plan.take() { try await fetchChunk(next) }
                        }
                    }
                    do { try await group.waitForAll() } catch {
                        plan.fail()
                        group.cancelAll()
                        while (try? await group.next()) != nil {}
                        throw error
                    }
                }
            }
        } catch {
            saveMeta()
            if error is RestartDownload || error is RangesUnsupported { throw error }
            if Task.isCancelled { throw ModelError.cancelled("fetching \(sha256)") }
            throw error
        }
        saveMeta()
        guard plan.isComplete else {
            throw ModelError.io("ranged download", path: shown, reason: "ranges missing after the transfer")
        }
        let digest = try hasher.finish()
        hasherFinished = true
        guard fsync(fd) == 0 else { throw ModelError.io("fsync", path: partial, errno: errno) }
        logger.info(
            "ranged download",
            metadata: [
                "sha256": "\(sha256)", "connections": "\(connections)", "bytes": "\(size - resumedBytes)",
                "seconds": "\(ModelStore.seconds(ContinuousClock.now - started))",
                "hash_busy_s": "\(hasher.busySeconds)",
            ])
        return digest
    }
}
