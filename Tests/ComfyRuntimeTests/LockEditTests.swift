import ComfyCrypto
import ComfyLock
import Foundation
import TestSupport
import Testing

@testable import ComfyRuntime

/// Real git repositories with tags and branches (file://, hermetic), the standard wheel index served on loopback,
/// uv from the test venv, and the built `comfy-cli` run as a subprocess with its own store and mirror settings.
final class LockEditFixture: @unchecked Sendable {  // immutable after init; closed once
    let python: PythonFixture
    let upstream: URL
    let store: URL
    /// Fake GitHub: `https://github.com/fixture/NAME` is rewritten to `upstream/fixture/NAME`.
    static let githubBase = "https://github.com/"

    init() throws {
        python = try PythonFixture()
        upstream = python.temp.appending("upstream")
        store = python.temp.appending("store")
        try FileManager.default.createDirectory(at: store, withIntermediateDirectories: true)
    }

    func close() { python.close() }

    var temp: TemporaryDirectory { python.temp }

    /// A repository `upstream/fixture/NAME` with one commit per entry; `tags[i]` tags commit i; `branches` are
    /// created at the given commit index. Returns the commits.
    @discardableResult
    func repo(
        _ name: String, commits: [[String: String]], tags: [Int: String] = [:], branches: [String: Int] = [:]
    ) throws -> [String] {
        let dir = upstream.appendingPathComponent("fixture/\(name)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let hashes = try RuntimeFixture.makeRepo(dir, commits: commits)
        for (index, tag) in tags { try RuntimeFixture.git(["tag", tag, hashes[index]], in: dir) }
        for (branch, index) in branches { try RuntimeFixture.git(["branch", branch, hashes[index]], in: dir) }
        return hashes
    }

    /// The URL locks record for a fixture repository.
    func url(_ name: String) -> String { Self.githubBase + "fixture/" + name }

    var environment: [String: String] {
        [
            "COMFYLOCK_STORE": store.path, "HOME": temp.appending("home").path,
            "COMFYLOCK_GIT_MIRROR": "\(Self.githubBase)=\(upstream.path)/", "GIT_CONFIG_NOSYSTEM": "1",
            "COMFYLOCK_MIRRORS": "",
        ]
    }

    /// Python options every editing command gets: the fixture index, uv of the test venv.
    var pythonArguments: [String] { ["--uv", TestPaths.testVenv.appendingPathComponent("bin/uv").path] }

    func cli(_ arguments: [String]) throws -> SubprocessResult {
        try Subprocess.comfyCLI(arguments, environment: environment)
    }

    /// Pins for the fixture index (no resolver), as a lock's python section.
    func pins(_ versions: [String: String]) -> PythonPins { python.pins(versions) }

    func write(_ lock: Lock, _ name: String = "lock.json") throws -> String {
        let url = temp.appending(name)
        _ = try LockFile.write(lock, to: url)
        return url.path
    }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
}

@Suite("Lock editing (lock update, node add|remove|disable|enable)")
struct LockEditTests {
    @Test("lock update moves ComfyUI to a tag and a node to a branch, re-pins, previews, and writes only with --yes")
    func updateComfyUIAndNode() throws {
        let fixture = try LockEditFixture()
        defer { fixture.close() }
        let comfy = try fixture.repo(
            "ComfyUI",
            commits: [
                ["requirements.txt": "alpha\n", "main.py": "print(1)\n"], ["requirements.txt": "alpha\ngamma\n"],
            ],
            tags: [0: "v1", 1: "v2"])
        let node = try fixture.repo(
            "node-a", commits: [["__init__.py": "NODE_CLASS_MAPPINGS = {}\n"], ["__init__.py": "# dev\n"]],
            branches: ["dev": 1])
        let lock = Lock(
            tag: "t", createdBy: "test", comfyui: ComfyUIPin(url: fixture.url("ComfyUI"), commit: comfy[0], ref: "v1"),
            customNodes: [CustomNode(name: "node-a", kind: .git, url: fixture.url("node-a"), commit: node[0])],
            python: fixture.pins(["alpha": "1.0", "shared": "1.0"]))
        let path = try fixture.write(lock)
        let before = try fixture.bytes(path)

        // Preview: the diff in `lock diff` form, nothing written (no --yes, not a terminal).
        var result = try fixture.cli(
            ["lock", "update", path, "--comfyui", "v2", "--node", "node-a@dev"] + fixture.pythonArguments)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(
            result.standardOutput.contains("~ comfyui comfyui: commit: \(comfy[0]) → \(comfy[1])"),
            "\(result.standardOutput)")
        #expect(result.standardOutput.contains("~ comfyui comfyui: ref: v1 → v2"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("~ customNodes node-a: commit: \(node[0]) → \(node[1])"))
        #expect(result.standardOutput.contains("+ python.packages gamma: version 0.5"), "\(result.standardOutput)")
        #expect(result.standardError.contains("not written"))
        #expect(try fixture.bytes(path) == before)

        // --yes --json: written canonically; the report lists the same entries.
        result = try fixture.cli(
            ["lock", "update", path, "--comfyui", "v2", "--node", "node-a@dev", "--yes", "--json"]
                + fixture.pythonArguments)
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        #expect(report?["written"] as? Bool == true)
        #expect((report?["entries"] as? [Any])?.count == 4, "\(result.standardOutput)")
        let written = try LockFile.read(from: URL(fileURLWithPath: path))
        #expect(written.comfyui.commit == comfy[1] && written.comfyui.ref == "v2")
        #expect(written.customNodes[0].commit == node[1])
        // Kept pins stay exactly as they were (same artifacts); only gamma is new.
        #expect(
            written.python?.packages.map { "\($0.name)==\($0.version)" } == ["alpha==1.0", "gamma==0.5", "shared==1.0"])
        #expect(
            written.python?.packages.first { $0.name == "alpha" } == lock.python?.packages.first { $0.name == "alpha" })
        #expect(try fixture.bytes(path) == Data(LockFile.encode(written)))  // canonical form

