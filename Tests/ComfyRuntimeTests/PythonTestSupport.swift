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
