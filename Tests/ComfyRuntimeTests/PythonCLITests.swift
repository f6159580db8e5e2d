import ComfyCLI
import ComfyLock
import Foundation
import TestSupport
import Testing

@testable import ComfyRuntime

@Suite("comfy-cli pin")
struct PythonCLITests {
    static var uvPath: String { TestPaths.testVenv.appendingPathComponent("bin/uv").path }

    /// Runs comfy-cli in-process and returns (exit code, stdout, stderr).
    static func cli(_ arguments: [String]) async -> (Int32, String, String) {
        let run = await InProcessCLI.run(arguments)
        return (run.code, run.out, run.err)
    }

    /// A git repo with one commit per entry of `commits` (file name → contents); returns (path, [commit ids]).
    static func gitRepo(at url: URL, commits: [[String: String]]) throws -> (String, [String]) {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let git = { (args: [String]) throws -> String in
            let result = try Subprocess.run(
                "/usr/bin/git", ["-C", url.path] + args,
                environment: [
                    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                    "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": "/dev/null",
                ])
            guard result.status == 0 else { throw FixtureError(message: "git \(args): \(result.standardError)") }
            return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try git(["init", "--quiet", "-b", "main"])
        var ids: [String] = []
        for (i, files) in commits.enumerated() {
            for (name, text) in files {
                try text.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
            }
            _ = try git(["add", "-A"])
            _ = try git(["commit", "--quiet", "--allow-empty", "-m", "commit \(i)"])
            ids.append(try git(["rev-parse", "HEAD"]))
        }
        return (url.path, ids)
    }

    @Test("pin REQUIREMENTS -o pins.json writes exact pins; --json reports; a conflict exits 2 naming the chains")
    func pinRequirements() async throws {
        let fixture = try PythonFixture()
        defer { fixture.close() }
        let req = try fixture.requirements("requirements.txt", ["beta"])
        let out = fixture.temp.appending("pins.json").path
        var (code, stdout, stderr) = await Self.cli([
            "pin", req, "--index-url", fixture.indexURL, "--python-version", "3.11", "--platform",
            "manylinux_2_36_x86_64", "--uv", Self.uvPath, "-o", out, "--json",
        ])
        #expect(code == 0, "\(stderr)")
        #expect(stdout.contains("\"packages\" : 3"), "\(stdout)")
        let pins = try JSONDecoder().decode(PythonPins.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(pins.packages.map { "\($0.name)==\($0.version)" } == ["beta==2.0", "gamma==0.5", "shared==2.0"])
        #expect(
            pins.packages.allSatisfy {
                $0.artifacts.count == 1 && $0.artifacts[0].url.hasPrefix(fixture.server!.baseURL)
            })

        let clash = try fixture.requirements("clash.txt", ["alpha", "beta==1.0"])
        (code, stdout, stderr) = await Self.cli([
            "pin", clash, "--index-url", fixture.indexURL, "--uv", Self.uvPath, "--platform", "manylinux_2_36_x86_64",
        ])
        #expect(code == 2)
        #expect(stderr.contains("requirements conflict on shared"), "\(stderr)")
        #expect(stderr.contains("alpha → shared==1.0") && stderr.contains("shared==2.0"), "\(stderr)")
        _ = stdout
    }

    @Test("pin --lock reads ComfyUI's and each git node's requirements at the lock's commits")
    func pinLock() async throws {
        let fixture = try PythonFixture()
        defer { fixture.close() }
        // ComfyUI's first commit wants alpha; HEAD wants beta: the lock pins the first commit.
        let (comfy, comfyCommits) = try Self.gitRepo(
            at: fixture.temp.appending("repos/ComfyUI"),
            commits: [["requirements.txt": "alpha\n", "main.py": "print('hi')\n"], ["requirements.txt": "beta\n"]])
        let (node, nodeCommits) = try Self.gitRepo(
            at: fixture.temp.appending("repos/node-g"),
            commits: [["requirements.txt": "-r base.txt\n", "base.txt": "gamma  # node deps\n"]])
        let (bare, bareCommits) = try Self.gitRepo(
            at: fixture.temp.appending("repos/node-bare"), commits: [["__init__.py": "\n"]])
        let lock = Lock(
            tag: "t1", createdBy: "comfylock test",
            comfyui: ComfyUIPin(url: "file://" + comfy, commit: comfyCommits[0]),
            customNodes: [
                CustomNode(name: "node-g", kind: .git, url: "file://" + node, commit: nodeCommits[0]),
                CustomNode(name: "node-bare", kind: .git, url: "file://" + bare, commit: bareCommits[0]),
                CustomNode(name: "from-registry", kind: .registry, registryId: "x", version: "1.0.0"),
            ])
        let lockPath = fixture.temp.appending("comfy-t1.lock.json")
        _ = try LockFile.write(lock, to: lockPath)
        // A process of its own, so the git cache is this test's store and not the user's ~/.cache/comfylock.
        let environment = [
            "COMFYLOCK_STORE": fixture.temp.appending("store").path, "HOME": fixture.temp.appending("home").path,
            "GIT_CONFIG_NOSYSTEM": "1",
        ]
        let run = try Subprocess.comfyCLI(
            [
                "pin", "--lock", lockPath.path, "--index-url", fixture.indexURL, "--python-version", "3.11",
                "--platform", "manylinux_2_36_x86_64", "--uv", Self.uvPath,
            ], environment: environment)
        let (code, stdout, stderr) = (run.status, run.standardOutput, run.standardError)
        #expect(code == 0, "\(stderr)")
        #expect(FileManager.default.fileExists(atPath: fixture.temp.appending("store/git").path))
        #expect(stdout.contains("ComfyUI@\(comfyCommits[0].prefix(12)):requirements.txt"), "\(stdout)")
        #expect(stdout.contains("skipped custom_nodes/from-registry"), "\(stdout)")
        let pinned = try LockFile.read(from: lockPath)
        let python = try #require(pinned.python)
        #expect(python.packages.map { "\($0.name)==\($0.version)" } == ["alpha==1.0", "gamma==0.5", "shared==1.0"])
        #expect(python.version == "3.11" && python.platform == "manylinux_2_36_x86_64")
        #expect(python.indexUrls == [fixture.indexURL])
        #expect(LockValidator.validate(pinned).filter { $0.severity == .error }.isEmpty)
        // Everything else in the lock is unchanged.
        var withoutPython = pinned
        withoutPython.python = nil
        #expect(withoutPython == lock.sorted())

        // A commit that does not exist upstream is a clear error naming it.
        var broken = lock
        broken.customNodes[0].commit = String(repeating: "1", count: 40)
        let brokenPath = fixture.temp.appending("broken.lock.json")
        _ = try LockFile.write(broken, to: brokenPath)
        let bad = try Subprocess.comfyCLI(
            ["pin", "--lock", brokenPath.path, "--index-url", fixture.indexURL, "--uv", Self.uvPath],
            environment: environment)
        let (badCode, badErr) = (bad.status, bad.standardError)
        #expect(badCode == 2)
        #expect(badErr.contains(String(repeating: "1", count: 40)) && badErr.contains("node-g"), "\(badErr)")
    }

    @Test("pin wheelhouse downloads and verifies every artifact; a tampered download is refused and not kept")
    func wheelhouse() async throws {
        let fixture = try PythonFixture()
        defer { fixture.close() }
        let pins = fixture.pins(["alpha": "1.0", "shared": "1.0"])
        let lock = Lock(
            tag: "t", createdBy: "test",
            comfyui: ComfyUIPin(url: "https://example.invalid/c", commit: String(repeating: "a", count: 40)),
            python: pins)
        let lockPath = fixture.temp.appending("l.lock.json")
        _ = try LockFile.write(lock, to: lockPath)
        let house = fixture.temp.appending("wheelhouse").path
        let store = fixture.temp.appending("store").path
        var (code, stdout, stderr) = await Self.cli([
            "pin", "wheelhouse", "--lock", lockPath.path, house, "--store", store,
        ])
        #expect(code == 0, "\(stderr)")
        #expect(stdout.contains("2 artifacts verified (2 downloaded"), "\(stdout)")
        for package in pins.packages {
            let file = house + "/" + package.artifacts[0].filename
            let result = try Subprocess.run("/usr/bin/sha256sum", [file])
            #expect(result.standardOutput.hasPrefix(package.artifacts[0].sha256))
        }
        // Again: nothing downloaded.
        (code, stdout, stderr) = await Self.cli(["pin", "wheelhouse", "--lock", lockPath.path, house, "--store", store])
        #expect(code == 0 && stdout.contains("0 downloaded"), "\(stdout)\(stderr)")

        // The index now serves other bytes for shared 1.0: a fresh wheelhouse refuses it.
        _ = try WheelIndexFixture.build([TestWheel("shared", "1.0", code: "EVIL = 1\n")], at: fixture.index.root)
        let fresh = fixture.temp.appending("fresh").path
        (code, stdout, stderr) = await Self.cli([
            "pin", "wheelhouse", "--lock", lockPath.path, fresh, "--store", fixture.temp.appending("store2").path,
        ])
        #expect(code == 2)
        #expect(stderr.contains("shared-1.0-py3-none-any.whl"), "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: fresh + "/shared-1.0-py3-none-any.whl"))
    }

    @Test(
        "pin is hermetic: hostile pip/uv config files and PIP_*/UV_* variables are ignored", arguments: ["uv", "pip"])
    func hermetic(resolver: String) async throws {
        let fixture = try PythonFixture()
        defer { fixture.close() }
        // An evil index offering shared 9.0 (pins would pick it if any hostile setting were honoured).
        let evilRoot = fixture.temp.appending("evil")
        let evil = try WheelIndexFixture.build([TestWheel("shared", "9.0"), TestWheel("gamma", "9.0")], at: evilRoot)
        let evilServer = try StaticFileServer(directory: evil.root)
        defer { evilServer.stop() }
        let evilIndex = evilServer.baseURL + "/simple"
        let dead = "http://127.0.0.1:9/simple"
        let home = fixture.temp.appending("home")
        let conf = """
            [global]
            index-url = \(dead)
            extra-index-url = \(evilIndex)
            find-links = \(evil.files.path)
            """
        let uvToml =
            "index-url = \"\(dead)\"\nextra-index-url = [\"\(evilIndex)\"]\nfind-links = [\"\(evil.files.path)\"]\n"
        for (path, text) in [
            (".config/pip/pip.conf", conf), (".pip/pip.conf", conf), (".config/uv/uv.toml", uvToml),
            ("project/uv.toml", uvToml), ("project/pip.conf", conf),
            ("project/pyproject.toml", "[tool.uv]\nindex-url = \"\(dead)\"\n"),
        ] {
            let url = home.appendingPathComponent(path)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        let req = try fixture.requirements("requirements.txt", ["beta"])
        let out = fixture.temp.appending("pins.json").path
        let environment = [
            "HOME": home.path, "XDG_CONFIG_HOME": home.appendingPathComponent(".config").path,
            "PIP_CONFIG_FILE": home.appendingPathComponent("project/pip.conf").path, "PIP_INDEX_URL": dead,
            "PIP_EXTRA_INDEX_URL": evilIndex, "PIP_FIND_LINKS": evil.files.path, "PIP_NO_INDEX": "1",
            "UV_INDEX_URL": dead, "UV_EXTRA_INDEX_URL": evilIndex, "UV_FIND_LINKS": evil.files.path,
            "UV_INDEX": evilIndex, "UV_DEFAULT_INDEX": dead,
            "UV_CONFIG_FILE": home.appendingPathComponent(".config/uv/uv.toml").path,
            "UV_OFFLINE": "1", "UV_CACHE_DIR": fixture.temp.appending("uv-cache").path,
            "COMFYLOCK_UV": resolver == "uv" ? Self.uvPath : "none",
            "PATH": TestPaths.testVenv.appendingPathComponent("bin").path + ":/usr/local/bin:/usr/bin:/bin",
        ]
        let result = try Subprocess.comfyCLI(
            [
                "pin", req, "--index-url", fixture.indexURL, "--python", TestPaths.python.path, "--python-version",
                "3.11", "--platform", "manylinux_2_36_x86_64", "-o", out,
            ], environment: environment, currentDirectory: home.appendingPathComponent("project"))
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("with \(resolver)"), "\(result.standardOutput)")
        let pins = try JSONDecoder().decode(PythonPins.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(pins.packages.map { "\($0.name)==\($0.version)" } == ["beta==2.0", "gamma==0.5", "shared==2.0"])
        #expect(pins.packages.allSatisfy { $0.artifacts.allSatisfy { $0.url.hasPrefix(fixture.server!.baseURL) } })
    }

    @Test("usage errors exit 2 with a clear message")
    func usage() async throws {
        var (code, _, stderr) = await Self.cli(["pin"])
        #expect(code != 0)
        #expect(stderr.contains("--lock"), "\(stderr)")
        (code, _, stderr) = await Self.cli(["pin", "/nonexistent/requirements.txt", "--uv", Self.uvPath])
        #expect(code == 2)
        #expect(stderr.contains("/nonexistent/requirements.txt"))
        (code, _, stderr) = await Self.cli(["pin", "r.txt", "--platform", "solaris_sparc"])
        #expect(code != 0)
        #expect(stderr.contains("solaris_sparc"))
        (code, _, stderr) = await Self.cli(["pin", "wheelhouse", "/tmp/x"])
        #expect(code != 0)
        #expect(stderr.contains("--lock"))
    }
}
