import ComfyCrypto
import ComfyLock
import Foundation
import TestSupport
import Testing

@testable import ComfyRuntime

/// Issue 10 item 4, the offline part: `lock create` records the distributions of a live venv when the package index
/// cannot be reached, from the installers' own evidence — uv's cache (wheel pointer: URL + sha256; unpacked wheel:
/// RECORD), pip's HTTP cache (cached project page + cached wheel body) — each checked against the installed RECORD.
/// Real venvs, wheels the test builds, a real loopback index (http_server.py) that is stopped before recording, so
/// its port refuses connections.
@Suite("LockCreate: installer-cache evidence when the index is unreachable")
struct LockCreateFallbackTests {
    static let wheels = [TestWheel("alpha", "1.0", requires: ["shared==1.0"]), TestWheel("shared", "1.0")]

    /// Builds the wheels, serves them, and installs `alpha` (and `shared`) into a fresh venv with `installer`; stops
    /// the server. Returns the venv, the index URL (now refusing) and the cache directory the installer used.
    static func installed(
        _ installer: String, temp: TemporaryDirectory
    ) async throws -> (
        venv: PythonVirtualEnvironment, index: String, cache: String, fixture: WheelIndexFixture
    ) {
        let fixture = try WheelIndexFixture.build(wheels, at: temp.appending("index"))
        let server = try LoopbackHTTPServer(root: fixture.root)
        defer { server.stop() }
        let index = server.url("/simple").absoluteString
        let venv = temp.appending("venv-\(installer)").path
        let cache = temp.appending("\(installer)-cache").path
        let environment = ["PIP_CONFIG_FILE": "/dev/null", "PIP_FIND_LINKS": "", "UV_NO_CONFIG": "1"]
        if installer == "uv" {
            let uv = TestPaths.testVenv.appendingPathComponent("bin/uv").path
            try check(
                Subprocess.run(uv, ["venv", "-q", "--python", TestPaths.python.path, venv], environment: environment))
            try check(
                Subprocess.run(
                    uv,
                    [
                        "pip", "install", "-q", "--python", venv + "/bin/python", "--cache-dir", cache, "--index-url",
                        index, "alpha",
                    ], environment: environment))
        } else {
            try check(Subprocess.run(TestPaths.python.path, ["-I", "-m", "venv", venv], environment: environment))
            try check(
                Subprocess.run(
                    venv + "/bin/python",
                    [
                        // pip caches plain-http responses only for trusted hosts (https ones always, as PyPI's).
                        "-m", "pip", "install", "-q", "--isolated", "--disable-pip-version-check", "--cache-dir", cache,
                        "--trusted-host", "127.0.0.1", "--index-url", index, "alpha",
                    ], environment: environment))
        }
        return (try PythonVirtualEnvironment(existingAt: venv), index, cache, fixture)
    }

    static func check(_ result: SubprocessResult) throws {
        guard result.status == 0 else { throw FixtureError(message: "failed: \(result.standardError)") }
    }

    static func record(
        _ venv: PythonVirtualEnvironment, index: String, caches: PythonInstallerCaches?
    ) async throws -> RecordedPythonPackages {
        try await PythonLockRecorder.record(
            venv, known: nil, lookup: PythonIndexLookup(indexURLs: [index], timeout: .seconds(10)), caches: caches,
            includeUnresolved: true)
    }

