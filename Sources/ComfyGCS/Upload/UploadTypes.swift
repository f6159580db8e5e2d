import Foundation

/// How to upload one file.
public struct UploadOptions: Sendable {
    /// The granularity GCS requires for resumable chunks (all but the last).
    public static let chunkGranularity = 256 * 1024

    /// Content type; `nil` guesses from the file extension (else `application/octet-stream`).
    public var contentType: String?
    /// `ifGenerationMatch` precondition: `0` means create-only (fail if the object exists).
    public var ifGenerationMatch: Int64?
    /// Files up to this size go in one simple media upload; larger ones use a resumable session.
    public var resumableThreshold: Int64
    /// Bytes per resumable chunk; a positive multiple of 256 KiB (default 100 MiB, as Google's Python client).
    /// Chunks are streamed from the file, so a large chunk costs no memory.
    public var chunkSize: Int
    /// How many times a resumable upload may start a new session after the old one expired (404/410).
    public var maximumSessionRestarts: Int
    /// When set, the result carries a V4 signed GET URL valid this many seconds (needs a service-account key).
    public var signedURLExpiration: Int?

    /// Creates options.
    public init(
        contentType: String? = nil, ifGenerationMatch: Int64? = nil, resumableThreshold: Int64 = 8 * 1024 * 1024,
        chunkSize: Int = 100 * 1024 * 1024, maximumSessionRestarts: Int = 3, signedURLExpiration: Int? = nil
    ) {
        self.contentType = contentType
        self.ifGenerationMatch = ifGenerationMatch
        self.resumableThreshold = resumableThreshold
        self.chunkSize = chunkSize
        self.maximumSessionRestarts = maximumSessionRestarts
        self.signedURLExpiration = signedURLExpiration
    }

    func validate() throws {
        var problems: [String] = []
        if chunkSize <= 0 || chunkSize % Self.chunkGranularity != 0 {
            problems.append("chunk size \(chunkSize) is not a positive multiple of 256 KiB (262144 bytes)")
        }
        if resumableThreshold < 0 { problems.append("resumable threshold \(resumableThreshold) is negative") }
        if let generation = ifGenerationMatch, generation < 0 {
            problems.append("ifGenerationMatch \(generation) is negative")
        }
        if let expiration = signedURLExpiration,
            expiration < 1 || expiration > SignedURLRequest.maximumExpiration
        {
            problems.append("signed URL expiry \(expiration) s is outside 1...604800 seconds (7 days)")
        }
        if !problems.isEmpty { throw GCSError.configuration(problems) }
    }
}

/// Progress of one upload: bytes the server has confirmed or that are in flight.
public struct UploadProgress: Sendable {
    /// Bytes sent so far (may go back after a failed chunk is resent).
    public var bytesSent: Int64
    /// File size.
    public var totalBytes: Int64
}

/// A finished, verified upload.
public struct UploadResult: Codable, Sendable, Hashable {
    /// `gs://bucket/object`.
    public var uri: String
    /// Bucket.
    public var bucket: String
    /// Object name.
    public var object: String
    /// Size in bytes (checked against the server's).
    public var size: Int64
    /// CRC32C, base64 of the big-endian value as GCS shows it (checked against the server's).
    public var crc32c: String
    /// MD5, base64 as GCS shows it (checked against the server's when it reports one).
    public var md5: String
    /// The object's generation.
    public var generation: String?
    /// Content type sent.
    public var contentType: String
    /// `"simple"` or `"resumable"`.
    public var method: String
    /// A V4 signed GET URL, when asked for.
    public var signedURL: String?
    /// When the signed URL expires (ISO 8601), when there is one.
    public var signedURLExpires: String?
}

/// Content types for common output files.
enum ContentTypes {
    static func guess(path: String) -> String {
        switch (path as NSString).pathExtension.lowercased() {
        case "png": "image/png"
        case "jpg", "jpeg": "image/jpeg"
        case "webp": "image/webp"
        case "gif": "image/gif"
        case "mp4": "video/mp4"
        case "webm": "video/webm"
        case "wav": "audio/wav"
        case "mp3": "audio/mpeg"
        case "flac": "audio/flac"
        case "json": "application/json"
        case "txt", "log": "text/plain; charset=utf-8"
        case "safetensors", "ckpt", "bin": "application/octet-stream"
        default: "application/octet-stream"
        }
    }
}
