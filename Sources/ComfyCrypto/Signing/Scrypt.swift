internal import COpenSSL

/// scrypt (RFC 7914) over OpenSSL's `EVP_PBE_scrypt`: the key derivation of password-protected minisign secret keys.
public enum Scrypt {
    /// The most memory a derivation may use (4 GiB): a key file asking for more is refused rather than obeyed.
    public static let maxMemory: UInt64 = 4 << 30

    /// Derives `length` bytes from `password` and `salt` with cost `n` (a power of two), block size `r` and
    /// parallelism `p`. Throws when the parameters are out of range or would need more than ``maxMemory``.
    public static func derive(
        password: [UInt8], salt: [UInt8], n: UInt64, r: UInt64, p: UInt64, length: Int
    ) throws(SigningError) -> [UInt8] {
        guard n >= 2, n & (n - 1) == 0, n <= 1 << 32, (1...1024).contains(r), (1...(1 << 16)).contains(p),
            (1...1024).contains(length)
        else { throw SigningError.format("scrypt parameters out of range (N \(n), r \(r), p \(p))") }
        // OpenSSL needs 128·r·(N + 2) bytes for V plus 128·r·p for B; a little slack for its own rounding.
        let (vBytes, vOverflow) = (128 * r).multipliedReportingOverflow(by: n + 2)
        let needed = vBytes + 128 * r * p + (1 << 20)
        guard !vOverflow, needed <= maxMemory else {
            throw SigningError.format("scrypt parameters need more than 4 GiB of memory (N \(n), r \(r), p \(p))")
        }
        var out = [UInt8](repeating: 0, count: length)
        // A zero-length password still needs a valid pointer: pass a one-byte buffer with length 0.
        let passBytes = password.map { CChar(bitPattern: $0) } + [0]
        let ok = passBytes.withUnsafeBufferPointer { pass in
            salt.withUnsafeBufferPointer { saltBytes in
                out.withUnsafeMutableBufferPointer { key in
                    EVP_PBE_scrypt(
                        pass.baseAddress, password.count, saltBytes.baseAddress, saltBytes.count, n, r, p, needed,
                        key.baseAddress, length)
                }
            }
        }
        guard ok == 1 else { throw SigningError.crypto("EVP_PBE_scrypt") }
        return out
    }
}
