internal import ComfyProcess
internal import ComfySupport
internal import ComfyTransport

/// An error from the Python side of ComfyRuntime: finding interpreters, creating venvs, installing pins, pinning
/// requirements, building a wheelhouse.
///
/// Messages name the path, package, URL or command involved and say what was expected. They never contain
/// credentials (URLs are redacted with `Redaction`).
public struct PythonError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable, Hashable {
        case interpreterNotFound
        case interpreterUnusable
        case uvNotFound
        case venvCreationFailed
        case notAVirtualEnvironment
        case unhashedPin
        case installFailed
        case wheelhouseMissing
        case resolutionConflict
        case resolutionFailed
        case invalidResolverOutput
        case invalidRequirements
        case invalidPlatform
        case artifactHashMismatch
        case downloadFailed
        case io
    }

    private let code: Code
    /// A one-paragraph explanation, naming what failed and what was expected.
    public let message: String
    /// The error that caused this one (a `ProcessError`, an I/O error), if any.
    public let underlying: (any Error)?

    private init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = SecretScrubber.scrub(message)  // the library boundary: no secret in any message
        self.underlying = underlying
    }

    /// No usable Python interpreter was found for `request`.
    public static func interpreterNotFound(_ request: String, searched: [String]) -> PythonError {
        PythonError(
            .interpreterNotFound,
            "no Python interpreter found for \(request) (looked for: \(searched.joined(separator: ", ")))")
    }

    /// An interpreter exists at `path` but could not report its version/platform.
    public static func interpreterUnusable(_ path: String, underlying: (any Error)?) -> PythonError {
        PythonError(.interpreterUnusable, "the Python interpreter \(path) does not run", underlying: underlying)
    }

    /// uv was requested explicitly (option or `COMFYLOCK_UV`) but is not at `path`.
    public static func uvNotFound(_ path: String) -> PythonError {
        PythonError(.uvNotFound, "uv was requested at \(path) but no executable is there")
    }

    /// Creating the virtual environment at `path` failed.
    public static func venvCreationFailed(_ path: String, underlying: (any Error)?) -> PythonError {
        PythonError(.venvCreationFailed, "cannot create the virtual environment at \(path)", underlying: underlying)
    }

    /// `path` is not a virtual environment (no `pyvenv.cfg` / `bin/python`).
    public static func notAVirtualEnvironment(_ path: String) -> PythonError {
        PythonError(
            .notAVirtualEnvironment, "\(path) is not a Python virtual environment (expected pyvenv.cfg and bin/python)")
    }

    /// A pinned package has neither artifacts with sha256 nor a VCS commit, so it cannot be installed hash-checked.
    public static func unhashedPin(_ name: String, version: String) -> PythonError {
        PythonError(
            .unhashedPin,
            "python.packages \(name)==\(version) has no artifact with a sha256 and no VCS commit: "
                + "installs are always hash-checked, re-run `comfy-cli pin --lock` to record its artifacts")
    }

    /// The installer (uv or pip) refused or failed; `underlying` is the `ProcessError` with its stderr tail.
    public static func installFailed(_ what: String, venv: String, underlying: (any Error)?) -> PythonError {
        PythonError(.installFailed, "installing \(what) into \(venv) failed", underlying: underlying)
    }

    /// The wheelhouse directory for an offline install does not exist.
    public static func wheelhouseMissing(_ path: String) -> PythonError {
        PythonError(
            .wheelhouseMissing, "the wheelhouse \(path) does not exist (make it with `comfy-cli pin wheelhouse`)")
    }

    /// The requirements cannot be satisfied together; the message lists the requirement chains that clash.
    public static func resolutionConflict(_ explanation: String, underlying: (any Error)?) -> PythonError {
        PythonError(.resolutionConflict, explanation, underlying: underlying)
    }

    /// The resolver failed for another reason (unknown package, unreachable index, ...).
    public static func resolutionFailed(_ explanation: String, underlying: (any Error)?) -> PythonError {
        PythonError(.resolutionFailed, explanation, underlying: underlying)
    }

    /// The resolver's output could not be read.
    public static func invalidResolverOutput(_ detail: String) -> PythonError {
        PythonError(.invalidResolverOutput, "cannot read the resolver's output: \(detail)")
    }

    /// A requirements input is unusable.
    public static func invalidRequirements(_ detail: String) -> PythonError {
        PythonError(.invalidRequirements, detail)
    }

    /// A platform tag is not one ComfyLock can map to a resolver target.
    public static func invalidPlatform(_ tag: String) -> PythonError {
        PythonError(
            .invalidPlatform,
            "unsupported platform tag \(tag) (expected e.g. manylinux_2_36_x86_64, linux_aarch64, "
                + "macosx_14_0_arm64, win_amd64)")
    }

    /// A downloaded or wheelhouse artifact does not have its pinned sha256.
    public static func artifactHashMismatch(file: String, expected: String, actual: String) -> PythonError {
        PythonError(.artifactHashMismatch, "sha256 mismatch for \(file): expected \(expected), got \(actual)")
    }

    /// Downloading an artifact failed.
    public static func downloadFailed(_ url: String, underlying: (any Error)?) -> PythonError {
        PythonError(.downloadFailed, "cannot download \(url)", underlying: underlying)
    }

    /// A file operation failed.
    public static func io(_ detail: String, underlying: (any Error)? = nil) -> PythonError {
        PythonError(.io, detail, underlying: underlying)
    }

    /// True for a resolution conflict (the message names the clashing chains).
    public var isResolutionConflict: Bool { code == .resolutionConflict }
    /// True when the resolver failed for another reason (a package or version not found).
    public var isResolutionFailure: Bool { code == .resolutionFailed }
    /// True when an artifact failed its hash check.
    public var isHashMismatch: Bool { code == .artifactHashMismatch }
    /// True when the installer failed.
    public var isInstallFailure: Bool { code == .installFailed }

    /// The message, followed by the underlying error's description when there is one.
    public var description: String {
        guard let underlying else { return message }
        return SecretScrubber.scrub("\(message): \(underlying)")
    }
}
