internal import COpenSSL
import Foundation

/// An RSA private key (PEM, PKCS#8 or PKCS#1) used for RS256 JWTs and GOOG4-RSA-SHA256 signatures.
/// Its description never shows key material.
public final class RSAPrivateKey: Sendable, CustomStringConvertible {
    // @unchecked-free: EVP_PKEY is immutable after loading and OpenSSL 3 allows concurrent signing with
    // separate EVP_MD_CTXs, so sharing the pointer across threads is safe.
    private nonisolated(unsafe) let key: OpaquePointer

    /// Loads a PEM private key; throws a `CryptoError` (`isKeyError`) (without the key text) when it is not an RSA private key.
    public init(pem: String) throws {
        let bytes = Array(pem.utf8)
        let loaded: OpaquePointer? = bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let loaded else { throw CryptoError.key("the private key is not a PEM private key") }
        guard EVP_PKEY_get_base_id(loaded) == EVP_PKEY_RSA else {
            EVP_PKEY_free(loaded)
            throw CryptoError.key("the private key is not an RSA key (RS256 needs RSA)")
        }
        key = loaded
    }

    deinit { EVP_PKEY_free(key) }

    /// Signs `message` with RSASSA-PKCS1-v1_5 over SHA-256 (RS256 / GOOG4-RSA-SHA256).
    public func signSHA256(_ message: [UInt8]) throws -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw CryptoError.signing("out of memory creating a signing context") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, key) == 1 else {
            ERR_clear_error()
            throw CryptoError.signing("EVP_DigestSignInit failed for the RSA key")
        }
        var length = 0
        let ok1 = message.withUnsafeBufferPointer { EVP_DigestSign(ctx, nil, &length, $0.baseAddress, $0.count) }
        guard ok1 == 1 else {
            ERR_clear_error()
            throw CryptoError.signing("RSA signing failed (size query)")
        }
        var signature = [UInt8](repeating: 0, count: length)
        let ok2 = signature.withUnsafeMutableBufferPointer { out in
            message.withUnsafeBufferPointer { EVP_DigestSign(ctx, out.baseAddress, &length, $0.baseAddress, $0.count) }
        }
        guard ok2 == 1 else {
            ERR_clear_error()
            throw CryptoError.signing("RSA signing failed")
        }
        return Array(signature.prefix(length))
    }

    /// The matching public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block.
    public func publicKeyPEM() throws -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw CryptoError.key("out of memory") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PUBKEY(bio, key) == 1 else { throw CryptoError.key("cannot export the public key") }
        var pointer: UnsafeMutablePointer<CChar>? = nil
        let length = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &pointer)
        guard let pointer, length > 0 else { throw CryptoError.key("cannot export the public key") }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: Int(length)), as: UTF8.self)
    }

    /// Never shows key material.
    public var description: String { "RSAPrivateKey(<redacted>)" }
}

/// An RSA public key (PEM `PUBLIC KEY`) that verifies RS256 signatures.
public final class RSAPublicKey: Sendable {
    // Immutable after loading; verification uses a fresh context per call (see RSAPrivateKey).
    private nonisolated(unsafe) let key: OpaquePointer

    /// Loads a PEM public key.
    public init(pem: String) throws {
        let bytes = Array(pem.utf8)
        let loaded: OpaquePointer? = bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let loaded else { throw CryptoError.key("not a PEM public key") }
        key = loaded
    }

    deinit { EVP_PKEY_free(key) }

    /// True when `signature` is a valid RSASSA-PKCS1-v1_5 SHA-256 signature of `message`.
    public func verifySHA256(signature: [UInt8], message: [UInt8]) -> Bool {
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, key) == 1 else {
            ERR_clear_error()
            return false
        }
        let result = signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer {
                EVP_DigestVerify(ctx, sig.baseAddress, sig.count, $0.baseAddress, $0.count)
            }
        }
        ERR_clear_error()
        return result == 1
    }
}
