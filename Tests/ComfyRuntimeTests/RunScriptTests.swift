import ComfyCrypto
import Foundation
import TestSupport
import Testing

/// `scripts/run.sh` — the readme's "run the main job" — end to end on local fixtures reached through the documented
/// mirror settings: a lock naming `https://git.fixture.invalid/…` (ComfyUI = the ComfyUI-API stand-in as `main.py` in
/// a git repo, rewritten to `file://` by `COMFYLOCK_GIT_MIRROR`) and `https://pypi.fixture.invalid/…` (a real Pillow
/// wheel, rewritten to a loopback server by `COMFYLOCK_PACKAGE_MIRROR`). The script runs with `COMFYLOCK_BIN_DIR` =
/// this build's products (its set-up part — bootstrap + release build — is what scripts/test.sh already did).
@Suite(
    "scripts/run.sh on local fixtures", .serialized,
    .enabled(
        if: FileManager.default.fileExists(
            atPath: TestPaths.testScripts.appendingPathComponent("comfyui_standin.py").path),
        "needs the ComfyUI stand-in (scripts/testsupport/comfyui_standin.py)"))
struct RunScriptTests {
    /// Everything one scenario needs, in one temporary directory.
    struct Fixture {
        let dir: TemporaryDirectory
        let lock: URL
        let server: LoopbackHTTPServer
        let mirrors: [String: String]
        let lockDigest: String

        /// Store, versions, wheelhouse and HOME inside the fixture (no mirrors file of this machine is read).
        func environment(mirrors useMirrors: Bool, state: String = "state") -> [String: String] {
            var env = [
                "COMFYLOCK_BIN_DIR": TestPaths.productsDirectory.path,
                "COMFYLOCK_STORE": dir.path + "/\(state)/store",
                "COMFYLOCK_VERSIONS": dir.path + "/\(state)/versions",
                "COMFYLOCK_WHEELHOUSE": dir.path + "/\(state)/wheelhouse",
                "HOME": dir.path + "/home", "XDG_CONFIG_HOME": dir.path + "/home/.config",
                "XDG_CACHE_HOME": dir.path + "/home/.cache",
                "GIT_CONFIG_NOSYSTEM": "1", "COMFYLOCK_GIT_MIRROR": "", "COMFYLOCK_PACKAGE_MIRROR": "",
                "COMFYLOCK_MODEL_MIRROR": "", "COMFYLOCK_MIRRORS": "",
                "COMFYLOCK_UV": TestPaths.testVenv.appendingPathComponent("bin/uv").path,
            ]
            if useMirrors { env.merge(mirrors) { $1 } }
            return env
        }
    }

    static func makeFixture() throws -> Fixture {
        let dir = try TemporaryDirectory(prefix: "comfylock-runsh")
        let fm = FileManager.default
        // The wheel bootstrap downloaded for this purpose (a real Pillow wheel for this machine's Python).
        let wheels = TestPaths.testVenv.appendingPathComponent("fixture-wheels")
        let wheel = try #require(
            try fm.contentsOfDirectory(atPath: wheels.path).first { $0.lowercased().hasPrefix("pillow-") },
            "scripts/bootstrap.sh puts a Pillow wheel in \(wheels.path)")
        let parts = wheel.split(separator: "-")
        let version = String(parts[1])
        let packages = dir.appending("index/packages")
        try fm.createDirectory(at: packages, withIntermediateDirectories: true)
        try fm.copyItem(at: wheels.appendingPathComponent(wheel), to: packages.appendingPathComponent(wheel))
        let wheelSHA = try SHA256.hashFile(atPath: packages.appendingPathComponent(wheel).path).digest.hex

