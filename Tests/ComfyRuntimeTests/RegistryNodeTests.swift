import ComfyCLI
import ComfyCrypto
import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import TestSupport
import Testing

/// Comfy Registry nodes: the zip reader (real archives built by Python's zipfile on the test side) refuses hostile
/// archives before writing anything, bounds zip bombs, checks CRCs; a registry node is pinned from a loopback
/// registry stand-in (the API's `nodes/{id}/versions/{version}` JSON and the archive, served by the fixture's
/// loopback HTTP server), deployed by `version create` from the verified archive, and drift is reported like git
/// nodes.
struct MakeZipFailed: Error {
    let message: String
}

/// One entry of a test archive (the spec make_zip.py reads).
struct ZipSpec: Sendable, Encodable {
    var name: String
    var text: String?
    var mode: Int?
    var stored: Bool?
    var dir: Bool?
    var symlink: String?
    var fifo: Bool?
    var zeros: Int?
    var declare: Int?
    var random: Int?
    var seed: Int?

    static func file(_ name: String, _ text: String, mode: Int? = nil, stored: Bool? = nil) -> ZipSpec {
        ZipSpec(name: name, text: text, mode: mode, stored: stored)
    }
    static func directory(_ name: String) -> ZipSpec { ZipSpec(name: name, dir: true) }
    static func link(_ name: String, to target: String) -> ZipSpec { ZipSpec(name: name, symlink: target) }
    static func pipe(_ name: String) -> ZipSpec { ZipSpec(name: name, fifo: true) }
    static func zeros(_ name: String, _ count: Int, declare: Int? = nil) -> ZipSpec {
        ZipSpec(name: name, zeros: count, declare: declare)
    }
    static func random(_ name: String, _ count: Int, seed: Int) -> ZipSpec {
        ZipSpec(name: name, random: count, seed: seed)
    }
}

@Suite("Registry nodes")
struct RegistryNodeTests {
    /// Builds a zip from a spec (see scripts/testsupport/make_zip.py).
    static func zip(_ spec: [ZipSpec], to out: URL) throws {
        let specURL = out.appendingPathExtension("json")
        try JSONEncoder().encode(spec).write(to: specURL)
        let result = try Subprocess.run(
            TestPaths.python.path,
            [TestPaths.testScripts.appendingPathComponent("make_zip.py").path, out.path, specURL.path])
        guard result.status == 0 else { throw MakeZipFailed(message: result.standardError) }
    }

    static let nodeFiles: [ZipSpec] = [
        .file("__init__.py", "NODE_CLASS_MAPPINGS = {'RegistryNode': object}\n"),
        .directory("web/"),
        .file("web/app.js", "console.log('x')\n", stored: true),
        .file("bin/tool.sh", "#!/bin/sh\necho hi\n", mode: 0o755),
        .random("data/blob.bin", 300_000, seed: 7),
    ]

    @Test("a real archive extracts byte for byte (deflate and stored), keeps the execute bit, and hashes as a tree")
    func extractsAndHashes() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let archive = dir.appending("node.zip")
        try Self.zip(Self.nodeFiles + [.random("big/random.bin", 2_500_000, seed: 3)], to: archive)
        let out = dir.appending("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: false)
        let report = try ZipArchive.extract(archive.path, into: out)
        #expect(report.files == 5)
        #expect(
            try String(contentsOf: out.appendingPathComponent("__init__.py"), encoding: .utf8)
                == "NODE_CLASS_MAPPINGS = {'RegistryNode': object}\n")
        // The same bytes Python's zipfile reads back.
        let check = try Subprocess.run(
            TestPaths.python.path,
            [
                "-c",
                "import zipfile,hashlib,sys; print(hashlib.sha256(zipfile.ZipFile(sys.argv[1]).read('big/random.bin')).hexdigest())",
                archive.path,
            ])
        let actual = try SHA256.hashFile(atPath: out.appendingPathComponent("big/random.bin").path).digest.hex
        #expect(actual == check.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(FileManager.default.isExecutableFile(atPath: out.appendingPathComponent("bin/tool.sh").path))
        #expect(!FileManager.default.isExecutableFile(atPath: out.appendingPathComponent("web/app.js").path))
        let tree = try RegistryTree.hash(directory: out)
        // __pycache__ does not count; any other change does.
        try FileManager.default.createDirectory(
            at: out.appendingPathComponent("__pycache__"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: out.appendingPathComponent("__pycache__/m.cpython-311.pyc"))
        #expect(try RegistryTree.hash(directory: out) == tree)
        try Data("edited".utf8).write(to: out.appendingPathComponent("web/app.js"))
        #expect(try RegistryTree.hash(directory: out) != tree)
    }

