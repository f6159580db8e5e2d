internal import COpenSSL

/// Streaming MD5 over OpenSSL's EVP interface — for integrity fields that require it (GCS's `md5Hash`), never for
/// security (hence the name).
///
/// Not thread-safe: one hasher belongs to one task at a time.
public struct InsecureMD5: ~Copyable {
    private let context: OpaquePointer

    /// Starts an empty hash.
    public init() {
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        guard EVP_DigestInit_ex(ctx, EVP_md5(), nil) == 1 else { fatalError("EVP_DigestInit_ex(md5) failed") }
        context = ctx
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds bytes to the hash.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        _ = EVP_DigestUpdate(context, base, buffer.count)
    }

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// Finishes the hash and returns the 16 digest bytes.
    public consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        var length: UInt32 = 0
        _ = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return out
    }

    /// The MD5 of bytes held in memory.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var md5 = InsecureMD5()
        md5.update(bytes)
        return md5.finalize()
    }
}
