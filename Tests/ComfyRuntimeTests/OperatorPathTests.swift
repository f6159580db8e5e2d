import ComfyCrypto
import ComfyLock
import Foundation
import TestSupport
import Testing

@testable import ComfyRuntime

/// A ComfyUI-shaped install, made of real parts, for the documented operator path
/// `init → lock create → pin --lock → version create`:
/// - an upstream "ComfyUI" git repository shaped like the real one (its `.gitignore`, tracked
///   `custom_nodes/websocket_image_save.py`, `custom_nodes/example_node.py.example`, `models/configs/*.yaml`,
///   `models/*/put_*_here`, a `requirements.txt`), tagged;
/// - a custom-node repository with its own `requirements.txt`;
/// - wheels built by the test, served with a PEP 503 `simple/` index and a model file from one loopback server;
/// - a git mirror setting (`COMFYLOCK_GIT_MIRROR`) that rewrites the official URLs (which do not resolve) to the
///   local upstream directory, so every git access must go through the rewriting.
final class ComfyUIShapedFixture: @unchecked Sendable {  // immutable after init; the server is stopped in close()
    let temp: TemporaryDirectory
    let upstream: URL
    let index: WheelIndexFixture
    let server: StaticFileServer
    let comfyCommits: [String]
    let nodeCommit: String
    let model: (name: String, size: Int64, sha256: String)

    static let officialBase = "https://git.fixture.invalid/comfy-org/"
    static let tag = "v0.3.64"

    /// The real ComfyUI's `.gitignore` (v0.3.64), abridged to the lines that matter here.
    static let gitignore = """
        __pycache__/
        *.py[cod]
        /output/
        /input/
        /models/
        /temp/
        /custom_nodes/
        !custom_nodes/example_node.py.example
        extra_model_paths.yaml
        venv/
        .venv/
        /user/
        *.log

        """

