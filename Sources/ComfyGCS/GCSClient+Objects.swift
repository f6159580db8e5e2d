import ComfySupport
import ComfyTransport
public import Foundation

/// What the server records of one object (the `storage#object` resource fields ComfyLock checks).
public struct GCSObjectMetadata: Sendable, Hashable {
    /// The object name.
    public var name: String
    /// Size in bytes.
    public var size: Int64
    /// Base64 CRC32C as GCS reports it.
    public var crc32c: String?
    /// Base64 MD5 (absent for composite objects).
    public var md5Hash: String?
    /// The generation.
    public var generation: String?
    /// The content type.
    public var contentType: String?

    /// Metadata.
    public init(
        name: String, size: Int64, crc32c: String?, md5Hash: String?, generation: String?, contentType: String?
    ) {
        self.name = name
        self.size = size
        self.crc32c = crc32c
        self.md5Hash = md5Hash
        self.generation = generation
        self.contentType = contentType
    }
}

extension GCSClient {
    /// The metadata of `object`, or `nil` when it does not exist (404). Retried like every idempotent read.
    public func objectMetadata(_ object: String) async throws -> GCSObjectMetadata? {
        try ObjectNaming.validate(object)
        let url = objectURL(object)
        let response = try await execute(
            try GCSTransport.request(.get, url, timeout: .seconds(60)), idempotency: .idempotent)
        if response.status == 404 { return nil }
        guard response.status == 200, let json = response.jsonObject else {
            throw httpError("reading the metadata of \(uri(of: object))", response, url: url)
        }
        let size = (json["size"] as? String).flatMap { Int64($0) } ?? (json["size"] as? NSNumber)?.int64Value
        let generation = (json["generation"] as? String) ?? (json["generation"] as? NSNumber)?.stringValue
        return GCSObjectMetadata(
            name: json["name"] as? String ?? object, size: size ?? -1, crc32c: json["crc32c"] as? String,
            md5Hash: json["md5Hash"] as? String, generation: generation, contentType: json["contentType"] as? String)
    }

    /// The bytes of `object` (at most `maxBytes`; a larger object is an error), or `nil` when it does not exist.
    public func readObject(_ object: String, maxBytes: Int = 1 << 20) async throws -> [UInt8]? {
        try ObjectNaming.validate(object)
        let url = objectURL(object) + "?alt=media"
        let response = try await execute(
            try GCSTransport.request(.get, url, timeout: .seconds(60)), idempotency: .idempotent)
        if response.status == 404 { return nil }
        guard response.status == 200 else {
            throw httpError("reading \(uri(of: object))", response, url: url)
        }
        guard response.body.count <= maxBytes else {
            throw GCSError(.configuration, "\(uri(of: object)) is larger than \(maxBytes) bytes")
        }
        return response.body
    }
}
