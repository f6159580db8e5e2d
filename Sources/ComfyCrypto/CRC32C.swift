import Foundation

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum Google Cloud Storage keeps for every
/// object. Software slicing-by-8: eight bytes per step through eight 256-entry tables.
public struct CRC32C: Sendable, Hashable {
    private var state: UInt32 = 0xFFFF_FFFF

    /// Starts an empty checksum.
    public init() {}

    /// Adds bytes to the checksum.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        state = CRC32CTables.shared.update(state, base, buffer.count)
    }

    /// Adds bytes to the checksum.
    public mutating func update<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if let done = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) { return done }
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    /// The checksum of everything added so far.
    public var value: UInt32 { state ^ 0xFFFF_FFFF }

    /// The checksum as GCS prints it: base64 of the four big-endian bytes (e.g. `"yZRlqg=="`).
    public var base64: String {
        let v = value
        return Data([UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)])
            .base64EncodedString()
    }

    /// The CRC-32C of bytes held in memory.
    public static func checksum<Bytes: Collection>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }
}

/// The eight slicing tables, built once.
private final class CRC32CTables: Sendable {
    static let shared = CRC32CTables()
    // 8 × 256 entries, table k at [k * 256].
    let table: [UInt32]

    private init() {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var crc = UInt32(i)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            t[i] = crc
        }
        for i in 0..<256 {
            var crc = t[i]
            for k in 1..<8 {
                crc = (crc >> 8) ^ t[Int(crc & 0xff)]
                t[k * 256 + i] = crc
            }
        }
        table = t
    }

    func update(_ initial: UInt32, _ base: UnsafeRawPointer, _ count: Int) -> UInt32 {
        table.withUnsafeBufferPointer { tables in
            let t = tables.baseAddress!
            var crc = initial
            var p = base
            var n = count
            // Align to 8 bytes, then eight bytes per step (little-endian loads).
            while n > 0 && (UInt(bitPattern: p) & 7) != 0 {
                crc = (crc >> 8) ^ t[Int((crc ^ UInt32(p.load(as: UInt8.self))) & 0xff)]
                p += 1
                n -= 1
            }
            while n >= 8 {
                let word = UInt64(littleEndian: p.load(as: UInt64.self))
                let lo = UInt32(truncatingIfNeeded: word) ^ crc
                let hi = UInt32(truncatingIfNeeded: word >> 32)
                crc =
                    t[7 * 256 + Int(lo & 0xff)] ^ t[6 * 256 + Int((lo >> 8) & 0xff)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xff)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xff)] ^ t[2 * 256 + Int((hi >> 8) & 0xff)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xff)] ^ t[Int(hi >> 24)]
                p += 8
                n -= 8
            }
            while n > 0 {
                crc = (crc >> 8) ^ t[Int((crc ^ UInt32(p.load(as: UInt8.self))) & 0xff)]
                p += 1
                n -= 1
            }
            return crc
        }
    }
}