    @Test(
        "hostile archives are refused naming the entry, before anything is written",
        arguments: [
            ([.file("ok.py", "x"), .file("../evil.py", "x")], "'..' component"),
            ([.file("/tmp/abs.py", "x")], "absolute path"),
            ([.file("a/../../evil.py", "x")], "'..' component"),
            ([.file("ok.py", "x"), .link("link", to: "../../etc/passwd")], "symbolic links"),
            ([.pipe("fifo")], "FIFO"),
            ([.file("a\\..\\evil.py", "x")], "backslash"),
            ([.file("C:evil.py", "x")], "drive-letter"),
            ([.file("x.py", "1"), .file("x.py", "2")], "duplicate"),
        ] as [([ZipSpec], String)])
    func hostileArchives(spec: [ZipSpec], reason: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let archive = dir.appending("hostile.zip")
        try Self.zip(spec, to: archive)
        let out = dir.appending("deep/out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        do {
            _ = try ZipArchive.extract(archive.path, into: out)
            Issue.record("accepted a hostile archive (\(reason))")
        } catch let error as ZipError {
            #expect(error.message.contains("entry "), "\(error)")
            #expect(error.message.contains(reason), "\(error)")
        }
        // Nothing escaped: the parent holds only the target directory, and no symlink was made anywhere.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.appending("deep").path) == ["out"])
        #expect(!FileManager.default.fileExists(atPath: dir.appending("evil.py").path))
        if reason != "duplicate" { #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty) }
    }

    @Test("zip bombs stop at the limit: a large declared total, and an entry lying about its size")
    func zipBombs() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let bomb = dir.appending("bomb.zip")
        try Self.zip([.zeros("bomb.bin", 20 << 20)], to: bomb)
        let bombSize = try #require(try FileManager.default.attributesOfItem(atPath: bomb.path)[.size] as? Int)
        #expect(bombSize < 100_000)
        let out = dir.appending("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: false)
        #expect(throws: ZipError.self) {
            _ = try ZipArchive.extract(bomb.path, into: out, limits: ZipLimits(maxTotalBytes: 1 << 20))
        }
        // The headers say 100 bytes; the stream inflates to 4 MiB: refused once it passes 100 bytes.
        let liar = dir.appending("liar.zip")
        try Self.zip([.zeros("liar.bin", 4 << 20, declare: 100)], to: liar)
        do {
            _ = try ZipArchive.extract(liar.path, into: out)
            Issue.record("a lying entry was accepted")
        } catch let error as ZipError {
            #expect(error.message.contains("liar.bin") && error.message.contains("declared size"), "\(error)")
        }
        let written =
            (try? FileManager.default.attributesOfItem(atPath: out.appendingPathComponent("liar.bin").path)[.size]
                as? Int) ?? 0
        #expect(written <= 100)
        // Too many entries.
        let many = dir.appending("many.zip")
        try Self.zip((0..<30).map { .file("f\($0).py", "x") }, to: many)
        let other = dir.appending("other")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: false)
        #expect(throws: ZipError.self) {
            _ = try ZipArchive.extract(many.path, into: other, limits: ZipLimits(maxEntries: 10))
        }
    }

    @Test("a truncated or corrupted archive is refused")
    func truncatedAndCorrupt() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let archive = dir.appending("node.zip")
        try Self.zip(Self.nodeFiles, to: archive)
        var bytes = Array(try Data(contentsOf: archive))
        let truncated = dir.appending("truncated.zip")
        try Data(bytes[0..<(bytes.count / 2)]).write(to: truncated)
        let out1 = dir.appending("o1")
        try FileManager.default.createDirectory(at: out1, withIntermediateDirectories: false)
        #expect(throws: ZipError.self) { _ = try ZipArchive.extract(truncated.path, into: out1) }
        // Flip a byte inside the stored web/app.js data: CRC mismatch naming the entry.
        let marker = Array("console.log".utf8)
        let at = (0..<(bytes.count - marker.count)).first { Array(bytes[$0..<($0 + marker.count)]) == marker }!
        bytes[at] ^= 0x20
        let corrupt = dir.appending("corrupt.zip")
        try Data(bytes).write(to: corrupt)
        let out2 = dir.appending("o2")
        try FileManager.default.createDirectory(at: out2, withIntermediateDirectories: false)
        do {
            _ = try ZipArchive.extract(corrupt.path, into: out2)
            Issue.record("a corrupt archive was accepted")
        } catch let error as ZipError {
            #expect(error.message.contains("web/app.js") && error.message.contains("CRC"), "\(error)")
        }
    }

    // MARK: - Pin, create, status

    /// Serves the registry API answer and the archive from the fixture's loopback server.
    static func publish(_ fixture: RuntimeFixture, id: String, version: String, spec: [ZipSpec]) throws -> URL {
        let archives = fixture.served.appendingPathComponent("archives")
        try FileManager.default.createDirectory(at: archives, withIntermediateDirectories: true)
        let archive = archives.appendingPathComponent("\(id)-\(version).zip")
        try Self.zip(spec, to: archive)
        let api = fixture.served.appendingPathComponent("registry/nodes/\(id)/versions")
        try FileManager.default.createDirectory(at: api, withIntermediateDirectories: true)
        let body = [
            "id": id, "version": version,
            "downloadUrl": fixture.server.url("/archives/\(id)-\(version).zip").absoluteString,
        ]
        try JSONSerialization.data(withJSONObject: body).write(to: api.appendingPathComponent(version))
        return archive
    }

    @Test("a registry node is pinned from the registry, deployed from its verified archive, and drift is reported")
    func pinCreateStatus() async throws {
        let fixture = try RuntimeFixture()
        _ = try Self.publish(fixture, id: "registry-node", version: "1.2.0", spec: Self.nodeFiles)
        var lock = fixture.lock()
        lock.customNodes.append(
            CustomNode(name: "registry-node", kind: .registry, registryId: "registry-node", version: "1.2.0"))
        lock = lock.sorted()
        // Unpinned: valid (a warning), but not buildable.
        #expect(LockValidator.errors(lock, level: .complete).isEmpty)
        #expect(LockValidator.validate(lock).contains { $0.rule == "registry-unpinned" && $0.severity == .warning })
        do {
            _ = try await fixture.builder().create(name: "unpinned", lock: lock, options: .pythonless)
            Issue.record("an unpinned registry node was built")
        } catch {
            #expect("\(error)".contains("registry-unpinned") && "\(error)".contains("pin-registry"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.versions.appendingPathComponent("unpinned").path))

        let registry = ComfyRegistry(baseURL: fixture.server.url("/registry").absoluteString)
        let installer = RegistryNodeInstaller(store: fixture.modelStore)
        let index = lock.customNodes.firstIndex { $0.kind == .registry }!
        lock.customNodes[index] = try await installer.pin(lock.customNodes[index], registry: registry)
        let node = lock.customNodes[index]
        #expect(node.url == fixture.server.url("/archives/registry-node-1.2.0.zip").absoluteString)
        #expect(node.sha256?.count == 64 && node.treeHash?.count == 64)
        #expect(!LockValidator.validate(lock).contains { $0.rule == "registry-unpinned" })
        // The lock round-trips with the new member.
        #expect(try LockFile.decode(LockFile.encode(lock)) == lock)

        let report = try await fixture.builder().create(name: "v1", lock: lock, options: .pythonless)
        let dir = fixture.versions.appendingPathComponent("v1")
        let nodeDir = VersionLayout(directory: dir).node("registry-node", enabled: true)
        #expect(FileManager.default.fileExists(atPath: nodeDir.appendingPathComponent("data/blob.bin").path))
        #expect(try RegistryTree.hash(directory: nodeDir) == node.treeHash)
        #expect(try await fixture.inspector.status(directory: dir, lock: lock).clean)
        #expect(!report.digest.isEmpty)

        // Drift: an edited file, like a git node's dirty tree.
        try Data("print('pwned')\n".utf8).write(to: nodeDir.appendingPathComponent("__init__.py"))
        let drifted = try await fixture.inspector.status(directory: dir, lock: lock)
        #expect(drifted.drift.contains { $0.subject == "registry-node" && $0.problem == "tree" }, "\(drifted.drift)")
        // Repair places the node again from the cached archive (no download: the store has it).
        let repaired = try await fixture.builder().repair(name: "v1", options: .pythonless)
        #expect(repaired.repaired.contains("custom-node registry-node"), "\(repaired.repaired)")
        #expect(try await fixture.inspector.status(directory: dir, lock: lock).clean)

        // The archive changes on the server and is gone from the store: the download no longer verifies.
        _ = try Self.publish(
            fixture, id: "registry-node", version: "1.2.0", spec: Self.nodeFiles + [.file("extra.py", "x")])
        try FileManager.default.removeItem(at: fixture.modelStore.blobURL(sha256: node.sha256!))
        await #expect(throws: (any Error).self) {
            try await fixture.builder().create(name: "v2", lock: lock, options: .pythonless)
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.versions.appendingPathComponent("v2").path))

        // A lock whose treeHash does not match the archive is refused, no node directory left behind.
        var wrongTree = lock
        wrongTree.customNodes[index].treeHash = String(repeating: "0", count: 64)
        _ = try Self.publish(fixture, id: "registry-node", version: "1.2.0", spec: Self.nodeFiles)
        do {
            _ = try await fixture.builder().create(name: "v3", lock: wrongTree, options: .pythonless)
            Issue.record("a wrong tree hash was accepted")
        } catch {
            #expect("\(error)".contains("tree hash"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.versions.appendingPathComponent("v3").path))
    }

    @Test("lock import of a Manager snapshot with cnr_custom_nodes, then lock pin-registry, gives a buildable lock")
    func importAndPinThroughTheCLI() async throws {
        let fixture = try RuntimeFixture()
        _ = try Self.publish(fixture, id: "cnr-node", version: "0.3.1", spec: Self.nodeFiles)
        let snapshot = fixture.temp.appending("snapshot.json")
        let manager: [String: Any] = [
            "comfyui": fixture.comfyCommits[1], "git_custom_nodes": [:] as [String: Any],
            "cnr_custom_nodes": ["cnr-node": "0.3.1"], "file_custom_nodes": [] as [Any], "pips": [:] as [String: Any],
        ]
        try JSONSerialization.data(withJSONObject: manager).write(to: snapshot)
        let lockPath = fixture.temp.appending("imported.lock.json").path
        let imported = try Subprocess.comfyCLI(
            ["lock", "import", "--from", "manager", snapshot.path, "--tag", "cnr", "-o", lockPath],
            environment: fixture.cliEnvironment)
        #expect(imported.status == 0, "\(imported.standardError)")
        let pin = try Subprocess.comfyCLI(
            [
                "lock", "pin-registry", lockPath, "--registry-url", fixture.server.url("/registry").absoluteString,
                "--json",
            ],
            environment: fixture.cliEnvironment)
        #expect(pin.status == 0, "\(pin.standardError)")
        let lock = try LockFile.read(from: URL(fileURLWithPath: lockPath))
        let node = try #require(lock.customNodes.first { $0.kind == .registry })
        #expect(node.registryId == "cnr-node" && node.sha256 != nil && node.treeHash != nil && node.url != nil)
        #expect(LockValidator.errors(lock, level: .safe).isEmpty)
        // An unknown version: the registry answers 404, named in the error, the lock untouched.
        let before = try Data(contentsOf: URL(fileURLWithPath: lockPath))
        var missing = lock
        missing.customNodes = [CustomNode(name: "gone", kind: .registry, registryId: "gone", version: "9.9.9")]
        let missingPath = try fixture.write(missing, name: "missing.lock.json")
        let failed = try Subprocess.comfyCLI(
            ["lock", "pin-registry", missingPath, "--registry-url", fixture.server.url("/registry").absoluteString],
            environment: fixture.cliEnvironment)
        #expect(failed.status == 2)
        #expect(failed.standardError.contains("HTTP 404"), "\(failed.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: lockPath)) == before)
    }
}
