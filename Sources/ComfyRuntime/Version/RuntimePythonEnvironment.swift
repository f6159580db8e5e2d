public import ComfyLock
public import Foundation

/// `PythonEnvironmentProvider` over ComfyRuntime's Python layer: `PythonToolchain` (uv when present, else pip),
/// `PythonVirtualEnvironment`, `PythonInstaller` (hash-checked, `--no-deps`, offline wheelhouse), `PythonDriftCheck`,
/// `PythonEnvironmentIdentity` and `PythonLockRecorder`.
public struct RuntimePythonEnvironment: PythonEnvironmentProvider {
    /// The environment Python tools are discovered from (`COMFYLOCK_UV`, `COMFYLOCK_UV_CACHE_DIR`, `PATH`).
    public var environment: [String: String]
    /// Package mirror rules for index URLs (installs, index lookups); recorded URLs stay the original ones.
    public var mirrors: URLRewriter
    /// The installer caches `lock create` falls back to when the index cannot resolve a distribution; nil = the
    /// default locations from `environment` (`PythonInstallerCaches.fromEnvironment`).
    public var caches: PythonInstallerCaches?

    /// A provider discovering Python tools from the process environment: the front ends' entry point.
    public static func fromEnvironment(mirrors: URLRewriter = URLRewriter()) -> RuntimePythonEnvironment {
        RuntimePythonEnvironment(environment: ProcessInfo.processInfo.environment, mirrors: mirrors)
    }

    /// A provider discovering Python tools from `environment`.
    public init(
        environment: [String: String], mirrors: URLRewriter = URLRewriter(), caches: PythonInstallerCaches? = nil
    ) {
        self.environment = environment
        self.mirrors = mirrors
        self.caches = caches
    }

    /// See `PythonEnvironmentProvider.build(venv:pins:options:)`.
    public func build(venv: URL, pins: PythonPins, options: PythonBuildOptions) async throws {
        let wanted = options.python ?? Self.majorMinor(pins.version)
        let toolchain = try await PythonToolchain.discover(python: wanted, environment: environment)
        let env = try await PythonVirtualEnvironment.create(at: venv.path, toolchain: toolchain)
        _ = try await PythonInstaller.install(
            pins, into: env, toolchain: toolchain,
            options: PythonInstallOptions(
                offline: options.offline, wheelhouse: options.wheelhouse, allowUnhashed: options.allowUnpinned,
                mirrors: mirrors))
    }

    /// See `PythonEnvironmentProvider.drift(venv:pins:)`.
    public func drift(venv: URL, pins: PythonPins) async throws -> [String] {
        let env = try PythonVirtualEnvironment(existingAt: venv.path)
        return try PythonDriftCheck.check(env, against: pins).entries.map(\.description)
    }

    /// Drift with the package as subject and the pinned / installed values as expected / actual.
    /// `options` decides how installed files are checked (`verifyFiles: nil` leaves them to the caller, as
    /// `VersionInspector` does with its stat cache).
    public func structuredDrift(
        venv: URL, pins: PythonPins, options: PythonDriftOptions = PythonDriftOptions()
    ) async throws -> [VersionDrift] {
        let env = try PythonVirtualEnvironment(existingAt: venv.path)
        return try PythonDriftCheck.check(env, against: pins, options: options).entries.map { entry -> VersionDrift in
            let problem: String
            switch entry.kind {
            case .missing: problem = "missing"
            case .extra: problem = "extra"
            case .versionMismatch: problem = "version"
            case .commitMismatch: problem = "commit"
            case .hashMismatch: problem = "sha256"
            case .modifiedFiles: problem = "files changed since install"
            }
            return VersionDrift(
                area: "python", subject: entry.name, problem: problem, expected: entry.expected,
                actual: entry.actual ?? entry.detail)
        }
    }

    /// See `PythonEnvironmentProvider.identity(venv:)`.
    public func identity(venv: URL) async throws -> [String] {
        try PythonEnvironmentIdentity.lines(of: try PythonVirtualEnvironment(existingAt: venv.path))
    }

    /// See `PythonEnvironmentProvider.record(venv:previous:)`.
    public func record(venv: URL, previous: PythonPins?) async throws -> (pins: PythonPins, unresolved: [String]) {
        try await record(venv: venv, previous: previous, indexURLs: nil)
    }

    /// See `PythonEnvironmentProvider.record(venv:previous:indexURLs:)`: known pins, `direct_url.json`, then the
    /// index's listing of the exact wheel (name, version, tags) for everything else.
    public func record(
        venv: URL, previous: PythonPins?, indexURLs: [String]?
    ) async throws
        -> (pins: PythonPins, unresolved: [String])
    {
        let env = try PythonVirtualEnvironment(existingAt: venv.path)
        let indexes = indexURLs ?? previous?.indexUrls ?? [PythonInstaller.defaultIndexURL]
        let recorded = try await PythonLockRecorder.record(
            env, known: previous, lookup: PythonIndexLookup(indexURLs: indexes, mirrors: mirrors),
            caches: caches ?? PythonInstallerCaches.fromEnvironment(environment), includeUnresolved: true)
        let installedVersion = Self.venvVersion(venv) ?? previous?.version ?? "3"
        let version =
            previous.map {
                Self.majorMinor($0.version) == Self.majorMinor(installedVersion) ? $0.version : installedVersion
            }
            ?? Self.majorMinor(installedVersion)
        let pins = PythonPins(
            version: version, platform: previous?.platform ?? PythonPlatform.host(),
            indexUrls: indexes, packages: recorded.packages)
        return (pins, recorded.unresolved.map(\.description))
    }

    static func majorMinor(_ version: String) -> String {
        version.split(separator: ".").prefix(2).joined(separator: ".")
    }

    static func venvVersion(_ venv: URL) -> String? {
        guard let text = try? String(contentsOf: venv.appendingPathComponent("pyvenv.cfg"), encoding: .utf8) else {
            return nil
        }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0] == "version" || parts[0] == "version_info" { return parts[1] }
        }
        return nil
    }
}
