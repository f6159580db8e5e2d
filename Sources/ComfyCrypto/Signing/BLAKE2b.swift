/// Unkeyed BLAKE2b (RFC 7693) with any digest length from 1 to 64 bytes, in Swift.
///
/// OpenSSL 3.0 (Debian bookworm's) offers BLAKE2b only with a 64-byte digest, and a digest of another length is not
/// a truncation of it (the length is part of the parameter block). minisign's secret-key checksum is the 32-byte
/// BLAKE2b (libsodium's `crypto_generichash`), so this small implementation exists for that; large inputs should use
/// ``BLAKE2b512`` (OpenSSL), which is faster.
public enum BLAKE2b {
    /// The BLAKE2b digest of `bytes`, `length` bytes long (1...64).
    public static func hash(_ bytes: [UInt8], length: Int) -> [UInt8] {
        precondition((1...64).contains(length), "a BLAKE2b digest has 1 to 64 bytes")
        var state = iv
        state[0] ^= 0x0101_0000 ^ UInt64(length)
        var counter: UInt64 = 0
        var offset = 0
        // Every block but the last is compressed as "not final"; the last (possibly partial, or empty for an empty
        // input) is zero-padded and compressed as final.
        while bytes.count - offset > 128 {
            counter += 128
            compress(&state, block: bytes, at: offset, count: 128, counter: counter, final: false)
            offset += 128
        }
        counter += UInt64(bytes.count - offset)
        compress(&state, block: bytes, at: offset, count: bytes.count - offset, counter: counter, final: true)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for word in state {
            for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return Array(out.prefix(length))
    }

    private static let iv: [UInt64] = [
        0x6a09_e667_f3bc_c908, 0xbb67_ae85_84ca_a73b, 0x3c6e_f372_fe94_f82b, 0xa54f_f53a_5f1d_36f1,
        0x510e_527f_ade6_82d1, 0x9b05_688c_2b3e_6c1f, 0x1f83_d9ab_fb41_bd6b, 0x5be0_cd19_137e_2179,
    ]

    private static let sigma: [[Int]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
        [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
        [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
        [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
        [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
        [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
        [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
        [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
        [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
        [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    ]

    private static func rotr(_ x: UInt64, _ n: UInt64) -> UInt64 { (x >> n) | (x << (64 - n)) }

    private static func compress(
        _ h: inout [UInt64], block bytes: [UInt8], at offset: Int, count: Int, counter: UInt64, final: Bool
    ) {
        var m = [UInt64](repeating: 0, count: 16)
        for i in 0..<count { m[i / 8] |= UInt64(bytes[offset + i]) << UInt64(8 * (i % 8)) }
        var v = h + iv
        v[12] ^= counter
        if final { v[14] = ~v[14] }
        func g(_ a: Int, _ b: Int, _ c: Int, _ d: Int, _ x: UInt64, _ y: UInt64) {
            v[a] = v[a] &+ v[b] &+ x
            v[d] = rotr(v[d] ^ v[a], 32)
            v[c] = v[c] &+ v[d]
            v[b] = rotr(v[b] ^ v[c], 24)
            v[a] = v[a] &+ v[b] &+ y
            v[d] = rotr(v[d] ^ v[a], 16)
            v[c] = v[c] &+ v[d]
            v[b] = rotr(v[b] ^ v[c], 63)
        }
        for round in 0..<12 {
            let s = sigma[round % 10]
            g(0, 4, 8, 12, m[s[0]], m[s[1]])
            g(1, 5, 9, 13, m[s[2]], m[s[3]])
            g(2, 6, 10, 14, m[s[4]], m[s[5]])
            g(3, 7, 11, 15, m[s[6]], m[s[7]])
            g(0, 5, 10, 15, m[s[8]], m[s[9]])
            g(1, 6, 11, 12, m[s[10]], m[s[11]])
            g(2, 7, 8, 13, m[s[12]], m[s[13]])
            g(3, 4, 9, 14, m[s[14]], m[s[15]])
        }
        for i in 0..<8 { h[i] ^= v[i] ^ v[i + 8] }
    }
}