        // "ComfyUI": the stand-in as main.py, in a git repo with a fixed date (a stable commit).
        let comfy = dir.appending("repos/ComfyUI.git")
        try fm.createDirectory(at: comfy, withIntermediateDirectories: true)
        try fm.copyItem(
            at: TestPaths.testScripts.appendingPathComponent("comfyui_standin.py"),
            to: comfy.appendingPathComponent("main.py"))
        try Data("Pillow\n".utf8).write(to: comfy.appendingPathComponent("requirements.txt"))
        let gitEnv = [
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@invalid",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@invalid",
            "GIT_AUTHOR_DATE": "2025-10-08T00:00:00Z", "GIT_COMMITTER_DATE": "2025-10-08T00:00:00Z",
        ]
        for args in [["init", "-q", "-b", "master"], ["add", "-A"], ["commit", "-q", "-m", "stand-in"]] {
            let r = try Subprocess.run("/usr/bin/git", ["-C", comfy.path] + args, environment: gitEnv)
            try #require(r.status == 0, "git \(args): \(r.standardError)")
        }
        let commit = try Subprocess.run("/usr/bin/git", ["-C", comfy.path, "rev-parse", "HEAD"], environment: gitEnv)
            .standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)

        let workflow = try JSONSerialization.jsonObject(
            with: Data(contentsOf: TestPaths.repositoryRoot.appendingPathComponent("workflows/probe-invert.json")))
        let lock: [String: Any] = [
            "schemaVersion": 1, "tag": "fixture", "createdBy": "RunScriptTests",
            "comfyui": ["url": "https://git.fixture.invalid/comfy/ComfyUI.git", "commit": commit],
            "customNodes": [] as [Any], "models": [] as [Any],
            "python": [
                "indexUrls": ["https://pypi.fixture.invalid/simple"], "version": "3.11",
                "platform": "manylinux_2_36_x86_64",
                "packages": [
                    [
                        "name": "pillow", "version": version,
                        "artifacts": [
                            [
                                "filename": wheel, "sha256": wheelSHA,
                                "url": "https://pypi.fixture.invalid/packages/\(wheel)",
                            ]
                        ],
                    ]
                ],
            ],
            "workflows": [["name": "probe-invert", "inline": workflow, "expectedOutputs": [] as [Any]]],
        ]
        let lockURL = dir.appending("fixture.lock.json")
        try JSONSerialization.data(withJSONObject: lock, options: [.sortedKeys]).write(to: lockURL)
        let fmt = try Subprocess.comfyCLI(["lock", "fmt", lockURL.path])
        try #require(fmt.status == 0, "lock fmt: \(fmt.standardError)")
        let digest = try Subprocess.comfyCLI(["lock", "digest", lockURL.path]).standardOutput
            .trimmingCharacters(in: .whitespacesAndNewlines)

        let server = try LoopbackHTTPServer(root: dir.appending("index"))
        let mirrors = [
            "COMFYLOCK_GIT_MIRROR": "https://git.fixture.invalid/comfy/=file://\(dir.path)/repos/",
            "COMFYLOCK_PACKAGE_MIRROR": "https://pypi.fixture.invalid/=\(server.baseURL.absoluteString)/",
        ]
        return Fixture(dir: dir, lock: lockURL, server: server, mirrors: mirrors, lockDigest: digest)
    }

    static func runScript(_ fixture: Fixture, environment: [String: String]) throws -> SubprocessResult {
        try Subprocess.run(
            "/bin/bash",
            [TestPaths.repositoryRoot.appendingPathComponent("scripts/run.sh").path, fixture.lock.path],
            environment: environment)
    }

    static func outputSHA(_ text: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix("output ") }
            .flatMap { $0.split(separator: " ").last.map(String.init) }
    }

    /// True once the built `comfy-handler` has its front end (`--test-input`); until then the main job cannot run.
    static let handlerHasTestInput: Bool = {
        let handler = TestPaths.productsDirectory.appendingPathComponent("comfy-handler").path
        let help = try? Subprocess.run(handler, ["--help"])
        return help?.standardOutput.contains("--test-input") ?? false
    }()

    @Test(
        "Through the mirrors: builds the version, runs the demo workflow, prints sha256, lock digest, location",
        .enabled(if: RunScriptTests.handlerHasTestInput, "comfy-handler's front end (--test-input) has not landed"))
    func mainJobThroughMirrors() throws {
        let fixture = try Self.makeFixture()
        defer {
            fixture.server.stop()
            fixture.dir.remove()
        }
        let first = try Self.runScript(fixture, environment: fixture.environment(mirrors: true))
        #expect(first.status == 0, "run.sh: \(first.standardOutput)\n\(first.standardError)")
        let sha = try #require(Self.outputSHA(first.standardOutput), "no output line in \(first.standardOutput)")
        #expect(sha.count == 64 && sha.allSatisfy(\.isHexDigit))
        #expect(first.standardOutput.contains("lock       \(fixture.lockDigest)"))
        let name = "fixture-\(fixture.lockDigest.prefix(12))"
        let versionDir = fixture.dir.path + "/state/versions/\(name)"
        #expect(first.standardOutput.contains("version    \(versionDir)"))
        #expect(FileManager.default.fileExists(atPath: versionDir + "/ComfyUI/main.py"))
        // The wheel came from the loopback mirror, never from the lock's (unresolvable) host.
        let fetched = try fixture.server.requests().filter { $0.path.hasPrefix("/packages/pillow-") }
        #expect(fetched.count == 1)

        // Second run: the version is reused (status clean), nothing is fetched again, same output bytes.
        try fixture.server.reset()
        let second = try Self.runScript(fixture, environment: fixture.environment(mirrors: true))
        #expect(second.status == 0, "second run: \(second.standardOutput)\n\(second.standardError)")
        #expect(second.standardOutput.contains("matches its lock: reusing it"))
        #expect(Self.outputSHA(second.standardOutput) == sha)
        #expect(try fixture.server.requests().isEmpty)
    }

    @Test("No mirror and an unreachable source: fails quickly, naming what it could not reach")
    func unreachableWithoutMirror() throws {
        let fixture = try Self.makeFixture()
        defer {
            fixture.server.stop()
            fixture.dir.remove()
        }
        let start = Date()
        let result = try Self.runScript(fixture, environment: fixture.environment(mirrors: false, state: "nomirror"))
        let elapsed = Date().timeIntervalSince(start)
        #expect(result.status == 2, "run.sh: \(result.standardOutput)\n\(result.standardError)")
        #expect(result.standardError.contains("fixture.invalid"), "stderr: \(result.standardError)")
        // A guard against hanging on retries, not a speed claim (speeds are in docs/benchmarks.md).
        #expect(elapsed < 120, "took \(elapsed) s")
        #expect(
            !FileManager.default.fileExists(
                atPath: fixture.dir.path + "/nomirror/versions/fixture-\(fixture.lockDigest.prefix(12))"))
    }
}
