import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import TestSupport
import Testing

/// Offline bundles, through the real executable: a signed lock with git nodes, a registry node, pinned Python
/// artifacts and models is bundled; every server is then stopped, a fresh store and versions root are used and every
/// HTTP(S) request goes to a dead proxy — `version create --bundle` still builds it (venv included) and `version
/// status` is clean. A truncated bundle and one with an altered byte are refused naming the entry, nothing built.
@Suite("Offline bundles", .serialized)
struct BundleTests {
    @Test("bundle create → inspect → version create --bundle with no network; truncated and altered bundles refused")
    func offlineDeploy() async throws {
        let fixture = try RuntimeFixture()
        let wheels = try PythonFixture(serve: true)
        defer { wheels.close() }
        _ = try RegistryNodeTests.publish(
            fixture, id: "bundled-node", version: "1.0.0", spec: RegistryNodeTests.nodeFiles)
        var lock = fixture.lock(tag: "bundled")
        lock.python = wheels.pins(["alpha": "1.0", "shared": "1.0"])
        var registryNode = CustomNode(
            name: "bundled-node", kind: .registry, registryId: "bundled-node", version: "1.0.0")
        registryNode = try await RegistryNodeInstaller(store: fixture.modelStore).pin(
            registryNode, registry: ComfyRegistry(baseURL: fixture.server.url("/registry").absoluteString))
        lock.customNodes.append(registryNode)
        lock = lock.sorted()
        let lockPath = try fixture.write(lock, name: "bundled.lock.json")
        let keys = fixture.temp.appending("keys")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        #expect(try Subprocess.comfyCLI(["key", "generate", "-o", keys.path]).status == 0)
        #expect(
            try Subprocess.comfyCLI([
                "lock", "sign", lockPath, "--key", keys.appendingPathComponent("comfylock.key").path,
            ]).status == 0)

        let bundle = fixture.temp.appending("offline.tar").path
        let created = try Subprocess.comfyCLI(
            ["bundle", "create", "--lock", lockPath, "--with-models", "-o", bundle], environment: fixture.cliEnvironment
        )
        #expect(created.status == 0, "\(created.standardError)")
        let inspect = try Subprocess.comfyCLI(["bundle", "inspect", bundle])
        #expect(inspect.status == 0, "\(inspect.standardError)")
        for expected in [
            "lock.json", "lock.json.minisig", "git/", "blobs/\(registryNode.sha256!)", "wheels/", "alpha-1.0",
        ] {
            #expect(inspect.standardOutput.contains(expected), "\(expected) missing from:\n\(inspect.standardOutput)")
        }
        // The digest line; lock + signature; 3 git bundles; the registry archive + 3 models; 2 wheels.
        let lines = inspect.standardOutput.split(separator: "\n").count
        #expect(lines == 12, "\(inspect.standardOutput)")

        // No network from here on: every server stopped, a fresh store, no git mirror rule, a dead proxy.
        fixture.server.stop()
        wheels.close()
        let offline = fixture.temp.appending("offline-host")
        let environment = [
            "COMFYLOCK_STORE": offline.appendingPathComponent("store").path,
            "COMFYLOCK_VERSIONS": offline.appendingPathComponent("versions").path,
            "HOME": offline.appendingPathComponent("home").path, "COMFYLOCK_GIT_MIRROR": "",
            "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "ALL_PROXY": "http://127.0.0.1:9", "UV_OFFLINE": "1", "PIP_NO_INDEX": "1",
            "COMFYLOCK_UV": TestPaths.testVenv.appendingPathComponent("bin/uv").path,
            "UV_CACHE_DIR": offline.appendingPathComponent("uv-cache").path,
        ]
        let create = [
            "version", "create", "v1", "--bundle", bundle, "--python", TestPaths.python.path,
            "--trusted-keys", keys.appendingPathComponent("comfylock.pub").path,
        ]

        // A truncated bundle: refused naming the entry it stops in; nothing built.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: bundle))
        let truncated = fixture.temp.appending("truncated.tar").path
        try bytes.prefix(bytes.count * 2 / 3).write(to: URL(fileURLWithPath: truncated))
        var args = create
        args[4] = truncated
        let cut = try Subprocess.comfyCLI(args, environment: environment)
        #expect(cut.status == 1)
        #expect(
            cut.standardError.contains("bundle entry") && cut.standardError.contains("truncated"),
            "\(cut.standardError)")
        // One byte altered inside the registry archive.
        var altered = bytes
        let name = Data("blobs/\(registryNode.sha256!)".utf8)
        // The member's tar header (512-aligned; the manifest also names it, inside its own data).
        let header = try #require(
            stride(from: 0, to: altered.count - 512, by: 512).first { altered[$0..<($0 + name.count)] == name })
        altered[header + 512 + 40] ^= 0x01
        let alteredPath = fixture.temp.appending("altered.tar").path
        try altered.write(to: URL(fileURLWithPath: alteredPath))
        args[4] = alteredPath
        let changed = try Subprocess.comfyCLI(args, environment: environment)
        #expect(changed.status == 1)
        #expect(
            changed.standardError.contains("blobs/\(registryNode.sha256!)")
                && changed.standardError.contains("altered"),
            "\(changed.standardError)")
        #expect(!FileManager.default.fileExists(atPath: offline.appendingPathComponent("versions/v1").path))

        // The intact bundle deploys offline, signature checked, and the version is clean.
        let built = try Subprocess.comfyCLI(create, environment: environment)
        #expect(built.status == 0, "\(built.standardError)")
        #expect(built.standardError.contains("signature ok"), "\(built.standardError)")
        let status = try Subprocess.comfyCLI(["version", "status", "v1", "--json"], environment: environment)
        #expect(status.status == 0, "\(status.standardOutput)\(status.standardError)")
        let venvPython = offline.appendingPathComponent("versions/v1/venv/bin/python").path
        let run = try Subprocess.run(venvPython, ["-c", "import alpha, shared; print('ok')"])
        #expect(run.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(run.standardError)")
        let node = VersionLayout(directory: offline.appendingPathComponent("versions/v1")).node(
            "bundled-node", enabled: true)
        #expect(FileManager.default.fileExists(atPath: node.appendingPathComponent("__init__.py").path), "\(node.path)")
        // The temporary extraction is gone.
        let tmp = offline.appendingPathComponent("store/tmp").path
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []).isEmpty)
    }
}