    init(extraWheels: [TestWheel] = []) throws {
        temp = try TemporaryDirectory(prefix: "comfylock-operator")
        upstream = temp.appending("upstream")
        index = try WheelIndexFixture.build(
            [
                TestWheel("comfydep", "1.0"),
                TestWheel("nodedep", "1.0", requires: ["shareddep>=1.0"]),
                TestWheel("shareddep", "1.0"), TestWheel("shareddep", "2.0"),
            ] + extraWheels,
            at: temp.appending("served"))
        for repo in ["ComfyUI.git", "ComfyUI-VideoNode.git"] {
            try FileManager.default.createDirectory(
                at: upstream.appendingPathComponent(repo), withIntermediateDirectories: true)
        }
        comfyCommits = try RuntimeFixture.makeRepo(
            upstream.appendingPathComponent("ComfyUI.git"),
            commits: [
                [
                    "main.py": "print('ComfyUI-shaped')\n", "requirements.txt": "comfydep\n",
                    ".gitignore": Self.gitignore,
                    "custom_nodes/websocket_image_save.py": "NODE_CLASS_MAPPINGS = {'SaveImageWebsocket': 1}\n",
                    "custom_nodes/example_node.py.example": "# example\n",
                    "models/configs/v1-inference.yaml": "model:\n  target: ldm\n",
                    "models/configs/v2-inference.yaml": "model:\n  target: ldm2\n",
                    "models/checkpoints/put_checkpoints_here": "",
                    "models/vae/put_vae_here": "",
                ],
                ["main.py": "print('ComfyUI-shaped v2')\n"],
            ], tag: Self.tag)
        nodeCommit = try RuntimeFixture.makeRepo(
            upstream.appendingPathComponent("ComfyUI-VideoNode.git"),
            commits: [["__init__.py": "NODE_CLASS_MAPPINGS = {'Video': 1}\n", "requirements.txt": "nodedep\n"]])[0]
        let models = index.root.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        var bytes = [UInt8](repeating: 0, count: 65_537)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: (i &* 2654435761) >> 11) }
        try Data(bytes).write(to: models.appendingPathComponent("tiny.safetensors"))
        model = ("tiny.safetensors", Int64(bytes.count), SHA256.hash(bytes).hex)
        server = try StaticFileServer(directory: index.root)
    }

    func close() {
        server.stop()
        temp.remove()
    }

    var indexURL: String { server.baseURL + "/simple" }
    var comfyURL: String { Self.officialBase + "ComfyUI.git" }
    var nodeURL: String { Self.officialBase + "ComfyUI-VideoNode.git" }
    var install: URL { temp.appending("ComfyUI") }
    var store: URL { temp.appending("store") }
    var versions: URL { temp.appending("versions") }

    /// What an operator's shell would have: a store, a versions root, a git mirror setting, no uv unless asked.
    var environment: [String: String] {
        [
            "COMFYLOCK_STORE": store.path, "COMFYLOCK_VERSIONS": versions.path, "HOME": temp.appending("home").path,
            "COMFYLOCK_GIT_MIRROR": "\(Self.officialBase)=\(upstream.path)/", "COMFYLOCK_UV": "none",
            "GIT_CONFIG_NOSYSTEM": "1",
        ]
    }

    func cli(_ arguments: [String], environment extra: [String: String] = [:]) throws -> SubprocessResult {
        try Subprocess.comfyCLI(arguments, environment: environment.merging(extra) { $1 })
    }

    /// The operator's manual steps after `init`: clone a custom node (origin = its official URL), install its
    /// requirements into ComfyUI's venv with pip, download a model, drop in a local single-file node.
    func installNodeAndModel(localNode: Bool = true) throws {
        let node = install.appendingPathComponent("custom_nodes/ComfyUI-VideoNode")
        let clone = try Subprocess.run(
            "/usr/bin/git",
            ["clone", "--quiet", upstream.appendingPathComponent("ComfyUI-VideoNode.git").path, node.path],
            environment: ["GIT_CONFIG_NOSYSTEM": "1"])
        guard clone.status == 0 else { throw FixtureError(message: "clone: \(clone.standardError)") }
        try RuntimeFixture.git(["remote", "set-url", "origin", nodeURL], in: node)
        let pip = try Subprocess.run(
            install.appendingPathComponent("venv/bin/python").path,
            [
                "-m", "pip", "install", "--isolated", "-q", "--disable-pip-version-check", "--index-url", indexURL,
                "-r", node.appendingPathComponent("requirements.txt").path,
            ])
        guard pip.status == 0 else { throw FixtureError(message: "pip: \(pip.standardError)") }
        let checkpoints = install.appendingPathComponent("models/checkpoints")
        try FileManager.default.copyItem(
            at: index.root.appendingPathComponent("models/tiny.safetensors"),
            to: checkpoints.appendingPathComponent("tiny.safetensors"))
        let manifest = """
            {"models": [{"path": "checkpoints/tiny.safetensors", "sources": ["\(server.baseURL)/models/tiny.safetensors"]}]}
            """
        try manifest.write(to: temp.appending("models.json"), atomically: true, encoding: .utf8)
        if localNode {
            try "NODE_CLASS_MAPPINGS = {'Mine': 1}\n".write(
                to: install.appendingPathComponent("custom_nodes/my_local_node.py"), atomically: true, encoding: .utf8)
        }
    }
}

