import Logging
import ComfySupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The local file's size and checksums, computed in one streaming pass.
struct FileChecksums: Sendable {
    var size: Int64
    var crc32c: String
    var md5: String

    /// The size of the regular file at `path`.
    static func size(path: String) throws -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw GCSError.file(path, String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw GCSError.file(path, "it is not a regular file") }
        return Int64(info.st_size)
    }

    /// `compute(path:)` on the shared blocking pool (blocking reads stay off the cooperative pool), so hashing can
    /// overlap with sending.
    static func computeOffPool(path: String) async throws -> FileChecksums {
        try await BlockingPool.shared.run { try compute(path: path) }
    }

    static func compute(path: String) throws -> FileChecksums {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GCSError.file(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw GCSError.file(path, String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw GCSError.file(path, "it is not a regular file") }
        var crc = CRC32C()
        var md5 = MD5()
        let bufferSize = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 64)
        defer { buffer.deallocate() }
        var total: Int64 = 0
        while true {
            let n = read(fd, buffer.baseAddress, bufferSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw GCSError.file(path, String(cString: strerror(errno)))
            }
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            crc.update(chunk)
            md5.update(chunk)
            total += Int64(n)
        }
        return FileChecksums(size: total, crc32c: crc.base64, md5: Base64.encode(md5.finalize()))
    }
}

extension GCSClient {
    /// Uploads the file at `path` as `object`, verifying size, CRC32C and MD5 against the server's answer.
    ///
    /// Small files go in one media upload (retried on transient failures only with a precondition, per Google's
    /// guidance); larger ones in a resumable session, chunk by chunk, recovering from failures by asking the server
    /// how much it holds and resuming there (a new session after 404/410). A checksum mismatch throws
    /// `.integrityMismatch` and the corrupt generation is deleted (best effort).
    public func upload(
        file path: String, as object: String, options: UploadOptions = UploadOptions(),
        progress: (@Sendable (UploadProgress) -> Void)? = nil
    ) async throws -> UploadResult {
        try options.validate()
        try ObjectNaming.validate(object)
        logger.info("upload", metadata: ["file": "\(path)", "object": "\(uri(of: object))"])
        if options.signedURLExpiration != nil { _ = try signingKey() }
        let size = try FileChecksums.size(path: path)
        let contentType = options.contentType ?? ContentTypes.guess(path: path)
        let resource: [String: Any]
        let method: String
        let local: FileChecksums
        // Empty files also go through a session (finalized by `Content-Range: bytes */0`): some servers, like the
        // emulator, cannot take an empty media upload.
        if size > 0 && size <= options.resumableThreshold {
            method = "simple"
            local = try await FileChecksums.computeOffPool(path: path)
            resource = try await simpleUpload(
                path: path, object: object, local: local, contentType: contentType, options: options, progress: progress)
        } else {
            method = "resumable"
            // Hash while the first chunks travel; the last chunk waits for the checksums (it carries X-Goog-Hash).
            let checksums = Task { try await FileChecksums.computeOffPool(path: path) }
            do {
                resource = try await resumableUpload(
                    path: path, object: object, size: size, checksums: checksums, contentType: contentType,
                    options: options, progress: progress)
            } catch {
                checksums.cancel()
                throw error
            }
            local = try await checksums.value
        }
        let generation = try await verify(resource, object: object, local: local)
        var result = UploadResult(
            uri: uri(of: object), bucket: bucket, object: object, size: local.size, crc32c: local.crc32c, md5: local.md5,
            generation: generation, contentType: contentType, method: method)
        if let expiration = options.signedURLExpiration {
            let signed = try signedURL(for: object, expiration: expiration)
            result.signedURL = signed.url
            result.signedURLExpires = ISO8601DateFormatter().string(from: signed.expiresAt)
        }
        return result
    }

    // MARK: simple

