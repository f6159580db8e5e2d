internal import ComfyCrypto
internal import ComfyModels
internal import ComfySupport
import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// How `version status` (and the verify step of `version create`) checks the installed files of a venv against
/// each distribution's `RECORD`.
public enum VenvFileCheck: String, Sendable, Hashable, Codable, CaseIterable {
    /// The default: through the venv's stat cache. A file whose stat (device, inode, size, mtime, ctime) equals
    /// its entry is taken as verified; a file whose entry is stale (it changed since it was recorded) is hashed
    /// and compared with `RECORD`; a file with no entry (a venv built before the cache existed) gets the old
    /// existence + size check. Costs one `stat` per file.
    case statCache = "stat-cache"
    /// Hashes every file and compares it with `RECORD` (reads the whole install), then records the results.
    case deep
    /// Right after an install from hash-checked artifacts (`version create`): files are checked for existence and
    /// size and, when they have no entry yet, recorded without being read (the installer just wrote them).
    case trustInstalled = "trust-installed"
}

/// The per-venv stat cache of files verified against their `RECORD`: `<venv>/comfylock-files.statcache`, one line
/// per file (`<dev> <ino> <size> <mtime_ns> <ctime_ns> <record sha256> <path relative to site-packages>`), written
/// atomically. One file for the whole venv (a real ComfyUI venv has ~31,000 files; one cache file per inode, as
/// the model store keeps, would double the file count).
///
/// What it cannot catch: a change that leaves size, mtime, ctime and inode as they were. Userspace can set mtime
/// (`touch -d`, `utimensat`) but not ctime, which every write, chmod, link or utimensat moves to "now"; so an
/// in-place edit is missed only when the clock is set back to the entry's ctime, when the block device is written
/// underneath the file system (debugfs, an offline image edit), or by media corruption. It is no defence against
/// someone who can write the venv: they can rewrite `RECORD` and this cache too. `version status --deep` re-hashes
/// every file regardless of the cache.
struct VenvStatCache {
    struct Entry: Hashable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var mtime: Int64
        var ctime: Int64
        /// The `RECORD` hash the file matched (`sha256=` value, base64url without padding).
        var recordHash: String

        func matches(_ st: FileStat, recordHash: String) -> Bool {
            device == st.device && inode == st.inode && size == st.size && mtime == st.mtimeNanoseconds
                && ctime == st.ctimeNanoseconds && self.recordHash == recordHash
        }
    }

    static let fileName = "comfylock-files.statcache"
    static let header = "comfylock-venv-files v1\n"
    /// Entries closer than this to the moment hashing started are not recorded (timestamp granularity).
    static let racyWindowNanoseconds: Int64 = 50_000_000

    let path: String
    var entries: [String: Entry] = [:]
    var changed = false

    init(venvRoot: String) {
        path = venvRoot + "/" + Self.fileName
        guard let data = FileManager.default.contents(atPath: path) else { return }
        entries = Self.parse(Array(data))
    }

    static func parse(_ bytes: [UInt8]) -> [String: Entry] {
        let head = Array(header.utf8)
        guard bytes.count >= head.count, Array(bytes[0..<head.count]) == head else { return [:] }
        var result: [String: Entry] = [:]
        var index = head.count
        while index < bytes.count {
            guard let end = bytes[index...].firstIndex(of: 0x0a) else { break }
            var fields: [Substring] = []
            fields.reserveCapacity(7)
            var start = index
            var position = index
            while position < end, fields.count < 6 {
                if bytes[position] == 0x20 {
                    fields.append(Substring(decoding: bytes[start..<position], as: UTF8.self))
                    start = position + 1
                }
                position += 1
            }
            if fields.count == 6, start < end, let device = UInt64(fields[0]), let inode = UInt64(fields[1]),
                let size = Int64(fields[2]), let mtime = Int64(fields[3]), let ctime = Int64(fields[4])
            {
                let name = String(decoding: bytes[start..<end], as: UTF8.self)
                result[name] = Entry(
                    device: device, inode: inode, size: size, mtime: mtime, ctime: ctime, recordHash: String(fields[5]))
            }
            index = end + 1
        }
        return result
    }

    mutating func record(_ relativePath: String, _ st: FileStat, recordHash: String) {
        guard !relativePath.utf8.contains(0x0a) else { return }
        let entry = Entry(
            device: st.device, inode: st.inode, size: st.size, mtime: st.mtimeNanoseconds, ctime: st.ctimeNanoseconds,
            recordHash: recordHash)
        if entries[relativePath] != entry {
            entries[relativePath] = entry
            changed = true
        }
    }

    /// Writes the cache when it changed. Failures are ignored: it is a cache (a read-only venv just misses).
    func save() {
        guard changed else { return }
        // Bytes in dictionary order (the reader does not care about order; sorting ~31,000 names cost ~20 ms).
        var out = Array(Self.header.utf8)
        out.reserveCapacity(entries.count * 128)
        for (name, e) in entries {
            for number in [e.device, e.inode] {
                out.append(contentsOf: String(number).utf8)
                out.append(0x20)
            }
            for number in [e.size, e.mtime, e.ctime] {
                out.append(contentsOf: String(number).utf8)
                out.append(0x20)
            }
            out.append(contentsOf: e.recordHash.utf8)
            out.append(0x20)
            out.append(contentsOf: name.utf8)
            out.append(0x0a)
        }
        _ = try? AtomicFile.write(out, to: path)
    }
}

