#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Size limits for files a command reads whole (locks, snapshots, workflows, manifests, jobs).
public struct InputLimits: Hashable, Sendable {
    /// The default cap for one input: 64 MiB (a lock of a large deployment is well under 1 MiB).
    public static let defaultMaxBytes = 64 << 20

    /// The largest input accepted, in bytes.
    public var maxBytes: Int

    /// Limits with `maxBytes` (default 64 MiB).
    public init(maxBytes: Int = InputLimits.defaultMaxBytes) { self.maxBytes = max(0, maxBytes) }

    /// The default limits.
    public static let `default` = InputLimits()
}

/// The one bounded reader of whole input files, used by every command and entry point that reads an untrusted file.
///
/// - A path must name a regular file: directories, devices (`/dev/zero`), FIFOs and sockets are refused before a
///   byte is read (opened with `O_NONBLOCK`, so a FIFO does not block the open), unless the caller passes `-` for
///   standard input.
/// - At most `limits.maxBytes` are read; a larger file (or a stream that keeps going, such as endless standard
///   input) is an error naming the limit, after reading one byte more than the limit, never more.
public enum BoundedInput {
    /// The bytes of `path` (`-` = standard input), at most `limits.maxBytes`. `what` names the input in messages
    /// ("lock", "snapshot", …).
    public static func read(
        _ path: String, limits: InputLimits = .default, what: String = "input"
    ) throws(LockError) -> [UInt8] {
        if path == "-" { return try readStream(STDIN_FILENO, name: "standard input", limits: limits, what: what) }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw LockError.io(path: Escaping.escaped(path), "cannot open: \(errnoText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw LockError.io(path: Escaping.escaped(path), "cannot stat: \(errnoText())")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw LockError.io(
                path: Escaping.escaped(path),
                "is not a regular file (\(kind(info.st_mode))); expected a \(what) file (use '-' to read standard input)"
            )
        }
        if Int64(info.st_size) > Int64(limits.maxBytes) {
            throw tooLarge(Escaping.escaped(path), limits: limits, what: what, size: Int64(info.st_size))
        }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) }
        return try readStream(fd, name: Escaping.escaped(path), limits: limits, what: what, sizeHint: Int(info.st_size))
    }

    /// Reads `fd` to its end, at most `limits.maxBytes` bytes.
    public static func readStream(
        _ fd: Int32, name: String, limits: InputLimits = .default, what: String = "input", sizeHint: Int = 0
    ) throws(LockError) -> [UInt8] {
        let cap = limits.maxBytes
        var bytes = [UInt8](repeating: 0, count: min(max(sizeHint + 1, 1 << 16), cap + 1))
        var count = 0
        while true {
            if count == bytes.count {
                if count > cap { throw tooLarge(name, limits: limits, what: what, size: nil) }
                bytes.append(contentsOf: repeatElement(0, count: min(bytes.count, cap + 1 - bytes.count)))
            }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {  // a non-blocking stdin: wait for data
                    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    _ = poll(&p, 1, -1)
                    continue
                }
                throw LockError.io(path: name, "cannot read: \(errnoText())")
            }
            if n == 0 { break }
            count += n
            if count > cap { throw tooLarge(name, limits: limits, what: what, size: nil) }
        }
        bytes.removeSubrange(count...)
        return bytes
    }

    private static func tooLarge(_ name: String, limits: InputLimits, what: String, size: Int64?) -> LockError {
        let found = size.map { " (\($0) bytes)" } ?? ""
        return LockError.io(
            path: name,
            "\(what) is larger than the limit of \(limits.maxBytes) bytes\(found); raise it with --max-input-size "
                + "if the file is trusted")
    }

    private static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "not a regular file"
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
