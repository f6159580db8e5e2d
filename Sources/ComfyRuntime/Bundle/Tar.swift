import ComfyLock
import ComfySupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal streaming ustar writer/reader for offline bundles: regular files only, names ≤ 100 bytes (bundle
/// entry names are chosen by ComfyLock: `blobs/<sha256>`, `git/<sha256>.bundle`, …), data copied in 1 MiB chunks.
enum Tar {
    static let block = 512

    static func header(name: String, size: Int64) throws -> [UInt8] {
        let nameBytes = Array(name.utf8)
        guard nameBytes.count <= 100 else { throw RuntimeError.invalidInput("tar entry name too long: \(name)") }
        var h = [UInt8](repeating: 0, count: block)
        func put(_ bytes: [UInt8], at offset: Int) { for (i, b) in bytes.enumerated() { h[offset + i] = b } }
        func octal(_ value: Int64, width: Int) -> [UInt8] {
            let text = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - text.count)) + text).utf8) + [0]
        }
        put(nameBytes, at: 0)
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(0, width: 12), at: 136)
        put(Array(repeating: 0x20, count: 8), at: 148)
        h[156] = UInt8(ascii: "0")
        put(Array("ustar\u{0}00".utf8), at: 257)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(Int64(sum), width: 7) + [0x20], at: 148)
        return h
    }

    /// Parses a header block; `nil` for an all-zero block (the end).
    static func parse(_ h: [UInt8]) throws -> (name: String, size: Int64)? {
        if h.allSatisfy({ $0 == 0 }) { return nil }
        var check = h
        for i in 148..<156 { check[i] = 0x20 }
        let sum = check.reduce(0) { $0 + Int($1) }
        func field(_ range: Range<Int>) -> String {
            String(decoding: h[range].prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        }
        guard let stored = Int(field(148..<156), radix: 8), stored == sum else {
            throw RuntimeError.invalidInput("corrupt tar header (checksum)")
        }
        guard h[156] == UInt8(ascii: "0") || h[156] == 0 else {
            throw RuntimeError.invalidInput("tar entry \(Escaping.quoted(field(0..<100))) is not a regular file")
        }
        guard let size = Int64(field(124..<136), radix: 8), size >= 0 else {
            throw RuntimeError.invalidInput("corrupt tar header (size)")
        }
        return (field(0..<100), size)
    }

    static func padding(_ size: Int64) -> Int { Int((Int64(block) - size % Int64(block)) % Int64(block)) }
}

/// Writes a tar file sequentially (to a partial file renamed into place by the caller).
final class TarWriter {
    let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RuntimeError.invalidInput("cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) throws {
        do { try FileIO.writeAll(fd, bytes, path: path) } catch { throw RuntimeError.invalidInput("\(error)") }
    }

    func add(name: String, bytes: [UInt8]) throws {
        try write(try Tar.header(name: name, size: Int64(bytes.count)))
        try write(bytes)
        try write([UInt8](repeating: 0, count: Tar.padding(Int64(bytes.count))))
    }

    /// Streams a file in (1 MiB chunks); returns its size.
    func add(name: String, file: String, size: Int64) throws {
        try write(try Tar.header(name: name, size: size))
        let input = open(file, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw RuntimeError.invalidInput("cannot open \(file)") }
        defer { close(input) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var left = size
        while left > 0 {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, Int(min(Int64($0.count), left))) }
            guard n > 0 else { throw RuntimeError.invalidInput("\(file) shrank while being bundled") }
            try buffer.withUnsafeBytes { raw in
                do { try FileIO.writeAll(fd, UnsafeRawBufferPointer(rebasing: raw[0..<n]), path: path) } catch {
                    throw RuntimeError.invalidInput("\(error)")
                }
            }
            left -= Int64(n)
        }
        try write([UInt8](repeating: 0, count: Tar.padding(size)))
    }

    func finish() throws {
        try write([UInt8](repeating: 0, count: Tar.block * 2))
        guard fsync(fd) == 0 else { throw RuntimeError.invalidInput("fsync \(path) failed") }
    }
}

/// Reads a tar file sequentially.
final class TarReader {
    let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw RuntimeError.invalidInput(
                "cannot open bundle \(Escaping.quoted(path)): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    /// Exactly `count` bytes, or fewer at the end of the file.
    func read(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, count - done) }
            if n <= 0 { break }
            done += n
        }
        return Array(out[0..<done])
    }

    /// The next entry header, `nil` at the end; throws for a truncated header.
    func next() throws -> (name: String, size: Int64)? {
        let h = read(Tar.block)
        if h.isEmpty { throw RuntimeError.invalidInput("the bundle is truncated (no end-of-archive marker)") }
        guard h.count == Tar.block else { throw RuntimeError.invalidInput("the bundle is truncated inside a header") }
        return try Tar.parse(h)
    }

    /// Streams `size` bytes of the current entry to `sink` (1 MiB chunks), then skips the padding. Returns false
    /// when the file ends early.
    func stream(size: Int64, _ sink: ([UInt8]) throws -> Void) throws -> Bool {
        var left = size
        while left > 0 {
            let chunk = read(Int(min(left, 1 << 20)))
            if chunk.isEmpty { return false }
            try sink(chunk)
            left -= Int64(chunk.count)
            if chunk.count < Int(min(left + Int64(chunk.count), 1 << 20)) && left > 0 { return false }
        }
        let pad = Tar.padding(size)
        return read(pad).count == pad
    }
}
