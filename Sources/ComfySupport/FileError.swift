internal import Foundation

#if canImport(Glibc)
    internal import Glibc
#endif

/// A failed file-system operation of ComfySupport (`FileLock`, `AtomicFile`, `FileIO`): what was attempted, the path
/// and the system's reason.
public struct FileError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable { case io, cancelled }

    private let code: Code
    /// A human-readable message naming the operation and the path.
    public let message: String
    /// The path the operation was about.
    public let path: String
    /// The `errno` value, when the failure came from a system call.
    public let errno: Int32?
    /// The message without the path (`cannot rename: No space left on device`), for callers that name the path
    /// themselves.
    public let detail: String

    private init(_ code: Code, message: String, path: String, errno: Int32?, detail: String) {
        self.code = code
        self.message = message
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    /// `operation` on `path` failed with `errno` (its `strerror` text is part of the message).
    public static func io(_ operation: String, path: String, errno: Int32) -> FileError {
        let reason = String(cString: strerror(errno))
        return FileError(
            .io, message: "cannot \(operation) \(path): \(reason)", path: path, errno: errno,
            detail: "cannot \(operation): \(reason)")
    }

    /// `operation` on `path` failed for `reason`.
    public static func io(_ operation: String, path: String, reason: String) -> FileError {
        FileError(
            .io, message: "cannot \(operation) \(path): \(reason)", path: path, errno: nil,
            detail: "cannot \(operation): \(reason)")
    }

    /// Waiting for something at `path` was cancelled.
    public static func cancelled(_ what: String, path: String) -> FileError {
        FileError(.cancelled, message: "cancelled while \(what)", path: path, errno: nil, detail: "cancelled")
    }

    /// True when the operation stopped because the task was cancelled.
    public var isCancellation: Bool { code == .cancelled }

    /// The message.
    public var description: String { message }
}
