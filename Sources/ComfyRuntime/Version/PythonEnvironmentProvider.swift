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

    /// Options.
    public init(offline: Bool = false, wheelhouse: String? = nil, python: String? = nil) {
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
}
