import ComfyLock
import Foundation
import TestSupport
import Testing

@testable import ComfyRuntime

/// `COMFYLOCK_PACKAGE_MIRROR` for package indexes: the pins and locks name `https://pypi.fixture.invalid/…` (which does
/// not resolve); the mirror rules send uv/pip and the index lookup to the loopback index, and the artifact URLs the
/// mirror returns are recorded under the original hosts. A resolver that ignored the rules would fail on the
/// unresolvable host; one that recorded what it was served would name the loopback port.
@Suite("package index mirror rules (COMFYLOCK_PACKAGE_MIRROR)")
struct PackageIndexMirrorTests {
    static let officialIndex = "https://pypi.fixture.invalid/simple"
    static let officialFiles = "https://files.fixture.invalid/packages/"

    static func mirrors(_ fixture: PythonFixture) throws -> URLRewriter {
        let base = try #require(fixture.server).baseURL
        return try URLRewriter.fromEnvironment([
            "COMFYLOCK_PACKAGE_MIRROR": "\(officialIndex)=\(base)/simple;\(officialFiles)=\(base)/files/",
            "HOME": fixture.temp.appending("home").path,
        ])
    }

    @Test("the rules map both ways: rewrite sends to the mirror, restore records the original")
    func rewriteAndRestore() throws {
        let rewriter = try URLRewriter.fromEnvironment([
            "COMFYLOCK_PACKAGE_MIRROR":
                "https://pypi.org/simple=http://m/simple;https://files.pythonhosted.org/=http://m/f/",
            "HOME": "/nonexistent",
        ])
        #expect(rewriter.rewrite("https://pypi.org/simple", kind: .package) == "http://m/simple")
        #expect(
            rewriter.restore("http://m/f/a/b/x-1.0-py3-none-any.whl", kind: .package)
                == "https://files.pythonhosted.org/a/b/x-1.0-py3-none-any.whl")
        // Package rules never touch git or model URLs, and unmatched URLs pass unchanged.
        #expect(rewriter.restore("http://m/f/x", kind: .model) == "http://m/f/x")
        #expect(rewriter.restore("http://other/x", kind: .package) == "http://other/x")
        #expect(rewriter.hasRules(for: .package) && !rewriter.hasRules(for: .git))
    }

    @Test("pin resolves through the mirror and records the official URLs", arguments: [true, false])
    func pinThroughMirror(useUV: Bool) async throws {
        let fixture = try PythonFixture()
        defer { fixture.close() }
        let requirements = try fixture.requirements("requirements.txt", ["alpha"])
        let pins = try await PythonPinner.pin(
            PinRequest(
                requirements: [.file(requirements)], pythonVersion: "3.11", platform: "manylinux_2_36_x86_64",
                indexURLs: [Self.officialIndex], mirrors: try Self.mirrors(fixture)),
            toolchain: try await fixture.toolchain(uv: useUV))
        #expect(pins.indexUrls == [Self.officialIndex])
        #expect(pins.packages.map(\.name) == ["alpha", "shared"])
        for package in pins.packages {
            let filename = WheelIndexFixture.filename(package.name, package.version)
            #expect(package.artifacts.map(\.url) == [Self.officialFiles + filename])
            #expect(package.artifacts.map(\.sha256) == [fixture.index.sha256[filename]!])
        }
    }

    @Test("an online install of pins naming the official index goes to the mirror")
    func installThroughMirror() async throws {
        let fixture = try PythonFixture()
        defer { fixture.close() }
        let toolchain = try await fixture.toolchain(uv: true)
        var pins = fixture.pins(["alpha": "1.0", "shared": "1.0"])
        pins.indexUrls = [Self.officialIndex]
        let venv = try await PythonVirtualEnvironment.create(
            at: fixture.temp.appending("venv").path, toolchain: toolchain)
        // Without the rules the official host does not resolve: the install must fail (the control).
        await #expect(throws: (any Error).self) {
            try await PythonInstaller.install(
                pins, into: venv, toolchain: toolchain, options: PythonInstallOptions(timeout: .seconds(120)))
        }
        let report = try await PythonInstaller.install(
            pins, into: venv, toolchain: toolchain,
            options: PythonInstallOptions(timeout: .seconds(120), mirrors: try Self.mirrors(fixture)))
        #expect(report.packageCount == 2)
        let installed = try PythonInstallation.packages(in: venv).map(\.name)
        #expect(installed.contains("alpha") && installed.contains("shared"))
    }

    @Test("lock create's index lookup reads the mirror and records the official artifact URL")
    func lookupThroughMirror() async throws {
        let fixture = try PythonFixture()
        defer { fixture.close() }
        let toolchain = try await fixture.toolchain(uv: true)
        let venv = try await PythonVirtualEnvironment.create(
            at: fixture.temp.appending("venv").path, toolchain: toolchain)
        _ = try await PythonInstaller.install(
            fixture.pins(["gamma": "0.5"]), into: venv, toolchain: toolchain,
            options: PythonInstallOptions(offline: true, wheelhouse: fixture.index.files.path))
        let gamma = try #require(try PythonInstallation.packages(in: venv).first { $0.name == "gamma" })
        let lookup = PythonIndexLookup(indexURLs: [Self.officialIndex], mirrors: try Self.mirrors(fixture))
        let (artifact, reason) = await lookup.artifact(for: gamma)
        let found = try #require(artifact, "not found: \(reason)")
        let filename = WheelIndexFixture.filename("gamma", "0.5")
        #expect(found.url == Self.officialFiles + filename)
        #expect(found.sha256 == fixture.index.sha256[filename])
        // The control: without the rules the official host cannot be reached, and the reason names it.
        let (none, why) = await PythonIndexLookup(indexURLs: [Self.officialIndex], timeout: .seconds(20)).artifact(
            for: gamma)
        #expect(none == nil)
        #expect(why.contains("pypi.fixture.invalid"), "\(why)")
    }
}
