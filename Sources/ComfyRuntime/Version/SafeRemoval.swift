internal import ComfyLock
internal import ComfyModels
public import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// Deletes a version directory without ever leaving it.
///
/// Only a directory that carries the metadata this tool writes (`.comfylock-version.json`, a regular file naming
/// the version) is a version; anything else under the root is refused. Entries are examined with `lstat`: symbolic
/// links are removed as links (never followed). No mount point is crossed: mount points come from
/// `/proc/self/mountinfo` (which sees bind mounts of the same file system, unlike `st_dev`), and a version with a
/// mount anywhere inside is refused as a whole, before anything is deleted; `st_dev` is checked too. The root
/// itself, `/`, `$HOME` and the store are refused.
public enum SafeRemoval {
    /// What removing a version would delete.
    public struct Plan: Sendable, Hashable {
        /// The version directory.
        public let target: URL
        /// Every entry that would go, children before their directory, ending with `target`.
        public let entries: [String]
        /// Total bytes of regular files (hard links to store blobs included; the blobs stay).
        public let bytes: Int64
    }

    /// Checks that `name` under `root` may be removed and lists what would go. Neither `/` nor `home` (the user's
    /// home directory, as the front end knows it from `$HOME`) is ever a target.
    public static func plan(root: URL, name: String, protected: [URL] = [], home: String?) throws -> Plan {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\0") else {
            throw RuntimeError.unsafePath(
                "\(Escaping.quoted(name)) is not a version name (one path component, no '..' or '/')")
        }
        let rootPath = try realPath(root.path, what: "versions root")
        let home = home.flatMap { try? realPath($0, what: "home") }
        guard rootPath != "/" else { throw RuntimeError.unsafePath("refusing to remove from '/' as a versions root") }
        let targetPath = rootPath + "/" + name
        var info = stat()
        guard lstat(targetPath, &info) == 0 else {
            throw RuntimeError.notFound("no version \(Escaping.quoted(name)) in \(rootPath)")
        }
        guard (info.st_mode & S_IFMT) != S_IFLNK else {
            throw RuntimeError.unsafePath("\(targetPath) is a symbolic link; refusing to remove what it points to")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw RuntimeError.unsafePath("\(targetPath) is not a directory")
        }
        let resolved = try realPath(targetPath, what: "version")
        guard resolved == targetPath, (resolved as NSString).deletingLastPathComponent == rootPath else {
            throw RuntimeError.unsafePath("\(targetPath) resolves to \(resolved), outside \(rootPath)")
        }
        for forbidden in ["/", home].compactMap({ $0 }) where resolved == forbidden {
            throw RuntimeError.unsafePath("refusing to remove \(resolved)")
        }
        for place in protected {
            guard let path = try? realPath(place.path, what: "protected") else { continue }
            if path == resolved || path.hasPrefix(resolved + "/") {
                throw RuntimeError.unsafePath("\(resolved) contains \(path) (the store); refusing to remove it")
            }
        }
        try checkIsVersion(resolved, name: name)
        let mounts = try MountTable.mountPoints()
        try checkNoMounts(under: resolved, mounts: mounts)
        var entries: [String] = []
        var bytes: Int64 = 0
        try walk(resolved, device: info.st_dev, mounts: mounts, entries: &entries, bytes: &bytes)
        return Plan(target: URL(fileURLWithPath: resolved), entries: entries, bytes: bytes)
    }

    /// Removes what `plan` lists: re-checks that nothing is mounted inside, renames the version to a hidden
    /// `.removing-*` name in the root (so it stops being a version at once), then deletes entry by entry without
    /// following links. If the deletion fails, what is left is renamed back, so no `.removing-*` stays behind.
    public static func execute(_ plan: Plan) throws {
        try checkNoMounts(under: plan.target.path, mounts: try MountTable.mountPoints())
        let parent = plan.target.deletingLastPathComponent().path
        let hidden = parent + "/.removing-\(plan.target.lastPathComponent)-\(UInt32.random(in: 0...UInt32.max))"
        guard rename(plan.target.path, hidden) == 0 else {
            throw RuntimeError.unsafePath("cannot move \(plan.target.path) aside: \(String(cString: strerror(errno)))")
        }
        do {
            try removeTree(hidden)
        } catch {
            _ = rename(hidden, plan.target.path)
            throw error
        }
    }

    /// Deletes a directory tree this process created (staging areas), with the same no-follow, no-mount rules.
    static func removeTree(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        var entries: [String] = []
        var bytes: Int64 = 0
        if (info.st_mode & S_IFMT) == S_IFDIR {
            let mounts = try MountTable.mountPoints()
            try checkNoMounts(under: path, mounts: mounts)
            try walk(path, device: info.st_dev, mounts: mounts, entries: &entries, bytes: &bytes)
        } else {
            entries = [path]
        }
        for entry in entries {
            var entryInfo = stat()
            guard lstat(entry, &entryInfo) == 0 else { continue }
            // BlobProtection.unlink: a model hard-linked to an immutable store blob is unlinked with the flag
            // cleared, and the blob is protected again.
            let rc = (entryInfo.st_mode & S_IFMT) == S_IFDIR ? rmdir(entry) : BlobProtection.unlink(entry)
            guard rc == 0 || errno == ENOENT else {
                throw RuntimeError.unsafePath("cannot remove \(entry): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Refuses a directory that lacks the metadata `version create` writes (a regular file, not a link, whose
    /// `name` is the directory's name).
    static func checkIsVersion(_ path: String, name: String) throws {
        let metadata = path + "/" + ".comfylock-version.json"
        var info = stat()
        let notVersion = RuntimeError.unsafePath(
            "\(path) is not a version made by comfylock (no .comfylock-version.json naming \(Escaping.quoted(name))); "
                + "refusing to remove it")
        guard lstat(metadata, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size < 1 << 20 else {
            throw notVersion
        }
        guard let bytes = try? BoundedInput.read(metadata, limits: InputLimits(maxBytes: 1 << 20)),
            let decoded = try? JSONDecoder().decode(VersionMetadata.self, from: Data(bytes)), decoded.name == name
        else { throw notVersion }
    }

    /// Throws when `path` is a mount point or has one anywhere below it.
    static func checkNoMounts(under path: String, mounts: Set<String>) throws {
        if mounts.contains(path) {
            throw RuntimeError.unsafePath("\(path) is a mount point; refusing to remove it")
        }
        let inside = mounts.filter { $0.hasPrefix(path + "/") }.sorted()
        if let first = inside.first {
            throw RuntimeError.unsafePath(
                "\(first) is a mount point inside \(path)\(inside.count > 1 ? " (and \(inside.count - 1) more)" : ""); "
                    + "refusing to remove anything (unmount it first)")
        }
    }

    private static func walk(
        _ directory: String, device: dev_t, mounts: Set<String>, entries: inout [String], bytes: inout Int64
    ) throws {
        _ = chmod(directory, 0o755)  // read-only directories (some wheels) could not be emptied otherwise
        guard let dir = opendir(directory) else {
            throw RuntimeError.unsafePath("cannot read \(directory): \(String(cString: strerror(errno)))")
        }
        var children: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            children.append(directory + "/" + name)
        }
        closedir(dir)
        for child in children.sorted() {
            var info = stat()
            guard lstat(child, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                guard info.st_dev == device, !mounts.contains(child) else {
                    throw RuntimeError.unsafePath("\(child) is a mount point inside the version; not entering it")
                }
                try walk(child, device: device, mounts: mounts, entries: &entries, bytes: &bytes)
            case S_IFREG:
                bytes += Int64(info.st_size)
                entries.append(child)
            default:
                entries.append(child)  // symlinks, sockets, fifos: removed as themselves
            }
        }
        entries.append(directory)
    }

    private static func realPath(_ path: String, what: String) throws -> String {
        guard let resolved = realpath(path, nil) else {
            throw RuntimeError.notFound("\(what) \(path): \(String(cString: strerror(errno)))")
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// The mount points of this process's mount namespace, from `/proc/self/mountinfo` (field 5, octal escapes
/// decoded). Bind mounts of a directory of the same file system appear here although `st_dev` does not change.
enum MountTable {
    static func mountPoints() throws -> Set<String> {
        let bytes: [UInt8]
        let fd = try openProc()
        defer { close(fd) }
        do {
            bytes = try BoundedInput.readStream(
                fd, name: "/proc/self/mountinfo", limits: InputLimits(maxBytes: 64 << 20))
        } catch {
            throw RuntimeError.unsafePath("cannot read /proc/self/mountinfo to find mount points: \(error)")
        }
        var points: Set<String> = []
        for line in bytes.split(separator: 0x0A) {
            let fields = line.split(separator: 0x20, maxSplits: 5)
            guard fields.count >= 5 else { continue }
            points.insert(decode(fields[4]))
        }
        return points
    }

    private static func openProc() throws -> Int32 {
        let fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RuntimeError.unsafePath("cannot open /proc/self/mountinfo") }
        return fd
    }

    /// `\040`-style octal escapes (space, tab, newline, backslash) back to bytes.
    static func decode(_ field: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        var i = field.startIndex
        while i < field.endIndex {
            if field[i] == 0x5C, field.distance(from: i, to: field.endIndex) >= 4,
                let value = UInt8(String(decoding: field[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
            {
                out.append(value)
                i += 4
            } else {
                out.append(field[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