    func uploadQuery(object: String, type: String, options: UploadOptions) -> String {
        var url = "\(endpoint)/upload/storage/v1/b/\(bucket.gcsQueryEncoded)/o?uploadType=\(type)"
            + "&name=\(object.gcsQueryEncoded)"
        if let generation = options.ifGenerationMatch { url += "&ifGenerationMatch=\(generation)" }
        return url
    }

    func simpleUpload(
        path: String, object: String, local: FileChecksums, contentType: String, options: UploadOptions,
        progress: (@Sendable (UploadProgress) -> Void)?
    ) async throws -> [String: Any] {
        let url = uploadQuery(object: object, type: "media", options: options)
        let request = GCSHTTPRequest(
            method: "POST", url: url,
            headers: [
                ("Content-Type", contentType), ("X-Goog-Hash", "crc32c=\(local.crc32c),md5=\(local.md5)"),
            ],
            body: local.size == 0 ? .bytes([]) : .fileRegion(path: path, offset: 0, length: local.size), timeout: 300)
        let total = local.size
        let byteProgress: (@Sendable (Int64) -> Void)? = progress.map { report in
            { @Sendable sent in report(UploadProgress(bytesSent: sent, totalBytes: total)) }
        }
        let response = try await execute(
            request, idempotency: .conditional(hasPrecondition: options.ifGenerationMatch != nil),
            progress: byteProgress)
        if response.status == 412 { throw GCSError.preconditionFailed(object: uri(of: object)) }
        guard response.status == 200 || response.status == 201, let json = response.jsonObject else {
            throw httpError("upload of \(path) to \(uri(of: object))", response, url: url)
        }
        progress?(UploadProgress(bytesSent: total, totalBytes: total))
        return json
    }

    // MARK: resumable

