public import ComfyLock
public import Foundation

/// Options for building a version's Python environment.
public struct PythonBuildOptions: Sendable, Hashable {
    /// No index access at all: install only from `wheelhouse`.
    public var offline: Bool
    /// A directory of pinned artifacts (`comfy-cli pin wheelhouse`).
    public var wheelhouse: String?
    /// The interpreter to create the venv with (path or name), or nil for the default.
    public var python: String?
    /// Install pins without a hash by version only (unverified) instead of refusing them.
    public var allowUnpinned: Bool

    /// Options.
    public init(offline: Bool = false, wheelhouse: String? = nil, python: String? = nil, allowUnpinned: Bool = false) {
        self.allowUnpinned = allowUnpinned
        self.offline = offline
        self.wheelhouse = wheelhouse
        self.python = python
    }
}

/// The Python step of `version create`, `version status`, `version digest` and `lock create`
/// (implemented over ComfyRuntime's Python layer; a protocol so the rest is testable on its own).
public protocol PythonEnvironmentProvider: Sendable {
    /// Creates a venv at `venv` and installs exactly `pins`, hash-checked.
    func build(venv: URL, pins: PythonPins, options: PythonBuildOptions) async throws
    /// Human-readable differences between the venv and `pins` (empty when they match).
    func drift(venv: URL, pins: PythonPins) async throws -> [String]
    /// Directory-independent identity lines of the installed package set (sorted).
    func identity(venv: URL) async throws -> [String]
    /// The venv's packages as pins for a lock, plus packages whose artifact hash could not be established.
    func record(venv: URL, previous: PythonPins?) async throws -> (pins: PythonPins, unresolved: [String])
    /// `record(venv:previous:)`, also asking `indexURLs` (nil = the previous pins' or PyPI) for the artifact of
    /// every installed distribution no known pin covers. Packages still without a hash are in the pins with no
    /// artifacts (so `LockValidator` refuses the lock as unpinned) and listed in `unresolved`.
    func record(
        venv: URL, previous: PythonPins?, indexURLs: [String]?
    ) async throws
        -> (pins: PythonPins, unresolved: [String])
}

extension PythonEnvironmentProvider {
    /// Python drift as `version status` entries: area `python`, subject = the package, `expected`/`actual` = what
    /// the lock pins and what is installed. Providers without structured drift report one line each.
    public func driftEntries(venv: URL, pins: PythonPins) async throws -> [VersionDrift] {
        if let runtime = self as? RuntimePythonEnvironment {
            return try await runtime.structuredDrift(venv: venv, pins: pins)
        }
        return try await drift(venv: venv, pins: pins).map {
            VersionDrift(area: "python", subject: "venv", problem: $0)
        }
    }

    /// Providers without an index lookup record what they can without one.
    public func record(
        venv: URL, previous: PythonPins?, indexURLs: [String]?
    ) async throws
        -> (pins: PythonPins, unresolved: [String])
    {
        try await record(venv: venv, previous: previous)
    }
}
