import ComfyLock
import Foundation
import TestSupport
import Testing

@testable import ComfyRuntime

/// One test per bug of the operator path (issue 10), each on real parts: git repos, venvs, pip/uv, loopback index.
@Suite("operator path bugs", .serialized)
struct InstallPathTests {
    static var uvPath: String { TestPaths.testVenv.appendingPathComponent("bin/uv").path }

    // MARK: item 5 — the pip path sees every compatible manylinux tag

    @Test("pip platforms for manylinux_2_36 are the full PEP 600 set, newest first, legacy aliases included")
    func pipPlatformSet() {
        let tags = PythonPlatform.pipPlatforms(for: "manylinux_2_36_x86_64")
        #expect(tags.first == "manylinux_2_36_x86_64")
        for tag in [
            "manylinux_2_35_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
            "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64",
        ] {
            #expect(tags.contains(tag), "\(tag) missing from \(tags)")
        }
        #expect(!tags.contains("manylinux_2_37_x86_64"))
        #expect(tags.firstIndex(of: "manylinux_2_17_x86_64")! < tags.firstIndex(of: "manylinux2014_x86_64")!)
        let arm = PythonPlatform.pipPlatforms(for: "manylinux_2_28_aarch64")
        #expect(arm.contains("manylinux2014_aarch64") && !arm.contains("manylinux_2_16_aarch64"))
    }

    @Test("pip and uv resolve the same requirements to the same pins on wheels tagged manylinux_2_17 … 2_35")
    func pipMatchesUV() async throws {
        let wheels = [
            TestWheel("torchish", "1.0", platform: "manylinux_2_17_x86_64"),
            TestWheel("torchish", "2.0", platform: "manylinux_2_28_x86_64"),
            TestWheel("torchish", "3.0", requires: ["helper>=1"], platform: "manylinux_2_35_x86_64"),
            TestWheel("torchish", "9.0", platform: "manylinux_2_39_x86_64"),  // too new for glibc 2.36
            TestWheel("helper", "1.0", platform: "manylinux2014_x86_64"),
            TestWheel("helper", "1.5", platform: "manylinux_2_31_x86_64"),
            TestWheel("pure", "1.0"),
        ]
        let fixture = try PythonFixture(wheels: wheels)
        defer { fixture.close() }
        let requirements = try fixture.requirements("requirements.txt", ["torchish", "pure"])
        var resolved: [[String]] = []
        for useUV in [true, false] {
            let pins = try await PythonPinner.pin(
                PinRequest(
                    requirements: [.file(requirements)], pythonVersion: "3.11", platform: "manylinux_2_36_x86_64",
                    indexURLs: [fixture.indexURL]),
                toolchain: try await fixture.toolchain(uv: useUV))
            resolved.append(pins.packages.map { "\($0.name)==\($0.version)" })
        }
        #expect(resolved[0] == ["helper==1.5", "pure==1.0", "torchish==3.0"])
        #expect(resolved[1] == resolved[0], "pip resolved \(resolved[1]), uv \(resolved[0])")
    }

    // MARK: item 6 — pin --lock --with / --with-requirements

