import ComfyCrypto
import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import TestSupport

/// Real git repositories, model files served over loopback HTTP, and an empty store, made fresh for one test:
/// a fake "ComfyUI" (requirements.txt, main.py, a .gitignore like the real one) and two custom-node repositories
/// with their own requirements.
final class RuntimeFixture: Sendable {
    let temp: TemporaryDirectory
    let comfyRepo: URL
    let nodeA: URL
    let nodeB: URL
    let served: URL
    let store: URL
    let versions: URL
    let server: LoopbackHTTPServer
    let comfyCommits: [String]
    let nodeACommits: [String]
    let nodeBCommit: String
    /// name → (bytes, sha256)
    let modelFiles: [String: (size: Int64, sha256: String)]

    init() throws {
        temp = try TemporaryDirectory(prefix: "comfylock-runtime")
        let upstream = temp.appending("upstream")
        comfyRepo = upstream.appendingPathComponent("ComfyUI.git")
        nodeA = upstream.appendingPathComponent("node-alpha.git")
        nodeB = upstream.appendingPathComponent("node-beta.git")
        served = temp.appending("served")
        store = temp.appending("store")
        versions = temp.appending("versions")
        for dir in [comfyRepo, nodeA, nodeB, served, store, versions] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        comfyCommits = try Self.makeRepo(
            comfyRepo,
            commits: [
                [
                    "main.py": "print('fake ComfyUI')\n", "requirements.txt": "# ComfyUI requirements\n",
                    ".gitignore": "/models/\n/custom_nodes/\nextra_model_paths.yaml\n__pycache__/\n/venv/\n",
                    "custom_nodes/example_node.py.example": "# example\n",
                ],
                ["main.py": "print('fake ComfyUI v2')\n"],
            ], tag: "v0.1")
        nodeACommits = try Self.makeRepo(
            nodeA,
            commits: [
                ["__init__.py": "NODE_CLASS_MAPPINGS = {}\n", "requirements.txt": "# alpha\n"],
                ["__init__.py": "NODE_CLASS_MAPPINGS = {'A': 1}\n"],
            ])
        nodeBCommit = try Self.makeRepo(
            nodeB, commits: [["__init__.py": "NODE_CLASS_MAPPINGS = {}\n", "requirements.txt": "# beta\n"]])[0]
        var files: [String: (Int64, String)] = [:]
        for (name, size) in [("sd-tiny.safetensors", 200_000), ("lora-a.safetensors", 30_000), ("vae.pt", 7_001)] {
            var bytes = [UInt8](repeating: 0, count: size)
            for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: (i &* 2654435761) >> 13 ^ name.count) }
            try Data(bytes).write(to: served.appendingPathComponent(name))
            files[name] = (Int64(size), SHA256.hash(bytes).hex)
        }
        modelFiles = files.mapValues { (size: $0.0, sha256: $0.1) }
        server = try LoopbackHTTPServer(root: served)
    }

    deinit {
        server.stop()
        temp.remove()
    }

    /// The host the locks name; fetches are rewritten to the local repositories (mirror rewriting).
    static let officialBase = "https://git.fixture.invalid/comfy/"

    /// The URL a lock records for a fixture repository.
    func official(_ repo: URL) -> String { Self.officialBase + repo.lastPathComponent }

    /// Rewrites the official URLs to the local upstream directory.
    var rewriter: URLRewriter {
        URLRewriter(rules: [
            .init(
                prefix: Self.officialBase, replacement: comfyRepo.deletingLastPathComponent().path + "/", kinds: [.git])
        ])
    }

    /// A lock of the fixture: ComfyUI at its last commit, both nodes, three models from the loopback server.
    func lock(tag: String = "fixture") -> Lock {
        Lock(
            tag: tag, createdBy: "comfylock test",
            comfyui: ComfyUIPin(url: official(comfyRepo), commit: comfyCommits[1]),
            customNodes: [
                CustomNode(name: "node-alpha", kind: .git, url: official(nodeA), commit: nodeACommits[1]),
                CustomNode(name: "node-beta", kind: .git, url: official(nodeB), commit: nodeBCommit, enabled: false),
            ],
            models: [
                model("checkpoints/sd-tiny.safetensors", "sd-tiny.safetensors"),
                model("loras/style/lora-a.safetensors", "lora-a.safetensors"),
                model("vae/vae.pt", "vae.pt"),
            ]
        ).sorted()
    }

    func model(_ path: String, _ file: String) -> ModelEntry {
        let info = modelFiles[file]!
        return ModelEntry(
            path: path, size: info.size, sha256: info.sha256, sources: [server.url("/\(file)").absoluteString])
    }

    var modelStore: ModelStore { ModelStore(root: store) }
    var gitCache: GitCache { GitCache(storeRoot: store, rewriter: rewriter) }

    func builder(root: URL? = nil) -> VersionBuilder {
        VersionBuilder(root: root ?? versions, gitCache: gitCache, store: modelStore, python: nil)
    }

    var inspector: VersionInspector { VersionInspector(store: modelStore, python: nil) }

    /// Environment for running `comfy-cli` against this fixture.
    var cliEnvironment: [String: String] {
        [
            "COMFYLOCK_STORE": store.path, "COMFYLOCK_VERSIONS": versions.path, "HOME": temp.appending("home").path,
            "COMFYLOCK_GIT_MIRROR": "\(Self.officialBase)=\(comfyRepo.deletingLastPathComponent().path)/",
        ]
    }

    /// Writes a lock file and returns its path.
    func write(_ lock: Lock, name: String = "lock.json") throws -> String {
        let url = temp.appending(name)
        _ = try LockFile.write(lock, to: url)
        return url.path
    }

    /// Creates a repository with one commit per dictionary (path → contents) and returns the commit hashes.
    @discardableResult
    static func makeRepo(_ dir: URL, commits: [[String: String]], tag: String? = nil) throws -> [String] {
        try git(["init", "--quiet", "-b", "main"], in: dir)
        var hashes: [String] = []
        for (index, files) in commits.enumerated() {
            for (path, contents) in files {
                let url = dir.appendingPathComponent(path)
                try FileManager.default.createDirectory(
                    at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try contents.write(to: url, atomically: true, encoding: .utf8)
            }
            try git(["add", "-A", "-f"], in: dir)
            try git(["commit", "--quiet", "-m", "commit \(index)"], in: dir)
            hashes.append(try git(["rev-parse", "HEAD"], in: dir))
            if index == 0, let tag { try git(["tag", tag], in: dir) }
        }
        return hashes
    }

    @discardableResult
    static func git(_ arguments: [String], in dir: URL) throws -> String {
        let result = try Subprocess.run(
            "/usr/bin/git", ["-C", dir.path] + arguments,
            environment: [
                "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
                "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
            ])
        guard result.status == 0 else {
            throw RuntimeError.invalidInput("git \(arguments) failed: \(result.standardError)")
        }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Every path under `dir` (relative), to prove nothing outside a removal target changed.
    static func snapshot(_ dir: URL) -> [String] {
        (FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String] ?? []).sorted()
    }
}

extension VersionCreateOptions {
    /// The fixture's locks pin no Python (these tests are about git, models and layout): build them anyway.
    static var pythonless: VersionCreateOptions { VersionCreateOptions(allowUnpinned: true) }
}
