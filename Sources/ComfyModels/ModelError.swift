import ComfySupport
internal import ComfyTransport
import Foundation

/// An error from the model store, verification or fetching. Messages name the path or (redacted) URL and say what
/// was expected; they never contain credentials.
public struct ModelError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable, Equatable {
        case checksumMismatch, sizeMismatch, io, invalidPath, invalidDigest, noSources, allSourcesFailed, locked
        case cancelled, notInStore, noSpace
    }

    private let code: Code
    /// A one-line message naming the path or URL and what went wrong.
    public let message: String
    /// The underlying errors (e.g. one per source tried), if any.
    public let underlying: [any Error & Sendable]

    private init(_ code: Code, _ message: String, underlying: [any Error & Sendable] = []) {
        self.code = code
        self.message = SecretScrubber.scrub(message)  // the library boundary: no secret in any message
        self.underlying = underlying
    }

    /// The message.
    public var description: String { message }

    /// Content did not hash to what was expected.
    public static func checksumMismatch(expected: String, actual: String, source: String) -> ModelError {
        ModelError(.checksumMismatch, "sha256 mismatch for \(source): expected \(expected), got \(actual)")
    }

    /// Content had a different size than expected.
    public static func sizeMismatch(expected: Int64, actual: Int64, source: String) -> ModelError {
        ModelError(.sizeMismatch, "size mismatch for \(source): expected \(expected) bytes, got \(actual)")
    }

    /// A file system operation failed.
    public static func io(_ operation: String, path: String, errno code: Int32) -> ModelError {
        ModelError(.io, "\(operation) \(path): \(String(cString: strerror(code)))")
    }

    /// A file system operation failed (with a free-text reason).
    public static func io(_ operation: String, path: String, reason: String) -> ModelError {
        ModelError(.io, "\(operation) \(path): \(reason)")
    }

    /// The file system has no room for a download (`ENOSPC` or `EDQUOT` when its size was reserved or written).
    public static func noSpace(path: String, needed: Int64, errno code: Int32) -> ModelError {
        let reason = String(cString: strerror(code))
        return ModelError(
            .noSpace, "no space for \(needed) more bytes at \(path): \(reason) (free space, then fetch again)")
    }

    /// A `ComfySupport` file operation failed (a cancelled lock wait stays a cancellation).
    /// A full file system (`ENOSPC`, `EDQUOT`) is `isNoSpace`.
    static func file(_ error: FileError) -> ModelError {
        if error.isCancellation { return ModelError(.cancelled, error.message) }
        if error.errno == ENOSPC || error.errno == EDQUOT {
            return ModelError(.noSpace, error.message + " (free space, then fetch again)")
        }
        return ModelError(.io, error.message)
    }

    /// A lock's model path is not a safe relative path.
    public static func invalidPath(_ path: String, reason: String) -> ModelError {
        ModelError(.invalidPath, "invalid model path \"\(path)\": \(reason)")
    }

    /// A digest is not 64 lowercase hex characters.
    public static func invalidDigest(_ text: String) -> ModelError {
        ModelError(.invalidDigest, "invalid sha256 \"\(text.prefix(80))\": expected 64 lowercase hex characters")
    }

    /// A blob is missing from the store and there is no URL to fetch it from.
    public static func noSources(sha256: String) -> ModelError {
        ModelError(.noSources, "blob \(sha256) is not in the store and has no source URL")
    }

    /// Every source failed; `underlying` holds one error per source.
    public static func allSourcesFailed(sha256: String, errors: [any Error & Sendable]) -> ModelError {
        let detail = errors.map { String(describing: $0) }.joined(separator: "; ")
        return ModelError(.allSourcesFailed, "could not fetch \(sha256) from any source: \(detail)", underlying: errors)
    }

    /// The blob is not in the store (and fetching was not allowed).
    public static func notInStore(sha256: String) -> ModelError {
        ModelError(.notInStore, "blob \(sha256) is not in the store")
    }

    /// The operation was cancelled.
    public static func cancelled(_ what: String) -> ModelError { ModelError(.cancelled, "\(what) cancelled") }

    /// True for checksum mismatches.
    public var isChecksumMismatch: Bool { code == .checksumMismatch }
    /// True for size mismatches.
    public var isSizeMismatch: Bool { code == .sizeMismatch }
    /// True when no source could provide the blob.
    public var isFetchFailure: Bool { code == .allSourcesFailed || code == .noSources || code == .notInStore }
    /// True when the file system ran out of space (retrying will not help until space is freed).
    public var isNoSpace: Bool { code == .noSpace }
    /// True for cancellation.
    public var isCancellation: Bool { code == .cancelled }
}
