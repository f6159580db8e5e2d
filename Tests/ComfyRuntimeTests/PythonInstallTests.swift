import ComfyLock
import Foundation
import TestSupport
import Testing

@testable import ComfyRuntime

@Suite("Python venvs: hash-checked installs, offline wheelhouse, drift")
struct PythonInstallTests {
    @Test("offline install from a wheelhouse with no index, then status is clean", arguments: [true, false])
    func offlineInstall(useUV: Bool) async throws {
        let fixture = try PythonFixture(serve: false)
        defer { fixture.close() }
        let toolchain = try await fixture.toolchain(uv: useUV)
        // The pins name an index that does not exist: offline installs must never contact it.
        let pins = fixture.pins(["alpha": "1.0", "shared": "1.0"])
        let venv = try await PythonVirtualEnvironment.create(
            at: fixture.temp.appending("venv").path, toolchain: toolchain)
        let report = try await PythonInstaller.install(
            pins, into: venv, toolchain: toolchain,
            options: PythonInstallOptions(offline: true, wheelhouse: fixture.index.files.path))
        #expect(report.packageCount == 2)
        #expect(report.installer == (useUV ? "uv" : "pip"))
        let installed = try PythonInstallation.packages(in: venv).filter { !["pip", "setuptools"].contains($0.name) }
        #expect(installed.map(\.name) == ["alpha", "shared"])
        #expect(installed.map(\.version) == ["1.0", "1.0"])
        let drift = try PythonDriftCheck.check(venv, against: pins, options: PythonDriftOptions(verifyFiles: true))
        #expect(drift.isClean, "\(drift.entries)")
        #expect(drift.hashUnknown.isEmpty)
        // The receipt names the exact artifact installed.
        let receipt = try #require(PythonInstallation.receipt(of: venv))
        #expect(
            receipt.packages.map(\.sha256) == [
                fixture.index.sha256(of: "alpha", "1.0"), fixture.index.sha256(of: "shared", "1.0"),
            ])
        // The package really imports.
        let run = try Subprocess.run(venv.python, ["-c", "import alpha, shared; print(alpha.__version__)"])
        #expect(run.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "1.0")
    }

    @Test("a tampered wheel in the wheelhouse is refused by hash and nothing is installed", arguments: [true, false])
    func tamperedWheel(useUV: Bool) async throws {
        let fixture = try PythonFixture(serve: false)
        defer { fixture.close() }
        let toolchain = try await fixture.toolchain(uv: useUV)
        let pins = fixture.pins(["alpha": "1.0", "shared": "1.0"])
        // Rebuild shared 1.0 with other content under the same filename.
        _ = try WheelIndexFixture.build([TestWheel("shared", "1.0", code: "EVIL = True\n")], at: fixture.index.root)
        let venv = try await PythonVirtualEnvironment.create(
            at: fixture.temp.appending("venv").path, toolchain: toolchain)
        let error = await #expect(throws: PythonError.self) {
            try await PythonInstaller.install(
                pins, into: venv, toolchain: toolchain,
                options: PythonInstallOptions(offline: true, wheelhouse: fixture.index.files.path))
        }
        let caught = try #require(error)
        #expect(caught.isInstallFailure)
        #expect(caught.description.lowercased().contains("hash"), "\(caught)")
        let installed = try PythonInstallation.packages(in: venv).map(\.name)
        #expect(!installed.contains("shared"))
        #expect(PythonInstallation.receipt(of: venv) == nil)
    }

    @Test("a pin without any hash is refused before the installer runs")
    func unhashedPin() async throws {
        let fixture = try PythonFixture(serve: false)
        defer { fixture.close() }
        var pins = fixture.pins(["alpha": "1.0"])
        pins.packages[0].artifacts = []
        let toolchain = try await fixture.toolchain()
        let venv = try await PythonVirtualEnvironment.create(
            at: fixture.temp.appending("venv").path, toolchain: toolchain)
        await #expect(throws: PythonError.self) {
            try await PythonInstaller.install(
                pins, into: venv, toolchain: toolchain,
                options: PythonInstallOptions(offline: true, wheelhouse: fixture.index.files.path))
        }
    }

    @Test("online install from the index: a warm second build is served from uv's cache")
    func onlineInstallWarmCache() async throws {
        let fixture = try PythonFixture()
        defer { fixture.close() }
        let toolchain = try await fixture.toolchain()
        let pins = fixture.pins(["beta": "2.0", "gamma": "0.5", "shared": "1.0"])
        let first = try await PythonVirtualEnvironment.create(
            at: fixture.temp.appending("v1").path, toolchain: toolchain)
        let cold = try await PythonInstaller.install(pins, into: first, toolchain: toolchain)
        #expect(!cold.servedFromCache)
        // Stop the index: the second build must come from the cache alone.
        fixture.server?.stop()
        let second = try await PythonVirtualEnvironment.create(
            at: fixture.temp.appending("v2").path, toolchain: toolchain)
        let warm = try await PythonInstaller.install(pins, into: second, toolchain: toolchain)
        #expect(warm.servedFromCache)
        #expect(try PythonDriftCheck.check(second, against: pins).isClean)
        // Same lock, different directories: same identity lines.
        #expect(try PythonEnvironmentIdentity.lines(of: first) == PythonEnvironmentIdentity.lines(of: second))
        #expect(try PythonEnvironmentIdentity.lines(of: first).count == 3)
    }

    @Test("drift: a missing package, a changed version, an extra one, a re-hashed pin and an edited file")
    func drift() async throws {
        let fixture = try PythonFixture(serve: false)
        defer { fixture.close() }
        let toolchain = try await fixture.toolchain()
        let pins = fixture.pins(["alpha": "1.0", "beta": "2.0", "gamma": "0.5", "shared": "1.0"])
        let venv = try await PythonVirtualEnvironment.create(
            at: fixture.temp.appending("venv").path, toolchain: toolchain)
        _ = try await PythonInstaller.install(
            pins, into: venv, toolchain: toolchain,
            options: PythonInstallOptions(offline: true, wheelhouse: fixture.index.files.path))
        #expect(try PythonDriftCheck.check(venv, against: pins).isClean)
        let identityBefore = try PythonEnvironmentIdentity.lines(of: venv)

        let uv = toolchain.uv!
        let env = ["UV_NO_CONFIG": "1", "UV_CACHE_DIR": toolchain.uvCacheDirectory!]
        // Uninstall gamma, switch shared to 2.0, add delta (unpinned).
        var result = try Subprocess.run(uv, ["pip", "uninstall", "--python", venv.python, "gamma"], environment: env)
        #expect(result.status == 0, "\(result.standardError)")
        result = try Subprocess.run(
            uv,
            [
                "pip", "install", "--python", venv.python, "--offline", "--no-index", "--find-links",
                fixture.index.files.path, "--no-deps", "shared==2.0", "delta==1.0",
            ], environment: env)
        #expect(result.status == 0, "\(result.standardError)")
        // Edit an installed file of alpha.
        let site = try #require(venv.sitePackages().first)
        try "tampered = True\n".write(toFile: site + "/alpha/__init__.py", atomically: true, encoding: .utf8)
        // The lock now pins beta with another artifact hash (e.g. a rebuilt upload).
        var changed = pins
        let betaIndex = try #require(changed.packages.firstIndex { $0.name == "beta" })
        changed.packages[betaIndex].artifacts[0].sha256 = String(repeating: "ab", count: 32)

        let drift = try PythonDriftCheck.check(venv, against: changed, options: PythonDriftOptions(verifyFiles: true))
        let kinds = Dictionary(grouping: drift.entries, by: \.name).mapValues { $0.map(\.kind) }
        #expect(kinds["gamma"] == [.missing])
        #expect(kinds["shared"] == [.versionMismatch])
        #expect(kinds["delta"] == [.extra])
        #expect(kinds["beta"] == [.hashMismatch])
        #expect(kinds["alpha"] == [.modifiedFiles])
        let shared = try #require(drift.entries.first { $0.name == "shared" })
        #expect(shared.expected == "1.0" && shared.actual == "2.0")
        #expect(shared.description == "version shared: pinned 1.0, installed 2.0")
        // The identity changes with the package set.
        #expect(try PythonEnvironmentIdentity.lines(of: venv) != identityBefore)
    }

    @Test("lock create records a live venv: hashes from the pin set, unknown ones reported, never invented")
    func recordLiveVenv() async throws {
        let fixture = try PythonFixture(serve: false)
        defer { fixture.close() }
        let toolchain = try await fixture.toolchain()
        let pins = fixture.pins(["alpha": "1.0", "shared": "1.0"])
        let venv = try await PythonVirtualEnvironment.create(
            at: fixture.temp.appending("venv").path, toolchain: toolchain)
        _ = try await PythonInstaller.install(
            pins, into: venv, toolchain: toolchain,
            options: PythonInstallOptions(offline: true, wheelhouse: fixture.index.files.path))
        let result = try Subprocess.run(
            toolchain.uv!,
            [
                "pip", "install", "--python", venv.python, "--offline", "--no-index", "--find-links",
                fixture.index.files.path, "--no-deps", "gamma==0.5",
            ],
            environment: ["UV_NO_CONFIG": "1", "UV_CACHE_DIR": toolchain.uvCacheDirectory!])
        #expect(result.status == 0)
        let recorded = try PythonLockRecorder.record(venv, known: pins)
        #expect(recorded.packages.map(\.name) == ["alpha", "shared"])
        #expect(recorded.packages == pins.packages)
        #expect(recorded.unresolved.map(\.name) == ["gamma"])
        #expect(recorded.unresolved[0].version == "0.5")
        let withUnknown = try PythonLockRecorder.record(venv, known: pins, includeUnresolved: true)
        #expect(withUnknown.packages.first { $0.name == "gamma" }?.artifacts.isEmpty == true)
    }

    @Test(
        "a venv built in staging keeps its console scripts working after it is renamed into place",
        arguments: [true, false])
    func relocatableScripts(useUV: Bool) async throws {
        let wheel = TestWheel(
            "tool", "1.0", code: "def main():\n    print('tool-ran')\n", scripts: ["tool": "tool:main"])
        let fixture = try PythonFixture(serve: false, wheels: [wheel])
        defer { fixture.close() }
        let toolchain = try await fixture.toolchain(uv: useUV)
        let pins = fixture.pins(["tool": "1.0"])
        let staging = fixture.temp.appending("staging").path
        let venv = try await PythonVirtualEnvironment.create(at: staging, toolchain: toolchain)
        _ = try await PythonInstaller.install(
            pins, into: venv, toolchain: toolchain,
            options: PythonInstallOptions(offline: true, wheelhouse: fixture.index.files.path))
        let final = fixture.temp.appending("final").path
        try FileManager.default.moveItem(atPath: staging, toPath: final)
        let moved = try PythonVirtualEnvironment(existingAt: final)
        #expect(try PythonDriftCheck.check(moved, against: pins).isClean)
        #expect(
            try PythonEnvironmentIdentity.lines(of: moved) == [
                "tool==1.0 sha256:\(fixture.index.sha256(of: "tool", "1.0")!)"
            ])
        let run = try Subprocess.run(final + "/bin/tool", [])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("tool-ran"))
        if !useUV {
            let pip = try Subprocess.run(
                final + "/bin/pip", ["--version"], environment: ["PIP_CONFIG_FILE": "/dev/null"])
            #expect(pip.status == 0, "\(pip.standardError)")
            #expect(pip.standardOutput.contains(final))
        }
    }

    @Test("lock create looks up unknown packages on the index: exact wheel match only, others stay unresolved")
    func recordWithIndexLookup() async throws {
        let fixture = try PythonFixture()
        defer { fixture.close() }
        let toolchain = try await fixture.toolchain()
        let venv = try await PythonVirtualEnvironment.create(
            at: fixture.temp.appending("venv").path, toolchain: toolchain)
        // Installed by hand (no receipt, no pins): gamma is on the index, "local" only in a private directory.
        let local = try WheelIndexFixture.build([TestWheel("local-only", "3.0")], at: fixture.temp.appending("private"))
        let result = try Subprocess.run(
            toolchain.uv!,
            [
                "pip", "install", "--python", venv.python, "--offline", "--no-index", "--find-links",
                fixture.index.files.path, "--find-links", local.files.path, "--no-deps", "gamma==0.5",
                "local-only==3.0",
            ],
            environment: ["UV_NO_CONFIG": "1", "UV_CACHE_DIR": toolchain.uvCacheDirectory!])
        #expect(result.status == 0, "\(result.standardError)")
        let without = try await PythonLockRecorder.record(venv, known: nil, lookup: nil)
        #expect(without.packages.isEmpty)
        #expect(without.unresolved.map(\.name) == ["gamma", "local-only"])

        let recorded = try await PythonLockRecorder.record(
            venv, known: nil, lookup: PythonIndexLookup(indexURLs: [fixture.indexURL]))
        let filename = WheelIndexFixture.filename("gamma", "0.5")
        #expect(
            recorded.packages == [
                PythonPackage(
                    name: "gamma", version: "0.5",
                    artifacts: [
                        PythonArtifact(
                            url: fixture.server!.baseURL + "/files/" + filename,
                            sha256: fixture.index.sha256[filename]!,
                            filename: filename)
                    ])
            ])
        #expect(recorded.unresolved.map(\.name) == ["local-only"])
        #expect(recorded.unresolved[0].reason.contains("index lookup"), "\(recorded.unresolved)")
    }

    @Test("a pip venv keeps working after it is moved (relocate rewrites script shebangs)")
    func relocate() async throws {
        let fixture = try PythonFixture(serve: false)
        defer { fixture.close() }
        let toolchain = try await fixture.toolchain(uv: false)
        let staging = fixture.temp.appending("staging/venv").path
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        _ = try await PythonVirtualEnvironment.create(at: staging, toolchain: toolchain, replace: true)
        let final = fixture.temp.appending("final").path
        try FileManager.default.moveItem(atPath: staging, toPath: final)
        let venv = try PythonVirtualEnvironment(existingAt: final)
        let changed = try venv.relocate(from: staging)
        #expect(changed.contains(final + "/bin/pip"))
        let run = try Subprocess.run(final + "/bin/pip", ["--version"], environment: ["PIP_CONFIG_FILE": "/dev/null"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains(final))
    }
}
