import ComfyCrypto
import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import Logging
import TestSupport

@testable import ComfyHandler

/// A real version for the worker's start-up tests: a "ComfyUI" and a custom node as real git repositories in a
/// temp dir, two models served over loopback HTTP, a store, and a version built from the lock by
/// `VersionBuilder` (no Python: the fixture lock pins none). ComfyUI itself is the ComfyUI stand-in, launched
/// explicitly (`WorkerOptions.launch`), since the fixture's "ComfyUI" has no venv.
final class HandlerVersionFixture: Sendable {
    let temp: TemporaryDirectory
    let served: URL
    let store: URL
    let versions: URL
    let server: LoopbackHTTPServer
    let lock: Lock
    let lockPath: String
    /// path in the lock → (size, sha256)
    let models: [String: (size: Int64, sha256: String)]

    static let officialBase = "https://git.fixture.invalid/handler/"
    static let nodeName = "node-alpha"

    init() throws {
        temp = try TemporaryDirectory(prefix: "comfylock-handler-version")
        let upstream = temp.appending("upstream")
        served = temp.appending("served")
        store = temp.appending("store")
        versions = temp.appending("versions")
        for dir in [upstream, served, store, versions] {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        }
        let comfy = try Self.makeRepo(
            upstream.appendingPathComponent("ComfyUI.git"),
            files: [
                "main.py": "print('fixture ComfyUI')\n", "requirements.txt": "# none\n",
                ".gitignore": "/models/\n/custom_nodes/\nextra_model_paths.yaml\n__pycache__/\n/venv/\n",
            ])
        let node = try Self.makeRepo(
            upstream.appendingPathComponent("\(Self.nodeName).git"),
            files: ["__init__.py": "NODE_CLASS_MAPPINGS = {'AlphaNode': object}\n"])
        var entries: [ModelEntry] = []
        var models: [String: (Int64, String)] = [:]
        server = try LoopbackHTTPServer(root: served)
        for (path, size) in [("checkpoints/tiny.safetensors", 150_000), ("loras/style.safetensors", 20_000)] {
            let file = (path as NSString).lastPathComponent
            var bytes = [UInt8](repeating: 0, count: size)
            for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: (i &* 2_654_435_761) >> 11 ^ file.count) }
            try Data(bytes).write(to: served.appendingPathComponent(file))
            let sha = SHA256.hash(bytes).hex
            models[path] = (Int64(size), sha)
            entries.append(
                ModelEntry(path: path, size: Int64(size), sha256: sha, sources: [server.url("/\(file)").absoluteString])
            )
        }
        self.models = models.mapValues { (size: $0.0, sha256: $0.1) }
        lock = Lock(
            tag: "handler-fixture", createdBy: "comfylock test",
            comfyui: ComfyUIPin(url: Self.officialBase + "ComfyUI.git", commit: comfy),
            customNodes: [
                CustomNode(
                    name: Self.nodeName, kind: .git, url: Self.officialBase + "\(Self.nodeName).git", commit: node)
            ],
            models: entries
        ).sorted()
        let url = temp.appending("fixture.lock.json")
        _ = try LockFile.write(lock, to: url)
        lockPath = url.path
    }

    deinit {
        server.stop()
        temp.remove()
    }

    var rewriter: URLRewriter {
        URLRewriter(rules: [
            .init(prefix: Self.officialBase, replacement: temp.appending("upstream").path + "/", kinds: [.git])
        ])
    }

    var modelStore: ModelStore { ModelStore(root: store) }

    /// Builds version `name` from the fixture lock and returns its directory.
    func build(_ name: String = "v1") async throws -> URL {
        let builder = VersionBuilder(
            root: versions, gitCache: GitCache(storeRoot: store, rewriter: rewriter), store: modelStore, python: nil)
        _ = try await builder.create(name: name, lock: lock, options: VersionCreateOptions(allowUnpinned: true))
        return versions.appendingPathComponent(name)
    }

    /// Worker options for `directory`: this fixture's store and rewriter, no Python check, no volume (unless
    /// given), and the ComfyUI stand-in as ComfyUI (with `standInArguments`).
    func options(
        directory: URL, onDrift: DriftPolicy, volume: URL? = nil, standInArguments: [String] = []
    ) -> WorkerOptions {
        var options = WorkerOptions(
            versionDirectory: directory.path, onDrift: onDrift, scratch: temp.appending("scratch").path)
        options.store = volume == nil ? store.path : nil
        options.volume = WorkerVolume(mountPoint: (volume ?? temp.appending("no-volume")).path)
        options.rewriter = rewriter
        options.python = nil
        options.allowUnpinned = true
        options.launch = (ComfyUIStandIn.python, ComfyUIStandIn.script.path, standInArguments)
        return options
    }

    /// The model file of `path` inside the version.
    func modelFile(_ directory: URL, _ path: String) -> URL {
        VersionLayout(directory: directory).models.appendingPathComponent(path)
    }

    static func makeRepo(_ dir: URL, files: [String: String]) throws -> String {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try git(["init", "--quiet", "-b", "main"], in: dir)
        for (path, contents) in files {
            try contents.write(to: dir.appendingPathComponent(path), atomically: true, encoding: .utf8)
        }
        try git(["add", "-A", "-f"], in: dir)
        try git(["commit", "--quiet", "-m", "fixture"], in: dir)
        return try git(["rev-parse", "HEAD"], in: dir)
    }

    @discardableResult
    static func git(_ arguments: [String], in dir: URL) throws -> String {
        let result = try Subprocess.run(
            "/usr/bin/git", ["-C", dir.path] + arguments,
            environment: [
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
                "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
            ])
        guard result.status == 0 else { throw StartupError("git \(arguments) failed: \(result.standardError)") }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
