import ComfySupport
internal import ComfyCrypto
public import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reading and writing lock files: strict parse with schema-version dispatch, RFC 8785 canonical bytes plus one
/// newline on disk, atomic writes, and the lock digest.
public enum LockFile {
    /// Parses a lock: strict JSON, then `schemaVersion` first, then the matching schema.
    public static func decode(_ bytes: [UInt8]) throws(LockError) -> Lock {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw LockError.invalidJSON(error)
        }
        return try decode(value)
    }

    /// Decodes a lock from an already parsed JSON value (schema-version dispatch, then strict schema).
    public static func decode(_ value: JSONValue) throws(LockError) -> Lock {
        guard case .object(let members) = value else {
            throw LockError.schema(path: JSONPath.root, "expected a lock object, found \(value.typeDescription)")
        }
        guard let version = members["schemaVersion"] else {
            throw LockError.schema(
                path: "$.schemaVersion", "missing required member \"schemaVersion\"; expected 1 or 2 for this comfylock")
        }
        guard case .number(let number) = version, number == number.rounded(.towardZero) else {
            throw LockError.schema(path: "$.schemaVersion", "expected an integer, found \(version.typeDescription)")
        }
        switch number {
        case 1, 2: return try Lock(jsonValue: value)
        default:
            var text: [UInt8] = []
            CanonicalJSON.writeNumber(number, into: &text)
            throw LockError.unsupportedVersion(String(decoding: text, as: UTF8.self))
        }
    }

    /// Reads and decodes the lock file at `url`.
    public static func read(from url: URL) throws(LockError) -> Lock {
        try decode(try readBytes(url))
    }

    /// The canonical bytes of the lock (collections sorted, RFC 8785) plus one trailing newline: the on-disk form.
    public static func encode(_ lock: Lock) -> [UInt8] {
        var bytes = canonicalBytes(lock)
        bytes.append(0x0A)
        return bytes
    }

    /// The canonical bytes of the lock without the trailing newline (what the digest covers).
    public static func canonicalBytes(_ lock: Lock) -> [UInt8] {
        CanonicalJSON.encode(lock.sorted().jsonValue)
    }

    /// SHA-256 (64 lowercase hex) of the canonical bytes, without the newline.
    public static func digest(_ lock: Lock) -> String {
        SHA256.hash(canonicalBytes(lock)).hex
    }

    /// Writes the lock atomically (`ComfySupport.AtomicFile`: a uniquely named partial file in the same directory,
    /// fsync, rename, directory fsync). When the file already holds exactly these bytes it is left untouched (no
    /// rewrite, mtime unchanged). Returns whether the file was written.
    @discardableResult
    public static func write(_ lock: Lock, to url: URL) throws(LockError) -> Bool {
        let bytes = encode(lock)
        do { return try AtomicFile.write(bytes, to: url.path, skipIfUnchanged: true) } catch {
            throw LockError.io(path: error.path, error.detail)
        }
    }

    /// Reads a whole (small) file into memory.
    public static func readBytes(_ url: URL) throws(LockError) -> [UInt8] {
        let path = url.path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LockError.io(path: path, "cannot open: \(errnoText())") }
        defer { close(fd) }
        var info = stat()
        let expected = fstat(fd, &info) == 0 && info.st_size > 0 ? Int(info.st_size) : 0
        // Read straight into one buffer of the file's size (plus one byte to notice growth), then grow if needed.
        var bytes = [UInt8](repeating: 0, count: max(expected + 1, 1 << 16))
        var count = 0
        while true {
            if count == bytes.count { bytes.append(contentsOf: repeatElement(0, count: bytes.count)) }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LockError.io(path: path, "cannot read: \(errnoText())")
            }
            if n == 0 { break }
            count += n
        }
        bytes.removeSubrange(count...)
        return bytes
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