@Suite("operator path on a ComfyUI-shaped install", .serialized)
struct OperatorPathTests {
    @Test(
        "init → lock create (no --allow-dirty) → pin --lock (through a mirror) → version create ×2 → clean, one digest")
    func operatorPath() async throws {
        let fixture = try ComfyUIShapedFixture()
        defer { fixture.close() }
        let install = fixture.install.path

        // 1. init at the tag, requirements from the loopback index.
        let initResult = try fixture.cli([
            "init", "--path", install, "--comfyui-url", fixture.comfyURL, "--ref", ComfyUIShapedFixture.tag,
            "--index-url", fixture.indexURL,
        ])
        #expect(initResult.status == 0, "\(initResult.standardError)")
        #expect(!FileManager.default.fileExists(atPath: install + "/.comfylock-init.json"))
        let status = try RuntimeFixture.git(["status", "--porcelain", "--untracked-files=all"], in: fixture.install)
        #expect(status.isEmpty, "init left the work tree dirty: \(status)")
        try fixture.installNodeAndModel()

        // 2. lock create: no --allow-dirty, no manual step.
        let lockPath = fixture.temp.appending("comfy.lock.json").path
        let created = try fixture.cli([
            "lock", "create", "--comfyui", install, "--tag", "prod", "--models-manifest",
            fixture.temp.appending("models.json").path, "-o", lockPath,
        ])
        #expect(created.status == 0, "\(created.standardError)")
        let lock = try LockFile.read(from: URL(fileURLWithPath: lockPath))
        #expect(lock.comfyui.ref == ComfyUIShapedFixture.tag)
        #expect(lock.comfyui.commit == fixture.comfyCommits[0])
        // Files tracked by ComfyUI's commit are part of that commit: not nodes, not models.
        #expect(lock.customNodes.map(\.name).sorted() == ["ComfyUI-VideoNode", "my_local_node.py"])
        #expect(lock.models.map(\.path) == ["checkpoints/tiny.safetensors"])
        #expect(lock.models.first?.sources == ["\(fixture.server.baseURL)/models/tiny.safetensors"])
        // The untracked local node is in the store and named as not fetchable elsewhere.
        let local = try #require(lock.customNodes.first { $0.name == "my_local_node.py" })
        #expect(local.url == nil)
        #expect(FileManager.default.fileExists(atPath: fixture.store.path + "/blobs/sha256/" + (local.sha256 ?? "")))
        #expect(created.standardError.contains("not fetchable elsewhere"), "\(created.standardError)")
        #expect(created.standardError.contains("my_local_node.py"))
        // Every installed distribution of the pip-made venv, with the index's artifact URL and sha256.
        let python = try #require(lock.python)
        #expect(
            python.packages.map { "\($0.name)==\($0.version)" } == ["comfydep==1.0", "nodedep==1.0", "shareddep==2.0"])
        for package in python.packages {
            let filename = WheelIndexFixture.filename(package.name, package.version)
            #expect(package.artifacts.map(\.sha256) == [fixture.index.sha256[filename]!])
            #expect(package.artifacts.first?.url == "\(fixture.server.baseURL)/files/\(filename)")
        }
        let validated = try fixture.cli(["lock", "validate", lockPath])
        #expect(validated.status == 0, "\(validated.standardOutput)\(validated.standardError)")

        // --strict makes the not-fetchable-elsewhere node an error, and writes nothing.
        let strictPath = fixture.temp.appending("strict.lock.json").path
        let strict = try fixture.cli([
            "lock", "create", "--comfyui", install, "--tag", "prod", "--models-manifest",
            fixture.temp.appending("models.json").path, "--strict", "-o", strictPath,
        ])
        #expect(strict.status == 1, "\(strict.standardError)")
        #expect(strict.standardError.contains("my_local_node.py"))
        #expect(!FileManager.default.fileExists(atPath: strictPath))

        // 3. pin --lock: requirements at the lock's commits, fetched through the mirror setting + git cache only.
        let pinned = try fixture.cli(["pin", "--lock", lockPath, "--index-url", fixture.indexURL, "--json"])
        #expect(pinned.status == 0, "\(pinned.standardError)")
        let repinned = try LockFile.read(from: URL(fileURLWithPath: lockPath))
        #expect(
            repinned.python?.packages.map { "\($0.name)==\($0.version)" } == [
                "comfydep==1.0", "nodedep==1.0", "shareddep==2.0",
            ])
        #expect(!pinned.standardError.contains("//comfylock"), "\(pinned.standardError)")

        // 4. version create ×2, both clean, one digest.
        for name in ["a", "b"] {
            let built = try fixture.cli(["version", "create", name, "--lock", lockPath, "--json"])
            #expect(built.status == 0, "\(built.standardError)")
            let status = try fixture.cli(["version", "status", name])
            #expect(status.status == 0, "\(status.standardOutput)\(status.standardError)")
        }
        let digestA = try fixture.cli(["version", "digest", "a"]).standardOutput
        let digestB = try fixture.cli(["version", "digest", "b"]).standardOutput
        #expect(!digestA.isEmpty && digestA == digestB)
        // Every recorded package is installed; ComfyUI's own tracked files are there from its commit.
        let versionA = fixture.versions.appendingPathComponent("a")
        let site = try PythonVirtualEnvironment(existingAt: versionA.appendingPathComponent("venv").path)
        let installed = try PythonInstallation.packages(in: site).map(\.name).filter {
            !["pip", "setuptools", "wheel"].contains($0)
        }
        #expect(installed.sorted() == ["comfydep", "nodedep", "shareddep"])
        for tracked in ["custom_nodes/websocket_image_save.py", "models/configs/v1-inference.yaml"] {
            #expect(FileManager.default.fileExists(atPath: versionA.appendingPathComponent("ComfyUI/" + tracked).path))
        }
        #expect(
            FileManager.default.fileExists(
                atPath: versionA.appendingPathComponent("ComfyUI/custom_nodes/my_local_node.py").path))
    }
}
