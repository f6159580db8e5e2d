import ComfyLock
import Foundation
import TestSupport

@testable import ComfyRuntime

/// The standard wheel set of the Python tests:
/// alpha 1.0 → shared==1.0; beta 1.0 → shared==2.0; beta 2.0 → shared>=1.0, gamma; delta 1.0 → alpha;
/// shared 1.0 and 2.0; gamma 0.5.
let standardWheels = [
    TestWheel("alpha", "1.0", requires: ["shared==1.0"]),
    TestWheel("beta", "1.0", requires: ["shared==2.0"]),
    TestWheel("beta", "2.0", requires: ["shared>=1.0", "gamma"]),
    TestWheel("delta", "1.0", requires: ["alpha"]),
    TestWheel("shared", "1.0"),
    TestWheel("shared", "2.0"),
    TestWheel("gamma", "0.5"),
]

/// A temp dir with the standard wheels built as a simple index, served on loopback, and a toolchain whose uv cache
/// lives in the temp dir (tests never share caches).
final class PythonFixture: @unchecked Sendable {  // immutable after init; the server is stopped once in close()
    let temp: TemporaryDirectory
    let index: WheelIndexFixture
    let server: StaticFileServer?

    init(serve: Bool = true, wheels: [TestWheel] = standardWheels) throws {
        temp = try TemporaryDirectory(prefix: "comfylock-python")
        index = try WheelIndexFixture.build(wheels, at: temp.appending("index"))
        server = serve ? try StaticFileServer(directory: index.root) : nil
    }

    var indexURL: String { (server?.baseURL ?? "http://127.0.0.1:9") + "/simple" }

    func close() {
        server?.stop()
        temp.remove()
    }

    /// uv from the test venv, the test venv's interpreter, a private uv cache.
    func toolchain(uv: Bool = true) async throws -> PythonToolchain {
        let interpreter = try await PythonInterpreter.probe(TestPaths.python.path)
        return PythonToolchain(
            interpreter: interpreter, uv: uv ? TestPaths.testVenv.appendingPathComponent("bin/uv").path : nil,
            uvCacheDirectory: temp.appending("uv-cache").path)
    }

    /// Writes a requirements file into the temp dir.
    func requirements(_ name: String, _ lines: [String]) throws -> String {
        let url = temp.appending(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Pins for packages of the fixture index, built by hand (no resolver): name → version.
    func pins(_ versions: [String: String]) -> PythonPins {
        let packages = versions.keys.sorted().map { name -> PythonPackage in
            let version = versions[name]!
            let filename = WheelIndexFixture.filename(name, version)
            return PythonPackage(
                name: name, version: version,
                artifacts: [
                    PythonArtifact(
                        url: indexURL.replacingOccurrences(of: "/simple", with: "/files/") + filename,
                        sha256: index.sha256[filename]!, filename: filename)
                ])
        }
        return PythonPins(version: "3.11", platform: "manylinux_2_36_x86_64", indexUrls: [indexURL], packages: packages)
    }
}

/// Versions with real venvs: a `RuntimeFixture` (git repos, model server, store) plus the standard wheels as an
/// offline wheelhouse and the Python step that installs them with the test venv's uv (private uv cache). The one
/// builder VersionCompareTests and VersionPythonTests share.
final class PythonVersionFixture: @unchecked Sendable {  // immutable after init; closed once
    let runtime: RuntimeFixture
    let wheels: PythonFixture
    let python: RuntimePythonEnvironment
    /// Offline from the wheelhouse, with the test venv's interpreter.
    let options: VersionCreateOptions

    /// The pins most tests build: alpha 1.0, shared 1.0, gamma 0.5.
    static let standardPins = ["alpha": "1.0", "shared": "1.0", "gamma": "0.5"]

    init() throws {
        runtime = try RuntimeFixture()
        wheels = try PythonFixture(serve: false)
        python = RuntimePythonEnvironment(
            environment: ProcessInfo.processInfo.environment.merging([
                "COMFYLOCK_UV": TestPaths.testVenv.appendingPathComponent("bin/uv").path,
                "COMFYLOCK_UV_CACHE_DIR": wheels.temp.appending("uv-cache").path,
            ]) { $1 })
        options = VersionCreateOptions(
            python: PythonBuildOptions(
                offline: true, wheelhouse: wheels.index.files.path, python: TestPaths.python.path))
    }

    /// The runtime fixture's lock with these Python pins.
    func lock(_ pins: [String: String] = standardPins) -> Lock {
        var lock = runtime.lock()
        lock.python = wheels.pins(pins)
        return lock
    }

    /// A builder for `root` (default: the fixture's versions root) with the Python step.
    func builder(root: URL? = nil) -> VersionBuilder {
        VersionBuilder(
            root: root ?? runtime.versions, gitCache: runtime.gitCache, store: runtime.modelStore, python: python)
    }

    /// Builds version `name` from `lock` in `root` and returns its directory.
    @discardableResult
    func create(_ name: String, lock: Lock, root: URL? = nil) async throws -> URL {
        _ = try await builder(root: root).create(name: name, lock: lock, options: options)
        return (root ?? runtime.versions).appendingPathComponent(name)
    }

    /// An inspector with the Python step.
    var inspector: VersionInspector { VersionInspector(store: runtime.modelStore, python: python) }

    func close() { wheels.close() }
}
