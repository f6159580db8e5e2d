internal import COpenSSL

/// HMAC-SHA256 (RFC 2104) over OpenSSL's EVP interface (an `EVP_PKEY_HMAC` key with `EVP_DigestSign`).
public enum HMACSHA256 {
    /// The 32-byte MAC of `message` under `key` (any length; an empty key is allowed, as RFC 2104 allows it).
    public static func authenticationCode(for message: [UInt8], key: [UInt8]) -> [UInt8] {
        let pkey: OpaquePointer? = key.withUnsafeBufferPointer { buffer in
            // A zero-length key still needs a non-null pointer.
            var empty: UInt8 = 0
            if buffer.isEmpty {
                return EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, nil, &empty, 0)
            }
            return EVP_PKEY_new_raw_private_key(EVP_PKEY_HMAC, nil, buffer.baseAddress, buffer.count)
        }
        guard let pkey else { fatalError("EVP_PKEY_new_raw_private_key(HMAC) failed: out of memory") }
        defer { EVP_PKEY_free(pkey) }
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, pkey) == 1 else {
            fatalError("EVP_DigestSignInit(HMAC-SHA256) failed")
        }
        var out = [UInt8](repeating: 0, count: 32)
        var length = out.count
        let status = message.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                EVP_DigestSign(context, output.baseAddress, &length, input.baseAddress, input.count)
            }
        }
        guard status == 1, length == 32 else { fatalError("EVP_DigestSign(HMAC-SHA256) failed") }
        return out
    }

    /// Compares two MACs in time independent of where they differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
