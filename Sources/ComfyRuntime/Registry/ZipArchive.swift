import ComfyLock
import ComfySupport
public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Limits for extracting an untrusted zip archive.
public struct ZipLimits: Sendable, Hashable {
    /// The largest archive read.
    public var maxArchiveBytes: Int64
    /// The most entries (files and directories).
    public var maxEntries: Int
    /// The largest total of extracted bytes (the real output is counted, not the sizes the archive declares).
    public var maxTotalBytes: Int64
    /// The longest entry name, in bytes.
    public var maxNameBytes: Int
    /// The deepest entry path, in components.
    public var maxDepth: Int

    /// Defaults: 512 MiB archive, 20 000 entries, 1 GiB extracted, 1024-byte names, depth 48.
    public init(
        maxArchiveBytes: Int64 = 512 << 20, maxEntries: Int = 20_000, maxTotalBytes: Int64 = 1 << 30,
        maxNameBytes: Int = 1024, maxDepth: Int = 48
    ) {
        self.maxArchiveBytes = maxArchiveBytes
        self.maxEntries = maxEntries
        self.maxTotalBytes = maxTotalBytes
        self.maxNameBytes = maxNameBytes
        self.maxDepth = maxDepth
    }
}

/// Why an archive was refused. The message names the archive entry (escaped).
public struct ZipError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let message: String
    init(_ message: String) { self.message = message }
    static func entry(_ name: String, _ problem: String) -> ZipError {
        ZipError("entry \(Escaping.quoted(name)): \(problem)")
    }
    /// The message.
    public var description: String { message }
}

/// A small zip reader over the central directory (stored and deflate entries, no zip64, no encryption) that
/// extracts an untrusted archive safely: every name is checked before anything is written (relative, normalized,
/// no `..`, no absolute path, no backslash or control character, bounded length and depth); symlink, device, FIFO
/// and socket entries are refused; files are created with `O_EXCL | O_NOFOLLOW` in a fresh directory (a duplicate
/// name is refused); each entry's real output is bounded by its declared size and the total by
/// `ZipLimits.maxTotalBytes` (a zip bomb stops at the limit), and its CRC-32 is checked.
public enum ZipArchive {
    struct Entry {
        var name: String
        var method: UInt16
        var flags: UInt16
        var crc32: UInt32
        var compressedSize: Int64
        var size: Int64
        var localHeaderOffset: Int64
        var mode: UInt32?  // unix mode when the archive was made on unix
        var isDirectory: Bool
    }

    /// The regular files extracted, path → size.
    public struct Report: Sendable {
        /// Files written.
        public var files: Int
        /// Bytes written.
        public var bytes: Int64
    }