    /// Starts a resumable session and returns its URI.
    func startSession(object: String, size: Int64, contentType: String, options: UploadOptions) async throws
        -> String
    {
        let url = uploadQuery(object: object, type: "resumable", options: options)
        let metadata: [String: Any] = ["name": object, "contentType": contentType]
        let body = try JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys])
        let request = GCSHTTPRequest(
            method: "POST", url: url,
            headers: [
                ("Content-Type", "application/json; charset=UTF-8"), ("X-Upload-Content-Type", contentType),
                ("X-Upload-Content-Length", String(size)),
            ], body: .bytes([UInt8](body)), timeout: 60)
        // Creating a session stores nothing yet: safe to repeat.
        let response = try await execute(request, idempotency: .idempotent)
        if response.status == 412 { throw GCSError.preconditionFailed(object: uri(of: object)) }
        guard response.status == 200 || response.status == 201, let location = response.header("Location"),
            !location.isEmpty
        else {
            if response.status == 200 || response.status == 201 {
                throw GCSError.http(
                    "starting a resumable upload of \(uri(of: object))", status: response.status, url: url,
                    detail: "no Location header in the answer")
            }
            throw httpError("starting a resumable upload of \(uri(of: object))", response, url: url)
        }
        return location
    }

    /// What the session holds after a chunk or a status query.
    enum SessionState {
        case incomplete(persisted: Int64)
        case complete([String: Any])
        case expired
    }

    func interpretSessionResponse(_ response: GCSHTTPResponse, object: String, session: String, total: Int64) throws
        -> SessionState?
    {
        switch response.status {
        case 200, 201:
            guard let json = response.jsonObject else {
                throw GCSError.http(
                    "finishing the upload of \(uri(of: object))", status: response.status, url: Redaction.redactURL(session),
                    detail: "the answer is not an object resource")
            }
            return .complete(json)
        case 308:
            // "Range: bytes=0-N" → N+1 bytes persisted; no Range → nothing persisted.
            guard let range = response.header("Range") else { return .incomplete(persisted: 0) }
            let spec = range.trimmingCharacters(in: .whitespaces)
            guard spec.hasPrefix("bytes="), let dash = spec.firstIndex(of: "-"),
                let end = Int64(spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces))
            else {
                throw GCSError.http(
                    "resumable upload of \(uri(of: object))", status: 308, url: Redaction.redactURL(session),
                    detail: "unreadable Range header \"\(range.debugEscaped)\"")
            }
            let persisted = end + 1
            guard persisted <= total else {
                throw GCSError.http(
                    "resumable upload of \(uri(of: object))", status: 308, url: Redaction.redactURL(session),
                    detail: "the server claims \(persisted) bytes of a \(total)-byte file")
            }
            return .incomplete(persisted: persisted)
        case 404, 410:
            return .expired
        case 412:
            throw GCSError.preconditionFailed(object: uri(of: object))
        default:
            return nil
        }
    }

    func resumableUpload(
        path: String, object: String, size: Int64, checksums: Task<FileChecksums, any Error>, contentType: String,
        options: UploadOptions, progress: (@Sendable (UploadProgress) -> Void)?
    ) async throws -> [String: Any] {
        let total = size
        var restarts = 0
        var session = try await startSession(object: object, size: size, contentType: contentType, options: options)
        var offset: Int64 = 0
        // Retry budget: reset whenever the server confirms progress.
        var attempt = 1
        var stallStarted = monotonicSeconds()
        var lastError: GCSError?

        func restart() async throws {
            restarts += 1
            guard restarts <= options.maximumSessionRestarts else {
                throw GCSError.http(
                    "resumable upload of \(path) to \(uri(of: object))", status: 410, url: Redaction.redactURL(session),
                    detail: "the upload session expired \(restarts) times; giving up")
            }
            session = try await startSession(object: object, size: size, contentType: contentType, options: options)
            offset = 0
            attempt = 1
            stallStarted = monotonicSeconds()
        }

        /// After a failure: wait, then ask the server what it holds. Returns a finished resource, if any.
        func recover(after error: GCSError) async throws -> [String: Any]? {
            lastError = error
            while true {
                guard
                    let delay = retryPolicy.retryDelay(
                        after: error, attempt: attempt, elapsed: monotonicSeconds() - stallStarted,
                        idempotency: .idempotent)
                else { throw lastError ?? error }
                try await sleepSeconds(delay)
                attempt += 1
                let query = GCSHTTPRequest(
                    method: "PUT", url: session, headers: [("Content-Range", "bytes */\(total)")], body: .bytes([]),
                    timeout: 60)
                let response: GCSHTTPResponse
                do {
                    response = try await execute(query, idempotency: .idempotent)
                } catch let queryError as GCSError where queryError.isTransient {
                    lastError = queryError
                    continue
                }
                switch try interpretSessionResponse(response, object: object, session: session, total: total) {
                case .complete(let json): return json
                case .incomplete(let persisted):
                    if persisted > offset { attempt = 1; stallStarted = monotonicSeconds() }
                    offset = persisted
                    return nil
                case .expired:
                    try await restart()
                    return nil
                case nil:
                    let failure = httpError("status query of the upload of \(uri(of: object))", response, url: Redaction.redactURL(session))
                    if failure.isTransient { lastError = failure; continue }
                    throw failure
                }
            }
        }

        while true {
            try Task.checkCancellation()
            let length = min(Int64(options.chunkSize), total - offset)
            let isLast = offset + length == total
            var headers = [("Content-Range", length > 0 ? "bytes \(offset)-\(offset + length - 1)/\(total)" : "bytes */\(total)")]
            if isLast {
                let local = try await checksums.value
                guard local.size == total else {
                    throw GCSError.file(path, "it changed size during the upload (\(total) → \(local.size) bytes)")
                }
                headers.append(("X-Goog-Hash", "crc32c=\(local.crc32c),md5=\(local.md5)"))
            }
            let chunkStart = offset
            let request = GCSHTTPRequest(
                method: "PUT", url: session, headers: headers,
                body: length == 0 ? .bytes([]) : .fileRegion(path: path, offset: offset, length: length), timeout: nil)
            let byteProgress: (@Sendable (Int64) -> Void)? = progress.map { report in
                { @Sendable sent in report(UploadProgress(bytesSent: chunkStart + sent, totalBytes: total)) }
            }
            let response: GCSHTTPResponse
            do {
                // One attempt per chunk here; recovery below queries the session instead of blindly resending.
                let authorized = try await authorize(request)
                response = try await transport.send(authorized, progress: byteProgress)
            } catch let error as GCSError where error.kind == .transport {
                if let done = try await recover(after: error) { return done }
                continue
            }
            if response.status == 401, let tokens, let token = try await accessToken() {
                await tokens.invalidate(token)
                if let done = try await recover(after: httpError("chunk upload", response, url: Redaction.redactURL(session)).asTransient) {
                    return done
                }
                continue
            }
            switch try interpretSessionResponse(response, object: object, session: session, total: total) {
            case .complete(let json):
                progress?(UploadProgress(bytesSent: total, totalBytes: total))
                return json
            case .incomplete(let persisted):
                if persisted > offset {
                    attempt = 1
                    stallStarted = monotonicSeconds()
                    offset = persisted
                    progress?(UploadProgress(bytesSent: persisted, totalBytes: total))
                } else {
                    // No progress although the chunk was accepted: treat as a transient failure.
                    let error = GCSError(
                        .http, "the server stored no bytes of the chunk at offset \(offset)", status: 308,
                        transient: true)
                    if let done = try await recover(after: error) { return done }
                }
            case .expired:
                try await restart()
            case nil:
                let error = httpError(
                    "chunk upload of \(path) to \(uri(of: object)) at offset \(offset)", response,
                    url: Redaction.redactURL(session))
                guard error.isTransient else { throw error }
                if let done = try await recover(after: error) { return done }
            }
        }
    }

    /// `request` with the current bearer token (none for the emulator).
    func authorize(_ request: GCSHTTPRequest) async throws -> GCSHTTPRequest {
        var authorized = request
        if let token = try await accessToken() {
            authorized.headers.append(("Authorization", "Bearer \(token.value)"))
        }
        return authorized
    }

    // MARK: verification

    /// Compares the server's object resource with the local file; returns the generation.
    func verify(_ resource: [String: Any], object: String, local: FileChecksums) async throws -> String? {
        let generation = (resource["generation"] as? String) ?? (resource["generation"] as? NSNumber)?.stringValue
        let serverSize = (resource["size"] as? String).flatMap { Int64($0) } ?? (resource["size"] as? NSNumber)?.int64Value
        var failure: GCSError?
        if let name = resource["name"] as? String, name != object {
            failure = GCSError.integrity(object: uri(of: object), field: "object name", expected: object, actual: name)
        } else if serverSize != local.size {
            failure = GCSError.integrity(
                object: uri(of: object), field: "size", expected: String(local.size),
                actual: serverSize.map(String.init) ?? "missing")
        } else if let crc = resource["crc32c"] as? String, crc != local.crc32c {
            failure = GCSError.integrity(object: uri(of: object), field: "crc32c", expected: local.crc32c, actual: crc)
        } else if resource["crc32c"] == nil {
            failure = GCSError.integrity(
                object: uri(of: object), field: "crc32c", expected: local.crc32c, actual: "missing")
        } else if let md5 = resource["md5Hash"] as? String, md5 != local.md5 {
            failure = GCSError.integrity(object: uri(of: object), field: "md5Hash", expected: local.md5, actual: md5)
        }
        guard let failure else { return generation }
        if let generation { await deleteQuietly(object: object, generation: generation) }
        throw failure
    }

    /// Deletes one generation of an object, ignoring failures (used to remove a corrupt upload).
    func deleteQuietly(object: String, generation: String) async {
        let url = objectURL(object) + "?generation=\(generation)&ifGenerationMatch=\(generation)"
        _ = try? await execute(GCSHTTPRequest(method: "DELETE", url: url, timeout: 30), idempotency: .idempotent)
    }
}

extension GCSError {
    var asTransient: GCSError {
        GCSError(kind, message, status: status, underlying: underlying, transient: true)
    }
}
