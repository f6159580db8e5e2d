public import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// Deletes a version directory without ever leaving the versions root: entries are examined with `lstat`, symbolic
/// links are removed as links (never followed), other file systems mounted inside are not entered, and the root
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

    /// Checks that `name` under `root` may be removed and lists what would go.
    public static func plan(root: URL, name: String, protected: [URL] = []) throws -> Plan {
        guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\0") else {
            throw RuntimeError.unsafePath("'\(name)' is not a version name (one path component, no '..' or '/')")
        }
        let rootPath = try realPath(root.path, what: "versions root")
        let home = ProcessInfo.processInfo.environment["HOME"].flatMap { try? realPath($0, what: "home") }
        guard rootPath != "/" else { throw RuntimeError.unsafePath("refusing to remove from '/' as a versions root") }
        let targetPath = rootPath + "/" + name
        var info = stat()
        guard lstat(targetPath, &info) == 0 else {
            throw RuntimeError.notFound("no version '\(name)' in \(rootPath)")
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
        var entries: [String] = []
        var bytes: Int64 = 0
        try walk(resolved, device: info.st_dev, entries: &entries, bytes: &bytes)
        return Plan(target: URL(fileURLWithPath: resolved), entries: entries, bytes: bytes)
    }

    /// Removes what `plan` lists: first renames the version to a hidden `.removing-*` name in the root (so it stops
    /// being a version at once), then deletes entry by entry without following links.
    public static func execute(_ plan: Plan) throws {
        let parent = plan.target.deletingLastPathComponent().path
        let hidden = parent + "/.removing-\(plan.target.lastPathComponent)-\(UInt32.random(in: 0...UInt32.max))"
        guard rename(plan.target.path, hidden) == 0 else {
            throw RuntimeError.unsafePath("cannot move \(plan.target.path) aside: \(String(cString: strerror(errno)))")
        }
        try removeTree(hidden)
    }

    /// Deletes a directory tree this process created (staging areas), with the same no-follow rules.
    static func removeTree(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        var entries: [String] = []
        var bytes: Int64 = 0
        if (info.st_mode & S_IFMT) == S_IFDIR {
            try walk(path, device: info.st_dev, entries: &entries, bytes: &bytes)
        } else {
            entries = [path]
        }
        for entry in entries {
            var entryInfo = stat()
            guard lstat(entry, &entryInfo) == 0 else { continue }
            let rc = (entryInfo.st_mode & S_IFMT) == S_IFDIR ? rmdir(entry) : unlink(entry)
            guard rc == 0 || errno == ENOENT else {
                throw RuntimeError.unsafePath("cannot remove \(entry): \(String(cString: strerror(errno)))")
            }
        }
    }

    private static func walk(_ directory: String, device: dev_t, entries: inout [String], bytes: inout Int64) throws {
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
                guard info.st_dev == device else {
                    throw RuntimeError.unsafePath("\(child) is another file system mounted inside; not entering it")
                }
                try walk(child, device: device, entries: &entries, bytes: &bytes)
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