    /// Extracts `archive` into `directory`, which must exist and be empty (callers extract into a staging directory
    /// and rename it into place). Throws `ZipError` naming the first refused entry; the directory may then hold a
    /// partial tree, which the caller removes.
    public static func extract(_ archive: String, into directory: URL, limits: ZipLimits = ZipLimits()) throws -> Report
    {
        let fd = open(archive, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            throw ZipError("cannot open \(Escaping.quoted(archive)): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw ZipError("not a regular file") }
        let size = Int64(info.st_size)
        guard size <= limits.maxArchiveBytes else {
            throw ZipError("the archive is \(size) bytes, more than the limit of \(limits.maxArchiveBytes)")
        }
        let entries = try centralDirectory(fd: fd, size: size, limits: limits)
        var declared: Int64 = 0
        for entry in entries {
            try check(entry, limits: limits)
            declared += entry.size
        }
        guard declared <= limits.maxTotalBytes else {
            throw ZipError(
                "the archive declares \(declared) bytes of content, more than the limit of \(limits.maxTotalBytes)")
        }
        var report = Report(files: 0, bytes: 0)
        var budget = limits.maxTotalBytes
        for entry in entries {
            let target = directory.appendingPathComponent(entry.name)
            if entry.isDirectory {
                try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
                continue
            }
            try FileManager.default.createDirectory(
                at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            let written = try extractFile(entry, fd: fd, archiveSize: size, to: target.path, budget: budget)
            budget -= written
            report.files += 1
            report.bytes += written
        }
        return report
    }

    // MARK: - Central directory

    static func read(_ fd: Int32, offset: Int64, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            guard n > 0 else { throw ZipError("truncated archive (read at \(offset + Int64(done)) failed)") }
            done += n
        }
        return bytes
    }

    static func u16(_ b: [UInt8], _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
    static func u32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }

    static func centralDirectory(fd: Int32, size: Int64, limits: ZipLimits) throws -> [Entry] {
        guard size >= 22 else { throw ZipError("not a zip archive (too short)") }
        let tailCount = Int(min(size, 22 + 65_535))
        let tail = try read(fd, offset: size - Int64(tailCount), count: tailCount)
        var eocd: Int?
        var i = tailCount - 22
        while i >= 0 {
            if tail[i] == 0x50 && tail[i + 1] == 0x4b && tail[i + 2] == 0x05 && tail[i + 3] == 0x06 {
                eocd = i
                break
            }
            i -= 1
        }
        guard let e = eocd else { throw ZipError("not a zip archive (no end of central directory)") }
        let disk = u16(tail, e + 4), cdDisk = u16(tail, e + 6)
        let onDisk = u16(tail, e + 8), count = Int(u16(tail, e + 10))
        let cdSize = Int64(u32(tail, e + 12)), cdOffset = Int64(u32(tail, e + 16))
        guard disk == 0, cdDisk == 0, Int(onDisk) == count else {
            throw ZipError("multi-disk archives are not supported")
        }
        guard count != 0xffff, cdSize != 0xffff_ffff, cdOffset != 0xffff_ffff else {
            throw ZipError("zip64 archives are not supported")
        }
        guard count <= limits.maxEntries else {
            throw ZipError("the archive has \(count) entries, more than the limit of \(limits.maxEntries)")
        }
        guard cdOffset + cdSize <= size - Int64(tailCount - e), cdSize <= 64 << 20 else {
            throw ZipError("the central directory lies outside the archive")
        }
        let cd = try read(fd, offset: cdOffset, count: Int(cdSize))
        var entries: [Entry] = []
        var p = 0
        for _ in 0..<count {
            guard p + 46 <= cd.count, u32(cd, p) == 0x0201_4b50 else { throw ZipError("corrupt central directory") }
            let madeBy = u16(cd, p + 4)
            let flags = u16(cd, p + 8), method = u16(cd, p + 10)
            let crc = u32(cd, p + 16)
            let compressed = Int64(u32(cd, p + 20)), uncompressed = Int64(u32(cd, p + 24))
            let nameLength = Int(u16(cd, p + 28)), extraLength = Int(u16(cd, p + 30)),
                commentLength = Int(u16(cd, p + 32))
            let external = u32(cd, p + 38)
            let offset = Int64(u32(cd, p + 42))
            guard p + 46 + nameLength + extraLength + commentLength <= cd.count else {
                throw ZipError("corrupt central directory")
            }
            let rawName = Array(cd[(p + 46)..<(p + 46 + nameLength)])
            guard nameLength <= limits.maxNameBytes else {
                throw ZipError("an entry name is \(nameLength) bytes, more than the limit of \(limits.maxNameBytes)")
            }
            guard let name = String(validating: rawName, as: UTF8.self) else {
                throw ZipError.entry(String(decoding: rawName, as: UTF8.self), "the name is not valid UTF-8")
            }
            let mode: UInt32? = (madeBy >> 8) == 3 ? external >> 16 : nil
            let isDirectory = name.hasSuffix("/") || (mode.map { $0 & 0o170000 == 0o040000 } ?? (external & 0x10 != 0))
            if compressed == 0xffff_ffff || uncompressed == 0xffff_ffff || offset == 0xffff_ffff {
                throw ZipError.entry(name, "zip64 entries are not supported")
            }
            entries.append(
                Entry(
                    name: name, method: method, flags: flags, crc32: crc, compressedSize: compressed,
                    size: uncompressed,
                    localHeaderOffset: offset, mode: mode, isDirectory: isDirectory))
            p += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    // MARK: - Checks

    /// Refuses names and types that could escape the target directory or are not plain files/directories.
    static func check(_ entry: Entry, limits: ZipLimits) throws {
        let name = entry.name
        if name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw ZipError.entry(name, "the name contains a control character")
        }
        if name.contains("\\") { throw ZipError.entry(name, "the name contains a backslash") }
        if name.hasPrefix("/") { throw ZipError.entry(name, "absolute path") }
        if name.count >= 2, name.dropFirst().first == ":" { throw ZipError.entry(name, "a drive-letter path") }
        var components = name.split(separator: "/", omittingEmptySubsequences: false)
        if entry.isDirectory, components.last == "" { components.removeLast() }
        guard !components.isEmpty else { throw ZipError.entry(name, "empty name") }
        for component in components {
            if component == ".." { throw ZipError.entry(name, "a '..' component escapes the directory") }
            if component == "." || component.isEmpty { throw ZipError.entry(name, "the path is not normalized") }
        }
        guard components.count <= limits.maxDepth else { throw ZipError.entry(name, "nested too deep") }
        if let mode = entry.mode {
            switch mode & 0o170000 {
            case 0, 0o100000, 0o040000: break
            case 0o120000: throw ZipError.entry(name, "symbolic links are not allowed")
            default: throw ZipError.entry(name, "device, FIFO and socket entries are not allowed")
            }
        }
        if entry.flags & 0x1 != 0 { throw ZipError.entry(name, "encrypted entries are not supported") }
        if !entry.isDirectory && entry.method != 0 && entry.method != 8 {
            throw ZipError.entry(name, "compression method \(entry.method) is not supported (stored and deflate only)")
        }
    }

    // MARK: - Extraction

    static func extractFile(
        _ entry: Entry, fd: Int32, archiveSize: Int64, to path: String, budget: Int64
    ) throws -> Int64 {
        let header = try read(fd, offset: entry.localHeaderOffset, count: 30)
        guard u32(header, 0) == 0x0403_4b50 else { throw ZipError.entry(entry.name, "corrupt local header") }
        let nameLength = Int(u16(header, 26)), extraLength = Int(u16(header, 28))
        let localName = try read(fd, offset: entry.localHeaderOffset + 30, count: nameLength)
        guard localName == Array(entry.name.utf8) else {
            throw ZipError.entry(entry.name, "the local header names another file")
        }
        let dataOffset = entry.localHeaderOffset + 30 + Int64(nameLength + extraLength)
        guard dataOffset + entry.compressedSize <= archiveSize else {
            throw ZipError.entry(entry.name, "its data lies past the end of the archive (truncated?)")
        }
        let executable = (entry.mode ?? 0) & 0o111 != 0
        let out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, executable ? 0o755 : 0o644)
        guard out >= 0 else {
            if errno == EEXIST { throw ZipError.entry(entry.name, "a duplicate name") }
            throw ZipError.entry(entry.name, "cannot create: \(String(cString: strerror(errno)))")
        }
        defer { close(out) }
        let limit = Int(min(entry.size, budget))
        var crc = CRC32()
        var written = 0
        let compressed = try read(fd, offset: dataOffset, count: Int(entry.compressedSize))
        let sink: (ArraySlice<UInt8>) throws -> Void = { slice in
            crc.update(slice)
            try slice.withUnsafeBytes { raw in
                do { try FileIO.writeAll(out, raw, path: path) } catch { throw ZipError.entry(entry.name, "\(error)") }
            }
            written += slice.count
        }
        if entry.method == 0 {
            guard entry.compressedSize == entry.size, entry.size <= Int64(limit) else {
                throw ZipError.entry(entry.name, "expands past the extraction limit")
            }
            try sink(compressed[...])
        } else {
            do { _ = try Inflater.inflate(compressed, limit: limit, flush: sink) } catch let error as InflateError {
                if entry.size > Int64(limit) || error.description == InflateError.tooLarge.description {
                    throw ZipError.entry(
                        entry.name,
                        "expands past \(entry.size > budget ? "the archive's extraction limit" : "its declared size of \(entry.size) bytes") (a zip bomb?)"
                    )
                }
                throw ZipError.entry(entry.name, "corrupt compressed data: \(error.description)")
            }
        }
        guard Int64(written) == entry.size else {
            throw ZipError.entry(entry.name, "expanded to \(written) bytes, but the archive declares \(entry.size)")
        }
        guard crc.value == entry.crc32 else { throw ZipError.entry(entry.name, "CRC-32 mismatch (corrupt archive)") }
        return Int64(written)
    }
}

/// CRC-32 (IEEE 802.3, the zip checksum).
struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }
    private var crc: UInt32 = 0xffff_ffff

    mutating func update(_ bytes: ArraySlice<UInt8>) {
        var c = crc
        for byte in bytes { c = Self.table[Int((c ^ UInt32(byte)) & 0xff)] ^ (c >> 8) }
        crc = c
    }

    var value: UInt32 { crc ^ 0xffff_ffff }
}