        // Nothing to do: "no changes", the file untouched.
        let stamp = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
        result = try fixture.cli(["lock", "update", path, "--comfyui", "v2", "--yes"] + fixture.pythonArguments)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("no changes"))
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date == stamp)

        // --node NAME without a ref: the default branch (main = commit 1 here too); a tag that is not there fails.
        result = try fixture.cli(["lock", "update", path, "--comfyui", "v9", "--yes"] + fixture.pythonArguments)
        #expect(result.status == 2)
        #expect(result.standardError.contains("v9 is not a branch, tag or commit"), "\(result.standardError)")
        result = try fixture.cli(["lock", "update", path, "--node", "nope", "--yes"] + fixture.pythonArguments)
        #expect(result.status == 2)
        #expect(result.standardError.contains("no custom node \"nope\""), "\(result.standardError)")
        #expect(try LockFile.read(from: URL(fileURLWithPath: path)) == written)
    }

    @Test("lock update --package NAME lets one pin move; --package NAME==VER requires that version; --all re-resolves")
    func updatePackages() throws {
        let fixture = try LockEditFixture()
        defer { fixture.close() }
        let comfy = try fixture.repo("ComfyUI", commits: [["requirements.txt": "shared\ngamma\n"]])
        let lock = Lock(
            tag: "t", createdBy: "test", comfyui: ComfyUIPin(url: fixture.url("ComfyUI"), commit: comfy[0]),
            python: fixture.pins(["gamma": "0.5", "shared": "1.0"]))
        let path = try fixture.write(lock)
        var result = try fixture.cli(
            ["lock", "update", path, "--package", "shared", "--yes"] + fixture.pythonArguments)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(
            result.standardOutput.contains("~ python.packages shared: version: 1.0 → 2.0"), "\(result.standardOutput)")
        result = try fixture.cli(
            ["lock", "update", path, "--package", "shared==1.0", "--yes"] + fixture.pythonArguments)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(
            try LockFile.read(from: URL(fileURLWithPath: path)).python?.packages.first { $0.name == "shared" }?.version
                == "1.0")
        result = try fixture.cli(["lock", "update", path, "--all", "--yes"] + fixture.pythonArguments)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(
            try LockFile.read(from: URL(fileURLWithPath: path)).python?.packages.first { $0.name == "shared" }?.version
                == "2.0")
        result = try fixture.cli(["lock", "update", path])
        #expect(result.status == 2)
        #expect(result.standardError.contains("say what to update"))
    }

    @Test(
        "node add folds the node's requirements into the pins; a clash with a pinned version is explained and nothing is written"
    )
    func nodeAddConflict() throws {
        let fixture = try LockEditFixture()
        defer { fixture.close() }
        let comfy = try fixture.repo("ComfyUI", commits: [["requirements.txt": "shared\n"]])
        // node-y needs beta==1.0, which depends on shared==2.0: the lock pins shared==1.0.
        let nodeY = try fixture.repo(
            "node-y", commits: [["requirements.txt": "beta==1.0\n", "__init__.py": "\n"]], tags: [0: "v1.0"])
        // node-g needs gamma: fits.
        let nodeG = try fixture.repo("node-g.git", commits: [["requirements.txt": "gamma\n", "__init__.py": "\n"]])
        let lock = Lock(
            tag: "t", createdBy: "test", comfyui: ComfyUIPin(url: fixture.url("ComfyUI"), commit: comfy[0]),
            python: fixture.pins(["shared": "1.0"]))
        let path = try fixture.write(lock)
        let before = try fixture.bytes(path)

        var result = try fixture.cli(
            ["node", "add", path, fixture.url("node-y") + "@v1.0", "--yes"] + fixture.pythonArguments)
        #expect(result.status == 1, "\(result.standardError)")
        let message = result.standardError
        #expect(message.contains("do not fit the lock's pinned Python closure"), "\(message)")
        #expect(message.contains("requirements conflict on shared"), "\(message)")
        #expect(message.contains("pinned in the lock: shared==1.0"), "\(message)")
        // uv widens beta==1.0 to beta<=1.0 in its explanation.
        #expect(message.contains("custom_nodes/node-y@\(nodeY[0].prefix(12)):requirements.txt: beta"), "\(message)")
        #expect(
            message.contains("beta<=1.0 → shared==2.0") || message.contains("beta==1.0 → shared==2.0"), "\(message)")
        #expect(message.contains("shared: 1.0 → 2.0") && message.contains("--package shared"), "\(message)")
        #expect(message.contains("nothing was written"))
        #expect(try fixture.bytes(path) == before)

        // Allowed to move shared: written, with the node at the tag's commit.
        result = try fixture.cli(
            ["node", "add", path, fixture.url("node-y") + "@v1.0", "--package", "shared", "--yes"]
                + fixture.pythonArguments)
        #expect(result.status == 0, "\(result.standardError)")
        var written = try LockFile.read(from: URL(fileURLWithPath: path))
        #expect(written.customNodes.map(\.name) == ["node-y"] && written.customNodes[0].commit == nodeY[0])
        #expect(written.python?.packages.map { "\($0.name)==\($0.version)" } == ["beta==1.0", "shared==2.0"])

        // The name comes from the URL (".git" dropped); adding it twice is refused.
        result = try fixture.cli(["node", "add", path, fixture.url("node-g.git"), "--yes"] + fixture.pythonArguments)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(
            result.standardOutput.contains("+ customNodes node-g: kind git, commit \(nodeG[0])"),
            "\(result.standardOutput)")
        #expect(result.standardOutput.contains("+ python.packages gamma"))
        result = try fixture.cli(["node", "add", path, fixture.url("node-g.git"), "--yes"] + fixture.pythonArguments)
        #expect(result.status == 2)
        #expect(result.standardError.contains("already has a custom node \"node-g\""), "\(result.standardError)")

        // Disable drops the packages only it needed; enable brings them back; remove drops the node.
        result = try fixture.cli(["node", "disable", path, "node-g", "--yes"] + fixture.pythonArguments)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(
            result.standardOutput.contains("~ customNodes node-g: enabled: true → false"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("- python.packages gamma"), "\(result.standardOutput)")
        result = try fixture.cli(["node", "enable", path, "node-g", "--yes"] + fixture.pythonArguments)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("+ python.packages gamma"))
        result = try fixture.cli(["node", "remove", path, "node-y", "--yes", "--json"] + fixture.pythonArguments)
        #expect(result.status == 0, "\(result.standardError)")
        written = try LockFile.read(from: URL(fileURLWithPath: path))
        #expect(written.customNodes.map(\.name) == ["node-g"])
        // beta leaves with node-y; shared stays at the version it had (kept, not re-chosen).
        #expect(written.python?.packages.map { "\($0.name)==\($0.version)" } == ["gamma==0.5", "shared==2.0"])
        result = try fixture.cli(["node", "remove", path, "node-y", "--yes"] + fixture.pythonArguments)
        #expect(result.status == 2)
        #expect(
            result.standardError.contains("no custom node \"node-y\" (it has \"node-g\")"), "\(result.standardError)")
    }

    @Test("a requirement clash among the requirements themselves (not with the pins) is named with both chains")
    func nodeAddRequirementsClash() throws {
        let fixture = try LockEditFixture()
        defer { fixture.close() }
        let comfy = try fixture.repo("ComfyUI", commits: [["requirements.txt": "alpha\n"]])
        try fixture.repo("node-b", commits: [["requirements.txt": "beta==1.0\n"]])
        let lock = Lock(
            tag: "t", createdBy: "test", comfyui: ComfyUIPin(url: fixture.url("ComfyUI"), commit: comfy[0]),
            python: fixture.pins(["alpha": "1.0", "shared": "1.0"]))
        let path = try fixture.write(lock)
        let result = try fixture.cli(["node", "add", path, fixture.url("node-b"), "--yes"] + fixture.pythonArguments)
        #expect(result.status == 2, "\(result.standardError)")
        #expect(result.standardError.contains("requirements conflict on shared"), "\(result.standardError)")
        #expect(result.standardError.contains("alpha → shared==1.0"), "\(result.standardError)")
        #expect(result.standardError.contains("custom_nodes/node-b@"), "\(result.standardError)")
        #expect(result.standardError.contains("1.0 → shared==2.0"), "\(result.standardError)")
        #expect(try LockFile.read(from: URL(fileURLWithPath: path)) == lock.sorted())
    }

    @Test("on a terminal the edit asks before writing: y writes, anything else leaves the lock as it was")
    func terminalConfirmation() throws {
        let fixture = try LockEditFixture()
        defer { fixture.close() }
        let comfy = try fixture.repo(
            "ComfyUI", commits: [["main.py": "1\n"], ["main.py": "2\n"]], tags: [0: "v1", 1: "v2"])
        let lock = Lock(
            tag: "t", createdBy: "test", comfyui: ComfyUIPin(url: fixture.url("ComfyUI"), commit: comfy[0], ref: "v1"))
        let path = try fixture.write(lock)
        let before = try fixture.bytes(path)
        let drive = TestPaths.testScripts.appendingPathComponent("pty_drive.py").path
        func onTerminal(_ answer: String) throws -> SubprocessResult {
            try Subprocess.run(
                "/usr/bin/python3",
                [
                    drive, "--prompt", "[y/N]", answer, TestPaths.comfyCLI.path, "lock", "update", path, "--comfyui",
                    "v2",
                ],
                environment: fixture.environment)
        }
        var result = try onTerminal("n")
        #expect(result.status == 0, "\(result.standardOutput)")
        #expect(result.standardOutput.contains("write 2 change(s) to \(path)? [y/N]"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("not written"))
        #expect(try fixture.bytes(path) == before)
        result = try onTerminal("y")
        #expect(result.status == 0, "\(result.standardOutput)")
        #expect(result.standardOutput.contains("wrote \(path)"), "\(result.standardOutput)")
        #expect(try LockFile.read(from: URL(fileURLWithPath: path)).comfyui.commit == comfy[1])
    }

    @Test("lock update --node NAME@VERSION moves a registry node and pins the new archive from the registry")
    func registryNodeUpdate() throws {
        let fixture = try LockEditFixture()
        defer { fixture.close() }
        let comfy = try fixture.repo("ComfyUI", commits: [["main.py": "1\n"]])
        let served = fixture.temp.appending("served")
        let server = try LoopbackHTTPServer(root: served)
        defer { server.stop() }
        var archives: [String: Data] = [:]
        for version in ["1.0.0", "1.2.0"] {
            let dir = served.appendingPathComponent("archives")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let archive = dir.appendingPathComponent("reg-\(version).zip")
            try RegistryNodeTests.zip([.file("__init__.py", "NODE_CLASS_MAPPINGS = {} # \(version)\n")], to: archive)
            archives[version] = try Data(contentsOf: archive)
            let api = served.appendingPathComponent("registry/nodes/reg/versions")
            try FileManager.default.createDirectory(at: api, withIntermediateDirectories: true)
            let body = [
                "id": "reg", "version": version,
                "downloadUrl": server.url("/archives/reg-\(version).zip").absoluteString,
            ]
            try JSONSerialization.data(withJSONObject: body).write(to: api.appendingPathComponent(version))
        }
        let lock = Lock(
            tag: "t", createdBy: "test", comfyui: ComfyUIPin(url: fixture.url("ComfyUI"), commit: comfy[0]),
            customNodes: [CustomNode(name: "reg", kind: .registry, registryId: "reg", version: "1.0.0")])
        let path = try fixture.write(lock)
        let registry = ["--registry-url", server.url("/registry").absoluteString]
        var result = try fixture.cli(["lock", "update", path, "--node", "reg", "--yes"] + registry)
        #expect(result.status == 2)
        #expect(result.standardError.contains("needs a version: --node reg@VERSION"), "\(result.standardError)")
        result = try fixture.cli(["lock", "update", path, "--node", "reg@1.2.0", "--yes"] + registry)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("~ customNodes reg: version: 1.0.0 → 1.2.0"), "\(result.standardOutput)")
        let node = try LockFile.read(from: URL(fileURLWithPath: path)).customNodes[0]
        #expect(node.version == "1.2.0" && node.sha256 == SHA256.hash(Array(archives["1.2.0"]!)).hex)
        #expect(node.url == server.url("/archives/reg-1.2.0.zip").absoluteString && node.treeHash != nil)
    }

    @Test("URL@REF and NAME@REF split where the ref starts; default names; hostile names and URLs are refused")
    func parsing() async throws {
        #expect(LockEditor.splitReference("https://h.example/o/r@v1.0") == ("https://h.example/o/r", "v1.0"))
        #expect(LockEditor.splitReference("https://h.example/o/r@feature/x") == ("https://h.example/o/r", "feature/x"))
        #expect(LockEditor.splitReference("git@h.example:o/r.git@main") == ("git@h.example:o/r.git", "main"))
        #expect(LockEditor.splitReference("file:///tmp/r") == ("file:///tmp/r", nil))
        #expect(LockEditor.splitReference("https://user@h.example/o/r") == ("https://user@h.example/o/r", nil))
        #expect(LockEditor.splitName("node@v2") == ("node", "v2"))
        #expect(LockEditor.defaultName(for: "https://h.example/o/ComfyUI-Foo.git/") == "ComfyUI-Foo")
        var lock = Lock(
            tag: "t", createdBy: "t",
            comfyui: ComfyUIPin(url: "https://h.example/c", commit: String(repeating: "a", count: 40)))
        let editor = LockEditor(gitCache: GitCache(storeRoot: URL(fileURLWithPath: "/nonexistent")))
        for (url, name) in [("https://h.example/o/r", "../x"), ("-uhttps://x", "x"), ("ext::sh -c x", "x")] {
            do {
                try await editor.addNode(&lock, url: url, ref: nil, name: name)
                Issue.record("accepted \(url) as \(name)")
            } catch is LockEditError {
            } catch {
                Issue.record("\(url): \(error)")
            }
        }
        #expect(lock.customNodes.isEmpty)
        #expect(VersionSpecifier.compatible(["==1.0", ">=1"]))
        #expect(!VersionSpecifier.compatible(["==1.0", ">=2"]))
        #expect(!VersionSpecifier.compatible(["==1.4", "~=1.5"]))
        #expect(VersionSpecifier.compatible(["==1.5.2", "~=1.5", "!=1.5.1", "==1.*"]))
    }
}
