import ComfyCrypto
import ComfySupport
import ComfyTransport
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
        var md5 = InsecureMD5()
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
        return FileChecksums(size: total, crc32c: crc.base64, md5: Data(md5.finalize()).base64EncodedString())
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
                path: path, object: object, local: local, contentType: contentType, options: options, progress: progress
            )
        } else {
            method = "resumable"
            // Hash while the first chunks travel; the last chunk waits for the checksums (it carries X-Goog-Hash).
            let checksums = Task { try await FileChecksums.computeOffPool(path: path) }
            do {
                resource = try await ResumableUpload(
                    client: self, path: path, object: object, size: size, checksums: checksums,
                    contentType: contentType, options: options, progress: progress
                ).run()
            } catch {
                checksums.cancel()
                throw error
            }
            local = try await checksums.value
        }
        let generation = try await verify(resource, object: object, local: local)
        var result = UploadResult(
            uri: uri(of: object), bucket: bucket, object: object, size: local.size, crc32c: local.crc32c,
            md5: local.md5,
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
        var url =
            "\(endpoint)/upload/storage/v1/b/\(bucket.gcsQueryEncoded)/o?uploadType=\(type)"
            + "&name=\(object.gcsQueryEncoded)"
        if let generation = options.ifGenerationMatch { url += "&ifGenerationMatch=\(generation)" }
        return url
    }

    func simpleUpload(
        path: String, object: String, local: FileChecksums, contentType: String, options: UploadOptions,
        progress: (@Sendable (UploadProgress) -> Void)?
    ) async throws -> [String: Any] {
        let url = uploadQuery(object: object, type: "media", options: options)
        let request = try GCSTransport.request(
            .post, url,
            headers: ["Content-Type": contentType, "X-Goog-Hash": "crc32c=\(local.crc32c),md5=\(local.md5)"],
            body: local.size == 0 ? .bytes([]) : .fileRegion(path: path, offset: 0, length: local.size),
            timeout: .seconds(300))
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
    func startSession(
        object: String, size: Int64, contentType: String, options: UploadOptions
    ) async throws
        -> String
    {
        let url = uploadQuery(object: object, type: "resumable", options: options)
        let metadata: [String: Any] = ["name": object, "contentType": contentType]
        let body = try JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys])
        let request = try GCSTransport.request(
            .post, url,
            headers: [
                "Content-Type": "application/json; charset=UTF-8", "X-Upload-Content-Type": contentType,
                "X-Upload-Content-Length": String(size),
            ], body: .bytes([UInt8](body)), timeout: .seconds(60))
        // Creating a session stores nothing yet: safe to repeat.
        let response = try await execute(request, idempotency: .idempotent)
        if response.status == 412 { throw GCSError.preconditionFailed(object: uri(of: object)) }
        guard response.status == 200 || response.status == 201, let location = response.headers["Location"],
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

    // MARK: verification

    /// Compares the server's object resource with the local file; returns the generation.
    func verify(_ resource: [String: Any], object: String, local: FileChecksums) async throws -> String? {
        let generation = (resource["generation"] as? String) ?? (resource["generation"] as? NSNumber)?.stringValue
        let serverSize =
            (resource["size"] as? String).flatMap { Int64($0) } ?? (resource["size"] as? NSNumber)?.int64Value
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
        guard let request = try? GCSTransport.request(.delete, url, timeout: .seconds(30)) else { return }
        _ = try? await execute(request, idempotency: .idempotent)
    }
}