fileprivate extension ArraySlice<UInt8> {
    /// True when the slice ends with `suffix`.
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && self.suffix(suffix.count).elementsEqual(suffix) }

    /// True when `needle` occurs in the slice.
    func containsSequence(_ needle: [UInt8]) -> Bool {
        guard let first = needle.first, count >= needle.count else { return false }
        var i = startIndex
        while i <= endIndex - needle.count {
            if self[i] == first, self[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}

/// The files of installed distributions checked against their `RECORD` through a `VenvStatCache`.
enum VenvFileChecker {
    /// One `RECORD` line that names a checkable file.
    struct RecordLine {
        var path: String
        /// `sha256=` value (base64url, no padding).
        var hash: String
        var size: Int64?
    }

    /// The checkable lines of a `RECORD` (bytes parsed directly: CSV with optional quotes). Skips entries outside
    /// site-packages (console scripts name the venv's path), bytecode, and lines without a sha256, as
    /// `PythonInstallation.verifyRecord` does.
    static func parseRecord(_ bytes: [UInt8]) -> [RecordLine] {
        // Almost every RECORD has no quote at all: then fields are plain slices between commas.
        if !bytes.contains(0x22) { return parseUnquotedRecord(bytes) }
        var lines: [RecordLine] = []
        lines.reserveCapacity(bytes.count / 64)
        // One line's field bytes back to back in `line`, field `i` ending at `ends[i]`: no String is made for a
        // field unless its line is kept (the filters below work on bytes).
        var line: [UInt8] = []
        var ends: [Int] = []
        var quoted = false
        var index = 0
        func field(_ i: Int) -> ArraySlice<UInt8> { line[(i == 0 ? 0 : ends[i - 1])..<ends[i]] }
        func endLine() {
            ends.append(line.count)
            defer {
                line.removeAll(keepingCapacity: true)
                ends.removeAll(keepingCapacity: true)
            }
            guard ends.count >= 3 else { return }
            let path = field(0)
            let hash = field(1)
            guard !path.isEmpty, hash.starts(with: sha256Prefix) else { return }
            if path.starts(with: parentPrefix) || path.first == 0x2f || path.ends(with: pycSuffix)
                || path.containsSequence(pycacheComponent)
            {
                return
            }
            lines.append(
                RecordLine(
                    path: String(decoding: path, as: UTF8.self),
                    hash: String(decoding: hash.dropFirst(sha256Prefix.count), as: UTF8.self),
                    size: Self.integer(field(2))))
        }
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if quoted {
                if byte == 0x22 {
                    if index < bytes.count, bytes[index] == 0x22 {
                        line.append(0x22)
                        index += 1
                    } else {
                        quoted = false
                    }
                } else {
                    line.append(byte)
                }
                continue
            }
            switch byte {
            case 0x22 where line.count == (ends.last ?? 0): quoted = true
            case 0x2c: ends.append(line.count)
            case 0x0a, 0x0d:
                if line.count > 0 || !ends.isEmpty { endLine() }
            default: line.append(byte)
            }
        }
        if line.count > 0 || !ends.isEmpty { endLine() }
        return lines
    }

    /// `parseRecord` for a RECORD without quotes: lines end at CR or LF, fields are the bytes between commas.
    static func parseUnquotedRecord(_ bytes: [UInt8]) -> [RecordLine] {
        var lines: [RecordLine] = []
        lines.reserveCapacity(bytes.count / 64)
        bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                var end = start
                var commas: (Int, Int) = (-1, -1)
                while end < buffer.count, buffer[end] != 0x0a, buffer[end] != 0x0d {
                    if buffer[end] == 0x2c {
                        if commas.0 < 0 { commas.0 = end } else if commas.1 < 0 { commas.1 = end }
                    }
                    end += 1
                }
                defer { start = end + 1 }
                guard commas.1 >= 0 else { continue }  // fewer than 3 fields (or an empty line)
                var sizeEnd = commas.1 + 1
                while sizeEnd < end, buffer[sizeEnd] != 0x2c { sizeEnd += 1 }
                let path = bytes[start..<commas.0]
                let hash = bytes[(commas.0 + 1)..<commas.1]
                guard !path.isEmpty, hash.starts(with: sha256Prefix) else { continue }
                if path.starts(with: parentPrefix) || path.first == 0x2f || path.ends(with: pycSuffix)
                    || path.containsSequence(pycacheComponent)
                {
                    continue
                }
                lines.append(
                    RecordLine(
                        path: String(decoding: path, as: UTF8.self),
                        hash: String(decoding: hash.dropFirst(sha256Prefix.count), as: UTF8.self),
                        size: integer(bytes[(commas.1 + 1)..<sizeEnd])))
            }
        }
        return lines
    }

    private static let sha256Prefix = Array("sha256=".utf8)
    private static let parentPrefix = Array("../".utf8)
    private static let pycSuffix = Array(".pyc".utf8)
    private static let pycacheComponent = Array("__pycache__/".utf8)

    /// A non-negative decimal integer, or nil (empty, a sign, anything else).
    static func integer(_ bytes: ArraySlice<UInt8>) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value: Int64 = 0
        for byte in bytes {
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + Int64(byte - 0x30)
        }
        return value
    }

    /// What one check did, for tests and the benchmark: files taken from the cache, hashed, size-checked only.
    struct Counts: Hashable {
        var cached = 0
        var hashed = 0
        var sizeOnly = 0
        var recorded = 0
    }

    /// Checks the files of `packages` (all in the venv at `venvRoot`); returns the modified files per package name
    /// and what was done. Writes the updated cache.
    static func check(
        venvRoot: String, packages: [InstalledPythonPackage], mode: VenvFileCheck
    ) -> (modified: [String: [PythonInstallation.ModifiedFile]], counts: Counts) {
        var cache = VenvStatCache(venvRoot: venvRoot)
        var modified: [String: [PythonInstallation.ModifiedFile]] = [:]
        var counts = Counts()
        // One open directory per site-packages: each file is stat'ed relative to it (`fstatat`).
        var siteDirectories: [String: Int32] = [:]
        defer { for fd in siteDirectories.values where fd >= 0 { close(fd) } }
        for package in packages {
            let site = (package.distInfo as NSString).deletingLastPathComponent
            let sitePrefix = site.hasPrefix(venvRoot + "/") ? String(site.dropFirst(venvRoot.count + 1)) + "/" : ""
            guard let record = FileManager.default.contents(atPath: package.distInfo + "/RECORD") else {
                let name = (package.distInfo as NSString).lastPathComponent + "/RECORD"
                modified[package.name, default: []].append(.init(path: name, problem: "missing"))
                continue
            }
            let siteFD: Int32
            if let known = siteDirectories[site] {
                siteFD = known
            } else {
                siteFD = open(site, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                siteDirectories[site] = siteFD
            }
            let lines = parseRecord(Array(record))
            cache.entries.reserveCapacity(cache.entries.count + lines.count)
            for line in lines {
                let key = sitePrefix + line.path
                let found =
                    siteFD >= 0
                    ? try? FileStat.of(relativePath: line.path, inDirectory: siteFD)
                    : try? FileStat.of(path: site + "/" + line.path)
                guard let st = found ?? nil, st.isRegularFile else {
                    modified[package.name, default: []].append(.init(path: line.path, problem: "missing"))
                    continue
                }
                if let size = line.size, size != st.size {
                    modified[package.name, default: []].append(.init(path: line.path, problem: "size differs"))
                    continue
                }
                let entry = cache.entries[key]
                if mode != .deep, let entry, entry.matches(st, recordHash: line.hash) {
                    counts.cached += 1
                    continue
                }
                if entry == nil && mode == .statCache {
                    counts.sizeOnly += 1
                    continue
                }
                if entry == nil && mode == .trustInstalled {
                    cache.record(key, st, recordHash: line.hash)
                    counts.recorded += 1
                    continue
                }
                // A stale entry (the file changed since it was recorded), or --deep: read it.
                let full = site + "/" + line.path
                counts.hashed += 1
                let started = realtimeNanoseconds()
                guard let digest = try? SHA256.hashFile(atPath: full).digest else {
                    modified[package.name, default: []].append(.init(path: line.path, problem: "unreadable"))
                    continue
                }
                guard Base64URL.encodeNoPadding(digest.bytes) == line.hash else {
                    modified[package.name, default: []].append(.init(path: line.path, problem: "sha256 differs"))
                    continue
                }
                if let after = try? FileStat.of(path: full), after == st,
                    st.mtimeNanoseconds < started - VenvStatCache.racyWindowNanoseconds,
                    st.ctimeNanoseconds < started - VenvStatCache.racyWindowNanoseconds
                {
                    cache.record(key, st, recordHash: line.hash)
                    counts.recorded += 1
                }
            }
        }
        cache.save()
        return (modified, counts)
    }

    static func realtimeNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// `version status` drift entries for the modified files (one per package, as `PythonDriftCheck` words them).
    static func driftEntries(_ modified: [String: [PythonInstallation.ModifiedFile]]) -> [VersionDrift] {
        modified.keys.sorted().map { name in
            let files = modified[name] ?? []
            let shown = files.prefix(5).map { "\($0.path) (\($0.problem))" }.joined(separator: ", ")
            let more = files.count > 5 ? " and \(files.count - 5) more" : ""
            return VersionDrift(
                area: "python", subject: name, problem: "files changed since install",
                actual: "\(files.count) file(s) changed: \(shown)\(more)")
        }
    }
}