    @Test(
        "index down: URL and sha256 from the installer cache (uv pointer, pip HTTP cache), checked against the RECORD",
        arguments: ["uv", "pip"])
    func recordsFromTheInstallerCache(installer: String) async throws {
        let temp = try TemporaryDirectory(prefix: "comfylock-fallback")
        defer { temp.remove() }
        let (venv, index, cache, fixture) = try await Self.installed(installer, temp: temp)
        // The control: the index is down, and without the caches nothing resolves.
        let without = try await Self.record(venv, index: index, caches: nil)
        #expect(Set(without.unresolved.map(\.name)) == ["alpha", "shared"])
        #expect(without.unresolved.allSatisfy { $0.reason.contains("index lookup") }, "\(without.unresolved)")
        let caches = installer == "uv" ? PythonInstallerCaches(uv: [cache]) : PythonInstallerCaches(pip: [cache])
        let with = try await Self.record(venv, index: index, caches: caches)
        #expect(with.unresolved.isEmpty, "\(with.unresolved)")
        let base = index.replacingOccurrences(of: "/simple", with: "/files/")
        for name in ["alpha", "shared"] {
            let filename = WheelIndexFixture.filename(name, "1.0")
            let package = try #require(with.packages.first { $0.name == name })
            #expect(
                package.artifacts == [
                    PythonArtifact(url: base + filename, sha256: fixture.sha256[filename]!, filename: filename)
                ])
        }
        // The lock's python section is then pinned: it validates as complete.
        var lock = Lock(
            tag: "t", createdBy: "test",
            comfyui: ComfyUIPin(
                url: "https://git.example.invalid/ComfyUI.git", commit: String(repeating: "a", count: 40)))
        lock.python = PythonPins(
            version: "3.11", platform: "manylinux_2_36_x86_64", indexUrls: [index], packages: with.packages)
        #expect(LockValidator.errors(lock, level: .complete).isEmpty)
    }

    @Test(
        "a cached wheel that is not the installed one (RECORD differs) is refused and reported by name",
        arguments: ["uv", "pip"])
    func recordMismatchRefused(installer: String) async throws {
        let temp = try TemporaryDirectory(prefix: "comfylock-fallback")
        defer { temp.remove() }
        let (venv, index, cache, _) = try await Self.installed(installer, temp: temp)
        // Rebuild alpha's installed files as a different build of the same version: new code, consistent RECORD.
        let site = try #require(venv.sitePackages().first)
        let module = site + "/alpha/__init__.py"
        let code = Array("X = 'a local rebuild'\n".utf8)
        try Data(code).write(to: URL(fileURLWithPath: module))
        let record = site + "/alpha-1.0.dist-info/RECORD"
        let text = try String(contentsOfFile: record, encoding: .utf8)
        let hash = Data(SHA256.hash(code).bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        // pip writes RECORD with CSV's "\r\n" line ends (one Character in Swift): split on any newline.
        let rewritten =
            text.split(whereSeparator: \.isNewline).map { line -> String in
                line.hasPrefix("alpha/__init__.py,") ? "alpha/__init__.py,sha256=\(hash),\(code.count)" : String(line)
            }.joined(separator: "\n") + "\n"
        try rewritten.write(toFile: record, atomically: true, encoding: .utf8)
        let caches = installer == "uv" ? PythonInstallerCaches(uv: [cache]) : PythonInstallerCaches(pip: [cache])
        let result = try await Self.record(venv, index: index, caches: caches)
        #expect(result.unresolved.map(\.name) == ["alpha"], "\(result.packages)")
        let reason = try #require(result.unresolved.first).reason
        #expect(reason.contains("is not what is installed") && reason.contains("alpha/__init__.py"), "\(reason)")
        // Still in the lock, unpinned (no artifact), so `version create` refuses it without --allow-unpinned.
        #expect(result.packages.first { $0.name == "alpha" }?.artifacts.isEmpty == true)
        #expect(result.packages.first { $0.name == "shared" }?.artifacts.count == 1)
    }

    @Test("comfy-cli lock create, index down: caches resolve; without them the names are warned, --strict exits 1")
    func cliStrict() async throws {
        let temp = try TemporaryDirectory(prefix: "comfylock-fallback")
        defer { temp.remove() }
        let (venv, index, cache, _) = try await Self.installed("uv", temp: temp)
        // A ComfyUI checkout (a git repo with a remote) whose venv is the one above.
        let comfy = temp.appending("ComfyUI")
        try FileManager.default.createDirectory(at: comfy, withIntermediateDirectories: true)
        try "print('x')\n".write(to: comfy.appendingPathComponent("main.py"), atomically: true, encoding: .utf8)
        try "/venv/\n".write(to: comfy.appendingPathComponent(".gitignore"), atomically: true, encoding: .utf8)
        _ = try RuntimeFixture.git(["init", "-q", "-b", "main"], in: comfy)
        _ = try RuntimeFixture.git(["add", "-A"], in: comfy)
        _ = try RuntimeFixture.git(["commit", "-q", "-m", "c"], in: comfy)
        _ = try RuntimeFixture.git(["remote", "add", "origin", "https://git.example.invalid/ComfyUI.git"], in: comfy)
        try FileManager.default.moveItem(atPath: venv.root, toPath: comfy.appendingPathComponent("venv").path)
        let home = temp.appending("home").path
        let base = ["lock", "create", "--comfyui", comfy.path, "--tag", "t", "--index-url", index]
        let emptyCache = temp.appending("empty-cache").path
        try FileManager.default.createDirectory(atPath: emptyCache, withIntermediateDirectories: true)
        let noCaches = [
            "HOME": home, "COMFYLOCK_UV_CACHE_DIR": emptyCache, "COMFYLOCK_STORE": temp.appending("store").path,
        ]
        let warned = try Subprocess.comfyCLI(base + ["-o", temp.appending("a.json").path], environment: noCaches)
        #expect(warned.status == 0, "\(warned.standardError)")
        #expect(warned.standardError.contains("alpha==1.0") && warned.standardError.contains("shared==1.0"))
        let strict = try Subprocess.comfyCLI(
            base + ["--strict", "-o", temp.appending("b.json").path], environment: noCaches)
        #expect(strict.status == 1, "\(strict.standardError)")
        #expect(
            strict.standardError.contains("alpha") && strict.standardError.contains("shared"), "\(strict.standardError)"
        )
        #expect(!FileManager.default.fileExists(atPath: temp.appending("b.json").path))
        var withCache = noCaches
        withCache["COMFYLOCK_UV_CACHE_DIR"] = cache
        let resolved = try Subprocess.comfyCLI(
            base + ["--strict", "-o", temp.appending("c.json").path], environment: withCache)
        #expect(resolved.status == 0, "\(resolved.standardError)")
        let lock = try LockFile.read(from: temp.appending("c.json"))
        #expect(lock.python?.packages.map(\.name) == ["alpha", "shared"])
        #expect(lock.python?.packages.allSatisfy { $0.artifacts.count == 1 } == true)
    }
    @Test(
        "a wheel whose WHEEL tags differ from its file name (like torchvision's), installed from --find-links: the uv cache names the file, the index gives its URL and sha256"
    )
    func mismatchedWheelTags() async throws {
        let temp = try TemporaryDirectory(prefix: "comfylock-fallback")
        defer { temp.remove() }
        var fixture = try WheelIndexFixture.build([TestWheel("gamma", "0.5")], at: temp.appending("index"))
        let filename = WheelIndexFixture.filename("gamma", "0.5")
        let wheel = fixture.files.appendingPathComponent(filename).path
        // Rewrite the wheel's WHEEL tag (and its RECORD line) as PyTorch's wheels have it, then re-index.
        let rewrite = """
            import base64, hashlib, sys, zipfile
            path = sys.argv[1]
            members = {}
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    members[info.filename] = z.read(info.filename)
            wheel = "gamma-0.5.dist-info/WHEEL"
            members[wheel] = members[wheel].replace(b"Tag: py3-none-any", b"Tag: py3-none-linux_x86_64")
            h = base64.urlsafe_b64encode(hashlib.sha256(members[wheel]).digest()).rstrip(b"=").decode()
            record = "gamma-0.5.dist-info/RECORD"
            lines = [l if not l.startswith(wheel + ",") else "%s,sha256=%s,%d" % (wheel, h, len(members[wheel]))
                     for l in members[record].decode().splitlines()]
            members[record] = ("\\n".join(lines) + "\\n").encode()
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
                for name, data in members.items():
                    z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data)
            """
        try Self.check(Subprocess.run(TestPaths.python.path, ["-I", "-c", rewrite, wheel]))
        fixture = try WheelIndexFixture.build([], at: temp.appending("index"))
        let server = try LoopbackHTTPServer(root: fixture.root)
        defer { server.stop() }
        let index = server.url("/simple").absoluteString
        let uv = TestPaths.testVenv.appendingPathComponent("bin/uv").path
        let venv = temp.appending("venv").path
        let cache = temp.appending("uv-cache").path
        let environment = ["UV_NO_CONFIG": "1"]
        try Self.check(
            Subprocess.run(uv, ["venv", "-q", "--python", TestPaths.python.path, venv], environment: environment))
        try Self.check(
            Subprocess.run(
                uv,
                [
                    "pip", "install", "-q", "--python", venv + "/bin/python", "--cache-dir", cache, "--no-index",
                    "--find-links", fixture.files.path, "gamma",
                ], environment: environment))
        let env = try PythonVirtualEnvironment(existingAt: venv)
        let lookup = PythonIndexLookup(indexURLs: [index], timeout: .seconds(10))
        // The control: the index alone cannot tell (no wheel with the installed WHEEL tags).
        let alone = try await PythonLockRecorder.record(env, known: nil, lookup: lookup, includeUnresolved: true)
        #expect(alone.unresolved.map(\.name) == ["gamma"])
        #expect(alone.unresolved.first?.reason.contains("py3-none-linux_x86_64") == true, "\(alone.unresolved)")
        let both = try await PythonLockRecorder.record(
            env, known: nil, lookup: lookup, caches: PythonInstallerCaches(uv: [cache]), includeUnresolved: true)
        #expect(both.unresolved.isEmpty, "\(both.unresolved)")
        let artifact = try #require(both.packages.first?.artifacts.first)
        #expect(artifact.filename == filename)
        #expect(artifact.sha256 == fixture.sha256[filename])
        #expect(artifact.url == server.url("/files/\(filename)").absoluteString)
    }
    @Test("a uv pointer whose msgpack length byte is printable ('4' before a 52-byte name) still names the wheel")
    func printableLengthByte() throws {
        // The bytes of uv's real `.rev` pointer of torchvision's sibling torchaudio from --find-links (no hash, no URL).
        let name = "torchaudio-2.11.1-py3-none-manylinux_2_28_x86_64.whl"
        #expect(name.utf8.count == 0x34)
        let bytes: [UInt8] =
            [0x92, 0x92, 0xCE, 0x6B, 0x0E, 0x99, 0x62, 0xCE, 0x25, 0x53, 0x6B, 0x71, 0x95, 0xB0]
            + Array("D0n-ZjbxCS-p_pl3".utf8) + [0x90, 0xD9, 0x34] + Array(name.utf8) + [0x00, 0xC0]
        let dist = InstalledPythonPackage(
            name: "torchaudio", version: "2.11.1", installer: "uv", wheelTags: ["py3-none-linux_x86_64"], vcs: nil,
            archiveURL: nil, archiveSHA256: nil, distInfo: "/nonexistent/torchaudio-2.11.1.dist-info")
        let pointer = try #require(UVCache.parse(bytes, root: "/nonexistent", dist: dist))
        #expect(pointer.filename == name)
        #expect(pointer.sha256 == nil && pointer.url == nil && pointer.record == nil)
    }
}
