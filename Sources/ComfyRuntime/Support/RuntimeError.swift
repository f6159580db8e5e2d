internal import ComfySupport
internal import ComfyTransport

/// Errors of ComfyRuntime's environment operations (git cache, versions, lock creation, init).
///
/// Messages name the repository, commit, path or step involved and say what was expected; they never contain
/// credentials (URLs are shown with credentials removed).
public struct RuntimeError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable, Hashable {
        case invalidConfiguration, commitNotFound, refNotFound, checkoutMismatch, invalidName, alreadyExists
        case notFound, unsafePath, dirtyTree, stepFailed, invalidInput, modelMissing
    }

    private let code: Code
    /// What went wrong, naming the repository, path or step.
    public let message: String
    /// The error that caused this one, if any.
    public let underlying: (any Error)?
    /// The step of a multi-step operation that failed (`version create`), if any.
    public let step: String?

    private init(_ code: Code, _ message: String, underlying: (any Error)? = nil, step: String? = nil) {
        self.code = code
        self.message = SecretScrubber.scrub(message)  // the library boundary: no secret in any message
        self.underlying = underlying
        self.step = step
    }

    /// A configuration value (environment variable, mirrors file) is malformed.
    public static func invalidConfiguration(_ message: String) -> RuntimeError { .init(.invalidConfiguration, message) }

    /// A commit is not in the repository, even after fetching.
    public static func commitNotFound(
        repository: String, commit: String, underlying: (any Error)? = nil
    )
        -> RuntimeError
    {
        .init(
            .commitNotFound,
            "commit \(commit) not found in \(Redaction.redact(repository)) (fetched all branches and tags, "
                + "and asked for the commit directly); was it force-pushed away or is the URL wrong?",
            underlying: underlying)
    }

    /// A branch, tag or abbreviated commit could not be resolved.
    public static func refNotFound(repository: String, ref: String) -> RuntimeError {
        .init(.refNotFound, "\(ref) is not a branch, tag or commit of \(Redaction.redact(repository))")
    }

    /// After checkout, HEAD is not the wanted commit.
    public static func checkoutMismatch(path: String, expected: String, actual: String?) -> RuntimeError {
        .init(.checkoutMismatch, "\(path): HEAD is \(actual ?? "missing"), expected \(expected) after checkout")
    }

    /// A version or node name is not acceptable.
    public static func invalidName(_ message: String) -> RuntimeError { .init(.invalidName, message) }

    /// The target exists already.
    public static func alreadyExists(_ message: String) -> RuntimeError { .init(.alreadyExists, message) }

    /// Something expected is missing.
    public static func notFound(_ message: String) -> RuntimeError { .init(.notFound, message) }

    /// A path would escape the directory it must stay in, or names a protected location.
    public static func unsafePath(_ message: String) -> RuntimeError { .init(.unsafePath, message) }

    /// A work tree has uncommitted changes.
    public static func dirtyTree(path: String, paths: [String]) -> RuntimeError {
        let shown = paths.prefix(10).joined(separator: ", ") + (paths.count > 10 ? ", …" : "")
        return .init(
            .dirtyTree, "\(path) has uncommitted changes (\(shown)); commit them or pass --allow-dirty")
    }

    /// Bad input (a lock without a field the operation needs, an unreadable manifest).
    public static func invalidInput(_ message: String, underlying: (any Error)? = nil) -> RuntimeError {
        .init(.invalidInput, message, underlying: underlying)
    }

    /// A model blob is neither in the store nor fetchable.
    public static func modelMissing(_ message: String) -> RuntimeError { .init(.modelMissing, message) }

    /// A named step of a multi-step operation failed.
    public static func stepFailed(_ step: String, underlying: any Error) -> RuntimeError {
        .init(.stepFailed, "step '\(step)' failed: \(underlying)", underlying: underlying, step: step)
    }

    /// True for `commitNotFound`.
    public var isCommitNotFound: Bool { code == .commitNotFound }
    /// True for `unsafePath`.
    public var isUnsafePath: Bool { code == .unsafePath }
    /// True for `dirtyTree`.
    public var isDirtyTree: Bool { code == .dirtyTree }

    /// The message.
    public var description: String { message }
}
