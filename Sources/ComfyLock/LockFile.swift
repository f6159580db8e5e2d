internal import ComfyCrypto
import ComfySupport
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
                path: "$.schemaVersion", "missing required member \"schemaVersion\"; expected 1 or 2 for this comfylock"
            )
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

    /// Reads and decodes the lock file at `url` (bounded: `InputLimits.default`, regular files only). Does not
    /// validate: entry points that act on a lock use `load(path:limits:level:)`.
    public static func read(from url: URL) throws(LockError) -> Lock {
        try decode(try readBytes(url))
    }

    /// The entry point for every command that acts on a lock: reads `path` (`-` = standard input) through
    /// `BoundedInput` (regular file, at most `limits.maxBytes`), decodes it strictly and validates it with
    /// `LockValidator` at `level` — all before the caller has any side effect. Throws `LockError` naming the file,
    /// and for an invalid lock every error with its JSON path and rule (`LockError.diagnostics`).
    public static func load(
        path: String, limits: InputLimits = .default, level: LockValidator.Level = .complete
    ) throws(LockError) -> Lock {
        let lock = try decode(try BoundedInput.read(path, limits: limits, what: "lock"))
        let errors = LockValidator.errors(lock, level: level)
        guard errors.isEmpty else { throw LockError.invalidLock(file: Escaping.escaped(path), errors) }
        return lock
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

    /// Reads a whole lock-sized file into memory: a regular file of at most `limits.maxBytes` (`BoundedInput`).
    public static func readBytes(_ url: URL, limits: InputLimits = .default) throws(LockError) -> [UInt8] {
        try BoundedInput.read(url.path, limits: limits, what: "lock")
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
