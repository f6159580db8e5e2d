internal import COpenSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Errors of the signing primitives and the minisign formats.
public struct SigningError: Error, Sendable, CustomStringConvertible, Equatable {
    private enum Code: Sendable, Hashable {
        case crypto
        case format
        case encryptedKey
        case wrongPassword
        case keyMismatch
    }

    private let code: Code
    /// A one-line explanation (never contains key material).
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// OpenSSL refused an operation (out of memory, a broken library); `what` names the call.
    public static func crypto(_ what: String) -> SigningError { SigningError(.crypto, "OpenSSL: \(what) failed") }

    /// A key or signature file does not have the expected format.
    public static func format(_ detail: String) -> SigningError { SigningError(.format, detail) }

    /// A password-protected (scrypt) minisign secret key was read without a password.
    public static func encryptedKey() -> SigningError {
        SigningError(
            .encryptedKey, "the secret key is password-protected (minisign scrypt encryption): a password is needed")
    }

    /// The password does not decrypt the secret key (its BLAKE2b checksum does not match).
    public static func wrongPassword() -> SigningError {
        SigningError(.wrongPassword, "wrong password for the secret key (its checksum does not match after decryption)")
    }

    /// The public key stored inside a secret key does not belong to its private half.
    public static func keyMismatch() -> SigningError {
        SigningError(.keyMismatch, "the secret key is corrupt: its public half does not match its private half")
    }

    /// True for `encryptedKey()`.
    public var isEncryptedKey: Bool { code == .encryptedKey }

    /// True for `wrongPassword()`.
    public var isWrongPassword: Bool { code == .wrongPassword }

    /// The message.
    public var description: String { message }
}

/// Cryptographically secure random bytes (OpenSSL `RAND_bytes`).
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) throws(SigningError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        guard ok == 1 else { throw SigningError.crypto("RAND_bytes") }
        return out
    }
}

/// An Ed25519 public key (32 bytes, RFC 8032), verified through OpenSSL EVP.
public struct Ed25519PublicKey: Hashable, Sendable {
    /// The 32 raw key bytes.
    public let bytes: [UInt8]

    /// Wraps 32 raw key bytes; `nil` for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// True when `signature` (64 bytes) is a valid Ed25519 signature of `message` by this key.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 64 else { return false }
        guard
            let key = bytes.withUnsafeBufferPointer({
                EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32)
            })
        else { return false }
        defer { EVP_PKEY_free(key) }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestVerifyInit(ctx, nil, nil, nil, key) == 1 else { return false }
        let result = signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                // A non-nil pointer even for an empty message.
                EVP_DigestVerify(ctx, sig.baseAddress, 64, msg.baseAddress ?? sig.baseAddress, msg.count)
            }
        }
        return result == 1
    }
}

/// An Ed25519 private key (its 32-byte seed, RFC 8032), signing through OpenSSL EVP. The seed never leaves this
/// value except through `seed` for writing a key file.
public struct Ed25519PrivateKey: Sendable {
    /// The 32-byte seed (the private key proper). Handle with care: write it only to a 0600 file.
    public let seed: [UInt8]
    /// The matching public key.
    public let publicKey: Ed25519PublicKey

    /// A key from a 32-byte seed.
    public init(seed: [UInt8]) throws(SigningError) {
        guard seed.count == 32 else { throw SigningError.format("an Ed25519 seed has 32 bytes, found \(seed.count)") }
        self.seed = seed
        let key = try Self.pkey(seed)
        defer { EVP_PKEY_free(key) }
        var length = 32
        var raw = [UInt8](repeating: 0, count: 32)
        let ok = raw.withUnsafeMutableBufferPointer { EVP_PKEY_get_raw_public_key(key, $0.baseAddress, &length) }
        guard ok == 1, length == 32, let publicKey = Ed25519PublicKey(bytes: raw) else {
            throw SigningError.crypto("EVP_PKEY_get_raw_public_key")
        }
        self.publicKey = publicKey
    }

    /// A new random key (seed from `RAND_bytes`).
    public static func generate() throws(SigningError) -> Ed25519PrivateKey {
        try Ed25519PrivateKey(seed: try SecureRandom.bytes(32))
    }

    /// The 64-byte Ed25519 signature of `message`.
    public func signature(for message: [UInt8]) throws(SigningError) -> [UInt8] {
        let key = try Self.pkey(seed)
        defer { EVP_PKEY_free(key) }
        guard let ctx = EVP_MD_CTX_new() else { throw SigningError.crypto("EVP_MD_CTX_new") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, nil, nil, key) == 1 else { throw SigningError.crypto("EVP_DigestSignInit") }
        var out = [UInt8](repeating: 0, count: 64)
        var length = 64
        let ok = out.withUnsafeMutableBufferPointer { sig in
            message.withUnsafeBufferPointer { msg in
                EVP_DigestSign(
                    ctx, sig.baseAddress, &length, msg.baseAddress ?? UnsafePointer(sig.baseAddress), msg.count)
            }
        }
        guard ok == 1, length == 64 else { throw SigningError.crypto("EVP_DigestSign") }
        return out
    }

    private static func pkey(_ seed: [UInt8]) throws(SigningError) -> OpaquePointer {
        guard
            let key = seed.withUnsafeBufferPointer({
                EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32)
            })
        else { throw SigningError.crypto("EVP_PKEY_new_raw_private_key(ED25519)") }
        return key
    }
}

/// Streaming BLAKE2b-512 over OpenSSL EVP (`EVP_blake2b512`): the prehash of minisign's `ED` signatures.
public struct BLAKE2b512: ~Copyable {
    private let context: OpaquePointer

    /// Starts an empty hash.
    public init() {
        guard let ctx = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        guard EVP_DigestInit_ex(ctx, EVP_blake2b512(), nil) == 1 else {
            fatalError("EVP_DigestInit_ex(blake2b512) failed")
        }
        self.context = ctx
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds bytes to the hash.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        _ = EVP_DigestUpdate(context, base, buffer.count)
    }

    /// Adds bytes to the hash.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes the hash: 64 bytes.
    public consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        _ = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        return out
    }

    /// The BLAKE2b-512 of bytes held in memory.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = BLAKE2b512()
        hasher.update(bytes)
        return hasher.finalize()
    }
}