    @Test("pin --lock L --with REQ --with-requirements FILE adds requirements ComfyUI's file does not list")
    func pinWith() async throws {
        let fixture = try ComfyUIShapedFixture(extraWheels: [
            TestWheel("requests", "2.32.0"), TestWheel("extra", "1.0"),
        ])
        defer { fixture.close() }
        let lock = Lock(
            tag: "t", createdBy: "test", comfyui: ComfyUIPin(url: fixture.comfyURL, commit: fixture.comfyCommits[0]),
            customNodes: [
                CustomNode(name: "ComfyUI-VideoNode", kind: .git, url: fixture.nodeURL, commit: fixture.nodeCommit)
            ])
        let path = fixture.temp.appending("l.json")
        _ = try LockFile.write(lock, to: path)
        let extra = fixture.temp.appending("extra.txt")
        try "extra==1.0\n".write(to: extra, atomically: true, encoding: .utf8)
        let result = try fixture.cli([
            "pin", "--lock", path.path, "--with", "requests", "--with-requirements", extra.path, "--index-url",
            fixture.indexURL, "--python-version", "3.11", "--platform", "manylinux_2_36_x86_64",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let pinned = try LockFile.read(from: path)
        #expect(
            pinned.python?.packages.map(\.name) == ["comfydep", "extra", "nodedep", "requests", "shareddep"],
            "\(pinned.python?.packages.map(\.name) ?? [])")
        let refused = try fixture.cli(["pin", fixture.temp.appending("extra.txt").path, "--with", "requests"])
        #expect(refused.status == 2)
    }

    // MARK: items 7 and 9 — init --ref moves the tag; uv when available; plain progress lines

    @Test("init --ref NEW on an existing checkout moves commit and tag; uv is used when available, with progress lines")
    func initRefMovesTag() async throws {
        let fixture = try ComfyUIShapedFixture()
        defer { fixture.close() }
        #expect(InitOptions.defaultURL == "https://github.com/Comfy-Org/ComfyUI")
        let uv = ["COMFYLOCK_UV": Self.uvPath, "COMFYLOCK_UV_CACHE_DIR": fixture.temp.appending("uv-cache").path]
        let install = fixture.install.path
        let first = try fixture.cli(
            [
                "init", "--path", install, "--comfyui-url", fixture.comfyURL, "--ref", ComfyUIShapedFixture.tag,
                "--index-url", fixture.indexURL, "--json",
            ], environment: uv)
        #expect(first.status == 0, "\(first.standardError)")
        #expect(first.standardOutput.contains("\"installer\" : \"uv\""), "\(first.standardOutput)")
        #expect(first.standardError.contains("requirements: installing"), "\(first.standardError)")
        #expect(FileManager.default.fileExists(atPath: install + "/venv/lib/python3.11/site-packages/comfydep"))

        // Upstream tags its next commit; init --ref moves the checkout, and the tag comes along.
        try RuntimeFixture.git(
            ["tag", "v0.3.65", fixture.comfyCommits[1]], in: fixture.upstream.appendingPathComponent("ComfyUI.git"))
        let moved = try fixture.cli(
            [
                "init", "--path", install, "--comfyui-url", fixture.comfyURL, "--ref", "v0.3.65", "--index-url",
                fixture.indexURL,
            ],
            environment: uv)
        #expect(moved.status == 0, "\(moved.standardError)")
        let lockPath = fixture.temp.appending("l.json").path
        let created = try fixture.cli(
            ["lock", "create", "--comfyui", install, "--tag", "t", "-o", lockPath], environment: uv)
        #expect(created.status == 0, "\(created.standardError)")
        let lock = try LockFile.read(from: URL(fileURLWithPath: lockPath))
        #expect(lock.comfyui.commit == fixture.comfyCommits[1])
        #expect(lock.comfyui.ref == "v0.3.65")
        #expect(lock.python?.packages.map(\.name) == ["comfydep"])
    }

    @Test("a legacy .comfylock-init.json in the work tree is moved into .git and does not make the tree dirty")
    func legacyStateMigrated() async throws {
        let fixture = try ComfyUIShapedFixture()
        defer { fixture.close() }
        let install = fixture.install.path
        let args = ["init", "--path", install, "--comfyui-url", fixture.comfyURL, "--index-url", fixture.indexURL]
        #expect(try fixture.cli(args).status == 0)
        let state = InitState.file(in: fixture.install)
        try FileManager.default.moveItem(at: state, to: InitState.legacyFile(in: fixture.install))
        let again = try fixture.cli(args + ["--json"])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(again.standardOutput.contains("\"alreadyDone\" : true"), "\(again.standardOutput)")
        #expect(FileManager.default.fileExists(atPath: state.path))
        #expect(!FileManager.default.fileExists(atPath: InitState.legacyFile(in: fixture.install).path))
    }

    // MARK: item 4 — an unrecorded venv is not a pinned environment

    @Test(
        "a package no index knows is recorded unpinned: lock validate fails, version create refuses unless --allow-unpinned"
    )
    func unpinnedRefused() async throws {
        let fixture = try ComfyUIShapedFixture()
        defer { fixture.close() }
        let install = fixture.install.path
        #expect(
            try fixture.cli([
                "init", "--path", install, "--comfyui-url", fixture.comfyURL, "--index-url", fixture.indexURL,
            ])
            .status == 0)
        // A private wheel installed from a local directory the index does not list.
        let privateIndex = try WheelIndexFixture.build(
            [TestWheel("private-tool", "0.1")], at: fixture.temp.appending("private"))
        let pip = try Subprocess.run(
            install + "/venv/bin/python",
            [
                "-m", "pip", "install", "--isolated", "-q", "--no-index", "--find-links", privateIndex.files.path,
                "private-tool",
            ])
        #expect(pip.status == 0, "\(pip.standardError)")
        let lockPath = fixture.temp.appending("l.json").path
        let created = try fixture.cli(["lock", "create", "--comfyui", install, "--tag", "t", "-o", lockPath])
        #expect(created.status == 0, "\(created.standardError)")
        #expect(created.standardError.contains("private-tool"), "\(created.standardError)")
        let lock = try LockFile.read(from: URL(fileURLWithPath: lockPath))
        #expect(lock.python?.packages.first { $0.name == "private-tool" }?.artifacts.isEmpty == true)
        let validated = try fixture.cli(["lock", "validate", lockPath])
        #expect(validated.status == 1)
        #expect((validated.standardOutput + validated.standardError).contains("python-unhashed"))
        let refused = try fixture.cli(["version", "create", "v", "--lock", lockPath])
        #expect(refused.status == 2)
        #expect(refused.standardError.contains("private-tool"), "\(refused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: fixture.versions.appendingPathComponent("v").path))

        // A lock with no python section at all (no venv recorded) is refused the same way.
        var bare = lock
        bare.python = nil
        let barePath = fixture.temp.appending("bare.json")
        _ = try LockFile.write(bare, to: barePath)
        let bareRefused = try fixture.cli(["version", "create", "v", "--lock", barePath.path])
        #expect(bareRefused.status == 2)
        #expect(bareRefused.standardError.contains("--allow-unpinned"), "\(bareRefused.standardError)")
    }
}
